"""Concatenated gzip members and tar fragments: the two layers under .apk and APKINDEX files.

An .apk is ``[signature] control data``, three gzip streams back to back; an APKINDEX.tar.gz is
signature member(s) then the index. Signatures cover *compressed* bytes, so callers need each
member's exact byte range as well as its contents. The signature and control tars are
fragments: they stop without the two zero blocks that end a normal tar archive.

Big members can also be read a piece at a time (MemberPieces, plain_tar_files): a caller that
processes each piece as it is inflated finds it still in the CPU cache, which for a 90 MB
index makes the processing itself a third faster.

Inflating is ISA-L's (the ``isal`` package: the same deflate, about three times zlib's speed
on a Wolfi index) for a member with the plain header every index and package writer makes
(no optional fields: FLG 0), and zlib's for any other header, so that unusual headers are
judged exactly as zlib judges them; zlib's alone where isal is not installed.
"""

from __future__ import annotations

import io
import tarfile
import zlib
from collections.abc import Generator, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Protocol, cast

from buildkit.errors import ApkFormatError

try:
    from isal import isal_zlib
except ImportError:  # optional: zlib inflates alone
    isal_zlib = None  # type: ignore[assignment]

_GZIP_WBITS = 31  # zlib: expect a gzip header and trailer
_BLOCK = 512
_FEED = 1 << 16  # compressed bytes handed to zlib at a time: it copies aside what it does not use
_PIECE = 1 << 20  # decompressed bytes per piece: per-piece costs vanish, the piece stays cached
_PLAIN_HEADER = b"\x1f\x8b\x08\x00"  # gzip magic, deflate, no flags
_INFLATE_ERRORS: tuple[type[Exception], ...] = (
    (zlib.error,) if isal_zlib is None else (zlib.error, cast("type[Exception]", isal_zlib.error))
)


class _Inflater(Protocol):
    """What zlib's and isal's decompress objects share (all this module uses)."""

    @property
    def eof(self) -> bool: ...
    @property
    def unused_data(self) -> bytes: ...
    @property
    def unconsumed_tail(self) -> bytes: ...
    def decompress(self, data: bytes | memoryview, max_length: int = 0, /) -> bytes: ...


def _inflater(head: bytes | memoryview) -> _Inflater:
    """A gzip inflater for the member that starts with ``head`` (see the module's notes)."""
    if isal_zlib is not None and bytes(head[:4]) == _PLAIN_HEADER:
        return isal_zlib.decompressobj(_GZIP_WBITS)
    return zlib.decompressobj(_GZIP_WBITS)


@dataclass(frozen=True, kw_only=True)
class GzipMember:
    """One gzip member: inclusive byte range in the file (apko's ``bytes=start-end``)."""

    start: int
    end: int  # inclusive
    data: bytes = field(repr=False)  # decompressed

    @property
    def size(self) -> int:
        return self.end - self.start + 1

    def compressed(self, whole: bytes) -> bytes:
        """This member's bytes exactly as stored in ``whole`` (what signatures cover)."""
        return whole[self.start : self.end + 1]


def iter_members(data: bytes, *, where: str, start: int = 0) -> Iterator[GzipMember]:
    """Yield the members of ``data`` from byte ``start`` on; stop early to avoid inflating
    the rest. Offsets are always into the whole of ``data``."""
    if not data:
        raise ApkFormatError("empty file, expected gzip data", where=where)
    view = memoryview(data)
    whole = start == 0  # member numbers are only meaningful counted from the file's start
    index = 0
    while start < len(data):
        inflater = _inflater(view[start : start + 4])
        try:
            out = inflater.decompress(view[start:])
        except _INFLATE_ERRORS as exc:
            raise _garbled(start, index, whole, exc, where) from None
        if not inflater.eof:
            raise _truncated(start, index, whole, where)
        # Whatever zlib did not consume belongs to the following members.
        end = len(data) - len(inflater.unused_data)
        yield GzipMember(start=start, end=end - 1, data=out)
        start = end
        index += 1


def _garbled(start: int, index: int, whole: bool, exc: Exception, where: str) -> ApkFormatError:
    what = "not gzip data"
    if index:
        what = f"garbled data after gzip member {index}" if whole else "garbled data"
    return ApkFormatError(f"{what} at byte {start}: {exc}", where=where, hint="the file is corrupt")


def _truncated(start: int, index: int, whole: bool, where: str) -> ApkFormatError:
    number = f" {index + 1}" if whole else ""
    return ApkFormatError(
        f"truncated gzip member{number} starting at byte {start}",
        where=where,
        hint="the file is incomplete; download it again",
    )


def peek_member(data: bytes, start: int, size: int, *, where: str) -> bytes:
    """Up to ``size`` decompressed bytes from the head of the member at ``start``, without
    inflating the rest (enough to see which tar entry comes first)."""
    inflater = _inflater(memoryview(data)[start : start + 4])
    head = bytearray()
    try:
        for piece in _inflate(inflater, memoryview(data)[start:], size):
            head += piece
            if len(head) >= size:
                break
    except _INFLATE_ERRORS as exc:
        raise ApkFormatError(f"not gzip data at byte {start}: {exc}", where=where) from None
    return bytes(head[:size])


def _inflate(inflater: _Inflater, view: memoryview, piece: int) -> Generator[bytes, None, int]:
    """Pieces of at most ``piece`` bytes, inflated from ``view`` until the member ends or the
    input does; returns how much of ``view`` was read. Input goes in bounded windows, since
    zlib copies aside whatever it has not used."""
    for position in range(0, len(view), _FEED):
        window: bytes | memoryview = view[position : position + _FEED]
        while window and not inflater.eof:
            out = inflater.decompress(window, piece)
            if out:
                yield out
            window = inflater.unconsumed_tail
        if inflater.eof:
            return min(position + _FEED, len(view)) - len(inflater.unused_data)
    return len(view)


def check_member(data: bytes, *, start: int, where: str) -> None:
    """Raise ApkFormatError when the gzip member at ``start`` is cut short.

    Other damage passes: callers use this to explain a failed signature check, which
    describes tampering or corruption better than a zlib message. The inflated bytes are
    thrown away as they come."""
    inflater = _inflater(memoryview(data)[start : start + 4])
    try:
        for _ in _inflate(inflater, memoryview(data)[start:], _PIECE):
            pass
    except _INFLATE_ERRORS:
        return
    if not inflater.eof:
        raise _truncated(start, 0, start == 0, where)


class MemberPieces:
    """The gzip member at ``start`` of ``data``, inflated a piece at a time as it is iterated
    (once), with the errors iter_members reports. Once iteration has finished, ``end`` is the
    offset just past the member; nothing after it has been read."""

    def __init__(self, data: bytes, *, start: int, where: str) -> None:
        self._data, self._start, self._where = data, start, where
        self.end: int | None = None

    def __iter__(self) -> Iterator[bytes]:
        inflater = _inflater(memoryview(self._data)[self._start : self._start + 4])
        whole = self._start == 0
        try:
            read = yield from _inflate(inflater, memoryview(self._data)[self._start :], _PIECE)
        except _INFLATE_ERRORS as exc:
            raise _garbled(self._start, 0, whole, exc, self._where) from None
        if not inflater.eof:
            raise _truncated(self._start, 0, whole, self._where)
        self.end = self._start + read


@dataclass(frozen=True, kw_only=True)
class TarEntry:
    """One tar entry. ``type`` is the tar type flag: "0" file, "1" hard link, "2" symlink,
    "5" directory, ... (GNU long-name and PAX records are folded into the entry they describe).
    """

    name: str
    type: str
    mode: int
    uid: int
    gid: int
    mtime: int
    size: int
    linkname: str = ""
    pax: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    content: bytes = field(default=b"", repr=False)  # regular files only

    @property
    def is_file(self) -> bool:
        return self.type in ("0", "7")


def _entry(info: tarfile.TarInfo, tar: bytes, where: str) -> TarEntry:
    kind = info.type.decode("ascii", "replace")
    kind = "0" if kind == "\0" else kind
    content = b""
    if kind in ("0", "7"):
        stop = info.offset_data + info.size
        if stop > len(tar):
            raise ApkFormatError(
                f"tar entry {info.name!r} is truncated ({len(tar) - info.offset_data} of "
                f"{info.size} bytes)",
                where=where,
            )
        content = tar[info.offset_data : stop]
    return TarEntry(
        name=info.name,
        type=kind,
        mode=info.mode,
        uid=info.uid,
        gid=info.gid,
        mtime=int(info.mtime),
        size=info.size,
        linkname=info.linkname,
        pax=MappingProxyType(dict(info.pax_headers)),
        content=content,
    )


def parse_tar(tar: bytes, *, where: str) -> tuple[TarEntry, ...]:
    """Entries of a tar archive or fragment (end-of-archive blocks optional).

    tarfile stops quietly at a damaged header after the first, so the position where it
    stopped is checked: only zero padding may follow.
    """
    if not tar:
        return ()
    entries: list[TarEntry] = []
    try:
        with tarfile.TarFile(fileobj=io.BytesIO(tar), mode="r") as archive:
            for info in archive:
                entries.append(_entry(info, tar, where))
            stopped = archive.offset
    except tarfile.TarError as exc:
        raise ApkFormatError(f"invalid tar data: {exc}", where=where) from None
    rest = tar[stopped:]
    if rest.count(0) != len(rest):
        raise ApkFormatError(
            f"invalid or truncated tar header at byte {stopped}",
            where=where,
            hint="the archive is corrupt",
        )
    return tuple(entries)


class NotPlainTar(Exception):  # noqa: N818 - a signal to fall back, not an error to report
    """Raised by plain_tar_files for a stream it does not read; parse_tar reads or refuses it."""


def plain_tar_files(pieces: Iterable[bytes]) -> Iterator[tuple[str, Iterator[bytes]]]:
    """``(name, content pieces)`` for each entry of a tar stream given as pieces, without
    holding it whole. Only the plain case is read: regular files (no PAX or GNU long-name
    records, links, folders), then nothing but zero bytes. Anything else (a bad or truncated
    header, a short file, another entry type) raises NotPlainTar, before or after entries
    were yielded. Each entry's pieces must be read to the end before the next entry."""
    stream = _Stream(iter(pieces))
    header = stream.take(_BLOCK)
    if header.count(0) == len(header):
        raise NotPlainTar  # no entry at all: let parse_tar say what it makes of it
    while len(header) == _BLOCK and header.count(0) != _BLOCK:
        try:
            info = tarfile.TarInfo.frombuf(header, tarfile.ENCODING, "surrogateescape")
        except tarfile.HeaderError:
            raise NotPlainTar from None
        if info.type not in (tarfile.REGTYPE, tarfile.AREGTYPE):
            raise NotPlainTar
        yield info.name, stream.pieces(info.size)
        if stream.owed or len(stream.take(-info.size % _BLOCK)) != -info.size % _BLOCK:
            raise NotPlainTar  # the content was not read to its end, or the stream ended
        header = stream.take(_BLOCK)
    if header.count(0) != len(header) or not stream.rest_is_zero():
        raise NotPlainTar


class _Stream:
    """Sequential reads over an iterator of byte pieces."""

    def __init__(self, pieces: Iterator[bytes]) -> None:
        self._pieces = pieces
        self._head = b""  # what is left of the current piece
        self.owed = 0  # bytes a pieces() iterator has yet to deliver

    def take(self, size: int) -> bytes:
        """The next ``size`` bytes, or fewer where the stream ends."""
        while len(self._head) < size:
            piece = next(self._pieces, None)
            if piece is None:
                break
            self._head += piece
        taken, self._head = self._head[:size], self._head[size:]
        return taken

    def pieces(self, size: int) -> Iterator[bytes]:
        """The next ``size`` bytes as pieces, no copy of the whole; short where it ends."""
        self.owed = size  # now, so that content never read is caught (see plain_tar_files)
        return self._deliver()

    def _deliver(self) -> Iterator[bytes]:
        while self.owed:
            piece = self._head or next(self._pieces, b"")
            if not piece:
                return
            self._head = piece[self.owed :]
            piece = piece[: self.owed]
            self.owed -= len(piece)
            yield piece

    def rest_is_zero(self) -> bool:
        rest = [self._head, *self._pieces]
        return all(piece.count(0) == len(piece) for piece in rest)
