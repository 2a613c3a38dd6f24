"""apk-tools 3's comparison of ANY two strings, valid versions or not (``src/version.c``).

:mod:`buildkit.apk.version` orders valid versions through precomputed keys and refuses
invalid ones. apk-tools itself never refuses: ``apk version -t`` walks both strings token by
token and stops where either breaks the grammar. This module reproduces that walk, so a
comparison involving an invalid version gives apk-tools 3's answer:

- tokens of the same kind compare by value (numbers as numbers, a dotted group led by ``0``
  and a ``~hash`` as strings, a letter by character, a suffix by its place in
  ``alpha beta pre rc <none> cvs svn git hg p``);
- where the kinds differ, or a string ends or breaks: two strings that stop the same way
  (both ended, or both broke) are equal; with fuzzy matching (``~``) a version whose prefix
  ended is equal; a pre-release suffix sorts lower; otherwise the string whose token comes
  later in the grammar sorts lower, and a broken token comes after every kind, so the
  string that breaks first is the lower one (``1.x < 1``).
"""

from __future__ import annotations

from dataclasses import dataclass

# Token kinds in grammar order (apk's enum PARTS).
INITIAL, DIGIT, LETTER, SUFFIX, SUFFIX_NO, HASH, REVISION, END, INVALID = range(9)

_SUFFIXES = ("alpha", "beta", "pre", "rc", "", "cvs", "svn", "git", "hg", "p")
_NONE = _SUFFIXES.index("")
_UINT64 = (1 << 64) - 1
_HEX = frozenset("0123456789abcdef")
_LOWER = frozenset("abcdefghijklmnopqrstuvwxyz")
_DIGITS = frozenset("0123456789")


@dataclass
class _Token:
    kind: int = INITIAL
    value: str = ""
    number: int = 0
    suffix: int = -1


class _Reader:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.token = _Token()
        self._digits()

    def _span(self, allowed: frozenset[str]) -> str:
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] in allowed:
            self.pos += 1
        return self.text[start : self.pos]

    def _digits(self) -> None:
        digits = self._span(_DIGITS)
        number = 0
        for char in digits:
            number = (number * 10 + ord(char) - 48) & _UINT64  # apk's uint64_t wraps
        self.token.number, self.token.value = number, digits
        if not digits:
            self.token.kind = INVALID

    def next(self) -> None:
        token = self.token
        if self.pos >= len(self.text):
            token.kind = END
            return
        char = self.text[self.pos]
        if char in _LOWER:
            if token.kind > DIGIT:
                token.kind = INVALID
                return
            token.kind, token.value = LETTER, char
            self.pos += 1
        elif char == "." or char in _DIGITS:
            if char == ".":
                if token.kind > DIGIT:
                    token.kind = INVALID
                    return
                self.pos += 1
            if token.kind in (INITIAL, DIGIT):
                token.kind = DIGIT
            elif token.kind == SUFFIX:
                token.kind = SUFFIX_NO
            else:
                token.kind = INVALID
                return
            self._digits()
        elif char == "_":
            if token.kind > SUFFIX_NO:
                token.kind = INVALID
                return
            self.pos += 1
            name = self._span(_LOWER)
            if not name or name not in _SUFFIXES:
                token.kind = INVALID
                return
            token.kind, token.value, token.suffix = SUFFIX, name, _SUFFIXES.index(name)
        elif char == "~":
            if token.kind >= HASH:
                token.kind = INVALID
                return
            self.pos += 1
            token.value = self._span(_HEX)
            token.kind = HASH if token.value else INVALID
        elif char == "-":
            if token.kind >= REVISION or not self.text.startswith("-r", self.pos):
                token.kind = INVALID
                return
            self.pos += 2
            token.kind = REVISION
            self._digits()
        else:
            token.kind = INVALID


def _strings(a: str, b: str) -> int:
    left, right = a.encode("utf-8"), b.encode("utf-8")  # apk_blob_sort: bytes, then length
    shared = min(len(left), len(right))
    if left[:shared] != right[:shared]:
        return -1 if left[:shared] < right[:shared] else 1
    return (len(left) > len(right)) - (len(left) < len(right))


def _same_kind(a: _Token, b: _Token) -> int:
    kind = a.kind
    if kind == DIGIT and (a.value.startswith("0") or b.value.startswith("0")):
        return _strings(a.value, b.value)
    if kind in (INITIAL, DIGIT, SUFFIX_NO, REVISION):
        return (a.number > b.number) - (a.number < b.number)
    if kind == LETTER:
        return (a.value > b.value) - (a.value < b.value)
    if kind == SUFFIX:
        return (a.suffix > b.suffix) - (a.suffix < b.suffix)
    return _strings(a.value, b.value)


def apk_compare(a: str, b: str, *, fuzzy: bool = False) -> int:
    """-1, 0 or 1 as apk-tools 3 orders ``a`` against ``b`` (any strings)."""
    left, right = _Reader(a), _Reader(b)
    while left.token.kind == right.token.kind and left.token.kind < END:
        found = _same_kind(left.token, right.token)
        if found:
            return found
        left.next()
        right.next()
    ta, tb = left.token, right.token
    if ta.kind == tb.kind:
        return 0
    if tb.kind == END and fuzzy:
        return 0
    if ta.kind == SUFFIX and ta.suffix < _NONE:
        return -1
    if tb.kind == SUFFIX and tb.suffix < _NONE:
        return 1
    return -1 if ta.kind > tb.kind else 1


_BITS = {"=": 1, "<": 2, ">": 4, "~": 8 | 1}
_RESULT = {-1: 2, 0: 1, 1: 4}


def apk_match(version: str, op: str, wanted: str) -> bool:
    """apk_version_match for an operator spelled ``=``, ``<``, ``>=``, ``~``, ``<~`` ...."""
    mask = 0
    for char in op:
        mask |= _BITS[char]
    found = apk_compare(version, wanted, fuzzy=bool(mask & 8))
    return bool(_RESULT[found] & mask)
