"""buildkit.apk.gzmembers on real upstream files: gzip members and tar fragments."""

from __future__ import annotations

import gzip
import itertools
import json
import random
import tarfile
import zlib
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from buildkit.apk.gzmembers import (
    MemberPieces,
    NotPlainTar,
    iter_members,
    parse_tar,
    peek_member,
    plain_tar_files,
)
from buildkit.errors import ApkFormatError
from tests.helpers.apk_indexes import (
    ALPINE,
    SIGNED,
    pieces_of,
    tar_bytes,
    tar_info,
)
from tests.helpers.paths import FIXTURES

# --------------------------------------------------------------------------------------------
# gzip members and tar fragments


@pytest.mark.parametrize(
    "relative",
    sorted(str(p.relative_to(FIXTURES)) for p in FIXTURES.glob("**/*.apk"))
    + [s[0] for s in SIGNED],
)
def test_members_tile_the_file_and_inflate_to_their_data(relative: str) -> None:
    data = (FIXTURES / relative).read_bytes()
    members = tuple(iter_members(data, where=relative))
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
        members = tuple(iter_members(path.read_bytes(), where=str(path)))
        ranges = [f"bytes={m.start}-{m.end}" for m in members]
        assert ranges == [package[part]["range"] for part in ("signature", "control", "data")]


@given(st.lists(st.binary(max_size=300), min_size=1, max_size=5))
def test_iter_members_inverts_concatenated_gzip(chunks: list[bytes]) -> None:
    compressed = [gzip.compress(chunk, mtime=0) for chunk in chunks]
    data = b"".join(compressed)
    members = tuple(iter_members(data, where="x"))
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
        tuple(iter_members(data, where="x"))
    assert str(caught.value).startswith(message)


def test_peek_member_inflates_only_the_head() -> None:
    data = gzip.compress(b"a" * 10_000) + gzip.compress(b"b")
    assert peek_member(data, 0, 16, where="x") == b"a" * 16
    with pytest.raises(ApkFormatError, match="x: not gzip data at byte 3"):
        peek_member(data, 3, 16, where="x")


def test_parse_tar_reads_pax_records_long_names_links_and_folders() -> None:
    long_name = "usr/share/" + "x" * 150 + "/file"
    pax = {"APK-TOOLS.checksum.SHA1": "0" * 40}
    data = tar_bytes(
        (tar_info("usr", tarfile.DIRTYPE, mode=0o755), b""),
        (tar_info(long_name, size=5, mode=0o644, uid=1, gid=2, mtime=7, pax_headers=pax), b"hello"),
        (tar_info("usr/link", tarfile.SYMTYPE, linkname="target"), b""),
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
    whole = tar_bytes((tar_info(name, size=3), b"sig"), fmt=tarfile.GNU_FORMAT)
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
    data = tar_bytes((tar_info("a", size=1000), b"a" * 1000), (tar_info("b", size=1), b"b"))
    with pytest.raises(ApkFormatError) as caught:
        parse_tar(data[:cut], where="x")
    assert str(caught.value).startswith(message)


def test_parse_tar_refuses_a_damaged_later_header() -> None:
    data = bytearray(tar_bytes((tar_info("a", size=1), b"a"), (tar_info("b", size=1), b"b")))
    data[1024 + 148] ^= 0xFF  # the second header's checksum field
    with pytest.raises(ApkFormatError, match="invalid or truncated tar header at byte 1024"):
        parse_tar(bytes(data), where="x")


@pytest.mark.parametrize("relative", [ALPINE, *(s[0] for s in SIGNED)])
def test_member_pieces_inflate_each_member_as_iter_members_does(relative: str) -> None:
    data = (FIXTURES / relative).read_bytes()
    for member in tuple(iter_members(data, where="x")):
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


_PLAIN = tar_bytes(
    (tar_info("DESCRIPTION", size=5), b"hello"),
    (tar_info("APKINDEX", size=1500), bytes(range(250)) * 6),
    (tar_info("empty"), b""),
    fmt=tarfile.USTAR_FORMAT,
)


@pytest.mark.parametrize("sizes", [[1 << 20], [512], [7], [1000, 1, 511], [513, 24]])
@pytest.mark.parametrize(
    "tar",
    [_PLAIN, _PLAIN[: 6 * 512], tar_bytes((tar_info("a", size=1), b"a"), fmt=tarfile.GNU_FORMAT)],
)
def test_plain_tar_files_stream_what_parse_tar_reads(tar: bytes, sizes: list[int]) -> None:
    streamed = [(name, b"".join(pieces)) for name, pieces in plain_tar_files(pieces_of(tar, sizes))]
    assert streamed == [(e.name, e.content) for e in parse_tar(tar, where="x")]


@pytest.mark.parametrize(
    "tar",
    [
        b"",
        bytes(1024),
        tar_bytes((tar_info("a" * 120, size=1), b"a")),  # PAX long name
        tar_bytes((tar_info("a" * 120, size=1), b"a"), fmt=tarfile.GNU_FORMAT),  # GNU long name
        tar_bytes((tar_info("a", size=1, pax_headers={"x": "y"}), b"a")),
        tar_bytes((tar_info("d", tarfile.DIRTYPE), b"")),
        tar_bytes((tar_info("l", tarfile.SYMTYPE, linkname="a"), b"")),
        _PLAIN[: 512 + 3],  # truncated content
        _PLAIN[: 2 * 512 + 100],  # truncated header
        _PLAIN + b"junk",
        _PLAIN[:148] + b"X" + _PLAIN[149:],  # bad header checksum
    ],
)
def test_plain_tar_files_refuse_anything_but_plain_files(tar: bytes) -> None:
    def read_all() -> None:
        for _name, pieces in plain_tar_files(pieces_of(tar, [700])):
            b"".join(pieces)

    with pytest.raises(NotPlainTar):
        read_all()


def test_plain_tar_files_refuse_to_go_on_past_content_not_read() -> None:
    entries = plain_tar_files([_PLAIN])
    next(entries)
    with pytest.raises(NotPlainTar):
        next(entries)
