"""Reading, verifying and extracting real .apk files, and refusing tampered or malicious ones."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import json
import os
import stat
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from buildkit.apk.gzmembers import iter_members, parse_tar
from buildkit.apk.keys import Keyring, SigningKey, generate_keypair
from buildkit.apk.package import (
    ApkLayout,
    Section,
    extract_package,
    read_layout,
    verify_package,
)
from buildkit.apk.pkginfo import PkgInfo, render_pkginfo
from buildkit.errors import ApkFormatError, ChecksumError, SignatureError, UnsafePathError
from tests.helpers.paths import FIXTURES

MELANGE_KEY = "apko-cli/packages/melange.rsa.pub"
PRIVATE_KEY = "apko-cli/private_packages/private_pkg_key.rsa.pub"
WOLFI_KEY = "wolfi/wolfi-signing.rsa.pub"
PRETEND = "apko-cli/packages/x86_64/pretend-baselayout-1.0.0-r0.apk"
HELLO = "wolfi/aarch64/hello-wolfi-2.12-r1.apk"
ALPINE = "apk-signing/rsa256/alpine-baselayout-3.2.0-r23.apk"

# Every apk among the fixtures: (path, key that signed it or None if not included, algorithm).
FIXTURE_APKS = [
    *(
        (f"apko-cli/packages/{arch}/{name}-1.0.0-r0.apk", MELANGE_KEY, "sha256")
        for arch in ("x86_64", "aarch64")
        for name in ("pretend-baselayout", "replayout", "custom-ca-certs-1", "custom-ca-certs-2")
    ),
    *(
        (f"apko-cli/private_packages/packages/{arch}/package-{x}-1.0.0-r0.apk", PRIVATE_KEY, "sha1")
        for arch in ("x86_64", "aarch64")
        for x in ("x", "y")
    ),
    (HELLO, WOLFI_KEY, "sha1"),
    (ALPINE, None, "sha1"),  # signed by Alpine's key, which the fixtures do not include
]
# Packages listed in an APKINDEX beside them (the Wolfi apk has none).
INDEXED_APKS = [path for path, _key, _alg in FIXTURE_APKS if path != HELLO]


def _read(relative: str) -> bytes:
    return (FIXTURES / relative).read_bytes()


def _keyring(*relatives: str) -> Keyring:
    return Keyring.from_files([FIXTURES / relative for relative in relatives])


def _index_checksums(index: Path) -> dict[str, str]:
    """``{"name-version": C:}`` from an APKINDEX.tar.gz, parsed just enough for the test."""
    found: dict[str, str] = {}
    for member in tuple(iter_members(index.read_bytes(), where=str(index))):
        for entry in parse_tar(member.data, where=str(index)):
            if entry.name != "APKINDEX":
                continue
            for block in entry.content.decode().split("\n\n"):
                fields = dict(line.split(":", 1) for line in block.splitlines() if line)
                if fields:
                    found[f"{fields['P']}-{fields['V']}"] = fields["C"]
    return found


# --------------------------------------------------------------------------------------------
# Layout and verification of the real packages


@pytest.mark.parametrize("relative", INDEXED_APKS)
def test_identity_equals_the_index_checksum(relative: str) -> None:
    path = FIXTURES / relative
    layout = read_layout(path.read_bytes(), where=str(path))
    checksums = _index_checksums(path.parent / "APKINDEX.tar.gz")
    assert layout.identity == checksums[path.name.removesuffix(".apk")]


def _lock_packages() -> list[dict[str, object]]:
    lock = json.loads((FIXTURES / "apko-cli/apko.lock.json").read_text())
    packages: list[dict[str, object]] = lock["contents"]["packages"]
    return packages


@pytest.mark.parametrize(
    "locked", _lock_packages(), ids=lambda p: f"{p['architecture']}-{p['name']}"
)
def test_ranges_and_checksums_equal_apkos_lock(locked: dict[str, object]) -> None:
    url = str(locked["url"]).removeprefix("./testdata/")
    layout = read_layout(_read(f"apko-cli/{url}"), where=url)
    assert layout.signature is not None
    assert {
        "signature": {"range": layout.signature.range, "checksum": layout.signature_checksum},
        "control": {"range": layout.control.range, "checksum": layout.control_checksum},
        "data": {"range": layout.data.range, "checksum": layout.data_checksum},
        "checksum": layout.identity,
    } == {key: locked[key] for key in ("signature", "control", "data", "checksum")}


@pytest.mark.parametrize(("relative", "key", "algorithm"), FIXTURE_APKS)
def test_real_packages_verify(relative: str, key: str | None, algorithm: str) -> None:
    keyring = _keyring(key) if key else None
    layout = verify_package(
        _read(relative), where=relative, keyring=keyring, allow_untrusted=key is None
    )
    assert layout.signature_algorithm == algorithm
    expected_signer = key.rsplit("/", 1)[-1] if key else "alpine-devel@lists.alpinelinux.org-"
    assert layout.signer is not None
    assert layout.signer.startswith(expected_signer)
    assert layout.pkginfo.datahash


def test_layout_sections_tile_the_file() -> None:
    data = _read(HELLO)
    layout = read_layout(data, where=HELLO)
    assert layout.signature == Section(0, 651)
    assert layout.control == Section(652, 986)
    assert layout.data == Section(987, len(data) - 1)
    assert (layout.pkginfo.name, layout.pkginfo.version) == ("hello-wolfi", "2.12-r1")
    assert layout.data.size + layout.control.size + layout.signature.size == len(data)


def test_package_signed_by_alpine_is_refused_without_its_key() -> None:
    keyring = _keyring("apk-signing/rsa256/test-rsa256.rsa.pub")
    with pytest.raises(SignatureError) as caught:
        verify_package(_read(ALPINE), where=ALPINE, keyring=keyring)
    message = str(caught.value)
    assert message.startswith(f"{ALPINE}: signature check failed: signed by alpine-devel@")
    assert "which is not in the keyring" in message


def test_signature_by_a_different_key_of_the_same_name_fails(tmp_path: Path) -> None:
    _private, public = generate_keypair(tmp_path / "melange.rsa", bits=1024)
    keyring = Keyring.from_pems({"melange.rsa.pub": public.read_bytes()})
    with pytest.raises(SignatureError, match="signature check failed: RSA/SHA256"):
        verify_package(_read(PRETEND), where=PRETEND, keyring=keyring)


def _unsigned(data: bytes) -> bytes:
    layout = read_layout(data, where="t")
    assert layout.signature is not None
    return data[layout.signature.end + 1 :]


def test_unsigned_package_needs_allow_untrusted() -> None:
    data = _unsigned(_read(PRETEND))
    with pytest.raises(SignatureError, match="signature check failed: the package is not signed"):
        verify_package(data, where="u.apk", keyring=_keyring(MELANGE_KEY))
    layout = verify_package(data, where="u.apk", keyring=None, allow_untrusted=True)
    assert (layout.signature, layout.signer, layout.signature_checksum) == (None, None, "")
    assert layout.control == Section(0, read_layout(data, where="u").control.end)


def test_wrong_expected_identity_is_reported() -> None:
    with pytest.raises(ChecksumError) as caught:
        verify_package(
            _read(PRETEND),
            where=PRETEND,
            keyring=_keyring(MELANGE_KEY),
            expected_identity="Q1AAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        )
    assert "identity check failed: the control member hashes to Q1m6wB0U" in str(caught.value)


# --------------------------------------------------------------------------------------------
# Tampered copies

Mutation = Callable[[bytes, ApkLayout], bytes]


def _flip(offset: Callable[[ApkLayout], int]) -> Mutation:
    def mutate(data: bytes, layout: ApkLayout) -> bytes:
        at = offset(layout)
        return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1 :]

    return mutate


def _cut(offset: Callable[[ApkLayout, int], int]) -> Mutation:
    return lambda data, layout: data[: offset(layout, len(data))]


# Byte 4 of a gzip member is its MTIME field: changing it alters the stored bytes (so every
# hash over them) while the member still inflates. Deeper flips corrupt the deflate stream.
TAMPERING = [
    ("control-header", _flip(lambda lay: lay.control.start + 4), SignatureError,
     "signature check failed: RSA/"),
    ("control-deflate", _flip(lambda lay: lay.control.start + 40), ApkFormatError,
     "the control member is truncated or corrupt (garbled data"),
    ("data-header", _flip(lambda lay: lay.data.start + 4), ChecksumError,
     "datahash check failed: the data member hashes to"),
    ("data-deflate", _flip(lambda lay: lay.data.start + lay.data.size // 2), ApkFormatError,
     "datahash check failed: the data member is truncated or corrupt"),
    ("cut-in-data", _cut(lambda lay, n: n - 100), ApkFormatError,
     "datahash check failed: the data member is truncated or corrupt (truncated gzip member"),
    ("cut-after-control", _cut(lambda lay, n: lay.control.end + 1), ApkFormatError,
     "truncated: no data member after the control member"),
    ("cut-in-control", _cut(lambda lay, n: lay.control.start + 30), ApkFormatError,
     "the control member is truncated or corrupt (truncated gzip member 2"),
    ("cut-after-signature", _cut(lambda lay, n: lay.control.start), ApkFormatError,
     "truncated: the file ends after the signature member"),
]  # fmt: skip


@pytest.mark.parametrize(("relative", "key"), [(PRETEND, MELANGE_KEY), (HELLO, WOLFI_KEY)])
@pytest.mark.parametrize(
    ("mutate", "error", "message"),
    [case[1:] for case in TAMPERING],
    ids=[case[0] for case in TAMPERING],
)
def test_tampered_copy_is_refused_naming_the_failed_check(
    relative: str, key: str, mutate: Mutation, error: type[Exception], message: str
) -> None:
    original = _read(relative)
    tampered = mutate(original, read_layout(original, where=relative))
    with pytest.raises(error) as caught:
        verify_package(tampered, where="copy.apk", keyring=_keyring(key))
    assert str(caught.value).startswith("copy.apk")
    assert message in str(caught.value)


def test_tampered_control_fails_the_identity_check_when_signatures_are_skipped() -> None:
    original = _read(PRETEND)
    layout = read_layout(original, where=PRETEND)
    tampered = _flip(lambda lay: lay.control.start + 4)(original, layout)
    with pytest.raises(ChecksumError, match="identity check failed"):
        verify_package(
            tampered,
            where="copy.apk",
            keyring=None,
            allow_untrusted=True,
            expected_identity=layout.identity,
        )


# --------------------------------------------------------------------------------------------
# Hand-made packages: re-signed tampering and malicious tarballs


def _tar_fragment(name: str, content: bytes) -> bytes:
    info = tarfile.TarInfo(name)
    info.size = len(content)
    info.mode = 0o644
    return info.tobuf(tarfile.PAX_FORMAT) + content + b"\0" * (-len(content) % 512)


def _make_apk(data_tar: bytes, key: SigningKey | None = None, info: PkgInfo | None = None) -> bytes:
    """An .apk around ``data_tar`` with a correct datahash; signed when ``key`` is given."""
    data_member = gzip.compress(data_tar, mtime=0)
    info = info or PkgInfo(name="evil", version="1-r0", arch="x86_64")
    info = dataclasses.replace(info, datahash=hashlib.sha256(data_member).hexdigest())
    control = gzip.compress(_tar_fragment(".PKGINFO", render_pkginfo(info)), mtime=0)
    if key is None:
        return control + data_member
    signature = _tar_fragment(f".SIGN.RSA256.{key.key_name}", key.sign(control))
    return gzip.compress(signature, mtime=0) + control + data_member


@pytest.fixture(scope="module")
def signing_key(tmp_path_factory: pytest.TempPathFactory) -> SigningKey:
    private, _public = generate_keypair(tmp_path_factory.mktemp("keys") / "test.rsa", bits=2048)
    return SigningKey.load(private)


def test_file_content_not_matching_its_pax_checksum_is_named(signing_key: SigningKey) -> None:
    """Re-signed with a trusted key and a fresh datahash, so only the per-file check is left."""
    original = _read(PRETEND)
    layout = read_layout(original, where=PRETEND)
    data_tar = bytearray(gzip.decompress(original[layout.data.start :]))
    with tarfile.open(fileobj=io.BytesIO(bytes(data_tar))) as archive:
        target = archive.getmember("etc/os-release")
    data_tar[target.offset_data] ^= 0x20
    tampered = _make_apk(bytes(data_tar), signing_key, layout.pkginfo)
    keyring = Keyring.from_pems({signing_key.key_name: signing_key.public_pem})
    with pytest.raises(ChecksumError) as caught:
        verify_package(tampered, where="copy.apk", keyring=keyring)
    assert str(caught.value).startswith(
        "copy.apk: file checksum check failed for etc/os-release: its content has SHA-1 "
    )
    assert "but its APK-TOOLS.checksum.SHA1 record says 2a1171b49b2e3d59" in str(caught.value)


def _entry(name: str, kind: bytes = tarfile.REGTYPE, content: bytes = b"", link: str = "") -> bytes:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    info.mode = 0o755 if kind == tarfile.DIRTYPE else 0o644
    if kind == tarfile.REGTYPE:
        info.size = len(content)
        info.pax_headers = {"APK-TOOLS.checksum.SHA1": hashlib.sha1(content).hexdigest()}
    return info.tobuf(tarfile.PAX_FORMAT) + content + b"\0" * (-len(content) % 512)


def _data(*entries: bytes) -> bytes:
    return b"".join(entries) + b"\0" * 1024


def _symlink(name: str, target: str) -> bytes:
    return _entry(name, tarfile.SYMTYPE, link=target)


def _hardlink(name: str, target: str) -> bytes:
    return _entry(name, tarfile.LNKTYPE, link=target)


MALICIOUS = [
    ("absolute", _data(_entry("/etc/passwd", content=b"x")), "absolute path: /etc/passwd"),
    ("dotdot", _data(_entry("../evil", content=b"x")), "'..' component: ../evil"),
    ("inner-dotdot", _data(_entry("a/../../evil", content=b"x")), "'..' component"),
    ("symlink-up", _data(_symlink("link", "../../outside")), "symlink link -> ../../outside"),
    ("symlink-up-nested", _data(_entry("a", tarfile.DIRTYPE), _symlink("a/l", "../..")),
     "leads outside"),
    # each link alone stays inside; together they climb out
    ("symlink-two-hops", _data(_entry("d", tarfile.DIRTYPE), _symlink("d/up", ".."),
                               _symlink("e", "d/up/..")), "symlink e -> d/up/.."),
    ("write-through-absolute-link", _data(_symlink("etc", "/etc"), _entry("etc/x", content=b"x")),
     "written through the symlink etc"),
    ("write-through-inner-link", _data(_entry("a", tarfile.DIRTYPE), _symlink("b", "a"),
                                       _entry("b/x", content=b"x")), "through the symlink b"),
    ("hardlink-absolute", _data(_hardlink("h", "/etc/passwd")), "absolute path: /etc/passwd"),
    ("hardlink-dotdot", _data(_hardlink("h", "../outside")), "'..' component"),
    ("hardlink-missing", _data(_hardlink("h", "nothing")), "refusing hard link h -> nothing"),
    ("hardlink-via-symlink", _data(_symlink("s", "/etc"), _hardlink("h", "s/passwd")),
     "refusing hard link h -> s/passwd"),
    ("char-device", _data(_entry("dev/null", tarfile.CHRTYPE)), "refusing device file dev/null"),
    ("block-device", _data(_entry("sda", tarfile.BLKTYPE)), "refusing device file sda"),
    ("fifo", _data(_entry("pipe", tarfile.FIFOTYPE)), "refusing FIFO file pipe"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("data_tar", "message"), [case[1:] for case in MALICIOUS], ids=[case[0] for case in MALICIOUS]
)
def test_malicious_tarball_is_refused_and_leaves_nothing(
    tmp_path: Path, data_tar: bytes, message: str
) -> None:
    dest = tmp_path / "out" / "root"
    with pytest.raises(UnsafePathError) as caught:
        extract_package(_make_apk(data_tar), dest, where="evil.apk")
    assert str(caught.value).startswith("evil.apk: refusing")
    assert message in str(caught.value)
    assert list((tmp_path / "out").iterdir()) == []  # no dest, no staging folder


def test_duplicate_member_is_refused(tmp_path: Path) -> None:
    data_tar = _data(_entry("x", content=b"1"), _entry("x", content=b"2"))
    with pytest.raises(ApkFormatError, match="duplicate member x"):
        extract_package(_make_apk(data_tar), tmp_path / "root", where="dup.apk")
    assert not (tmp_path / "root").exists()


def test_extraction_refuses_a_non_empty_destination(tmp_path: Path) -> None:
    (tmp_path / "root").mkdir()
    (tmp_path / "root" / "keep").write_text("mine")
    with pytest.raises(UnsafePathError, match="not an empty folder"):
        extract_package(_read(PRETEND), tmp_path / "root", where=PRETEND)
    assert (tmp_path / "root" / "keep").read_text() == "mine"


def test_links_inside_the_tree_are_extracted(tmp_path: Path) -> None:
    data_tar = _data(
        _entry("usr", tarfile.DIRTYPE),
        _entry("usr/lib", tarfile.DIRTYPE),
        _entry("usr/lib/libx.so.1", content=b"elf"),
        _symlink("usr/lib/libx.so", "libx.so.1"),
        _symlink("lib", "usr/lib"),
        _symlink("run", "/var/run"),  # absolute: relative to the image root
        _hardlink("usr/lib/libx-copy.so.1", "usr/lib/libx.so.1"),
    )
    (tmp_path / "root").mkdir()  # an empty folder may be the target
    extract_package(_make_apk(data_tar), tmp_path / "root", where="ok.apk")
    root = tmp_path / "root"
    assert os.readlink(root / "lib") == "usr/lib"
    assert os.readlink(root / "run") == "/var/run"
    assert (root / "lib" / "libx.so").read_bytes() == b"elf"
    assert (root / "usr/lib/libx-copy.so.1").stat().st_ino == (
        root / "usr/lib/libx.so.1"
    ).stat().st_ino


def test_real_package_extracts_with_modes_and_links(tmp_path: Path) -> None:
    data = _read(ALPINE)
    dest = tmp_path / "alpine"
    extract_package(data, dest, where=ALPINE)
    layout = read_layout(data, where=ALPINE)
    entries = parse_tar(gzip.decompress(data[layout.data.start :]), where=ALPINE)
    for entry in entries:
        path = dest / entry.name
        mode = path.lstat().st_mode
        if entry.type == "2":
            assert os.readlink(path) == entry.linkname
        else:
            assert stat.S_IMODE(mode) == entry.mode, entry.name
            assert int(path.lstat().st_mtime) == entry.mtime
        if entry.is_file:
            assert path.read_bytes() == entry.content
    assert stat.S_IMODE((dest / "tmp").stat().st_mode) == 0o1777
    assert os.readlink(dest / "var/run") == "/run"


def test_garbage_and_empty_input_are_format_errors() -> None:
    with pytest.raises(ApkFormatError, match="empty file"):
        read_layout(b"", where="e.apk")
    with pytest.raises(ApkFormatError, match="not gzip data"):
        read_layout(b"PK\x03\x04 not an apk", where="z.apk")


def test_control_member_without_pkginfo_is_refused() -> None:
    control = gzip.compress(_tar_fragment(".pre-install", b"#!/bin/sh\n"), mtime=0)
    data = gzip.compress(_data(), mtime=0)
    with pytest.raises(ApkFormatError, match=r"the control member has no \.PKGINFO"):
        read_layout(control + data, where="n.apk")


def test_missing_datahash_is_refused_unless_untrusted(signing_key: SigningKey) -> None:
    data_member = gzip.compress(_data(_entry("x", content=b"1")), mtime=0)
    pkginfo = render_pkginfo(PkgInfo(name="old", version="1-r0"))
    control = gzip.compress(_tar_fragment(".PKGINFO", pkginfo), mtime=0)
    signature = _tar_fragment(f".SIGN.RSA256.{signing_key.key_name}", signing_key.sign(control))
    apk = gzip.compress(signature, mtime=0) + control + data_member
    keyring = Keyring.from_pems({signing_key.key_name: signing_key.public_pem})
    with pytest.raises(ChecksumError, match=r"datahash check failed: \.PKGINFO has no datahash"):
        verify_package(apk, where="old.apk", keyring=keyring)
    verify_package(apk, where="old.apk", keyring=keyring, allow_untrusted=True)


@pytest.mark.parametrize(
    "relative", [PRETEND, "apko-cli/private_packages/packages/x86_64/package-x-1.0.0-r0.apk"]
)
def test_every_truncation_is_refused_as_a_format_error(relative: str) -> None:
    data = _read(relative)
    keyring = _keyring(MELANGE_KEY, PRIVATE_KEY)
    for length in range(len(data)):
        with pytest.raises(ApkFormatError, match=r"truncated|empty file") as caught:
            verify_package(data[:length], where="cut.apk", keyring=keyring)
        assert str(caught.value).startswith("cut.apk"), length


@pytest.mark.parametrize("relative", [path for path, _key, _alg in FIXTURE_APKS])
def test_every_real_package_extracts_completely(relative: str, tmp_path: Path) -> None:
    data = _read(relative)
    layout = read_layout(data, where=relative)
    entries = parse_tar(gzip.decompress(data[layout.data.start :]), where=relative)
    extract_package(data, tmp_path / "root", where=relative)
    extracted = {
        path.relative_to(tmp_path / "root").as_posix() for path in (tmp_path / "root").rglob("*")
    }
    assert extracted == {entry.name for entry in entries}


def test_unsupported_signature_type_by_a_known_key_is_refused(signing_key: SigningKey) -> None:
    apk = _make_apk(_data(), signing_key)
    layout = read_layout(apk, where="t")
    assert layout.signature is not None
    control_and_data = apk[layout.signature.end + 1 :]
    dsa = _tar_fragment(f".SIGN.DSA.{signing_key.key_name}", b"not a signature")
    keyring = Keyring.from_pems({signing_key.key_name: signing_key.public_pem})
    with pytest.raises(SignatureError, match=r"unsupported signature type for key test\.rsa\.pub"):
        verify_package(gzip.compress(dsa) + control_and_data, where="dsa.apk", keyring=keyring)
