"""`buildkit apk verify | index | show` through the real command line, on upstream files."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest

from buildkit.apk.index import parse_index, record_from_package, render_record
from buildkit.apk.keys import Keyring, generate_keypair
from buildkit.cli import main
from buildkit.commands.apk_files import sort_records
from tests.helpers.paths import FIXTURES

WOLFI_INDEX = FIXTURES / "wolfi/x86_64/APKINDEX.tar.gz"
HELLO = FIXTURES / "wolfi/aarch64/hello-wolfi-2.12-r1.apk"
ALPINE = FIXTURES / "alpine-3.17-main-aarch64/APKINDEX.tar.gz"
MELANGE_REPO = FIXTURES / "apko-cli/packages/x86_64"


def run(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str, str]:
    code = main([str(arg) for arg in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_line_error(code: int, out: str, err: str, starts: str) -> None:
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1, err
    assert err.startswith(f"buildkit: error: {starts}"), err
    assert "Traceback" not in err


@pytest.fixture
def repo(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A copy of melange's x86_64 repo (without its index), a signing key and its keyring."""
    folder = tmp_path / "repo"
    folder.mkdir()
    for apk in MELANGE_REPO.glob("*.apk"):
        shutil.copy(apk, folder)
    keys = tmp_path / "keys"
    private, _public = generate_keypair(keys / "local.rsa", bits=2048)
    return folder, private, keys


def test_verify_prints_one_ok_line_per_file(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(
        capsys, "apk", "verify", WOLFI_INDEX, HELLO, "--keyring", FIXTURES / "wolfi"
    )
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        f"OK {WOLFI_INDEX}: index of 47 packages, signed by wolfi-signing.rsa.pub",
        f"OK {HELLO}: hello-wolfi-2.12-r1 (aarch64) Q1tfjaxtgIGRBjOYGl6Pq3/hm8V2o=, "
        "signed by wolfi-signing.rsa.pub",
    ]


def test_verify_refuses_a_tampered_index(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    copy = tmp_path / "APKINDEX.tar.gz"
    data = bytearray(WOLFI_INDEX.read_bytes())
    data[-100] ^= 0x10
    copy.write_bytes(data)
    code, out, err = run(capsys, "apk", "verify", copy, "--keyring", FIXTURES / "wolfi")
    assert_one_line_error(code, out, err, f"{copy}: signature check failed: RSA/SHA1 signature")


def test_verify_without_a_keyring_asks_for_one(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "apk", "verify", WOLFI_INDEX)
    assert_one_line_error(
        code, out, err, "no keyring given (pass --keyring DIR to verify signatures"
    )


def test_verify_untrusted_says_nothing_was_checked(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _err = run(capsys, "apk", "verify", ALPINE, "--allow-untrusted")
    assert code == 0
    assert out == f"OK {ALPINE}: index of 5004 packages, signature not checked\n"


def test_verify_reports_a_missing_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    missing = tmp_path / "nope.apk"
    code, out, err = run(capsys, "apk", "verify", missing, "--allow-untrusted")
    assert_one_line_error(code, out, err, f"{missing}: cannot read file: No such file")


def test_index_writes_a_signed_deterministic_index(
    capsys: pytest.CaptureFixture[str], repo: tuple[Path, Path, Path]
) -> None:
    folder, private, keys = repo
    code, out, err = run(
        capsys, "apk", "index", folder, "--signing-key", private, "--description", "local"
    )
    assert (code, err) == (0, "")
    output = folder / "APKINDEX.tar.gz"
    assert out == f"wrote {output}: 4 packages, signed by local.rsa.pub\n"
    first = output.read_bytes()
    index = parse_index(first, where="x", keyring=Keyring.from_dir(keys))
    assert index.signers == ("local.rsa.pub",)
    assert index.description == "local"
    expected = [record_from_package(p.read_bytes(), where=str(p)) for p in folder.glob("*.apk")]
    assert list(index.records) == sorted(expected, key=lambda r: r.name)
    assert (
        run(capsys, "apk", "index", folder, "--signing-key", private, "--description", "local")[0]
        == 0
    )
    assert output.read_bytes() == first


def test_index_output_option_and_empty_folder(
    capsys: pytest.CaptureFixture[str], repo: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    _folder, private, keys = repo
    empty = tmp_path / "empty"
    empty.mkdir()
    target = tmp_path / "out" / "index.tar.gz"
    code, out, _err = run(
        capsys, "apk", "index", empty, "--signing-key", private, "--output", target
    )
    assert code == 0
    assert out == f"wrote {target}: 0 packages, signed by local.rsa.pub\n"
    assert parse_index(target.read_bytes(), where="x", keyring=Keyring.from_dir(keys)).records == ()


def test_index_refuses_a_misnamed_package(
    capsys: pytest.CaptureFixture[str], repo: tuple[Path, Path, Path]
) -> None:
    folder, private, _keys = repo
    wrong = folder / "renamed-1.0-r0.apk"
    (folder / "replayout-1.0.0-r0.apk").rename(wrong)
    code, out, err = run(capsys, "apk", "index", folder, "--signing-key", private)
    assert_one_line_error(
        code, out, err, f"{wrong}: the package inside is replayout-1.0.0-r0.apk (apk fetches"
    )
    assert not (folder / "APKINDEX.tar.gz").exists()


def test_index_needs_a_readable_signing_key(
    capsys: pytest.CaptureFixture[str], repo: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    folder, _private, _keys = repo
    missing = tmp_path / "missing.rsa"
    code, out, err = run(capsys, "apk", "index", folder, "--signing-key", missing)
    assert_one_line_error(code, out, err, f"{missing}: cannot read signing key")


def test_show_prints_index_records_as_apkindex_text(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _err = run(capsys, "apk", "show", WOLFI_INDEX, "--keyring", FIXTURES / "wolfi")
    assert code == 0
    records = parse_index(
        WOLFI_INDEX.read_bytes(), where="x", keyring=Keyring.from_dir(FIXTURES / "wolfi")
    ).records
    assert out == "".join(map(render_record, records))
    assert out.startswith("C:Q125bMmvVC13SP1NtBwN+YKl+ro34=\nP:libffi\nV:3.4.2-r0\n")


def test_show_json_for_an_index(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _err = run(capsys, "apk", "show", ALPINE, "--json", "--allow-untrusted")
    assert code == 0
    document = json.loads(out)
    assert document["description"] == "v3.17.3-216-g54a39ace82a"
    assert document["signers"] == []
    assert len(document["records"]) == 5004
    assert set(document["records"][0]) >= {"checksum", "name", "version", "depends", "extra"}


def test_show_package_as_pkginfo_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _err = run(capsys, "apk", "show", HELLO, "--keyring", FIXTURES / "wolfi")
    assert code == 0
    assert out.startswith("# Generated by melange.\npkgname = hello-wolfi\n")  # as stored
    assert "pkgver = 2.12-r1\n" in out
    code, out, _err = run(capsys, "apk", "show", HELLO, "--json", "--allow-untrusted")
    document = json.loads(out)
    assert (code, document["identity"], document["verified"]) == (
        0,
        "Q1tfjaxtgIGRBjOYGl6Pq3/hm8V2o=",
        False,
    )
    assert document["pkginfo"]["name"] == "hello-wolfi"


def test_show_needs_a_keyring_or_untrusted(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "apk", "show", HELLO)
    assert_one_line_error(code, out, err, "no keyring given")


def test_show_refuses_an_index_signed_by_an_unknown_key(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "apk", "show", ALPINE, "--keyring", FIXTURES / "wolfi")
    assert_one_line_error(
        code, out, err, f"{ALPINE}: signature check failed: signed only by keys not in the keyring"
    )


def test_index_orders_versions_of_one_name_as_apk_does() -> None:
    # Needs buildkit.apk.version (compare_versions) for names with several versions.
    base = record_from_package(HELLO.read_bytes(), where=str(HELLO))
    versions = ["1.10-r0", "1.9-r1", "1.9-r0", "1.9_rc1-r0"]
    records = [dataclasses.replace(base, version=v) for v in versions]
    records.append(dataclasses.replace(base, name="a-first", version="2-r0"))
    ordered = sort_records(records)
    assert [(r.name, r.version) for r in ordered] == [
        ("a-first", "2-r0"),
        ("hello-wolfi", "1.9_rc1-r0"),
        ("hello-wolfi", "1.9-r0"),
        ("hello-wolfi", "1.9-r1"),
        ("hello-wolfi", "1.10-r0"),
    ]
