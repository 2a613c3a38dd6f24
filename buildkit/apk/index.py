"""APKINDEX.tar.gz: read, verify and parse; render and sign.

File layout (apk-tools v2, also written by melange and apko): signature member(s), each a tar
fragment of ``.SIGN.RSA.<key>`` / ``.SIGN.RSA256.<key>`` entries, then one gzip member holding
a tar with ``APKINDEX`` and ``DESCRIPTION`` (either order). The signatures cover every byte
after the signature member(s). APKINDEX is blank-line separated records of ``X:value`` lines.

Parsing is on the critical path of every lock (Wolfi's index has ~200k records), so records
are matched in C by one regex per record in the field orders real writers use, and the
records are assembled column by column; anything else falls back to a line-by-line parser
that also produces the precise error messages. Pure: bytes in, values out.
"""

from __future__ import annotations

import gzip
import io
import re
import tarfile
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, fields
from itertools import repeat
from operator import itemgetter, methodcaller
from typing import Any

from buildkit.apk.gzmembers import TarEntry, iter_members, parse_tar, peek_member
from buildkit.apk.keys import Keyring, SignatureAlgorithm, SigningKey, verify_signature
from buildkit.errors import ApkFormatError, SignatureError

INDEX_NAME = "APKINDEX"
DESCRIPTION_NAME = "DESCRIPTION"
_SIGNATURE_TYPES: dict[str, SignatureAlgorithm] = {".SIGN.RSA256.": "sha256", ".SIGN.RSA.": "sha1"}
_PEEK = 4096  # enough decompressed bytes to read a first tar header, GNU/PAX long names too
_GZIP_LEVEL = 6  # zlib's and Go's default; fixed so the same records give the same bytes


@dataclass(frozen=True, kw_only=True, slots=True)
class IndexRecord:
    """One package as an APKINDEX lists it (the letter after each field is its index key)."""

    checksum: str  # C: "Q1" + base64(SHA-1 of the compressed control member)
    name: str  # P
    version: str  # V
    arch: str  # A
    size: int  # S: the .apk file size
    installed_size: int  # I
    description: str = ""  # T
    url: str = ""  # U
    license: str = ""  # L
    origin: str = ""  # o
    maintainer: str = ""  # m
    build_time: int | None = None  # t
    commit: str = ""  # c
    provider_priority: int | None = None  # k
    depends: tuple[str, ...] = ()  # D
    provides: tuple[str, ...] = ()  # p
    install_if: tuple[str, ...] = ()  # i
    replaces: tuple[str, ...] = ()  # r
    extra: tuple[tuple[str, str], ...] = ()  # unknown keys, in file order

    @property
    def filename(self) -> str:
        return f"{self.name}-{self.version}.apk"


@dataclass(frozen=True, kw_only=True)
class ApkIndex:
    records: tuple[IndexRecord, ...]
    description: str
    signers: tuple[str, ...]  # key names whose signatures verified (() when not checked)


# --------------------------------------------------------------------------------------------
# Fields: index letter -> (attribute, kind), in the order apk-tools writes them.

_STR, _INT, _OPT_INT, _ATOMS = "str", "int", "opt_int", "atoms"
_FIELDS: dict[str, tuple[str, str]] = {
    "C": ("checksum", _STR),
    "P": ("name", _STR),
    "V": ("version", _STR),
    "A": ("arch", _STR),
    "S": ("size", _INT),
    "I": ("installed_size", _INT),
    "T": ("description", _STR),
    "U": ("url", _STR),
    "L": ("license", _STR),
    "o": ("origin", _STR),
    "m": ("maintainer", _STR),
    "t": ("build_time", _OPT_INT),
    "c": ("commit", _STR),
    "k": ("provider_priority", _OPT_INT),
    "D": ("depends", _ATOMS),
    "p": ("provides", _ATOMS),
    "i": ("install_if", _ATOMS),
    "r": ("replaces", _ATOMS),
}
_REQUIRED = ("C", "P", "V")
_LABELS = {"C": "checksum", "P": "package name", "V": "version", "S": "size"}
_NAMES = tuple(f.name for f in fields(IndexRecord))
_SLOT_SETTERS = {name: vars(IndexRecord)[name].__set__ for name in _NAMES}

# A parsed record is a row of strings ("" = absent) in this slot order. apk-tools writes
# "k D p i", go-apk (melange, apko) "D i p k", so i and k each have a second slot.
_SLOTS = (
    *("C", "P", "V", "A", "S", "I", "T", "U", "L", "o", "m", "t", "c", "k", "D", "i", "p"),
    *("i2", "k2", "r"),
)
_SLOT = {letter: n for n, letter in reversed(list(enumerate(_SLOTS)))}  # first slot wins


def _fast_pattern() -> re.Pattern[str]:
    parts = []
    for slot in _SLOTS:
        letter = slot[0]
        kind = _FIELDS[letter][1]
        value = "([0-9]++)" if kind in (_INT, _OPT_INT) else "([^\n]*+)"
        if letter in _REQUIRED:
            parts.append(f"{letter}:([^\n]++)\n")
        else:
            parts.append(f"(?:{letter}:{value}\n)?+")
    # Possessive quantifiers: a field line never needs to be given back, and not recording
    # backtracking points makes matching about a third faster.
    return re.compile("".join(parts) + "\n")


_FAST = _fast_pattern()
# Pattern.scanner (anchored successive matches) is public CPython API missing from typeshed.
_FAST_SCANNER: Any = _FAST.scanner  # type: ignore[attr-defined]
_GROUPS = methodcaller("groups", "")


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
    signers = _verify(signatures, memoryview(data)[index_start:], keyring, allow_untrusted, where)
    text, description = _read_archive(_index_entries(data, index_start, where), where)
    return ApkIndex(
        records=parse_records(text, where=where), description=description, signers=signers
    )


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
        member = next(iter_members(data, where=where, start=start))
        for entry in parse_tar(member.data, where=where):
            found = _signature_of(entry.name, entry.content)
            if found is None:
                raise ApkFormatError(
                    f"unexpected entry {entry.name!r} among the signatures", where=where
                )
            signatures.append(found)
        start = member.end + 1
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


def parse_records(text: str, *, where: str) -> tuple[IndexRecord, ...]:
    """Parse APKINDEX text. ``where`` names the file; errors say ``where:APKINDEX:line``."""
    rows = _fast_rows(text)
    extras: list[tuple[tuple[str, str], ...]] | None = None
    if rows is None:
        rows, extras = _generic_rows(text, where)
    return _assemble(rows, extras)


def _fast_rows(text: str) -> list[tuple[str, ...]] | None:
    """Rows for text in a known field order, or None if any record is not in one.

    Each match is anchored where the previous one ended and spans exactly one record
    (field lines, then the blank line), so when the match count equals the record count
    every byte of the text has been matched.
    """
    if not text.endswith("\n\n"):
        text += "\n" if text.endswith("\n") else "\n\n"
    if text.startswith("\n") or "\n\n\n" in text:
        return None
    rows = list(map(_GROUPS, iter(_FAST_SCANNER(text).match, None)))
    if len(rows) != text.count("\n\n"):
        return None
    for first, second in ((_SLOT["i"], _SLOT["i2"]), (_SLOT["k"], _SLOT["k2"])):
        if any(map(itemgetter(second), rows)) and any(r[first] and r[second] for r in rows):
            return None  # a field given twice: let the line parser report it
    return rows


def _generic_rows(
    text: str, where: str
) -> tuple[list[tuple[str, ...]], list[tuple[tuple[str, str], ...]]]:
    """Rows in any field order, unknown keys kept; precise errors for malformed lines."""
    rows: list[tuple[str, ...]] = []
    extras: list[tuple[tuple[str, str], ...]] = []
    fields_: dict[str, str] = {}
    extra: list[tuple[str, str]] = []
    start = 0
    for number, line in enumerate(text.split("\n"), start=1):
        if not line:
            if fields_ or extra:
                rows.append(_row(fields_, f"{where}:{INDEX_NAME}:{start}"))
                extras.append(tuple(extra))
                fields_, extra = {}, []
            continue
        start = start if (fields_ or extra) else number
        key, value = _key_value(line, f"{where}:{INDEX_NAME}:{number}")
        if key in fields_ or any(key == k for k, _ in extra):
            raise ApkFormatError(
                f"field {key}: appears twice in one record", where=f"{where}:{INDEX_NAME}:{number}"
            )
        if key in _FIELDS:
            fields_[key] = value
        else:
            extra.append((key, value))
    if fields_ or extra:
        rows.append(_row(fields_, f"{where}:{INDEX_NAME}:{start}"))
        extras.append(tuple(extra))
    return rows, extras


def _key_value(line: str, where: str) -> tuple[str, str]:
    if len(line) < 2 or line[1] != ":" or line[0].isspace():
        raise ApkFormatError(
            f"line {line!r} is not 'X:value' (one letter, a colon, the value)",
            where=where,
            hint="records are blank-line separated lines such as 'P:busybox'",
        )
    key, value = line[0], line[2:]
    kind = _FIELDS.get(key, ("", _STR))[1]
    if kind not in (_STR, _ATOMS) and not (value.isascii() and value.isdigit()):
        label = _LABELS.get(key, _FIELDS[key][0].replace("_", " "))
        raise ApkFormatError(f"{key}: ({label}) must be a whole number, not {value!r}", where=where)
    return key, value


def _row(found: dict[str, str], where: str) -> tuple[str, ...]:
    for key in _REQUIRED:
        if not found.get(key):
            raise ApkFormatError(
                f"record has no {key}: ({_LABELS[key]}) line",
                where=where,
                hint="every record needs C:, P: and V:",
            )
    return tuple(found.get(slot, "") for slot in _SLOTS)


def _assemble(
    rows: list[tuple[str, ...]], extras: list[tuple[tuple[str, str], ...]] | None
) -> tuple[IndexRecord, ...]:
    """Records from rows, converting column by column (C loops instead of Python ones)."""
    if not rows:
        return ()
    cols = dict(zip(_SLOTS, zip(*rows, strict=True), strict=True))
    install_if = _merge(cols["i"], cols["i2"])
    priority = _merge(cols["k"], cols["k2"])
    columns: list[Any] = [
        *(cols[s] for s in "CPVA"),
        _sizes(cols["S"]),
        _sizes(cols["I"]),
        *(cols[s] for s in "TULom"),
        _optional_ints(cols["t"]),
        cols["c"],
        _optional_ints(priority),
        *(_atoms(col) for col in (cols["D"], cols["p"], install_if, cols["r"])),
        extras if extras is not None else repeat((), len(rows)),
    ]
    return _instances(columns)


def _merge(first: tuple[str, ...], second: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(a or b for a, b in zip(first, second, strict=True)) if any(second) else first


def _sizes(col: tuple[str, ...]) -> list[int]:
    return list(map(int, col)) if "" not in col else [int(v) if v else 0 for v in col]


def _optional_ints(col: tuple[str, ...]) -> list[int | None]:
    return [int(v) if v else None for v in col]


def _atoms(col: tuple[str, ...]) -> list[tuple[str, ...]]:
    if not any(col):  # i: and r: are absent from almost every record
        return [()] * len(col)
    return list(map(tuple, map(str.split, col)))


def _instances(columns: list[Any]) -> tuple[IndexRecord, ...]:
    """IndexRecords from per-field columns, without a Python-level call per record.

    Every slot is filled through its slot descriptor, one column at a time, which leaves
    exactly the state ``__init__`` would (IndexRecord has no ``__post_init__``) at about
    half the cost of 200k calls to the frozen dataclass's ``__init__``.
    """
    count = len(columns[0])
    records: list[IndexRecord] = list(map(object.__new__, repeat(IndexRecord, count)))
    for name, column in zip(_NAMES, columns, strict=True):
        deque(map(_SLOT_SETTERS[name], records, column), maxlen=0)
    return tuple(records)


# --------------------------------------------------------------------------------------------
# Writing


def render_record(record: IndexRecord) -> str:
    """The record's lines in apk-tools' order, then unknown keys, then the blank line."""
    lines: list[str] = []
    for letter, (attr, kind) in _FIELDS.items():
        value = getattr(record, attr)
        if kind == _ATOMS:
            value = " ".join(value)
        if value not in ("", None, ()) or letter in "CPVSI":
            lines.append(f"{letter}:{value}")
    for key, value in record.extra:
        if len(key) != 1 or key in _FIELDS or key.isspace():
            raise ApkFormatError(f"invalid extra index key {key!r} in {record.filename}")
        lines.append(f"{key}:{value}")
    for line in lines:
        if "\n" in line or "\r" in line:
            raise ApkFormatError(f"index field {line[:2]} of {record.filename} has a line break")
    return "\n".join(lines) + "\n\n"


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
    from buildkit.apk.package import read_layout  # lazy: package imports index

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
