"""ISA-L inflates what zlib would, byte for byte; any header but the plain one is zlib's to judge.

buildkit/apk/gzmembers.py inflates members with isal's zlib-compatible inflater when the
member starts with the plain gzip header (FLG 0, as every index and package writer makes it),
and with zlib's otherwise. Pinned here: the same members, ranges and bytes from either
inflater on every fixture index and package; the same errors (as ApkFormatError) on damage;
and headers isal would judge more leniently than zlib go to zlib.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest

from buildkit.apk import gzmembers
from buildkit.apk.gzmembers import MemberPieces, check_member, iter_members
from buildkit.errors import ApkFormatError
from tests.helpers.paths import FIXTURES

FILES = sorted([*FIXTURES.rglob("APKINDEX.tar.gz"), *FIXTURES.rglob("*.apk")])


def test_isal_is_installed_and_inflates_plain_members() -> None:
    assert gzmembers.isal_zlib is not None, "pip install -e . (isal is a dependency)"
    plain = gzip.compress(b"x", mtime=0)
    assert type(gzmembers._inflater(plain)) is not type(zlib.decompressobj(31))


def _members(data: bytes) -> list[tuple[int, int, bytes]]:
    return [(m.start, m.end, m.data) for m in iter_members(data, where="x")]


def _pieces(data: bytes, start: int) -> tuple[bytes, int | None]:
    member = MemberPieces(data, start=start, where="x")
    return b"".join(member), member.end


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(FIXTURES)))
def test_isal_and_zlib_give_the_same_members(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = path.read_bytes()
    with_isal = _members(data)
    pieces_isal = [_pieces(data, start) for start, _end, _data in with_isal]
    monkeypatch.setattr(gzmembers, "isal_zlib", None)
    assert _members(data) == with_isal
    assert [_pieces(data, start) for start, _end, _data in with_isal] == pieces_isal


def _flip(at: int) -> Callable[[bytes], bytes]:
    return lambda data: data[:at] + bytes([data[at] ^ 0x55]) + data[at + 1 :]


@pytest.mark.parametrize(
    "damage",
    [
        _flip(-8),
        _flip(-3),
        _flip(20),
        lambda data: data[:-5],
        lambda data: data[:3] + b"\xe0" + data[4:],
    ],
    ids=["crc", "length", "deflate-stream", "truncated", "reserved-header-flags"],
)
@pytest.mark.parametrize("isal", [True, False], ids=["isal", "zlib-only"])
def test_damage_is_an_apk_format_error_with_either_inflater(
    damage: Callable[[bytes], bytes], isal: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not isal:
        monkeypatch.setattr(gzmembers, "isal_zlib", None)
    data = damage(gzip.compress(bytes(range(256)) * 64, mtime=0))
    with pytest.raises(ApkFormatError):
        list(iter_members(data, where="x"))
    with pytest.raises(ApkFormatError):
        b"".join(MemberPieces(data, start=0, where="x"))


def test_a_truncated_member_is_reported_by_check_member() -> None:
    data = gzip.compress(b"abc" * 1000, mtime=0)[:-5]
    with pytest.raises(ApkFormatError, match="truncated"):
        check_member(data, start=0, where="x")
