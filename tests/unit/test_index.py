"""APKINDEX.tar.gz on real upstream files: gzip members, tar fragments, signatures, records."""

from __future__ import annotations

import copy
import dataclasses
import gc
import gzip
import io
import itertools
import json
import pickle
import random
import shutil
import tarfile
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from buildkit.apk import index_records
from buildkit.apk.gzmembers import (
    MemberPieces,
    NotPlainTar,
    iter_members,
    parse_tar,
    peek_member,
    plain_tar_files,
    split_members,
)
from buildkit.apk.index import (
    ApkIndex,
    IndexRecord,
    parse_index,
    parse_records,
    record_from_package,
    render_record,
    write_index,
)
from buildkit.apk.index_records import _byte_chunks, _text_pieces
from buildkit.apk.keys import Keyring, SigningKey, generate_keypair
from buildkit.errors import ApkFormatError, SignatureError
from tests.helpers.paths import FIXTURES

ALPINE = "alpine-3.17-main-aarch64/APKINDEX.tar.gz"
ALPINE_KEY = "alpine-devel@lists.alpinelinux.org-616ae350.rsa.pub"
MULTI_KEYS = tuple(
    f"chainguard-{h}.rsa.pub"
    for h in (
        "0106f58bac88057c2ff5c2829850df492717a876ed700443550353c7ab23f5a0",
        "60912bbc46bfc8ed6bda0b50db3a8a5f3c4344d6bc8549ec9b84d96140b475d1",
        "61cb6bccd1f584b007db7be51ebce2b0530a54cc5a94e7650b570d113d537cf3",
    )
)


@pytest.fixture(autouse=True, params=["native", "python"])
def record_parser(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test here runs with both record parsers: the compiled one (_native_index.c) and
    the pure-Python one that serves where no C compiler was at hand."""
    if request.param == "python":
        monkeypatch.setattr(index_records, "_NATIVE", None)
    return str(request.param)


# index, keyring folder, signers, record count
SIGNED = [
    ("apko-cli/packages/x86_64/APKINDEX.tar.gz", "apko-cli/packages", ("melange.rsa.pub",), 4),
    ("apko-cli/packages/aarch64/APKINDEX.tar.gz", "apko-cli/packages", ("melange.rsa.pub",), 4),
    *(
        (
            f"apko-cli/private_packages/packages/{arch}/APKINDEX.tar.gz",
            "apko-cli/private_packages",
            ("private_pkg_key.rsa.pub",),
            2,
        )
        for arch in ("x86_64", "aarch64")
    ),
    ("apk-signing/rsa256/APKINDEX.tar.gz", "apk-signing/rsa256", ("test-rsa256.rsa.pub",), 1),
    (
        "apk-signing/multi-signature/APKINDEX.tar.gz",
        "apk-signing/multi-signature/keys",
        MULTI_KEYS,
        16,
    ),
    ("wolfi/x86_64/APKINDEX.tar.gz", "wolfi", ("wolfi-signing.rsa.pub",), 47),
]
RECORD = "C:Q1LLq2qDNrS/qRnhxQ3hsY/sHbQnc=\nP:foo\nV:1.0-r0\nA:x86_64\nS:10\nI:20\n"


def _keyring(folder: str) -> Keyring:
    return Keyring.from_dir(FIXTURES / folder)


def _load(relative: str, keys: str | None = None, **options: bool) -> ApkIndex:
    keyring = _keyring(keys) if keys else None
    data = (FIXTURES / relative).read_bytes()
    return parse_index(data, where=relative, keyring=keyring, **options)


@pytest.fixture(scope="session")
def signing_key(tmp_path_factory: pytest.TempPathFactory) -> SigningKey:
    private, _public = generate_keypair(tmp_path_factory.mktemp("k") / "test.rsa", bits=2048)
    return SigningKey.load(private)


@pytest.fixture(scope="session")
def alpine_records() -> tuple[IndexRecord, ...]:
    return _load(ALPINE, allow_untrusted=True).records


# --------------------------------------------------------------------------------------------
# gzip members and tar fragments


@pytest.mark.parametrize(
    "relative",
    sorted(str(p.relative_to(FIXTURES)) for p in FIXTURES.glob("**/*.apk"))
    + [s[0] for s in SIGNED],
)
def test_members_tile_the_file_and_inflate_to_their_data(relative: str) -> None:
    data = (FIXTURES / relative).read_bytes()
    members = split_members(data, where=relative)
    assert members[0].start == 0
    assert members[-1].end == len(data) - 1
    for before, after in itertools.pairwise(members):
        assert after.start == before.end + 1
    for member in members:
        assert zlib.decompress(member.compressed(data), 31) == member.data
        assert member.size == member.end - member.start + 1


def test_member_ranges_match_the_ranges_apko_locked() -> None:
    lock = json.loads((FIXTURES / "apko-cli/apko.lock.json").read_text())
    packages = lock["contents"]["packages"]
    assert packages
    for package in packages:
        path = FIXTURES / "apko-cli" / package["url"].removeprefix("./testdata/")
        members = split_members(path.read_bytes(), where=str(path))
        ranges = [f"bytes={m.start}-{m.end}" for m in members]
        assert ranges == [package[part]["range"] for part in ("signature", "control", "data")]


@given(st.lists(st.binary(max_size=300), min_size=1, max_size=5))
def test_split_members_inverts_concatenated_gzip(chunks: list[bytes]) -> None:
    compressed = [gzip.compress(chunk, mtime=0) for chunk in chunks]
    data = b"".join(compressed)
    members = split_members(data, where="x")
    assert [m.data for m in members] == chunks
    assert [m.compressed(data) for m in members] == compressed


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda d: b"", "x: empty file, expected gzip data"),
        (lambda d: b"hello world", "x: not gzip data at byte 0: "),
        (
            lambda d: d[:-1],
            "x: truncated gzip member 2 starting at byte 666 (the file is incomplete",
        ),
        (lambda d: d + b"junk", "x: garbled data after gzip member 2 at byte 661049: "),
    ],
)
def test_broken_gzip_data_is_reported_with_the_file(
    damage: Callable[[bytes], bytes], message: str
) -> None:
    data = damage((FIXTURES / ALPINE).read_bytes())
    with pytest.raises(ApkFormatError) as caught:
        split_members(data, where="x")
    assert str(caught.value).startswith(message)


def test_peek_member_inflates_only_the_head() -> None:
    data = gzip.compress(b"a" * 10_000) + gzip.compress(b"b")
    assert peek_member(data, 0, 16, where="x") == b"a" * 16
    with pytest.raises(ApkFormatError, match="x: not gzip data at byte 3"):
        peek_member(data, 3, 16, where="x")


def _tar(*infos: tuple[tarfile.TarInfo, bytes], fmt: int = tarfile.PAX_FORMAT) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=fmt) as archive:
        for info, content in infos:
            archive.addfile(info, io.BytesIO(content) if info.isfile() else None)
    return buffer.getvalue()


def _info(
    name: str, kind: bytes = tarfile.REGTYPE, size: int = 0, **attrs: object
) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.size = size
    for key, value in attrs.items():
        setattr(info, key, value)
    return info


def test_parse_tar_reads_pax_records_long_names_links_and_folders() -> None:
    long_name = "usr/share/" + "x" * 150 + "/file"
    pax = {"APK-TOOLS.checksum.SHA1": "0" * 40}
    data = _tar(
        (_info("usr", tarfile.DIRTYPE, mode=0o755), b""),
        (_info(long_name, size=5, mode=0o644, uid=1, gid=2, mtime=7, pax_headers=pax), b"hello"),
        (_info("usr/link", tarfile.SYMTYPE, linkname="target"), b""),
    )
    entries = parse_tar(data, where="x")
    assert [(e.name, e.type, e.is_file) for e in entries] == [
        ("usr", "5", False),
        (long_name, "0", True),
        ("usr/link", "2", False),
    ]
    file = entries[1]
    assert (file.content, file.size, file.mode, file.uid, file.gid, file.mtime) == (
        b"hello",
        5,
        0o644,
        1,
        2,
        7,
    )
    assert file.pax["APK-TOOLS.checksum.SHA1"] == "0" * 40
    assert entries[2].linkname == "target"


def test_parse_tar_reads_gnu_long_names_and_fragments_without_end_blocks() -> None:
    name = ".SIGN.RSA256." + "k" * 120 + ".rsa.pub"
    whole = _tar((_info(name, size=3), b"sig"), fmt=tarfile.GNU_FORMAT)
    fragment = whole[: 4 * 512]  # long-name header + name, header + data; no zero blocks
    assert [(e.name, e.content) for e in parse_tar(fragment, where="x")] == [(name, b"sig")]
    assert parse_tar(b"", where="x") == ()


@pytest.mark.parametrize(
    ("cut", "message"),
    [
        (512 + 100, "x: tar entry 'a' is truncated (100 of 1000 bytes)"),
        (512 + 1024 + 100, "x: invalid or truncated tar header at byte 1536"),
    ],
)
def test_parse_tar_refuses_truncated_archives(cut: int, message: str) -> None:
    data = _tar((_info("a", size=1000), b"a" * 1000), (_info("b", size=1), b"b"))
    with pytest.raises(ApkFormatError) as caught:
        parse_tar(data[:cut], where="x")
    assert str(caught.value).startswith(message)


def test_parse_tar_refuses_a_damaged_later_header() -> None:
    data = bytearray(_tar((_info("a", size=1), b"a"), (_info("b", size=1), b"b")))
    data[1024 + 148] ^= 0xFF  # the second header's checksum field
    with pytest.raises(ApkFormatError, match="invalid or truncated tar header at byte 1024"):
        parse_tar(bytes(data), where="x")


def _pieces(data: bytes, sizes: list[int]) -> list[bytes]:
    """``data`` cut into pieces of the given sizes, cycling through them."""
    pieces: list[bytes] = []
    start = 0
    for size in itertools.cycle(sizes):
        if start >= len(data):
            return pieces
        pieces.append(data[start : start + size])
        start += size
    raise AssertionError  # unreachable: cycle() never ends


@pytest.mark.parametrize("relative", [ALPINE, *(s[0] for s in SIGNED)])
def test_member_pieces_inflate_each_member_as_iter_members_does(relative: str) -> None:
    data = (FIXTURES / relative).read_bytes()
    for member in split_members(data, where="x"):
        pieces = MemberPieces(data, start=member.start, where="x")
        assert b"".join(pieces) == member.data
        assert pieces.end == member.end + 1


def test_member_pieces_of_a_big_member_are_bounded_and_stop_at_its_end() -> None:
    raw = random.Random(1).randbytes(1 << 16) * 40  # 2.6 MB that zlib cannot shrink away
    data = gzip.compress(raw) + gzip.compress(b"next", mtime=0)
    pieces = MemberPieces(data, start=0, where="x")
    inflated = list(pieces)
    assert len(inflated) > 2
    assert max(map(len, inflated)) <= 1 << 20
    assert b"".join(inflated) == raw
    assert data[pieces.end :] == gzip.compress(b"next", mtime=0)


def _inflated(read: Callable[[], tuple[bytes, int]]) -> tuple[bytes, int] | str:
    try:
        return read()
    except ApkFormatError as exc:
        return str(exc)


@pytest.mark.parametrize(
    "damage",
    [
        lambda d: d[:-1],  # truncated index member
        lambda d: d[:700] + bytes(50) + d[750:],  # garbled index member
        lambda d: d[:666] + b"hello",  # not gzip where the index member starts
        lambda d: d[:10] + bytes(20) + d[30:],  # garbled signature member
        lambda d: d[:300],  # truncated signature member
    ],
)
def test_member_pieces_report_broken_data_as_iter_members_does(
    damage: Callable[[bytes], bytes],
) -> None:
    data = damage((FIXTURES / ALPINE).read_bytes())

    def whole(start: int) -> tuple[bytes, int]:
        member = next(iter_members(data, where="x", start=start))
        return member.data, member.end + 1

    def pieces(start: int) -> tuple[bytes, int]:
        member = MemberPieces(data, start=start, where="x")
        content = b"".join(member)
        assert member.end is not None
        return content, member.end

    for start in (0, 666)[: 1 + (len(data) > 666)]:  # the signature member, the index member
        assert _inflated(lambda: pieces(start)) == _inflated(lambda: whole(start))  # noqa: B023


_PLAIN = _tar(
    (_info("DESCRIPTION", size=5), b"hello"),
    (_info("APKINDEX", size=1500), bytes(range(250)) * 6),
    (_info("empty"), b""),
    fmt=tarfile.USTAR_FORMAT,
)


@pytest.mark.parametrize("sizes", [[1 << 20], [512], [7], [1000, 1, 511], [513, 24]])
@pytest.mark.parametrize(
    "tar", [_PLAIN, _PLAIN[: 6 * 512], _tar((_info("a", size=1), b"a"), fmt=tarfile.GNU_FORMAT)]
)
def test_plain_tar_files_stream_what_parse_tar_reads(tar: bytes, sizes: list[int]) -> None:
    streamed = [(name, b"".join(pieces)) for name, pieces in plain_tar_files(_pieces(tar, sizes))]
    assert streamed == [(e.name, e.content) for e in parse_tar(tar, where="x")]


@pytest.mark.parametrize(
    "tar",
    [
        b"",
        bytes(1024),
        _tar((_info("a" * 120, size=1), b"a")),  # PAX long name
        _tar((_info("a" * 120, size=1), b"a"), fmt=tarfile.GNU_FORMAT),  # GNU long name
        _tar((_info("a", size=1, pax_headers={"x": "y"}), b"a")),
        _tar((_info("d", tarfile.DIRTYPE), b"")),
        _tar((_info("l", tarfile.SYMTYPE, linkname="a"), b"")),
        _PLAIN[: 512 + 3],  # truncated content
        _PLAIN[: 2 * 512 + 100],  # truncated header
        _PLAIN + b"junk",
        _PLAIN[:148] + b"X" + _PLAIN[149:],  # bad header checksum
    ],
)
def test_plain_tar_files_refuse_anything_but_plain_files(tar: bytes) -> None:
    def read_all() -> None:
        for _name, pieces in plain_tar_files(_pieces(tar, [700])):
            b"".join(pieces)

    with pytest.raises(NotPlainTar):
        read_all()


def test_plain_tar_files_refuse_to_go_on_past_content_not_read() -> None:
    entries = plain_tar_files([_PLAIN])
    next(entries)
    with pytest.raises(NotPlainTar):
        next(entries)


# --------------------------------------------------------------------------------------------
# Real indexes


@pytest.mark.parametrize(("index", "keys", "signers", "count"), SIGNED)
def test_real_indexes_verify_and_parse(
    index: str, keys: str, signers: tuple[str, ...], count: int
) -> None:
    parsed = _load(index, keys)
    assert parsed.signers == signers
    assert len(parsed.records) == count
    for record in parsed.records:
        assert record.checksum.startswith("Q1")
        assert record.name
        assert record.version
        assert record.arch
        assert record.filename == f"{record.name}-{record.version}.apk"


def test_alpine_index_parses_unverified_at_full_scale(
    alpine_records: tuple[IndexRecord, ...],
) -> None:
    parsed = _load(ALPINE, allow_untrusted=True)
    assert parsed.signers == ()
    assert parsed.description == "v3.17.3-216-g54a39ace82a"
    assert len(alpine_records) == 5004
    assert {r.arch for r in alpine_records} == {"aarch64"}
    nasm_doc = next(r for r in alpine_records if r.name == "nasm-doc")
    assert nasm_doc.install_if == ("docs", "nasm=2.15.05-r1")
    assert sum(1 for r in alpine_records if r.provider_priority is not None) > 0


def test_alpine_index_is_refused_without_its_key() -> None:
    with pytest.raises(SignatureError) as caught:
        _load(ALPINE, "wolfi")
    assert str(caught.value) == (
        f"{ALPINE}: signature check failed: signed only by keys not in the keyring "
        f"({ALPINE_KEY}) (add the signer's public key if you trust it; the keyring has: "
        "wolfi-signing.rsa.pub)"
    )


@pytest.mark.parametrize("arch", ["x86_64", "aarch64"])
def test_private_packages_match_apkindex_json_field_by_field(arch: str) -> None:
    folder = f"apko-cli/private_packages/packages/{arch}"
    records = _load(f"{folder}/APKINDEX.tar.gz", "apko-cli/private_packages").records
    expected = json.loads((FIXTURES / folder / "APKINDEX.json").read_text())["Packages"]
    assert len(records) == len(expected)
    for record, package in zip(records, expected, strict=True):
        assert record.name == package["Name"]
        assert record.version == package["Version"]
        assert record.arch == package["Arch"]
        assert record.description == package["Description"]
        assert record.license == package["License"]
        assert record.origin == package["Origin"]
        assert record.maintainer == package["Maintainer"]
        assert record.url == package["URL"]
        assert record.checksum == "Q1" + package["Checksum"]
        assert record.depends == tuple(package["Dependencies"] or ())
        assert record.provides == tuple(package["Provides"] or ())
        assert record.install_if == tuple(package["InstallIf"] or ())
        assert record.replaces == tuple(package["Replaces"] or ())
        assert record.size == package["Size"]
        assert record.installed_size == package["InstalledSize"]
        assert (record.provider_priority or 0) == package["ProviderPriority"]
        assert record.build_time == package["BuildDate"]
        assert record.commit == package["RepoCommit"]
        # DataHash is not an index field (the JSON comes from apko's package model).


@pytest.mark.parametrize(
    "folder",
    [
        "apko-cli/packages/x86_64",
        "apko-cli/packages/aarch64",
        "apko-cli/private_packages/packages/x86_64",
        "apk-signing/rsa256",
    ],
)
def test_record_from_package_reproduces_the_real_index(folder: str) -> None:
    index = parse_index(
        (FIXTURES / folder / "APKINDEX.tar.gz").read_bytes(),
        where=folder,
        keyring=None,
        allow_untrusted=True,
    )
    for listed in index.records:
        path = FIXTURES / folder / listed.filename
        built = record_from_package(path.read_bytes(), where=str(path))
        # melange writes t:0 for a package without a builddate (buildkit leaves t: out) and
        # never writes r: (apk-tools ignores r: in an index; buildkit keeps .PKGINFO's).
        if built.build_time is None:
            built = dataclasses.replace(built, build_time=listed.build_time)
        assert dataclasses.replace(built, replaces=()) == listed


# --------------------------------------------------------------------------------------------
# Refusals


@pytest.mark.parametrize("where", ["first", "middle", "last"])
@pytest.mark.parametrize(("index", "keys", "signers", "count"), SIGNED)
def test_one_flipped_byte_in_the_signed_part_is_refused(
    tmp_path: Path, where: str, index: str, keys: str, signers: tuple[str, ...], count: int
) -> None:
    copy = tmp_path / "APKINDEX.tar.gz"
    shutil.copyfile(FIXTURES / index, copy)
    data = bytearray(copy.read_bytes())
    start = split_members(bytes(data), where="x")[-1].start
    position = {"first": start, "middle": (start + len(data)) // 2, "last": len(data) - 1}[where]
    data[position] ^= 0x01
    copy.write_bytes(data)
    with pytest.raises(SignatureError) as caught:
        parse_index(copy.read_bytes(), where=str(copy), keyring=_keyring(keys))
    assert str(caught.value).startswith(f"{copy}: signature check failed: RSA/")
    assert "does not match the signed bytes" in str(caught.value)


def test_unsigned_index_is_refused_unless_untrusted_is_allowed(
    signing_key: SigningKey, alpine_records: tuple[IndexRecord, ...]
) -> None:
    data = write_index(alpine_records[:3], description="", key=None)
    keyring = Keyring.from_pems({signing_key.key_name: signing_key.public_pem})
    with pytest.raises(SignatureError) as caught:
        parse_index(data, where="idx", keyring=keyring)
    assert str(caught.value) == (
        "idx: signature check failed: the index is not signed "
        "(sign it (buildkit apk index --signing-key) or allow untrusted indexes)"
    )
    parsed = parse_index(data, where="idx", keyring=keyring, allow_untrusted=True)
    assert parsed.records == alpine_records[:3]
    assert parsed.signers == ()


def test_no_keyring_means_no_trusted_signature() -> None:
    with pytest.raises(SignatureError, match="the keyring has: no keyring given"):
        _load("wolfi/x86_64/APKINDEX.tar.gz")


def test_allow_untrusted_reads_an_index_signed_by_an_unknown_key() -> None:
    parsed = _load("wolfi/x86_64/APKINDEX.tar.gz", "apko-cli/packages", allow_untrusted=True)
    assert parsed.signers == ()
    assert len(parsed.records) == 47


def test_multi_signature_index_needs_only_one_known_key() -> None:
    one = Keyring.from_files([FIXTURES / "apk-signing/multi-signature/keys" / MULTI_KEYS[1]])
    data = (FIXTURES / "apk-signing/multi-signature/APKINDEX.tar.gz").read_bytes()
    assert parse_index(data, where="x", keyring=one).signers == (MULTI_KEYS[1],)


def test_a_known_key_whose_signature_does_not_match_is_refused() -> None:
    # The right name, the wrong key: a keyring entry that lies about who signed.
    impostor = Keyring.from_pems(
        {
            MULTI_KEYS[0]: (
                FIXTURES / "apk-signing/multi-signature/keys" / MULTI_KEYS[2]
            ).read_bytes()
        }
    )
    data = (FIXTURES / "apk-signing/multi-signature/APKINDEX.tar.gz").read_bytes()
    with pytest.raises(SignatureError, match="signature check failed: RSA/SHA256 signature by"):
        parse_index(data, where="x", keyring=impostor)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"hello", "x: not gzip data at byte 0: "),
        (
            gzip.compress(b"", mtime=0) * 2,
            "x: unexpected gzip member at byte 20 after the index",
        ),
        (
            gzip.compress(_tar((_info("DESCRIPTION", size=2), b"hi"))),
            "x: the archive has no APKINDEX file",
        ),
        (
            gzip.compress(_tar((_info("APKINDEX", size=0), b""), (_info("junk", size=0), b""))),
            "x: unexpected entry 'junk' in the index archive "
            "(expected only APKINDEX and DESCRIPTION)",
        ),
    ],
)
def test_malformed_archives_are_reported(data: bytes, message: str) -> None:
    with pytest.raises(ApkFormatError) as caught:
        parse_index(data, where="x", keyring=None, allow_untrusted=True)
    assert str(caught.value).startswith(message)


_WOLFI_INDEX = FIXTURES / "wolfi/x86_64/APKINDEX.tar.gz"


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda d: d[:-10], "x: truncated gzip member starting at byte 646 "),
        (lambda d: d[:300], "x: truncated gzip member 1 starting at byte 0 "),
        (lambda d: d[:5], "x: truncated gzip member 1 starting at byte 0 "),
        (lambda d: b"hello", "x: not a gzip file "),
    ],
    ids=["index cut", "signature cut", "header cut", "not gzip"],
)
@pytest.mark.parametrize("trusted", [True, False], ids=["keyring", "no keyring"])
def test_a_damaged_index_is_reported_as_damaged_not_as_unsigned(
    damage: Callable[[bytes], bytes], message: str, trusted: bool
) -> None:
    data = damage(_WOLFI_INDEX.read_bytes())
    keyring = _keyring("wolfi") if trusted else None
    with pytest.raises(ApkFormatError) as caught:
        parse_index(data, where="x", keyring=keyring)
    assert str(caught.value).startswith(message)


def test_a_truncated_index_read_untrusted_is_reported_as_truncated() -> None:
    data = _WOLFI_INDEX.read_bytes()[:-10]
    with pytest.raises(ApkFormatError, match="x: truncated gzip member starting at byte 646"):
        parse_index(data, where="x", keyring=None, allow_untrusted=True)


def test_a_signature_mismatch_on_an_intact_file_stays_a_signature_error() -> None:
    data = bytearray(_WOLFI_INDEX.read_bytes())
    data[646 + 9] ^= 1  # the index member's gzip OS byte: still valid gzip, but not as signed
    with pytest.raises(SignatureError, match="signature check failed"):
        parse_index(bytes(data), where="x", keyring=_keyring("wolfi"))


def _index_text(data: bytes) -> tuple[str, str]:
    """APKINDEX and DESCRIPTION read the plain way: the last member, whole, through tarfile."""
    entries = parse_tar(split_members(data, where="x")[-1].data, where="x")
    texts = {entry.name: entry.content.decode() for entry in entries}
    return texts["APKINDEX"], texts.get("DESCRIPTION", "")


def test_loaded_records_render_back_to_exactly_the_index_text() -> None:
    # Written by apk-tools in its field order, the order render_record uses.
    data = (FIXTURES / ALPINE).read_bytes()
    index = parse_index(data, where="x", keyring=None, allow_untrusted=True)
    assert "".join(map(render_record, index.records)) == _index_text(data)[0]


def _index_archive(*entries: tuple[str, bytes], fmt: int = tarfile.USTAR_FORMAT) -> bytes:
    return gzip.compress(_tar(*((_info(n, size=len(c)), c) for n, c in entries), fmt=fmt))


def _pax_archive(text: bytes) -> bytes:
    return gzip.compress(_tar((_info("APKINDEX", size=len(text), pax_headers={"c": "x"}), text)))


@pytest.mark.parametrize(
    ("build", "description"),
    [
        (lambda text: _index_archive(("APKINDEX", text), ("DESCRIPTION", b"d")), "d"),
        (lambda text: _index_archive(("DESCRIPTION", b"d"), ("APKINDEX", text)), "d"),
        (lambda text: _index_archive(("APKINDEX", text)), ""),
        (lambda text: _index_archive(("APKINDEX", text), fmt=tarfile.GNU_FORMAT), ""),
        (lambda text: _index_archive(("APKINDEX", text.replace(b"\nV:", b"\nZ:z\nV:"))), ""),
        (lambda text: _index_archive(("APKINDEX", text.replace(b"\n\n", b"\n\n\n"))), ""),
        (_pax_archive, ""),  # not the usual tar: read whole
    ],
)
def test_every_archive_layout_loads_the_records_its_text_holds(
    alpine_records: tuple[IndexRecord, ...],
    build: Callable[[bytes], bytes],
    description: str,
) -> None:
    data = build("".join(map(render_record, alpine_records[:300])).encode())
    index = parse_index(data, where="x", keyring=None, allow_untrusted=True)
    assert index.records == parse_records(_index_text(data)[0], where="x")
    assert [r.checksum for r in index.records] == [r.checksum for r in alpine_records[:300]]
    assert index.description == description


@pytest.mark.parametrize(
    ("archive", "message"),
    [
        (
            _index_archive(("APKINDEX", RECORD.encode() + b"\n" + b"\xff" * 3)),
            f"x: APKINDEX is not UTF-8 text (byte {len(RECORD) + 1})",
        ),
        (
            _index_archive(("APKINDEX", RECORD.encode()), ("DESCRIPTION", b"\xff")),
            "x: DESCRIPTION is not UTF-8 text (byte 0)",
        ),
        (
            _index_archive(("APKINDEX", (RECORD * 2).encode())),
            "x:APKINDEX:7: field C: appears twice in one record",
        ),
        (
            _index_archive(("APKINDEX", f"{RECORD}\n{RECORD}broken\n".encode())),
            "x:APKINDEX:14: line 'broken' is not 'X:value'",
        ),
        (
            _index_archive(("APKINDEX", RECORD.encode())) + b"junk",
            "x: garbled data after gzip member 1 at byte ",
        ),
    ],
)
def test_broken_index_content_is_reported_where_it_is(archive: bytes, message: str) -> None:
    with pytest.raises(ApkFormatError) as caught:
        parse_index(archive, where="x", keyring=None, allow_untrusted=True)
    assert str(caught.value).startswith(message)


def test_loading_leaves_the_garbage_collector_as_it_was() -> None:
    before = gc.get_threshold()
    data = (FIXTURES / ALPINE).read_bytes()
    with ThreadPoolExecutor(4) as pool:  # concurrent loads, as lock makes them
        loads = pool.map(
            lambda _: parse_index(data, where="x", keyring=None, allow_untrusted=True), range(8)
        )
        assert {len(index.records) for index in loads} == {5004}
    with pytest.raises(ApkFormatError):
        parse_index(data[:-1], where="x", keyring=None, allow_untrusted=True)
    with pytest.raises(ApkFormatError):
        parse_records(f"{RECORD}broken\n", where="x")
    assert gc.get_threshold() == before


# --------------------------------------------------------------------------------------------
# Records


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            f"{RECORD}broken\n",
            "x:APKINDEX:7: line 'broken' is not 'X:value' (one letter, a colon, the value) "
            "(records are blank-line separated lines such as 'P:busybox')",
        ),
        (f"{RECORD}\n{RECORD}Pfoo:bar\n", "x:APKINDEX:14: line 'Pfoo:bar' is not 'X:value'"),
        (f"{RECORD}\n{RECORD}:x\n", "x:APKINDEX:14: line ':x' is not 'X:value'"),
        (f"{RECORD}\n{RECORD} :x\n", "x:APKINDEX:14: line ' :x' is not 'X:value'"),
        (
            RECORD.replace("S:10", "S:big"),
            "x:APKINDEX:5: S: (size) must be a whole number, not 'big'",
        ),
        (
            RECORD.replace("I:20", "I:-1"),
            "x:APKINDEX:6: I: (installed size) must be a whole number, not '-1'",
        ),
        (f"{RECORD}t:\n", "x:APKINDEX:7: t: (build time) must be a whole number, not ''"),
        (
            f"{RECORD}k:high\n",
            "x:APKINDEX:7: k: (provider priority) must be a whole number, not 'high'",
        ),
        (f"{RECORD}P:bar\n", "x:APKINDEX:7: field P: appears twice in one record"),
        (f"{RECORD}i:a\np:b\ni:c\n", "x:APKINDEX:9: field i: appears twice in one record"),
        (f"{RECORD}i:\np:b\ni:c\n", "x:APKINDEX:9: field i: appears twice in one record"),
        (
            RECORD.replace("P:foo\n", ""),
            "x:APKINDEX:1: record has no P: (package name) line (every record needs C:, P: and V:)",
        ),
        (f"{RECORD}\n\nT:orphan\n", "x:APKINDEX:9: record has no C: (checksum) line"),
        (RECORD.replace("V:1.0-r0", "V:"), "x:APKINDEX:1: record has no V: (version) line"),
    ],
)
def test_malformed_records_say_what_and_where(text: str, message: str) -> None:
    with pytest.raises(ApkFormatError) as caught:
        parse_records(text, where="x")
    assert str(caught.value).startswith(message)


def test_every_field_is_read_in_any_order_with_unknown_keys_kept() -> None:
    lines = [
        "C:Q1abc=",
        "P:foo",
        "V:1.2-r3",
        "A:aarch64",
        "S:100",
        "I:200",
        "T:a: b",
        "U:https://x",
        "L:MIT",
        "o:foo-src",
        "m:Me <me@x>",
        "t:1700000000",
        "c:deadbeef",
        "k:10",
        "D:so:libc.so.6 !bar cmd:sh>=1",
        "p:so:libfoo.so.1=1 cmd:foo=1.2-r3",
        "i:docs foo",
        "r:old-foo",
        "Z:zed",
        "q:1",
    ]
    expected = IndexRecord(
        checksum="Q1abc=", name="foo", version="1.2-r3", arch="aarch64", size=100,
        installed_size=200, description="a: b", url="https://x", license="MIT",
        origin="foo-src", maintainer="Me <me@x>", build_time=1_700_000_000, commit="deadbeef",
        provider_priority=10, depends=("so:libc.so.6", "!bar", "cmd:sh>=1"),
        provides=("so:libfoo.so.1=1", "cmd:foo=1.2-r3"), install_if=("docs", "foo"),
        replaces=("old-foo",), extra=(("Z", "zed"), ("q", "1")),
    )  # fmt: skip
    shuffled = lines[:]
    random.Random(7).shuffle(shuffled)
    for order in (lines, shuffled, lines[::-1]):
        extra = tuple((line[0], line[2:]) for line in order if line[0] in "Zq")  # file order
        want = dataclasses.replace(expected, extra=extra)
        assert parse_records("\n".join(order) + "\n\n", where="x") == (want,)


@pytest.mark.parametrize(
    "text",
    [
        RECORD,  # no blank line at the end
        RECORD.rstrip("\n"),  # no newline at all
        f"\n\n{RECORD}\n\n\n",  # extra blank lines
        RECORD + "\n",
    ],
)
def test_blank_lines_at_the_edges_do_not_matter(text: str) -> None:
    (record,) = parse_records(text, where="x")
    assert (record.name, record.size, record.installed_size) == ("foo", 10, 20)


def test_absent_sizes_are_zero_and_absent_optional_numbers_none() -> None:
    (record,) = parse_records("C:Q1x=\nP:foo\nV:1\n\n", where="x")
    assert (record.arch, record.size, record.installed_size) == ("", 0, 0)
    assert (record.build_time, record.provider_priority) == (None, None)
    assert parse_records("", where="x") == ()


def test_both_field_orders_real_writers_use_give_the_same_records(
    alpine_records: tuple[IndexRecord, ...],
) -> None:
    # apk-tools writes "k D p i", melange/apko write "D i p k".
    apk_tools = "".join(map(render_record, alpine_records))
    records = []
    for block in apk_tools.split("\n\n")[:-1]:
        lines = block.split("\n")
        head = [line for line in lines if line[0] not in "kDpi"]
        tail = [line for letter in "Dipk" for line in lines if line[0] == letter]
        records.append("\n".join(head + tail) + "\n\n")
    go_apk = "".join(records)
    assert go_apk != apk_tools
    assert parse_records(go_apk, where="x") == parse_records(apk_tools, where="x") == alpine_records


def test_numbers_with_leading_zeros_are_read_as_numbers() -> None:
    text = "C:Q1x=\nP:foo\nV:1\nS:007\nI:0\nt:0010\nk:01\n\n" + RECORD
    first, second = parse_records(text, where="x")
    assert (first.size, first.installed_size, first.build_time, first.provider_priority) == (
        7,
        0,
        10,
        1,
    )
    assert (second.size, second.build_time, second.provider_priority) == (10, None, None)


def test_records_longer_than_a_parsing_chunk_load_whole(signing_key: SigningKey) -> None:
    (small,) = parse_records(RECORD, where="x")
    big = dataclasses.replace(small, name="big", description="long " * 400_000)  # 2 MB
    records = (small, big, small, big, small)
    text = "".join(map(render_record, records))
    assert parse_records(text, where="x") == records
    keyring = Keyring.from_pems({signing_key.key_name: signing_key.public_pem})
    data = write_index(records, description="", key=signing_key)
    assert parse_index(data, where="x", keyring=keyring).records == records


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(["C:x\n", "P:y z\n", "\n", "é\n", "\n\n"]), max_size=40), st.data())
def test_text_is_cut_into_chunks_only_after_blank_lines(
    lines: list[str], data: st.DataObject
) -> None:
    text = "".join(lines)
    raw = text.encode()
    sizes = data.draw(st.lists(st.integers(1, 9), min_size=1, max_size=5))
    chunks = [c.decode() for c in _byte_chunks(_pieces(raw, sizes))]
    assert "".join(chunks) == text
    assert all(chunk.endswith("\n\n") for chunk in chunks[:-1])
    small = list(_text_pieces(text, chunk=data.draw(st.integers(1, 9))))
    assert "".join(small) == text
    assert all(chunk.endswith("\n\n") for chunk in small[:-1])


def test_parsed_records_are_frozen_dataclasses() -> None:
    (record,) = parse_records(RECORD, where="x")
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.name = "bar"  # type: ignore[misc]
    assert type(record) is IndexRecord
    assert pickle.loads(pickle.dumps(record)) == copy.deepcopy(record) == record
    assert record == IndexRecord(
        checksum="Q1LLq2qDNrS/qRnhxQ3hsY/sHbQnc=", name="foo", version="1.0-r0", arch="x86_64",
        size=10, installed_size=20,
    )  # fmt: skip
    assert hash(record) == hash(dataclasses.replace(record))


# --------------------------------------------------------------------------------------------
# Writing


def test_write_then_parse_round_trips_a_real_index(
    signing_key: SigningKey, alpine_records: tuple[IndexRecord, ...]
) -> None:
    data = write_index(alpine_records, description="v1", key=signing_key)
    keyring = Keyring.from_pems({signing_key.key_name: signing_key.public_pem})
    parsed = parse_index(data, where="x", keyring=keyring)
    assert parsed == ApkIndex(records=alpine_records, description="v1", signers=("test.rsa.pub",))


def test_written_index_is_deterministic_and_shaped_like_melanges(
    signing_key: SigningKey, alpine_records: tuple[IndexRecord, ...]
) -> None:
    data = write_index(alpine_records[:5], description="d", key=signing_key)
    assert data == write_index(alpine_records[:5], description="d", key=signing_key)
    signature, index = split_members(data, where="x")
    # A tar fragment: one header and the 256-byte signature padded to a block, no end blocks.
    assert len(signature.data) == 1024
    (entry,) = parse_tar(signature.data, where="x")
    assert entry.name == ".SIGN.RSA256.test.rsa.pub"
    entries = parse_tar(index.data, where="x")
    assert [(e.name, e.mtime, e.uid, e.gid, e.mode) for e in entries] == [
        ("APKINDEX", 0, 0, 0, 0o644),
        ("DESCRIPTION", 0, 0, 0, 0o644),
    ]
    assert entries[1].content == b"d"
    assert data[4:8] == b"\0\0\0\0"  # gzip header mtime 0


def test_records_that_cannot_be_written_are_refused() -> None:
    (record,) = parse_records(RECORD, where="x")
    with pytest.raises(
        ApkFormatError, match=r"index field T: of foo-1\.0-r0\.apk has a line break"
    ):
        write_index([dataclasses.replace(record, description="a\nb")], description="", key=None)
    with pytest.raises(ApkFormatError, match="invalid extra index key 'PP'"):
        render_record(dataclasses.replace(record, extra=(("PP", "x"),)))


_TEXT = st.text(
    st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp"), blacklist_characters="\x85"),
    max_size=20,
)
_ATOM = st.from_regex(r"[a-z0-9:._+/-]{1,12}(=[0-9.]{1,5})?", fullmatch=True)
_ATOMS = st.lists(_ATOM, max_size=4).map(tuple)
_RECORDS = st.builds(
    IndexRecord,
    checksum=st.from_regex(r"Q1[A-Za-z0-9+/]{27}=", fullmatch=True),
    name=st.from_regex(r"[a-z0-9][a-z0-9+._-]{0,15}", fullmatch=True),
    version=st.from_regex(r"[0-9]{1,3}(\.[0-9]{1,3}){0,2}-r[0-9]", fullmatch=True),
    arch=st.sampled_from(["x86_64", "aarch64", ""]),
    size=st.integers(0, 2**40),
    installed_size=st.integers(0, 2**40),
    description=_TEXT.map(str.strip),
    url=_TEXT.map(str.strip),
    license=_TEXT.map(str.strip),
    origin=_TEXT.map(str.strip),
    maintainer=_TEXT.map(str.strip),
    build_time=st.none() | st.integers(0, 2**33),
    commit=st.from_regex(r"[0-9a-f]{0,40}", fullmatch=True),
    provider_priority=st.none() | st.integers(0, 1000),
    depends=_ATOMS,
    provides=_ATOMS,
    install_if=_ATOMS,
    replaces=_ATOMS,
    extra=st.lists(
        st.tuples(st.sampled_from("XYZqfj"), _TEXT.map(str.strip)),
        max_size=2,
        unique_by=lambda kv: kv[0],
    ).map(tuple),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(_RECORDS, max_size=6), _TEXT)
def test_any_records_survive_a_write_and_parse(
    records: list[IndexRecord], description: str
) -> None:
    data = write_index(records, description=description, key=None)
    parsed = parse_index(data, where="x", keyring=None, allow_untrusted=True)
    assert parsed.records == tuple(records)
    assert parsed.description == description


def test_signatures_in_several_members_all_count(
    signing_key: SigningKey, tmp_path: Path, alpine_records: tuple[IndexRecord, ...]
) -> None:
    other = SigningKey.load(generate_keypair(tmp_path / "other.rsa", bits=2048)[0])
    signed_a = write_index(alpine_records[:2], description="", key=signing_key)
    signed_b = write_index(alpine_records[:2], description="", key=other)
    sig_a, index_a = split_members(signed_a, where="a")
    _sig_b, index_b = split_members(signed_b, where="b")
    assert index_a.compressed(signed_a) == index_b.compressed(signed_b)  # deterministic
    data = sig_a.compressed(signed_a) + signed_b
    keyring = Keyring.from_pems(
        {signing_key.key_name: signing_key.public_pem, other.key_name: other.public_pem}
    )
    parsed = parse_index(data, where="x", keyring=keyring)
    assert parsed.signers == ("test.rsa.pub", "other.rsa.pub")
    assert parsed.records == alpine_records[:2]
