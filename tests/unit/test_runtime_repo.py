"""scripts/runtime_repo.py's pure parts: Debian dependencies as APK names, the so: data from
readelf, the Java trust store and the CA bundle (the generator itself runs in scripts/setup and
is exercised end to end by tests/e2e/test_runtimes.py)."""

from __future__ import annotations

import hashlib
import importlib.util
import struct
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _script(name: str) -> ModuleType:
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


_script("bootstrap_repo")  # runtime_repo imports it by name, as it does when run from scripts/
repo = _script("runtime_repo")


@pytest.mark.parametrize(
    ("field", "available", "expected"),
    [
        pytest.param(
            "libpython3.11-minimal (= 3.11.2-6+deb12u9), libexpat1 (>= 2.1~beta3), zlib1g",
            {"libpython3.11-minimal", "libexpat1", "zlib1g"},
            ["libexpat1", "libpython3.11-minimal", "zlib1g"],
            id="versions dropped",
        ),
        pytest.param(
            "libpython3.11-minimal, media-types | mime-support, libc6 (>= 2.34)",
            {"mime-support", "libc6"},
            ["libc6", "mime-support"],
            id="first alternative the repository has",
        ),
        pytest.param(
            "ca-certificates-java (>= 20190405~), java-common (>= 0.28), libcups2, libc6",
            {"libc6"},
            ["libc6"],
            id="packages outside the repository left out",
        ),
        pytest.param(
            "ca-certificates (>= 20210120), python3:any, busybox-static [arm64]",
            {"ca-certificates-bundle", "busybox", "python3"},
            ["busybox", "ca-certificates-bundle", "python3"],
            id="renamed packages and arch qualifiers",
        ),
        pytest.param("", {"libc6"}, [], id="no dependencies"),
    ],
)
def test_debian_depends_become_apk_names(
    field: str, available: set[str], expected: list[str]
) -> None:
    assert repo.debian_depends(field, available) == expected


@pytest.mark.parametrize(
    ("soname", "version"),
    [("libc.so.6", "6"), ("libssl.so.3", "3"), ("libbz2.so.1.0", "1.0"), ("libjvm.so", "0")],
)
def test_so_provides_carry_the_soname_suffix_as_melange_writes_them(
    soname: str, version: str
) -> None:
    assert repo.so_version(soname) == version


READELF = """
File: /t/usr/lib/x86_64-linux-gnu/libssl.so.3

Dynamic section at offset 0xa2910 contains 30 entries:
  Tag        Type                         Name/Value
 0x0000000000000001 (NEEDED)             Shared library: [libcrypto.so.3]
 0x0000000000000001 (NEEDED)             Shared library: [libc.so.6]
 0x000000000000000e (SONAME)             Library soname: [libssl.so.3]
 0x000000000000000c (INIT)               0x1f000

File: /t/bin/busybox

There is no dynamic section in this file.

File: /t/usr/bin/python3.11

Dynamic section at offset 0x2d0 contains 2 entries:
 0x0000000000000001 (NEEDED)             Shared library: [libz.so.1]
"""


def test_readelf_output_gives_each_files_soname_and_needs() -> None:
    assert repo.parse_readelf(READELF) == {
        "/t/usr/lib/x86_64-linux-gnu/libssl.so.3": repo.Dynamic(
            soname="libssl.so.3", needed=("libcrypto.so.3", "libc.so.6")
        ),
        "/t/usr/bin/python3.11": repo.Dynamic(soname=None, needed=("libz.so.1",)),
    }


def _read_jks(data: bytes) -> tuple[list[tuple[str, int, bytes]], bytes]:
    """A minimal JKS reader for the test: (alias, timestamp, DER) per entry, and the check."""
    magic, version, count = struct.unpack_from(">III", data, 0)
    assert (magic, version) == (0xFEEDFEED, 2)
    pos = 12
    entries = []
    for _ in range(count):
        (tag,) = struct.unpack_from(">I", data, pos)
        assert tag == 2
        (length,) = struct.unpack_from(">H", data, pos + 4)
        alias = data[pos + 6 : pos + 6 + length].decode()
        pos += 6 + length
        (stamp,) = struct.unpack_from(">Q", data, pos)
        (length,) = struct.unpack_from(">H", data, pos + 8)
        assert data[pos + 10 : pos + 10 + length] == b"X.509"
        pos += 10 + length
        (size,) = struct.unpack_from(">I", data, pos)
        entries.append((alias, stamp, data[pos + 4 : pos + 4 + size]))
        pos += 4 + size
    assert len(data) == pos + 20
    return entries, data[pos:]


def test_the_java_trust_store_is_a_jks_keystore_with_a_valid_integrity_check() -> None:
    certificates = [("debian:b.pem", b"\x30\x02\x05\x00"), ("debian:a.pem", b"\x30\x00")]
    data = repo.jks_truststore(certificates, timestamp_ms=1_704_067_200_000)
    entries, check = _read_jks(data)
    assert entries == [
        ("debian:a.pem", 1_704_067_200_000, b"\x30\x00"),
        ("debian:b.pem", 1_704_067_200_000, b"\x30\x02\x05\x00"),
    ]
    body = data[: -len(check)]
    expected = hashlib.sha1("changeit".encode("utf-16-be") + b"Mighty Aphrodite" + body).digest()
    assert check == expected
    # The same certificates in any order: the same bytes.
    assert repo.jks_truststore(certificates[::-1], timestamp_ms=1_704_067_200_000) == data


def test_the_ca_bundle_joins_the_certificates_by_file_name_one_per_line_end() -> None:
    bundle = repo.ca_bundle([("b.crt", b"B\n"), ("a.crt", b"A")])
    assert bundle == b"A\nB\n"


@pytest.mark.parametrize(
    ("file_name", "alias"),
    [
        ("ISRG_Root_X1.crt", "debian:isrg_root_x1.pem"),
        ("NetLock_Arany_=Class_Gold=_F\u0151tan\u00fas\u00edtv\u00e1ny.crt", None),
    ],
)
def test_trust_store_aliases_are_ascii_and_named_as_ca_certificates_java_does(
    file_name: str, alias: str | None
) -> None:
    made = repo.jks_alias(file_name)
    assert made.isascii()
    assert made.startswith("debian:")
    assert made.endswith(".pem")
    if alias is not None:
        assert made == alias


def test_the_repository_closure_check_names_what_is_missing(tmp_path: Path) -> None:
    def package(name: str, depends: tuple[str, ...], provides: tuple[str, ...] = ()) -> object:
        return repo.Package(
            name=name,
            version="1-r0",
            description="",
            license="",
            tree=tmp_path,
            depends=depends,
            provides=provides,
        )

    fine = [package("libc6", (), ("so:libc.so.6=6",)), package("app", ("so:libc.so.6", "libc6"))]
    repo.check_closure("x86_64", fine)
    broken = [*fine, package("tool", ("so:libX11.so.6", "libc6"))]
    with pytest.raises(repo.GenerationError, match=r"tool needs so:libX11\.so\.6"):
        repo.check_closure("x86_64", broken)
