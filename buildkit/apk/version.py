"""APK versions exactly as apk-tools 3 reads, orders and fuzzy-matches them (``src/version.c``).

Grammar: ``digits{.digits}[letter]{_suffix[digits]}[~hexhash][-rdigits]``, where a suffix is
one of ``alpha beta pre rc cvs svn git hg p``. Anything else is invalid and raises
:class:`~buildkit.errors.VersionError` (apk itself would compare such strings up to the bad
token; buildkit refuses to guess).

apk compares two versions token by token. Each :class:`Version` carries that comparison folded
into a flat tuple (its ``key``), so ordering, equality and hashing are plain tuple operations:
each token contributes ``(rank, value)`` and the end contributes a single ``0``. While tokens
have the same kind the values decide; where the kinds differ apk decides by kind alone, which
the ranks encode:

* a pre-release suffix (``_alpha _beta _pre _rc``) sorts below everything, even the end
  (``1.0_rc1 < 1.0``);
* otherwise the token of the earlier kind in the grammar wins (``1.0.1 > 1.0a > 1.0_p1 >
  1.0~abc > 1.0-r1 > 1.0``).

Subtleties kept from apk: a dotted group (not the first) that starts with ``0`` in either
version is compared as a string (``1.09 < 1.1``, ``1.0 < 1.00``), so such groups rank just
below plain numbers; the first group, suffix numbers and revisions always compare as numbers
(``01 == 1``); numbers wrap at 2**64 as apk's ``uint64_t`` does; ``_rc`` < ``_rc0``;
``~hash`` compares as a string.
"""

from __future__ import annotations

import functools
import re
import string
from dataclasses import dataclass, field

from buildkit.errors import VersionError

__all__ = [
    "SUFFIXES",
    "Version",
    "VersionKey",
    "compare_versions",
    "fuzzy_match",
    "is_valid_version",
    "parse_version",
]

#: Suffixes in apk's order; ``""`` marks where "no suffix" sits (before it: pre-releases).
SUFFIXES: tuple[str, ...] = ("alpha", "beta", "pre", "rc", "", "cvs", "svn", "git", "hg", "p")
_NO_SUFFIX = SUFFIXES.index("")
_SUFFIX_ORDER = {name: index for index, name in enumerate(SUFFIXES) if name}

VersionKey = tuple[int | str, ...]

# Token ranks (see the module docstring). Gaps leave room for the two kinds of dotted group.
_INITIAL = 70
_DIGITS = 61
_ZERO_LED_DIGITS = 60  # a dotted group with a leading zero: compared as a string
_LETTER = 50
_SUFFIX = 40
_SUFFIX_NUMBER = 30
_HASH = 20
_REVISION = 10
_END = 0
_PRE_RELEASE = -10  # a pre-release suffix: below even the end of the other version

_UINT64 = (1 << 64) - 1
_SUFFIX_NAMES = "|".join(name for name in SUFFIXES if name)
_VALID = re.compile(
    rf"[0-9]+(?:\.[0-9]+)*[a-z]?(?:_(?:{_SUFFIX_NAMES})[0-9]*)*(?:~[0-9a-f]+)?(?:-r[0-9]+)?"
)
_FIRST = re.compile(r"[0-9]+")
_TOKEN = re.compile(r"\.([0-9]+)|([a-z])|_([a-z]+)([0-9]*)|~([0-9a-f]+)|-r([0-9]+)")
_GRAMMAR_HINT = "apk versions look like 1.2.3[a][_rc1][~c0ffee][-r0]"


@dataclass(frozen=True, slots=True, eq=False)
class Version:
    """A valid apk version. Equality, hashing and order follow apk (``Version("01") ==
    Version("1")``); ``text`` keeps the spelling. Prefer :func:`parse_version` (cached)."""

    text: str
    key: VersionKey = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if _VALID.fullmatch(self.text) is None:
            raise _invalid(self.text)
        object.__setattr__(self, "key", _key(self.text))

    def __str__(self) -> str:
        return self.text

    def __hash__(self) -> int:
        return hash(self.key)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Version):
            return self.key == other.key
        return NotImplemented

    # Sorting 200k versions calls these millions of times: no isinstance on the hot path.
    # (Sorting by ``.key`` directly is faster still: pure tuple comparison.)
    def __lt__(self, other: Version) -> bool:
        try:
            return self.key < other.key
        except AttributeError:
            return NotImplemented

    def __le__(self, other: Version) -> bool:
        try:
            return self.key <= other.key
        except AttributeError:
            return NotImplemented

    def __gt__(self, other: Version) -> bool:
        try:
            return self.key > other.key
        except AttributeError:
            return NotImplemented

    def __ge__(self, other: Version) -> bool:
        try:
            return self.key >= other.key
        except AttributeError:
            return NotImplemented


@functools.lru_cache(maxsize=1 << 18)
def parse_version(text: str) -> Version:
    """Parse ``text``; raises VersionError naming the string and where it goes wrong."""
    return Version(text)


def is_valid_version(text: str) -> bool:
    """Whether apk-tools 3 accepts ``text`` as a version (``apk version -c``)."""
    return _VALID.fullmatch(text) is not None


def compare_versions(a: str, b: str) -> int:
    """-1, 0 or 1 as ``a`` sorts before, level with or after ``b`` (``apk version -t``)."""
    key_a = parse_version(a).key
    key_b = parse_version(b).key
    return (key_a > key_b) - (key_a < key_b)


def fuzzy_match(version: str, prefix: str) -> bool:
    """apk's ``~``: ``prefix``'s tokens begin ``version``'s (``3.6.9 ~ 3.6``, not ``3.60``)."""
    key = parse_version(version).key
    head = parse_version(prefix).key[:-1]  # without its end marker
    return key[: len(head)] == head


def _number(digits: str) -> int:
    """The value apk reads: it accumulates in a uint64_t and wraps silently."""
    if len(digits) < 20:
        return int(digits)
    value = 0
    for start in range(0, len(digits), 1000):  # int() refuses over 4300 digits at once
        chunk = digits[start : start + 1000]
        value = (value * 10 ** len(chunk) + int(chunk)) & _UINT64
    return value


def _key(text: str) -> VersionKey:
    """The comparison key of a version already checked against ``_VALID``."""
    first = _FIRST.match(text)
    assert first is not None  # guaranteed by _VALID
    key: list[int | str] = [_INITIAL, _number(first.group())]
    for digits, letter, suffix, suffix_number, commit, revision in _TOKEN.findall(
        text, first.end()
    ):
        if digits:
            if digits[0] == "0":
                key += (_ZERO_LED_DIGITS, digits)
            else:
                key += (_DIGITS, _number(digits))
        elif letter:
            key += (_LETTER, letter)
        elif suffix:
            order = _SUFFIX_ORDER[suffix]
            key += (_PRE_RELEASE if order < _NO_SUFFIX else _SUFFIX, order)
            if suffix_number:
                key += (_SUFFIX_NUMBER, _number(suffix_number))
        elif commit:
            key += (_HASH, commit)
        else:
            key += (_REVISION, _number(revision))
    key.append(_END)
    return tuple(key)


# --- diagnostics: only run for invalid strings, so clarity beats speed here ---------------

# Where each kind of token may appear: the state after it, and the states it may follow.
_DIGIT_STATE, _LETTER_STATE, _SUFFIX_STATE, _HASH_STATE, _REVISION_STATE = range(5)
_STATE_NAMES = ("the numbers", "the letter", "a suffix", "the ~hash", "the -r revision")


def _invalid(text: str) -> VersionError:
    if not text:
        return VersionError("invalid version '': it is empty", hint=_GRAMMAR_HINT)
    start, reason = _diagnose(text)
    at = f" at {text[start:]!r}" if start else ""
    return VersionError(f"invalid version {text!r}{at}: {reason}", hint=_GRAMMAR_HINT)


def _diagnose(text: str) -> tuple[int, str]:
    """Walk ``text`` like apk's tokenizer; return where and why it first gives up."""
    first = _FIRST.match(text)
    if first is None:
        return 0, f"it must start with a digit, not {text[0]!r}"
    pos, state = first.end(), _DIGIT_STATE
    while pos < len(text):
        step = _step(text, pos, state)
        if isinstance(step, str):
            return pos, step
        pos, state = step
    raise AssertionError(f"{text!r} is valid")  # pragma: no cover - callers checked _VALID


def _step(text: str, pos: int, state: int) -> tuple[int, int] | str:
    """Consume one token at ``pos``: the next (position, state), or why it is wrong."""
    char = text[pos]
    if char == ".":
        return _dotted(text, pos, state)
    if "a" <= char <= "z":
        if state != _DIGIT_STATE:
            return f"a letter cannot follow {_STATE_NAMES[state]}"
        return pos + 1, _LETTER_STATE
    if "0" <= char <= "9":  # only reachable right after a letter: digits are otherwise consumed
        return f"a digit cannot follow {_STATE_NAMES[state]} (write .N or _pN)"
    if char == "_":
        return _suffix(text, pos, state)
    if char == "~":
        if state >= _HASH_STATE:
            return f"a ~hash cannot follow {_STATE_NAMES[state]}"
        end = _span(text, pos + 1, "0123456789abcdef")
        return (end, _HASH_STATE) if end > pos + 1 else "'~' must be followed by lowercase hex"
    if char == "-":
        if state >= _REVISION_STATE:
            return "there can be only one -r revision"
        if not text.startswith("-r", pos):
            return "'-' must start a revision like -r0"
        end = _span(text, pos + 2, "0123456789")
        return (end, _REVISION_STATE) if end > pos + 2 else "'-r' must be followed by digits"
    return f"unexpected character {char!r}"


def _dotted(text: str, pos: int, state: int) -> tuple[int, int] | str:
    if state != _DIGIT_STATE:
        return f"a '.' group cannot follow {_STATE_NAMES[state]}"
    end = _span(text, pos + 1, "0123456789")
    return (end, _DIGIT_STATE) if end > pos + 1 else "'.' must be followed by digits"


def _suffix(text: str, pos: int, state: int) -> tuple[int, int] | str:
    if state > _SUFFIX_STATE:
        return f"a suffix cannot follow {_STATE_NAMES[state]}"
    end = _span(text, pos + 1, string.ascii_letters)  # any case, to name the culprit whole
    name = text[pos + 1 : end]
    if name not in _SUFFIX_ORDER:
        what = f"unknown suffix {text[pos:end]!r}" if name else "'_' must start a suffix"
        return f"{what}: use one of {', '.join(_SUFFIX_ORDER)}"
    return _span(text, end, "0123456789"), _SUFFIX_STATE


def _span(text: str, pos: int, allowed: str) -> int:
    """The end of the run of ``allowed`` characters starting at ``pos``."""
    while pos < len(text) and text[pos] in allowed:
        pos += 1
    return pos
