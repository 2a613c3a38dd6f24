"""`buildkit keygen`: a melange-style key pair under keys/, never overwritten, never printed."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from buildkit.apk.keys import SigningKey, fingerprint
from buildkit.cli import main
from buildkit.toolchain import Engine


def keygen(capsys: pytest.CaptureFixture[str], root: Path, *args: str) -> tuple[int, str, str]:
    code = main(["-C", str(root), "keygen", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_keygen_writes_the_configured_key_pair(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, err = keygen(capsys, tmp_path)
    private, public = tmp_path / "keys/buildkit.rsa", tmp_path / "keys/buildkit.rsa.pub"
    assert (code, err) == (0, "")
    # Only the public key's path and fingerprint: nothing secret reaches the terminal.
    assert out.splitlines() == [
        f"public key: {public}",
        f"fingerprint: {fingerprint(public.read_bytes())}",
    ]
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert private.read_bytes().startswith(b"-----BEGIN RSA PRIVATE KEY-----")
    key = serialization.load_pem_private_key(private.read_bytes(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    assert key.key_size == 4096
    assert SigningKey.load(private).public_pem == public.read_bytes()


def test_keygen_never_overwrites(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keys.mkdir()
    (keys / "buildkit.rsa.pub").write_text("keep me")
    code, out, err = keygen(capsys, tmp_path)
    assert code == 2
    assert out == ""
    assert err == (
        f"buildkit: error: {keys / 'buildkit.rsa.pub'}: key file already exists; refusing to "
        "overwrite it (keep it, or make a pair under another name with "
        "`nox -s keygen -- buildkit-2` and set project.signing_key = 'keys/buildkit-2.rsa' in "
        "buildkit.toml)\n"
    )
    assert sorted(p.name for p in keys.iterdir()) == ["buildkit.rsa.pub"]
    assert (keys / "buildkit.rsa.pub").read_text() == "keep me"


@pytest.mark.parametrize(("name", "file"), [("melange", "melange.rsa"), ("ci.rsa", "ci.rsa")])
def test_keygen_takes_a_name(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, name: str, file: str
) -> None:
    code, out, _err = keygen(capsys, tmp_path, name)
    assert code == 0
    assert out.startswith(f"public key: {tmp_path / 'keys' / file}.pub\n")
    assert (tmp_path / "keys" / file).exists()


def test_keygen_default_name_comes_from_buildkit_toml(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "buildkit.toml").write_text('[project]\nsigning_key = "keys/team.rsa"\n')
    code, out, _err = keygen(capsys, tmp_path)
    assert code == 0
    assert out.startswith(f"public key: {tmp_path / 'keys/team.rsa.pub'}\n")


@pytest.mark.parametrize("name", ["../evil", "a/b", ".hidden", "x.rsa.pub", "_x", "two words"])
def test_keygen_refuses_names_that_are_not_plain_file_names(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, name: str
) -> None:
    code, out, err = keygen(capsys, tmp_path, name)
    assert code == 2
    assert out == ""
    assert err.startswith(f"buildkit: error: invalid key name {name!r} (use a plain file name")
    assert err.count("\n") == 1
    assert not (tmp_path / "keys").exists()


# --------------------------------------------------------------------------------------------
# --cosign --check: refused before any engine is asked (the check itself: test_publish.py, e2e)


def _no_engine(*_args: object) -> Engine:
    raise AssertionError("the engine is never asked")


def _cosign_pair(root: Path) -> None:
    (root / "keys").mkdir()
    (root / "keys" / "cosign.key").write_text("encrypted")
    (root / "keys" / "cosign.pub").write_text("public")


@pytest.mark.parametrize(
    ("args", "files", "password", "error"),
    [
        (
            ("--check",),
            True,
            "x",
            "--check checks the cosign key pair: it needs --cosign (run "
            "`nox -s keygen -- --cosign --check`)",
        ),
        (
            ("--cosign", "--check"),
            False,
            "x",
            "{root}/keys/cosign.key: no cosign key cosign.key to check (make the pair with "
            "`nox -s keygen -- --cosign`)",
        ),
        (
            ("--cosign", "--check"),
            True,
            None,
            "COSIGN_PASSWORD is not set: the cosign key is encrypted with it (export "
            "COSIGN_PASSWORD (scripts/setup keeps one in ~/.cache/buildkit); then run "
            "`buildkit -C {root} keygen --cosign --check`)",
        ),
    ],
    ids=["without-cosign", "no-pair", "no-password"],
)
def test_keygen_check_refuses_what_it_cannot_check_in_one_line(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    args: tuple[str, ...],
    files: bool,
    password: str | None,
    error: str,
) -> None:
    if files:
        _cosign_pair(tmp_path)
    if password is None:
        monkeypatch.delenv("COSIGN_PASSWORD", raising=False)
    else:
        monkeypatch.setenv("COSIGN_PASSWORD", password)
    monkeypatch.setattr(Engine, "detect", _no_engine)
    code, out, err = keygen(capsys, tmp_path, *args)
    assert (code, out) == (2, "")
    assert err == f"buildkit: error: {error.format(root=tmp_path)}\n"
    assert sorted(p.name for p in (tmp_path / "keys").glob("*")) == (
        ["cosign.key", "cosign.pub"] if files else []
    )


def test_keygen_cosign_on_an_existing_pair_points_at_the_check(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _cosign_pair(tmp_path)
    monkeypatch.setenv("COSIGN_PASSWORD", "x")
    code, _out, err = keygen(capsys, tmp_path, "--cosign")
    assert code == 2
    assert err.endswith("or check it with `nox -s keygen -- --cosign --check`)\n")
    assert (tmp_path / "keys" / "cosign.key").read_text() == "encrypted"
