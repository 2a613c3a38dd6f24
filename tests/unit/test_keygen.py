"""`buildkit keygen`: a melange-style key pair under keys/, never overwritten, never printed."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from buildkit.apk.keys import SigningKey, fingerprint
from buildkit.cli import main


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
