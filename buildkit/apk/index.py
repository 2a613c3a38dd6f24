"""APKINDEX.tar.gz: read, verify and parse; render and sign.

File layout (apk-tools v2, also written by melange and apko): signature member(s), each a tar
fragment of ``.SIGN.RSA.<key>`` / ``.SIGN.RSA256.<key>`` entries, then one gzip member holding
a tar with ``APKINDEX`` and ``DESCRIPTION`` (either order). The signatures cover every byte
after the signature member(s). The records themselves: buildkit.apk.index_records.

Loading is on the critical path of every lock (Wolfi's index has ~200k records): signatures
are checked first, then the index member is inflated piece by piece and each piece of
APKINDEX is parsed at once, while it is still in the CPU cache. An archive that is not what
real writers make (other entries, PAX headers, more members) or records the fast parsers
decline are read again whole, by the line parser, which gives the precise error messages.
Pure: bytes in, values out.
"""

from __future__ import annotations

import gzip
import io
import tarfile
from collections.abc import Sequence
from dataclasses import dataclass

from buildkit.apk.gzmembers import (
    MemberPieces,
    NotPlainTar,
    TarEntry,
    check_member,
    iter_members,
    parse_tar,
    peek_member,
    plain_tar_files,
)
from buildkit.apk.index_records import (
    INDEX_NAME,
    IndexRecord,
    parse_records,
    records_from_pieces,
    render_record,
)
from buildkit.apk.keys import Keyring, SignatureAlgorithm, SigningKey, verify_signature
from buildkit.apk.package import read_layout
from buildkit.collector import FULL_DEFERRED
from buildkit.errors import ApkFormatError, SignatureError

__all__ = [
    "DESCRIPTION_NAME",
    "INDEX_FILE",
    "INDEX_NAME",
    "ApkIndex",
    "IndexRecord",
    "parse_index",
    "parse_records",
    "record_from_package",
    "render_record",
    "write_index",
]

DESCRIPTION_NAME = "DESCRIPTION"
INDEX_FILE = "APKINDEX.tar.gz"  # the signed index's file name in <repo>/<arch>/
_SIGNATURE_TYPES: dict[str, SignatureAlgorithm] = {".SIGN.RSA256.": "sha256", ".SIGN.RSA.": "sha1"}
_PEEK = 4096  # enough decompressed bytes to read a first tar header, GNU/PAX long names too
_GZIP_LEVEL = 6  # zlib's and Go's default; fixed so the same records give the same bytes


@dataclass(frozen=True, kw_only=True)
class ApkIndex:
    records: tuple[IndexRecord, ...]
    description: str
    signers: tuple[str, ...]  # key names whose signatures verified (() when not checked)


# --------------------------------------------------------------------------------------------
# Reading


def parse_index(
    data: bytes, *, where: str, keyring: Keyring | None, allow_untrusted: bool = False
) -> ApkIndex:
    """Verify and parse an APKINDEX.tar.gz.

    At least one signature must be by a key in ``keyring`` and every such signature must
    match; ``allow_untrusted`` accepts unsigned indexes and unknown or failing signatures
    (``signers`` then lists only what did verify).
    """
    # Signatures are checked before the signed bytes are inflated or parsed at all.
    signatures, index_start = _split(data, where)
    try:
        signers = _verify(
            signatures, memoryview(data)[index_start:], keyring, allow_untrusted, where
        )
    except SignatureError:
        _check_gzip(data, index_start, where)  # a damaged file: say so, not "unsigned"
        raise
    with FULL_DEFERRED:
        content = _read_streamed(data, index_start, where)
        if content is None:  # not the usual case: read it whole, or say exactly what is wrong
            text, description = _read_archive(_index_entries(data, index_start, where), where)
            content = parse_records(text, where=where), description
    records, description = content
    return ApkIndex(records=records, description=description, signers=signers)


_IndexContent = tuple[tuple[IndexRecord, ...], str]  # records, description


@dataclass(frozen=True, kw_only=True)
class _Signature:
    key_name: str
    algorithm: SignatureAlgorithm | None  # None: a type buildkit cannot check (DSA)
    value: bytes


def _signature_of(name: str, value: bytes) -> _Signature | None:
    for prefix, algorithm in _SIGNATURE_TYPES.items():
        if name.startswith(prefix):
            return _Signature(key_name=name[len(prefix) :], algorithm=algorithm, value=value)
    if name.startswith(".SIGN."):
        return _Signature(key_name=name.split(".", 3)[-1], algorithm=None, value=value)
    return None


def _split(data: bytes, where: str) -> tuple[list[_Signature], int]:
    """The signatures from the leading member(s), and where the signed index member starts."""
    signatures: list[_Signature] = []
    start = 0
    while start < len(data) and _is_signature_member(data, start, where):
        # Not iter_members: it would copy the whole rest of the file aside.
        member = MemberPieces(data, start=start, where=where)
        for entry in parse_tar(b"".join(member), where=where):
            found = _signature_of(entry.name, entry.content)
            if found is None:
                raise ApkFormatError(
                    f"unexpected entry {entry.name!r} among the signatures", where=where
                )
            signatures.append(found)
        assert member.end is not None  # set once the member has been read
        start = member.end
    if start >= len(data):
        raise ApkFormatError("no index after the signatures", where=where, hint="truncated file")
    return signatures, start


def _is_signature_member(data: bytes, start: int, where: str) -> bool:
    """Whether the member at ``start`` begins with a ``.SIGN.`` entry, judged from its head
    only. Anything unreadable counts as "no": it is then the signed part, and is checked."""
    try:
        head = peek_member(data, start, _PEEK, where=where)
        with tarfile.open(fileobj=io.BytesIO(head), mode="r|") as archive:
            first = archive.next()
    except (ApkFormatError, tarfile.TarError, EOFError):
        return False
    return first is not None and first.name.startswith(".SIGN.")


def _check_gzip(data: bytes, start: int, where: str) -> None:
    """Raise ApkFormatError when the file is not gzip or the index member is cut short.

    Only called once a signature check has failed, so that a truncated download is not
    reported as unsigned; unverified bytes are inflated and thrown away, never parsed."""
    if data[:2] != b"\x1f\x8b":
        raise ApkFormatError(
            "not a gzip file", where=where, hint="an APKINDEX.tar.gz is gzip-compressed tar"
        )
    check_member(data, start=start, where=where)


def _index_entries(data: bytes, start: int, where: str) -> tuple[TarEntry, ...]:
    members = iter_members(data, where=where, start=start)
    index = next(members)
    extra = next(members, None)
    if extra is not None:
        raise ApkFormatError(
            f"unexpected gzip member at byte {extra.start} after the index",
            where=where,
            hint="an APKINDEX.tar.gz is signature member(s) then one index member",
        )
    return parse_tar(index.data, where=where)


def _read_streamed(data: bytes, start: int, where: str) -> _IndexContent | None:
    """The records and description of the index member at ``start``, each piece of APKINDEX
    parsed as soon as it is inflated, or None unless the member is what real writers make:
    a plain tar of APKINDEX (records in a known field order) and DESCRIPTION, the last
    member of the file. Gzip errors are raised as iter_members raises them."""
    member = MemberPieces(data, start=start, where=where)
    records: tuple[IndexRecord, ...] | None = None
    description: str | None = None
    try:
        for name, pieces in plain_tar_files(member):
            if name == INDEX_NAME and records is None:
                records = records_from_pieces(pieces)
                if records is None:
                    return None
            elif name == DESCRIPTION_NAME and description is None:
                description = b"".join(pieces).decode("utf-8")
            else:
                return None  # another entry, or one given twice
    except (NotPlainTar, UnicodeDecodeError):
        return None
    if records is None or member.end != len(data):
        return None
    return records, description or ""


def _verify(
    signatures: list[_Signature],
    signed: memoryview,
    keyring: Keyring | None,
    allow_untrusted: bool,
    where: str,
) -> tuple[str, ...]:
    if not signatures:
        if allow_untrusted:
            return ()
        raise SignatureError(
            "signature check failed: the index is not signed",
            where=where,
            hint="sign it (buildkit apk index --signing-key) or allow untrusted indexes",
        )
    trusted = [s for s in signatures if keyring is not None and s.key_name in keyring]
    if not trusted and not allow_untrusted:
        names = ", ".join(s.key_name for s in signatures)
        known = ", ".join(keyring.names()) if keyring else "no keyring given"
        raise SignatureError(
            f"signature check failed: signed only by keys not in the keyring ({names})",
            where=where,
            hint=f"add the signer's public key if you trust it; the keyring has: {known}",
        )
    signers: list[str] = []
    for sig in trusted:
        assert keyring is not None  # trusted is empty without a keyring
        try:
            _check_one(sig, signed, keyring, where)
        except SignatureError:
            if not allow_untrusted:
                raise
        else:
            signers.append(sig.key_name)
    return tuple(signers)


def _check_one(sig: _Signature, signed: memoryview, keyring: Keyring, where: str) -> None:
    if sig.algorithm is None:
        raise SignatureError(
            f"signature check failed: unsupported signature type for {sig.key_name}",
            where=where,
            hint="only .SIGN.RSA and .SIGN.RSA256 signatures are supported",
        )
    verify_signature(keyring, sig.key_name, sig.algorithm, sig.value, signed, where=where)


def _read_archive(entries: tuple[TarEntry, ...], where: str) -> tuple[str, str]:
    """The APKINDEX text and the DESCRIPTION from the index member's tar."""
    texts: dict[str, str] = {}
    for entry in entries:
        if entry.name not in (INDEX_NAME, DESCRIPTION_NAME) or not entry.is_file:
            raise ApkFormatError(
                f"unexpected entry {entry.name!r} in the index archive",
                where=where,
                hint="expected only APKINDEX and DESCRIPTION",
            )
        try:
            texts[entry.name] = entry.content.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ApkFormatError(
                f"{entry.name} is not UTF-8 text (byte {exc.start})", where=where
            ) from None
    if INDEX_NAME not in texts:
        raise ApkFormatError("the archive has no APKINDEX file", where=where)
    return texts[INDEX_NAME], texts.get(DESCRIPTION_NAME, "")


# --------------------------------------------------------------------------------------------
# Writing


def _tar_file(name: str, content: bytes) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = len(content)
    info.mode = 0o644
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def _gzip(raw: bytes) -> bytes:
    return gzip.compress(raw, compresslevel=_GZIP_LEVEL, mtime=0)


def _signature_member(key: SigningKey, signed: bytes) -> bytes:
    """A gzip'ed tar *fragment* (no end-of-archive blocks: apk-tools would stop reading the
    stream there) holding ``.SIGN.RSA256.<key name>``. GNU format allows long key names."""
    signature = key.sign(signed, "sha256")
    info = _tar_file(f".SIGN.RSA256.{key.key_name}", signature)
    header = info.tobuf(format=tarfile.GNU_FORMAT, encoding="utf-8", errors="strict")
    return _gzip(header + signature + b"\0" * (-len(signature) % 512))


def write_index(
    records: Sequence[IndexRecord], *, description: str, key: SigningKey | None
) -> bytes:
    """A deterministic APKINDEX.tar.gz (records in the given order), signed when ``key``."""
    text = "".join(map(render_record, records)).encode("utf-8")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as archive:
        # APKINDEX first, as melange and apko write it.
        for name, content in ((INDEX_NAME, text), (DESCRIPTION_NAME, description.encode())):
            archive.addfile(_tar_file(name, content), io.BytesIO(content))
    index = _gzip(buffer.getvalue())
    return (_signature_member(key, index) if key else b"") + index


def record_from_package(apk_bytes: bytes, *, where: str) -> IndexRecord:
    """The index record for an .apk: C: is its identity, S: its size, the rest .PKGINFO."""

    layout = read_layout(apk_bytes, where=where)
    info = layout.pkginfo
    return IndexRecord(
        checksum=layout.identity,
        name=info.name,
        version=info.version,
        arch=info.arch,
        size=len(apk_bytes),
        installed_size=info.size or 0,
        description=info.description,
        url=info.url,
        license=info.license,
        origin=info.origin,
        maintainer=info.maintainer,
        build_time=info.builddate,
        commit=info.commit,
        provider_priority=info.provider_priority,
        depends=info.depends,
        provides=info.provides,
        install_if=info.install_if,
        replaces=info.replaces,
    )
