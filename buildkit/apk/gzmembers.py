"""Concatenated gzip members and tar fragments: the two layers under .apk and APKINDEX files.

An .apk is ``[signature] control data``, three gzip streams back to back; an APKINDEX.tar.gz is
signature member(s) then the index. Signatures cover *compressed* bytes, so callers need each
member's exact byte range as well as its contents. The signature and control tars are
fragments: they stop without the two zero blocks that end a normal tar archive.
"""

from __future__ import annotations

import io
import tarfile
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from buildkit.errors import ApkFormatError

_GZIP_WBITS = 31  # zlib: expect a gzip header and trailer
_BLOCK = 512


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
        inflater = zlib.decompressobj(_GZIP_WBITS)
        try:
            out = inflater.decompress(view[start:])
        except zlib.error as exc:
            what = "not gzip data"
            if index:
                what = f"garbled data after gzip member {index}" if whole else "garbled data"
            raise ApkFormatError(
                f"{what} at byte {start}: {exc}", where=where, hint="the file is corrupt"
            ) from None
        if not inflater.eof:
            number = f" {index + 1}" if whole else ""
            raise ApkFormatError(
                f"truncated gzip member{number} starting at byte {start}",
                where=where,
                hint="the file is incomplete; download it again",
            )
        # Whatever zlib did not consume belongs to the following members.
        end = len(data) - len(inflater.unused_data)
        yield GzipMember(start=start, end=end - 1, data=out)
        start = end
        index += 1


def peek_member(data: bytes, start: int, size: int, *, where: str) -> bytes:
    """Up to ``size`` decompressed bytes from the head of the member at ``start``, without
    inflating the rest (enough to see which tar entry comes first)."""
    inflater = zlib.decompressobj(_GZIP_WBITS)
    try:
        return inflater.decompress(memoryview(data)[start:], size)
    except zlib.error as exc:
        raise ApkFormatError(f"not gzip data at byte {start}: {exc}", where=where) from None


def split_members(data: bytes, *, where: str) -> tuple[GzipMember, ...]:
    """All gzip members of ``data`` with their byte ranges and decompressed contents."""
    return tuple(iter_members(data, where=where))


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
