"""Dependency atoms ``[!]name[@tag][op version]`` as apk-tools 3 parses them (``apk_dep_parse``).

apk splits an atom at its first comparison character (``< > = ~``); the run of such characters
is the operator and the rest the version. The operator is a set of bits, so spellings that
build the same set are the same operator (``=<`` is ``<=``, ``=~`` is ``~``, ``<>`` is ``><``);
``str()`` writes the canonical spelling, as apk does. ``><`` is not a range: it pins a package
by its checksum (``name><Q1...``, apk's ``APK_DEPMASK_CHECKSUM``). Names keep apk's character
set (``so:libc.musl-x86_64.so.1``, ``cmd:hello``, ``pc:zlib``, ``/bin/sh``); the tag is the
part of the name after the first ``@``.
"""

from __future__ import annotations

import enum
import functools
import re
from collections.abc import Callable
from dataclasses import dataclass

from buildkit.apk.version import compare_versions, fuzzy_match, parse_version
from buildkit.errors import AtomError, VersionError

__all__ = ["Atom", "Op", "parse_atom", "parse_op", "version_matches"]


class Op(enum.Enum):
    """A version operator, valued by its canonical spelling."""

    EQ = "="
    LT = "<"
    GT = ">"
    LE = "<="
    GE = ">="
    FUZZY = "~"
    LT_FUZZY = "<~"
    GT_FUZZY = ">~"
    CHECKSUM = "><"
    ANY = "><"  # alias of CHECKSUM, the name docs/architecture.md first used


# apk's result bits (apk_version.h); '~' always brings EQUAL along.
_EQUAL, _LESS, _GREATER, _FUZZY = 1, 2, 4, 8
_CHAR_BITS = {"=": _EQUAL, "<": _LESS, ">": _GREATER, "~": _FUZZY | _EQUAL}
_OP_BY_BITS = {
    _EQUAL: Op.EQ,
    _LESS: Op.LT,
    _GREATER: Op.GT,
    _LESS | _EQUAL: Op.LE,
    _GREATER | _EQUAL: Op.GE,
    _FUZZY | _EQUAL: Op.FUZZY,
    _LESS | _FUZZY | _EQUAL: Op.LT_FUZZY,
    _GREATER | _FUZZY | _EQUAL: Op.GT_FUZZY,
    _LESS | _GREATER: Op.CHECKSUM,
}
_OP_LIST = "= < > <= >= ~ <~ >~ ><"

_VERSION_TESTS: dict[Op, Callable[[str, str], bool]] = {
    Op.EQ: lambda v, w: compare_versions(v, w) == 0,
    Op.LT: lambda v, w: compare_versions(v, w) < 0,
    Op.GT: lambda v, w: compare_versions(v, w) > 0,
    Op.LE: lambda v, w: compare_versions(v, w) <= 0,
    Op.GE: lambda v, w: compare_versions(v, w) >= 0,
    Op.FUZZY: fuzzy_match,
    # apk compares "fuzzily": a prefix match counts as equal, anything else as usual.
    Op.LT_FUZZY: lambda v, w: fuzzy_match(v, w) or compare_versions(v, w) < 0,
    Op.GT_FUZZY: lambda v, w: fuzzy_match(v, w) or compare_versions(v, w) > 0,
}

_SPLIT = re.compile(r"([^<>=~]*)([<>=~]*)(.*)", re.DOTALL)
_NAME = re.compile(r"[A-Za-z0-9+\-._,:/\[\]]+")  # apk's DEPENDENCY_NAME characters
_TAG = re.compile(r"[A-Za-z0-9_+,\-.:=/\[\]]+")  # apk's TAG_NAME characters
_CHECKSUM = re.compile(r"Q[12][A-Za-z0-9+/]+={0,2}|X[12][0-9a-fA-F]+")
_ATOM_HINT = f"atoms look like [!]name[@tag][op version] with op one of {_OP_LIST}"


def parse_op(text: str) -> Op:
    """The operator spelled ``text`` (any order of ``< > = ~``, as apk accepts)."""
    bits = 0
    for char in text:
        if char not in _CHAR_BITS:
            bits = 0
            break
        bits |= _CHAR_BITS[char]
    op = _OP_BY_BITS.get(bits)
    if op is None:
        why = "allows every version" if bits else "is not an operator"
        raise AtomError(f"{text!r} {why}", hint=f"use one of {_OP_LIST}")
    return op


def version_matches(version: str, op: Op, wanted: str) -> bool:
    """Whether ``version op wanted`` holds (apk_version_match); raises VersionError."""
    test = _VERSION_TESTS.get(op)
    if test is None:
        raise AtomError(f"'{op.value}' pins a package checksum; it does not compare versions")
    return test(version, wanted)


@dataclass(frozen=True, kw_only=True, slots=True)
class Atom:
    """One dependency: ``!`` (conflict), name, ``@tag``, operator and version.

    ``op`` and ``version`` are both set or both None; with ``Op.CHECKSUM`` the version is a
    package checksum (``Q1...``). Construction validates, so every Atom prints as valid apk.
    """

    name: str
    tag: str | None = None
    op: Op | None = None
    version: str | None = None
    conflict: bool = False

    def __post_init__(self) -> None:
        problem = _problem(self.name, self.tag, self.op, self.version)
        if problem:
            raise AtomError(f"invalid dependency {str(self)!r}: {problem}", hint=_ATOM_HINT)

    def __str__(self) -> str:
        text = f"!{self.name}" if self.conflict else self.name
        if self.tag is not None:
            text = f"{text}@{self.tag}"
        if self.op is not None:
            text = f"{text}{self.op.value}{self.version}"
        return text

    def matches(self, version: str, *, checksum: str | None = None) -> bool:
        """Whether a package at ``version`` meets the version constraint (not negated by
        ``!``; True when unversioned). A checksum pin compares ``checksum`` (index C:)."""
        if self.op is None or self.version is None:
            return True
        if self.op is Op.CHECKSUM:
            return checksum == self.version
        return version_matches(version, self.op, self.version)


def _problem(name: str, tag: str | None, op: Op | None, version: str | None) -> str | None:
    """What makes these parts an invalid atom, if anything."""
    if not name:
        return "the name is empty"
    if not _NAME.fullmatch(name):
        return f"the name {name!r} has characters apk does not allow"
    if tag is not None and not _TAG.fullmatch(tag):
        return f"the tag {tag!r} is empty or has characters apk does not allow"
    if (op is None) != (version is None):
        return "an operator needs a version and a version needs an operator"
    if op is Op.CHECKSUM:
        if not _CHECKSUM.fullmatch(version or ""):
            return f"'><' needs a package checksum (Q1...), not {version!r}"
    elif version is not None:
        try:
            parse_version(version)
        except VersionError as err:
            return err.message
    return None


@functools.lru_cache(maxsize=1 << 16)
def parse_atom(text: str) -> Atom:
    """Parse ``[!]name[@tag][op version]``; raises AtomError naming the atom."""
    conflict = text.startswith("!")
    match = _SPLIT.fullmatch(text[1:] if conflict else text)
    assert match is not None  # every string matches _SPLIT
    head, op_text, version = match.groups()
    name, at, tag = head.partition("@")
    op: Op | None = None
    if op_text:
        if not version:
            raise AtomError(
                f"invalid dependency {text!r}: {op_text!r} needs a version after it",
                hint=_ATOM_HINT,
            )
        try:
            op = parse_op(op_text)
        except AtomError as err:
            raise AtomError(
                f"invalid dependency {text!r}: operator {err.message}", hint=_ATOM_HINT
            ) from err
    parts = (name, tag if at else None, op, version if op_text else None)
    problem = _problem(*parts)
    if problem:  # raised here to quote the atom as written, not in canonical form
        raise AtomError(f"invalid dependency {text!r}: {problem}", hint=_ATOM_HINT)
    return Atom(name=parts[0], tag=parts[1], op=parts[2], version=parts[3], conflict=conflict)
