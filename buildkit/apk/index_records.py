"""APKINDEX records: the IndexRecord value, parsing APKINDEX text into records, rendering them.

APKINDEX is blank-line separated records of ``X:value`` lines (design.md lists every key).
Loading is on the critical path of every lock (Wolfi's index has ~200k records), so there
are three parsers, all giving the same records:

- the compiled one (_native_index.c), where the install could build it: the usual case, any
  field order, straight into IndexRecord slots;
- else one ``Pattern.split`` per chunk in the field orders real writers use, then assembly
  column by column;
- behind both, a line parser for anything they decline (unknown keys kept in ``extra``,
  damage), which also produces the precise error messages.

buildkit.apk.index feeds them pieces of the inflated archive (records_from_pieces) or whole
texts (parse_records). Pure: bytes in, values out.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, fields
from itertools import compress, repeat
from typing import cast

from buildkit.collector import FULL_DEFERRED
from buildkit.errors import ApkFormatError

try:
    from buildkit.apk import _native_index
except ImportError:  # installed without a C compiler: the pure-Python parsers serve alone
    _native_index = None  # type: ignore[assignment]

INDEX_NAME = "APKINDEX"  # the member whose text these are; errors say where:APKINDEX:line


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
# Parsing


def parse_records(text: str, *, where: str) -> tuple[IndexRecord, ...]:
    """Parse APKINDEX text. ``where`` names the file; errors say ``where:APKINDEX:line``."""
    with FULL_DEFERRED:
        # surrogatepass: text with a lone surrogate gets to the Python parsers, not an error.
        native = _NATIVE is not None
        records = _native_records([text.encode("utf-8", "surrogatepass")]) if native else None
        if records is None:
            records = _fast_records(_text_pieces(text))
        if records is not None:
            return records
        rows, extras = _generic_rows(text, where)
        if not rows:
            return ()
        return _assemble(dict(zip(_SLOTS, zip(*rows, strict=True), strict=True)), extras)


def records_from_pieces(pieces: Iterable[bytes]) -> tuple[IndexRecord, ...] | None:
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

# Where _native_index.c puts each field of a record; None where it was not built. It fills
# every slot, so the fields and "extra" must be exactly the record's slots.
assert {*(attr for attr, _ in _FIELDS.values()), "extra"} == set(_NAMES)
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


def compiled_parser() -> str | None:
    """The file of the compiled record parser in use, or None where the Python one serves."""
    if _native_index is None or _NATIVE is None:
        return None
    return str(_native_index.__file__)


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
