""".apk packages: layout, verification, safe extraction, and packing.

An .apk is gzip members back to back: ``[signature] control data``. The signature and control
members hold tar *fragments* (no end-of-archive blocks); the data member is a whole tar whose
regular files and symlinks carry an ``APK-TOOLS.checksum.SHA1`` PAX record. What protects what:

- the signature (RSA PKCS#1 v1.5, SHA-1 or SHA-256) covers the compressed control member;
- the package identity, index ``C:``, is ``Q1`` + base64(SHA-1 of the compressed control);
- ``.PKGINFO``'s ``datahash`` is the hex SHA-256 of the compressed data member, i.e. of every
  byte after the control member (apko and apk-tools treat the rest of the file as data).

Pure apart from :func:`extract_package` (writes a tree) and :func:`pack_package` (reads one).
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import os
import shutil
import stat
import struct
import tarfile
import tempfile
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath

from buildkit import __version__
from buildkit.apk.gzmembers import GzipMember, iter_members, parse_tar
from buildkit.apk.keys import Keyring, SignatureAlgorithm, SigningKey, verify_signature
from buildkit.apk.pkginfo import PkgInfo, parse_pkginfo, render_pkginfo
from buildkit.apk.spdx import package_sbom, sbom_path, sbom_paths
from buildkit.errors import ApkFormatError, ChecksumError, SignatureError, UnsafePathError

CHECKSUM_PAX = "APK-TOOLS.checksum.SHA1"
_SIGNATURE_TYPES: dict[str, SignatureAlgorithm] = {".SIGN.RSA.": "sha1", ".SIGN.RSA256.": "sha256"}
_BLOCK = 512
# melange's (Go's default) level; fixed so that a repack gives the same bytes. abuild's -9 is
# about twice as slow for a few percent.
_GZIP_LEVEL = 6
_MAX_LINK_HOPS = 40  # Linux's MAXSYMLINKS
_TOOL = f"buildkit ({__version__})"  # the creator named in packages' SBOMs


# --------------------------------------------------------------------------------------------
# Layout


@dataclass(frozen=True)
class Section:
    """A member's inclusive byte range in the file, as apko's lock writes ``bytes=a-b``."""

    start: int
    end: int  # inclusive

    @property
    def size(self) -> int:
        return self.end - self.start + 1

    @property
    def range(self) -> str:
        return f"bytes={self.start}-{self.end}"


@dataclass(frozen=True, kw_only=True)
class ApkLayout:
    """Where an .apk's members are and what names them (apko lock fields, index ``C:``)."""

    signature: Section | None
    control: Section
    data: Section
    signature_checksum: str  # "sha1-<b64>" of the signature member ("" when unsigned)
    control_checksum: str  # "sha1-<b64>" of the control member
    data_checksum: str  # "sha256-<b64>" of the data member
    identity: str  # "Q1<b64 sha1 of the control member>" == index C:
    pkginfo: PkgInfo
    signer: str | None  # key file name of the (first) signature, e.g. "melange.rsa.pub"
    signature_algorithm: SignatureAlgorithm | None


@dataclass(frozen=True, kw_only=True)
class _Signature:
    key_name: str
    algorithm: SignatureAlgorithm | None  # None: a type buildkit cannot check (e.g. DSA)
    value: bytes


def _b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode("ascii")


def _sha1(data: bytes | memoryview) -> bytes:
    return hashlib.sha1(data, usedforsecurity=False).digest()


def _signatures(member: GzipMember, where: str) -> tuple[_Signature, ...]:
    """The ``.SIGN.*`` entries of a first member; () when it is not a signature member."""
    entries = parse_tar(member.data, where=f"{where} (first gzip member)")
    if not entries or not entries[0].name.startswith(".SIGN."):
        return ()
    found: list[_Signature] = []
    for entry in entries:
        prefix = next((p for p in _SIGNATURE_TYPES if entry.name.startswith(p)), None)
        key_name = entry.name.removeprefix(prefix) if prefix else entry.name.split(".", 3)[-1]
        algorithm = _SIGNATURE_TYPES[prefix] if prefix else None
        found.append(_Signature(key_name=key_name, algorithm=algorithm, value=entry.content))
    return tuple(found)


def _read_pkginfo(control: GzipMember, where: str) -> PkgInfo:
    entries = parse_tar(control.data, where=f"{where} (control member)")
    for entry in entries:
        if entry.name.removeprefix("./") == ".PKGINFO" and entry.is_file:
            return parse_pkginfo(entry.content, where=f"{where}:.PKGINFO")
    raise ApkFormatError(
        "the control member has no .PKGINFO", where=where, hint="this is not an .apk package"
    )


def _split(data: bytes, where: str) -> tuple[GzipMember | None, GzipMember, Section]:
    """(signature member, control member, data section), inflating only the first two."""
    members = iter_members(data, where=where)
    first = next(members)
    signature: GzipMember | None = None
    control = first
    if _signatures(first, where):
        signature = first
        try:
            following = next(members, None)
        except ApkFormatError as damage:
            raise ApkFormatError(
                f"the control member is truncated or corrupt ({damage.message})",
                where=where,
                hint=damage.hint,
            ) from None
        if following is None:
            raise ApkFormatError("truncated: the file ends after the signature member", where=where)
        control = following
    if control.end + 1 >= len(data):
        raise ApkFormatError(
            "truncated: no data member after the control member",
            where=where,
            hint="the file is incomplete; download it again",
        )
    return signature, control, Section(control.end + 1, len(data) - 1)


def read_layout(data: bytes, *, where: str) -> ApkLayout:
    """Locate the members and parse .PKGINFO; checks nothing (see :func:`verify_package`)."""
    signature, control, data_section = _split(data, where)
    view = memoryview(data)
    control_sha1 = _sha1(view[control.start : control.end + 1])
    data_sha256 = hashlib.sha256(view[data_section.start :]).digest()
    signatures = _signatures(signature, where) if signature else ()
    return ApkLayout(
        signature=Section(signature.start, signature.end) if signature else None,
        control=Section(control.start, control.end),
        data=data_section,
        signature_checksum=(
            "sha1-" + _b64(_sha1(view[signature.start : signature.end + 1])) if signature else ""
        ),
        control_checksum="sha1-" + _b64(control_sha1),
        data_checksum="sha256-" + _b64(data_sha256),
        identity="Q1" + _b64(control_sha1),
        pkginfo=_read_pkginfo(control, where),
        signer=signatures[0].key_name if signatures else None,
        signature_algorithm=signatures[0].algorithm if signatures else None,
    )


# --------------------------------------------------------------------------------------------
# Verification


def verify_package(
    data: bytes,
    *,
    where: str,
    keyring: Keyring | None,
    allow_untrusted: bool = False,
    expected_identity: str | None = None,
) -> ApkLayout:
    """Check signature, identity, datahash and every file's checksum; return the layout.

    ``allow_untrusted`` accepts an unsigned package or one signed by a key outside the
    keyring (apk's ``--allow-untrusted``); a signature by a *known* key must still match.
    Raises SignatureError, ChecksumError or ApkFormatError naming the check that failed.
    """
    layout = read_layout(data, where=where)
    _check_signature(data, layout, keyring, allow_untrusted, where)
    if expected_identity is not None and expected_identity != layout.identity:
        raise ChecksumError(
            f"identity check failed: the control member hashes to {layout.identity} "
            f"but the index lists {expected_identity}",
            where=where,
            hint="the package does not match its index entry; fetch it again",
        )
    data_member = memoryview(data)[layout.data.start :]
    try:
        _check_datahash(data_member, layout.pkginfo, allow_untrusted, where)
    except ChecksumError:
        _explain_damage(data, layout.data.start, where)
        raise
    for _entry in _iter_data(data_member, where):
        pass  # _iter_data checks each file's checksum as it goes
    return layout


def _check_signature(
    data: bytes, layout: ApkLayout, keyring: Keyring | None, allow_untrusted: bool, where: str
) -> None:
    if layout.signature is None:
        if allow_untrusted:
            return
        raise SignatureError(
            "signature check failed: the package is not signed",
            where=where,
            hint="sign it (buildkit apk pack --signing-key) or allow untrusted packages",
        )
    members = iter_members(data, where=where)
    signatures = _signatures(next(members), where)
    trusted = [sig for sig in signatures if keyring is not None and sig.key_name in keyring]
    if keyring is None or not trusted:
        if allow_untrusted:
            return
        known = ", ".join(keyring.names()) if keyring else "no keyring given"
        raise SignatureError(
            f"signature check failed: signed by {layout.signer}, which is not in the keyring",
            where=where,
            hint=f"add that public key if you trust it (keyring: {known})",
        )
    chosen = trusted[0]
    if chosen.algorithm is None:
        raise SignatureError(
            f"signature check failed: unsupported signature type for key {chosen.key_name}",
            where=where,
            hint="only .SIGN.RSA and .SIGN.RSA256 signatures are supported",
        )
    control = data[layout.control.start : layout.control.end + 1]
    verify_signature(keyring, chosen.key_name, chosen.algorithm, chosen.value, control, where=where)


def _check_datahash(
    member: memoryview, pkginfo: PkgInfo, allow_untrusted: bool, where: str
) -> None:
    if not pkginfo.datahash:
        if allow_untrusted:
            return
        raise ChecksumError(
            "datahash check failed: .PKGINFO has no datahash, so nothing covers the data member",
            where=where,
            hint="rebuild the package with a current abuild or melange",
        )
    actual = hashlib.sha256(member).hexdigest()
    if actual != pkginfo.datahash.lower():
        raise ChecksumError(
            f"datahash check failed: the data member hashes to {actual} "
            f"but .PKGINFO says {pkginfo.datahash}",
            where=where,
            hint="the package contents were altered or corrupted",
        )


def _explain_damage(data: bytes, start: int, where: str) -> None:
    """Raise ApkFormatError if the data member (from byte ``start``) does not even inflate,
    e.g. a cut download; offsets in the message count from the start of the file."""
    try:
        for _member in iter_members(data, where=where, start=start):
            pass
    except ApkFormatError as damage:
        raise ApkFormatError(
            f"datahash check failed: the data member is truncated or corrupt ({damage.message})",
            where=where,
            hint="the file is incomplete or damaged; download it again",
        ) from None


def _check_file(info: tarfile.TarInfo, payload: bytes, where: str) -> None:
    expected = info.pax_headers.get(CHECKSUM_PAX)
    if expected is None:
        return
    actual = _sha1(payload).hex()
    if actual != expected.lower():
        what = "link target" if info.issym() else "content"
        raise ChecksumError(
            f"file checksum check failed for {info.name}: its {what} has SHA-1 {actual} "
            f"but its {CHECKSUM_PAX} record says {expected}",
            where=where,
            hint="the package contents were altered or corrupted",
        )


def _iter_data(member: memoryview, where: str) -> Iterator[tuple[tarfile.TarInfo, bytes]]:
    """Stream the data tar: (entry, content) with each file's PAX checksum checked.

    Streaming keeps memory to one file at a time, however large the package.
    """
    try:
        with (
            gzip.GzipFile(fileobj=io.BytesIO(member), mode="rb") as stream,
            tarfile.open(fileobj=stream, mode="r|", encoding="utf-8") as archive,
        ):
            for info in archive:
                content = b""
                if info.isreg():
                    reader = archive.extractfile(info)
                    content = reader.read() if reader else b""
                    _check_file(info, content, where)
                elif info.issym():
                    _check_file(info, info.linkname.encode("utf-8", "surrogateescape"), where)
                yield info, content
    except (tarfile.TarError, EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise ApkFormatError(
            f"the data member is truncated or corrupt: {exc}",
            where=where,
            hint="the file is incomplete or damaged; download it again",
        ) from None


# --------------------------------------------------------------------------------------------
# Extraction


def extract_package(data: bytes, dest: Path, *, where: str) -> None:
    """Unpack the data member into ``dest`` (which must not exist or be an empty folder).

    Refused (UnsafePathError): absolute member names, ``..`` components, hard links to
    anything but an earlier regular file, symlinks whose target climbs above ``dest``
    (absolute targets are read as relative to ``dest``, as inside the image), writing
    through a symlink, and device, FIFO or socket entries. Modes and mtimes are kept;
    ownership is not (the caller is not root). The tree is built in a temporary folder
    beside ``dest`` and renamed into place, so on any error ``dest`` is left untouched.
    This does not verify signatures or hashes beyond the per-file checksums: call
    :func:`verify_package` first.
    """
    layout = read_layout(data, where=where)
    dest = Path(dest)
    if dest.is_symlink() or (dest.exists() and (not dest.is_dir() or any(dest.iterdir()))):
        raise UnsafePathError(
            "extraction target exists and is not an empty folder",
            where=str(dest),
            hint="remove it or choose another folder",
        )
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".partial", dir=dest.parent))
    try:
        _extract_tree(memoryview(data)[layout.data.start :], staging, where)
        staging.chmod(0o755)
        staging.rename(dest)  # rename(2) replaces an empty directory atomically
    except BaseException:
        _remove_tree(staging)
        raise


def _remove_tree(path: Path) -> None:
    # Folders are made writable first: a read-only one (mode 0555) blocks deleting its children.
    for folder, _subfolders, _files in os.walk(path):
        os.chmod(folder, 0o700)
    shutil.rmtree(path, ignore_errors=True)


def _member_path(name: str, where: str) -> PurePosixPath | None:
    """The relative path of a member name; None for the root itself."""
    if name.startswith("/"):
        raise UnsafePathError(f"refusing member with an absolute path: {name}", where=where)
    parts = [part for part in name.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise UnsafePathError(f"refusing member with a '..' component: {name}", where=where)
    return PurePosixPath(*parts) if parts else None


def _parent_dir(root: Path, rel: PurePosixPath, where: str) -> Path:
    """Create ``rel``'s missing parents; refuse to go through a symlink or a file."""
    current = root
    for part in rel.parent.parts:
        current = current / part
        try:
            mode = current.lstat().st_mode
        except FileNotFoundError:
            current.mkdir(mode=0o755)
            continue
        if stat.S_ISLNK(mode):
            raise UnsafePathError(
                f"refusing {rel}: it would be written through the symlink "
                f"{current.relative_to(root)}",
                where=where,
            )
        if not stat.S_ISDIR(mode):
            raise ApkFormatError(
                f"{rel} is inside {current.relative_to(root)}, which is not a folder", where=where
            )
    return current


def _write_file(target: Path, info: tarfile.TarInfo, content: bytes) -> None:
    # O_EXCL | O_NOFOLLOW: never overwrite, never follow a planted symlink.
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
    fd = os.open(target, flags, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(content)
        os.fchmod(handle.fileno(), info.mode & 0o7777)
    os.utime(target, (info.mtime, info.mtime), follow_symlinks=False)


def _hard_link(root: Path, target: Path, info: tarfile.TarInfo, where: str) -> None:
    """Link to a regular file extracted earlier, reached without going through a symlink."""
    source_rel = _member_path(info.linkname, where)
    source = root
    for part in source_rel.parts if source_rel else ():
        if source.is_symlink():
            break
        source = source / part
    if source_rel is None or source.is_symlink() or not source.is_file():
        raise UnsafePathError(
            f"refusing hard link {info.name} -> {info.linkname}: "
            "the target is not a regular file extracted earlier",
            where=where,
        )
    os.link(source, target, follow_symlinks=False)


def _extract_entry(
    root: Path, rel: PurePosixPath, info: tarfile.TarInfo, content: bytes, where: str
) -> None:
    target = _parent_dir(root, rel, where) / rel.name
    try:
        existing: int | None = target.lstat().st_mode
    except FileNotFoundError:
        existing = None
    if existing is not None and not (info.isdir() and stat.S_ISDIR(existing)):
        raise ApkFormatError(f"duplicate member {info.name}", where=where)
    if info.isdir():
        if existing is None:
            target.mkdir(mode=0o700)
    elif info.isreg():
        _write_file(target, info, content)
    elif info.issym():
        os.symlink(info.linkname, target)
        os.utime(target, (info.mtime, info.mtime), follow_symlinks=False)
    elif info.islnk():
        _hard_link(root, target, info, where)
    else:
        kind = "device" if info.ischr() or info.isblk() else "FIFO" if info.isfifo() else "special"
        raise UnsafePathError(f"refusing {kind} file {info.name}", where=where)


def _extract_tree(member: memoryview, root: Path, where: str) -> None:
    folders: list[tuple[Path, tarfile.TarInfo]] = []
    links: list[PurePosixPath] = []
    for info, content in _iter_data(member, where):
        rel = _member_path(info.name, where)
        if rel is None:
            continue
        _extract_entry(root, rel, info, content, where)
        if info.isdir():
            folders.append((root / rel, info))
        elif info.issym():
            links.append(rel)
    # Links are judged once the whole tree exists: a later entry can change where one leads.
    for rel in links:
        if _escapes(root, rel):
            raise UnsafePathError(
                f"refusing symlink {rel} -> {os.readlink(root / rel)}: it leads outside the "
                "extraction root",
                where=where,
            )
    # Folder modes last, deepest first: a read-only folder must still receive its children.
    for path, info in reversed(folders):
        os.chmod(path, info.mode & 0o7777)
        os.utime(path, (info.mtime, info.mtime))


def _escapes(root: Path, link: PurePosixPath) -> bool:
    """Whether resolving ``link`` inside ``root`` climbs above it.

    Resolution follows the links in the tree, reads absolute targets as relative to
    ``root`` (the image's view), and counts ``..`` at the top as an escape.
    """
    resolved: list[str] = list(link.parent.parts)
    pending = list(reversed(PurePosixPath(os.readlink(root / link)).parts))
    hops = 0
    while pending:
        part = pending.pop()
        if part == "/":
            resolved = []
        elif part == "..":
            if not resolved:
                return True
            resolved.pop()
        elif part != ".":
            candidate = root.joinpath(*resolved, part)
            if candidate.is_symlink() and hops < _MAX_LINK_HOPS:
                hops += 1
                pending.extend(reversed(PurePosixPath(os.readlink(candidate)).parts))
            else:
                resolved.append(part)
    return False


# --------------------------------------------------------------------------------------------
# Packing


def _gzip(raw: bytes) -> bytes:
    """One gzip member with mtime 0, no file name, OS "unknown" (as Go's writer leaves it).

    Framed by hand because gzip.compress's header bytes changed between Python versions,
    and a package must be the same bytes whichever interpreter packs it.
    """
    deflate = zlib.compressobj(_GZIP_LEVEL, zlib.DEFLATED, -zlib.MAX_WBITS)
    body = deflate.compress(raw) + deflate.flush()
    header = b"\x1f\x8b\x08\x00" + struct.pack("<I", 0) + b"\x00\xff"  # XFL 0, as Go at level 6
    return header + body + struct.pack("<II", zlib.crc32(raw), len(raw) & 0xFFFFFFFF)


def _tar_entry(info: tarfile.TarInfo, payload: bytes = b"") -> bytes:
    """One tar entry (PAX header when it has records, else plain ustar) with its padding."""
    header = info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")
    padding = -len(payload) % _BLOCK
    return header + payload + b"\0" * padding


class _MelangeTarInfo(tarfile.TarInfo):
    """tarfile writes folder names with a trailing slash ("etc/"); melange (Go) does not.

    apko's tar index files "etc/" under itself rather than under the root, so folders are
    written as melange writes them.
    """

    def get_info(self) -> Mapping[str, str | int | bytes | Mapping[str, str]]:
        info = dict(super().get_info())  # tobuf adds keys to it: a real dict
        name = info["name"]
        if info["type"] == tarfile.DIRTYPE and isinstance(name, str):
            info["name"] = name.rstrip("/")
        return info


def _tarinfo(name: str, kind: bytes, mode: int, mtime: int) -> tarfile.TarInfo:
    info = _MelangeTarInfo(name)
    info.type = kind
    info.mode = mode
    info.mtime = mtime
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    return info


def _walk(folder: Path, prefix: str = "") -> Iterator[tuple[str, Path, os.stat_result]]:
    """Depth first, siblings by byte order of their names, like melange's fs.WalkDir."""
    with os.scandir(folder) as scan:
        entries = sorted(scan, key=lambda entry: os.fsencode(entry.name))
    for entry in entries:
        rel = f"{prefix}{entry.name}"
        info = entry.stat(follow_symlinks=False)
        yield rel, Path(entry.path), info
        if stat.S_ISDIR(info.st_mode):
            yield from _walk(Path(entry.path), f"{rel}/")


def _file_entry(rel: str, content: bytes, mode: int, mtime: int) -> tuple[bytes, int]:
    info = _tarinfo(rel, tarfile.REGTYPE, mode, mtime)
    info.size = len(content)
    info.pax_headers = {CHECKSUM_PAX: _sha1(content).hex()}
    return _tar_entry(info, content), len(content)


def _data_entry(rel: str, path: Path, st: os.stat_result, mtime: int) -> tuple[bytes, int]:
    """(tar bytes, installed bytes) for one file-system entry."""
    if stat.S_ISDIR(st.st_mode):
        return _tar_entry(_tarinfo(rel, tarfile.DIRTYPE, st.st_mode & 0o7777, mtime)), 0
    if stat.S_ISLNK(st.st_mode):
        info = _tarinfo(rel, tarfile.SYMTYPE, 0o777, mtime)
        info.linkname = os.readlink(path)
        target = info.linkname.encode("utf-8", "surrogateescape")
        info.pax_headers = {CHECKSUM_PAX: _sha1(target).hex()}
        return _tar_entry(info), 0
    if stat.S_ISREG(st.st_mode):
        return _file_entry(rel, path.read_bytes(), st.st_mode & 0o7777, mtime)
    raise UnsafePathError(
        "cannot pack device, FIFO or socket files",
        where=str(path),
        hint="packages may hold only folders, regular files and symlinks",
    )


def _in_tree(root: Path, rel: str) -> bool:
    """Whether the tree has an entry at ``rel`` as packing would see it: through real folders
    only, never following a symlink out of the tree."""
    path = root
    for part in rel.split("/"):
        if path.is_symlink() or not path.is_dir():
            return False
        path /= part
    return path.is_symlink() or path.exists()


def _sort_key(rel: str) -> tuple[bytes, ...]:
    """_walk's order (depth first, siblings by the bytes of their names) as a sort key."""
    return tuple(os.fsencode(part) for part in rel.split("/"))


def _added_entries(root: Path, added: Mapping[str, bytes], mtime: int) -> list[tuple[str, bytes]]:
    """Tar entries for files that are not in ``root`` (0644) and for their folders that are
    not either (0755); each with its path, to be sorted in among the tree's own."""
    entries: dict[str, bytes] = {}
    for rel, content in added.items():
        parts = rel.split("/")
        for depth in range(1, len(parts)):
            folder = "/".join(parts[:depth])
            path = root / folder
            if path.is_symlink() or (path.exists() and not path.is_dir()):
                raise ApkFormatError(
                    f"cannot add {rel}: {folder} is not a folder in the tree",
                    where=str(root),
                    hint="make it a folder, or pack without the generated SBOM (--no-sbom)",
                )
            if not path.exists() and folder not in entries:
                entries[folder] = _tar_entry(_tarinfo(folder, tarfile.DIRTYPE, 0o755, mtime))
        entries[rel] = _file_entry(rel, content, 0o644, mtime)[0]
    return list(entries.items())


def _data_tar(root: Path, mtime: int, added: Mapping[str, bytes]) -> tuple[bytes, int]:
    """The data tar (ends with the two zero blocks) and the installed size, with the files in
    ``added`` (path -> content) put in among the tree's entries in their places.

    Installed size counts regular files' bytes only: folder sizes depend on the file system
    and would make the package differ between machines.
    """
    chunks: list[tuple[str, bytes]] = _added_entries(root, added, mtime)
    installed = sum(map(len, added.values()))
    for rel, path, st in _walk(root):
        chunk, size = _data_entry(rel, path, st, mtime)
        chunks.append((rel, chunk))
        installed += size
    chunks.sort(key=lambda item: _sort_key(item[0]))
    return b"".join(chunk for _, chunk in chunks) + b"\0" * (2 * _BLOCK), installed


def _single_file_fragment(name: str, content: bytes, mtime: int) -> bytes:
    info = _tarinfo(name, tarfile.REGTYPE, 0o644, mtime)
    info.size = len(content)
    return _tar_entry(info, content)  # a fragment: no end-of-archive blocks


def pack_package(
    root: Path, info: PkgInfo, *, key: SigningKey, source_date_epoch: int, sbom: bool = True
) -> bytes:
    """Pack ``root`` into a signed .apk, the same bytes for the same inputs.

    ``info`` supplies name, version, arch, depends, provides, ...; ``size`` (installed bytes),
    ``datahash`` and, when unset, ``origin`` (= name) and ``builddate`` (= source_date_epoch
    unless 0, as melange does) are filled in. Every entry gets mtime ``source_date_epoch``,
    owner root:root (0:0) and keeps its mode; the signature is RSA/SHA-256 as melange signs.
    With ``sbom``, the package carries the SPDX document apko needs to list it in an image's
    SBOM (buildkit.apk.spdx), as melange's packages do, unless ``root`` has one already.
    """
    root = Path(root)
    if not root.is_dir():
        raise ApkFormatError("the folder to pack does not exist", where=str(root))
    if not (info.name and info.version and info.arch):
        raise ApkFormatError("a package needs a name, a version and an arch", where=str(root))
    if source_date_epoch < 0:
        raise ApkFormatError(f"SOURCE_DATE_EPOCH must not be negative: {source_date_epoch}")
    added: dict[str, bytes] = {}
    if sbom and not any(_in_tree(root, path) for path in sbom_paths(info.name, info.version)):
        document = package_sbom(info, source_date_epoch=source_date_epoch, tool=_TOOL)
        added[sbom_path(info.name, info.version)] = document
    data_tar, installed = _data_tar(root, source_date_epoch, added)
    data_member = _gzip(data_tar)
    final = replace(
        info,
        size=installed,
        datahash=hashlib.sha256(data_member).hexdigest(),
        origin=info.origin or info.name,
        builddate=info.builddate if info.builddate is not None else (source_date_epoch or None),
    )
    control = _single_file_fragment(".PKGINFO", render_pkginfo(final), source_date_epoch)
    control_member = _gzip(control)
    signature = key.sign(control_member, "sha256")
    signature_name = f".SIGN.RSA256.{key.key_name}"
    signature_member = _gzip(_single_file_fragment(signature_name, signature, source_date_epoch))
    return signature_member + control_member + data_member
