"""APKINDEX.tar.gz: read, verify and parse; render and sign.

File layout (apk-tools v2, also written by melange and apko): signature member(s), each a tar
fragment of ``.SIGN.RSA.<key>`` / ``.SIGN.RSA256.<key>`` entries, then one gzip member holding
a tar with ``APKINDEX`` and ``DESCRIPTION`` (either order). The signatures cover every byte
after the signature member(s). APKINDEX is blank-line separated records of ``X:value`` lines.

Loading is on the critical path of every lock (Wolfi's index has ~200k records), so the
usual case runs in C: the index member is inflated piece by piece and each piece is parsed at
once, while it is still in the CPU cache, by the compiled parser (_native_index.c) where it
was built, else by one ``Pattern.split`` per piece in the field orders real writers use and
assembly column by column. Either declines anything unusual; that falls back to inflating
the member whole and parsing it line by line, which also produces the precise error
messages. All three give the same records. Pure: bytes in, values out.
"""

from __future__ import annotations

import gc
import gzip
import io
import json
import re
import tarfile
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, fields
from itertools import compress, repeat
from typing import cast

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
from buildkit.apk.keys import Keyring, SignatureAlgorithm, SigningKey, verify_signature
from buildkit.errors import ApkFormatError, SignatureError

try:
    from buildkit.apk import _native_index
except ImportError:  # installed without a C compiler: the pure-Python parser serves alone
    _native_index = None  # type: ignore[assignment]

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

# The fast pattern matches the fields of a record in this order, each one optional but C, P
# and V. apk-tools writes "k D p i", go-apk (melange, apko) "D i p k", so i and k each have a
# second slot. Records are handled as columns: one sequence per slot, None where absent.
_SLOTS = (
    *("C", "P", "V", "A", "S", "I", "T", "U", "L", "o", "m", "t", "c", "k", "D", "i", "p"),
    *("i2", "k2", "r"),
)
_DOUBLED = (("i", "i2"), ("k", "k2"))


def _fast_pattern() -> re.Pattern[str]:
    parts = []
    for slot in _SLOTS:
        letter = slot[0]
        if _FIELDS[letter][1] in (_INT, _OPT_INT):
            value = "([0-9]++)"
        elif letter in _REQUIRED or letter in {first for first, _ in _DOUBLED}:
            value = "([^\n]++)"  # doubled fields: a value in either slot marks the field as set
        else:
            value = "([^\n]*+)"
        required = letter in _REQUIRED
        parts.append(f"{letter}:{value}\n" if required else f"(?:{letter}:{value}\n)?+")
    # Possessive quantifiers: a field line never needs to be given back, and not recording
    # backtracking points makes matching about a third faster.
    return re.compile("".join(parts) + "\n")


_FAST = _fast_pattern()
_CHUNK = 1 << 20  # characters of text parsed at a time (see _fast_records)
_STRIDE = len(_SLOTS) + 1  # what Pattern.split returns per record: text before it, its groups
_EMPTY: dict[str | None, str] = {None: ""}  # _EMPTY.get(v, v): "" for None, else v itself
_KIND_CODES = {_STR: "0", _INT: "1", _OPT_INT: "2", _ATOMS: "3"}  # _native_index.c's kinds

_Column = Sequence[str | None]


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
    with _FULL_COLLECTIONS_DEFERRED:
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
                records = _piece_records(pieces)
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


def parse_records(text: str, *, where: str) -> tuple[IndexRecord, ...]:
    """Parse APKINDEX text. ``where`` names the file; errors say ``where:APKINDEX:line``."""
    with _FULL_COLLECTIONS_DEFERRED:
        records = _native_records([text.encode()]) if _NATIVE is not None else None
        if records is None:
            records = _fast_records(_text_pieces(text))
        if records is not None:
            return records
        rows, extras = _generic_rows(text, where)
        if not rows:
            return ()
        return _assemble(dict(zip(_SLOTS, zip(*rows, strict=True), strict=True)), extras)


def _piece_records(pieces: Iterable[bytes]) -> tuple[IndexRecord, ...] | None:
    """Records from inflated pieces of APKINDEX, or None if they are not the usual case."""
    if _NATIVE is not None:
        return _native_records(_byte_chunks(pieces))
    return _fast_records(map(_utf8, _byte_chunks(pieces)))


def _utf8(chunk: bytes) -> str:
    return chunk.decode("utf-8")


def _native_records(chunks: Iterable[bytes]) -> tuple[IndexRecord, ...] | None:
    """Records parsed by _native_index.c, or None if it declines any chunk."""
    assert _NATIVE is not None
    records: list[IndexRecord] = []
    for chunk in chunks:
        parsed = _native_index.parse(_NATIVE, chunk)
        if parsed is None:
            return None
        records += cast("list[IndexRecord]", parsed)
    return tuple(records)


def _fast_records(chunks: Iterable[str]) -> tuple[IndexRecord, ...] | None:
    """Records from text cut into chunks at record ends, or None if any record is not in a
    known field order. Chunks of about a megabyte keep each one's strings and records in the
    CPU cache from the match to the young collections that follow the build, which makes
    parsing a 90 MB index a third faster than in one go."""
    records: list[IndexRecord] = []
    for chunk in chunks:
        columns = _fast_columns(chunk)
        if columns is None:
            return None
        records += _assemble(columns, None)
    return tuple(records)


def _text_pieces(text: str, chunk: int = _CHUNK) -> Iterator[str]:
    """``text`` in pieces of about ``chunk`` characters, each cut just after a blank line."""
    start = 0
    while start < len(text):
        end = text.rfind("\n\n", start, start + chunk)
        if end < 0:  # no record ends within a chunk: cut at the next end, if any
            end = text.find("\n\n", start + chunk)
        end = len(text) if end < 0 else end + 2
        yield text[start:end]
        start = end


def _byte_chunks(pieces: Iterable[bytes]) -> Iterator[bytes]:
    """Pieces of APKINDEX regrouped into chunks that end just after a blank line, so that no
    record spans two (a newline byte is never part of a multi-byte UTF-8 character, so every
    cut is also a character boundary)."""
    pending: list[bytes] = []
    for piece in pieces:
        end = piece.rfind(b"\n\n") + 2
        if end < 2:
            pending.append(piece)
            continue
        pending.append(piece[:end])
        yield b"".join(pending)
        pending = [piece[end:]]
    rest = b"".join(pending)
    if rest:
        yield rest


def _fast_columns(text: str) -> dict[str, _Column] | None:
    """The slot columns for text in a known field order, or None if any record is not in one.

    One C-level ``Pattern.split`` over the whole text: each match is one record (field lines,
    then the blank line), and the text between matches must be empty, so every byte of the
    text has been matched. The groups come back flat; slicing by stride gives the columns.
    """
    if not text.endswith("\n\n"):
        text += "\n" if text.endswith("\n") else "\n\n"
    parts = _FAST.split(text)
    if any(parts[::_STRIDE]):
        return None
    columns: dict[str, _Column] = {s: parts[n::_STRIDE] for n, s in enumerate(_SLOTS, start=1)}
    for first, second in _DOUBLED:
        merged = _merge(columns[first], columns[second])
        if merged is None:
            return None  # a field given twice: let the line parser report it
        columns[first] = merged
    return columns


def _merge(first: _Column, second: _Column) -> _Column | None:
    """``first`` with the values of ``second`` (a field's other position) filled in; None if
    a record has both. Values in either are never "" (see _fast_pattern)."""
    if not any(second):
        return first
    merged = list(first)
    for n in compress(range(len(second)), second):
        if merged[n] is not None:
            return None
        merged[n] = second[n]
    return merged


def _generic_rows(
    text: str, where: str
) -> tuple[list[tuple[str | None, ...]], list[tuple[tuple[str, str], ...]]]:
    """Rows in any field order, unknown keys kept; precise errors for malformed lines."""
    rows: list[tuple[str | None, ...]] = []
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


def _row(found: dict[str, str], where: str) -> tuple[str | None, ...]:
    for key in _REQUIRED:
        if not found.get(key):
            raise ApkFormatError(
                f"record has no {key}: ({_LABELS[key]}) line",
                where=where,
                hint="every record needs C:, P: and V:",
            )
    return tuple(map(found.get, _SLOTS))


class _FullCollectionsDeferred:
    """While any thread is inside, the cyclic GC makes no full collections (young ones go on).

    A Wolfi-size index adds 600k tracked objects (records, atom tuples), and CPython makes a
    full collection each time the long-lived objects have grown by a quarter: three scans of
    the whole heap during one load, a quarter of its time. Deferred, one full collection
    later covers them all. The depth count restores the threshold once, after the last of nested
    or concurrent loads (lock parses the indexes of several architectures in threads)."""

    _NEVER = 2**31 - 1  # the largest threshold CPython takes

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._depth = 0
        self._saved = gc.get_threshold()

    def __enter__(self) -> None:
        with self._lock:
            if not self._depth:
                self._saved = gc.get_threshold()
                gc.set_threshold(self._saved[0], self._saved[1], self._NEVER)
            self._depth += 1

    def __exit__(self, *exc_info: object) -> None:
        with self._lock:
            self._depth -= 1
            if not self._depth:
                gc.set_threshold(*self._saved)


_FULL_COLLECTIONS_DEFERRED = _FullCollectionsDeferred()


def _assemble(
    cols: dict[str, _Column], extras: list[tuple[tuple[str, str], ...]] | None
) -> tuple[IndexRecord, ...]:
    """Records from slot columns, converting column by column (C loops, not Python ones)."""
    count = len(cols["C"])
    return tuple(
        map(
            _BUILD,
            *(cols[s] for s in "CPV"),
            _strs(cols["A"]),
            _ints(cols["S"], 0),
            _ints(cols["I"], 0),
            *(_strs(cols[s]) for s in "TULom"),
            _ints(cols["t"], None),
            _strs(cols["c"]),
            _ints(cols["k"], None),
            *(_atoms(cols[s]) for s in "Dpir"),
            extras if extras is not None else repeat((), count),
        )
    )


def _strs(col: _Column) -> _Column:
    return col if all(col) else list(map(_EMPTY.get, col, col))


def _ints(col: _Column, absent: int | None) -> list[int | None]:
    """Whole numbers (the pattern and the line parser only let ASCII digits through)."""
    try:
        # json's C scanner converts a whole column in one call, a third faster than calling
        # int() on each value; an absent value (None) or a leading zero makes it raise.
        numbers: list[int | None] = json.loads(f"[{','.join(cast('Sequence[str]', col))}]")
    except (TypeError, ValueError):
        return [int(v) if v else absent for v in col]
    return numbers


def _atoms(col: _Column) -> list[tuple[str, ...]]:
    if not any(col):  # i: and r: are absent from almost every record
        return [()] * len(col)
    return list(map(tuple, map(str.split, cast("Sequence[str]", _strs(col)))))


class _Unfrozen:
    """An IndexRecord being built: the same slots, written by plain attribute stores (which
    CPython specialises) instead of the frozen dataclass's ``object.__setattr__`` calls, at
    under a third of the cost. Its last step turns it into the IndexRecord it now equals."""

    __slots__ = _NAMES

    def __init__(  # noqa: PLR0917 - map() passes the columns positionally
        self,
        checksum: str,
        name: str,
        version: str,
        arch: str,
        size: int,
        installed_size: int,
        description: str,
        url: str,
        license: str,
        origin: str,
        maintainer: str,
        build_time: int | None,
        commit: str,
        provider_priority: int | None,
        depends: tuple[str, ...],
        provides: tuple[str, ...],
        install_if: tuple[str, ...],
        replaces: tuple[str, ...],
        extra: tuple[tuple[str, str], ...],
    ) -> None:
        self.checksum = checksum
        self.name = name
        self.version = version
        self.arch = arch
        self.size = size
        self.installed_size = installed_size
        self.description = description
        self.url = url
        self.license = license
        self.origin = origin
        self.maintainer = maintainer
        self.build_time = build_time
        self.commit = commit
        self.provider_priority = provider_priority
        self.depends = depends
        self.provides = provides
        self.install_if = install_if
        self.replaces = replaces
        self.extra = extra
        # Same slots, same base: CPython allows the switch and the layout is already right.
        self.__class__ = IndexRecord  # type: ignore[assignment]


# Every field must be a parameter, in order, or records would come out with unset slots.
assert _Unfrozen.__init__.__code__.co_varnames[1 : len(_NAMES) + 1] == _NAMES
_BUILD = cast("Callable[..., IndexRecord]", _Unfrozen)  # what its instances end up as

# Where _native_index.c puts each field of a record; None where it was not built.
_NATIVE = (
    _native_index.layout(
        IndexRecord,
        "".join(_FIELDS),
        "".join(_KIND_CODES[kind] for _, kind in _FIELDS.values()),
        (*(attr for attr, _ in _FIELDS.values()), "extra"),
        "".join(_REQUIRED),
        "C",  # checksums are unique: no point looking for an equal one
    )
    if _native_index is not None
    else None
)


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
