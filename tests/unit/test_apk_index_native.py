"""The compiled APKINDEX record parser (buildkit/apk/_native_index.c) against the Python one.

The C parser only ever handles the usual case and declines (returns None) everything else, so
the contract pinned here is: whatever it accepts, it parses exactly as the pure-Python parser
does, on the real fixtures, on generated records in any field order, and on damaged text and
bytes; and it accepts what real writers produce.
"""

from __future__ import annotations

import gc
import pickle
import random
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from buildkit.apk import index_records
from buildkit.apk.index import IndexRecord, parse_index, parse_records, render_record
from buildkit.errors import ApkFormatError
from tests.helpers.paths import FIXTURES

native = index_records._native_index


def test_the_compiled_parser_is_built_and_in_use() -> None:
    # CI has a C compiler: a missing extension here means the build silently fell back.
    assert native is not None, "buildkit/apk/_native_index.c was not built (pip install -e .)"
    assert index_records._NATIVE is not None


def _native(data: bytes) -> tuple[IndexRecord, ...] | None:
    assert index_records._NATIVE is not None
    parsed = native.parse(index_records._NATIVE, data)
    return None if parsed is None else tuple(parsed)  # type: ignore[arg-type]


@contextmanager
def _python_only() -> Iterator[None]:
    saved = index_records._NATIVE
    index_records._NATIVE = None
    try:
        yield
    finally:
        index_records._NATIVE = saved


def _python(text: str) -> tuple[IndexRecord, ...] | str:
    """The pure-Python parser's records, or its error line."""
    with _python_only():
        try:
            return parse_records(text, where="x")
        except ApkFormatError as exc:
            return f"error: {exc}"


def _same(data: bytes) -> None:
    """The C parser declines ``data`` or parses it exactly as the Python parser does."""
    got = _native(data)
    if got is None:
        return
    want = _python(data.decode("utf-8"))  # the C parser accepts only UTF-8
    assert got == want
    assert all(type(r) is IndexRecord for r in got)


def _fixture_indexes() -> Iterator[Path]:
    return iter(sorted(FIXTURES.rglob("APKINDEX.tar.gz")))


@pytest.mark.parametrize("path", list(_fixture_indexes()), ids=lambda p: str(p.parent.name))
def test_every_fixture_index_parses_the_same_in_c_and_python(path: Path) -> None:
    data = path.read_bytes()
    fast = parse_index(data, where=str(path), keyring=None, allow_untrusted=True)
    with _python_only():
        slow = parse_index(data, where=str(path), keyring=None, allow_untrusted=True)
    assert fast == slow
    assert fast.records
    text = "".join(map(render_record, fast.records)).encode()
    assert _native(text) == slow.records  # accepted, not declined


def test_records_from_c_are_frozen_hashable_picklable_and_untracked() -> None:
    (record,) = _native(b"C:Q1abc=\nP:foo\nV:1.0-r0\nA:x86_64\nS:10\nI:20\nD:a b>1\n\n") or ()
    assert record == IndexRecord(
        checksum="Q1abc=", name="foo", version="1.0-r0", arch="x86_64", size=10,
        installed_size=20, depends=("a", "b>1"),
    )  # fmt: skip
    fields = {name: getattr(record, name) for name in index_records._NAMES}
    assert hash(record) == hash(IndexRecord(**fields))
    assert pickle.loads(pickle.dumps(record)) == record
    with pytest.raises(AttributeError):
        record.name = "bar"  # type: ignore[misc]
    # Holding only strs, ints, None and tuples of strs, neither can be part of a cycle.
    assert not gc.is_tracked(record)
    assert not gc.is_tracked(record.depends)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        (b"C:Q1x=\nP:foo\nV:1\nZ:unknown key\n\n", "unknown key: kept in extra by Python"),
        (b"C:Q1x=\nP:foo\nP:bar\nV:1\n\n", "a field given twice"),
        (b"C:Q1x=\nP:foo\n\n", "no V:"),
        (b"C:\nP:foo\nV:1\n\n", "an empty C:"),
        (b"C:Q1x=\nP:foo\nV:1\nS:\n\n", "an empty number"),
        (b"C:Q1x=\nP:foo\nV:1\nS:1x\n\n", "not a number"),
        (b"C:Q1x=\nP:foo\nV:1\nS:" + b"9" * 19 + b"\n\n", "19 digits"),
        (b"C:Q1x=\nP:foo\nV:1\nS:\xd9\xa3\n\n", "a non-ASCII digit"),
        (b"C:Q1x=\nP:foo\nV:1\nT:\xff\n\n", "not UTF-8"),
        (b"C:Q1x=\nP:foo\nV:1\nD:\xc3\n\n", "not UTF-8 in atoms"),
        (b"C:Q1x=\nPfoo\nV:1\n\n", "no colon"),
        (b"C:Q1x=\n P:foo\nV:1\n\n", "a leading space"),
        (b"C:Q1x=\n\xc3\xa9:foo\nP:foo\nV:1\n\n", "a non-ASCII key"),
    ],
)
def test_the_c_parser_declines_anything_unusual(text: bytes, why: str) -> None:
    assert _native(text) is None, why
    try:
        python = _python(text.decode("utf-8"))
    except UnicodeDecodeError:
        return  # parse_index reports it; parse_records takes text
    if not isinstance(python, str):  # legal but unusual: Python gives the records
        assert python


@pytest.mark.parametrize(
    ("text", "field", "want"),
    [
        (b"S:007\n", "size", 7),
        (b"S:" + b"9" * 18 + b"\n", "size", 10**18 - 1),
        (b"t:0\n", "build_time", 0),
        (b"", "build_time", None),
        (b"", "size", 0),
        (b"k:100\n", "provider_priority", 100),
        (b"D:  a   b \n", "depends", ("a", "b")),
        (b"D:\n", "depends", ()),
        (b"i:\n", "install_if", ()),
        (b"D:a\tb\n", "depends", ("a", "b")),
        (b"D:a\xe2\x80\x83b\n", "depends", ("a", "b")),  # U+2003 EM SPACE splits, as str.split
        (b"D:a\xc2\xa0b\n", "depends", ("a", "b")),  # U+00A0 too
        (b"D:caf\xc3\xa9 b\n", "depends", ("caf\u00e9", "b")),
        (b"T:caf\xc3\xa9\n", "description", "caf\u00e9"),
        (b"T:\n", "description", ""),
        (b"T:a\rb\x00c\n", "description", "a\rb\x00c"),
        (b"m:" + b"y" * 100 + b"\n", "maintainer", "y" * 100),  # too long to cache
        (b"D:" + b"a " * 300 + b"\n", "depends", ("a",) * 300),  # more words than it keeps
    ],
)
def test_the_c_parser_reads_each_value_as_python_does(
    text: bytes, field: str, want: object
) -> None:
    data = b"C:Q1x=\nP:foo\nV:1\n" + text + b"\n"
    (got,) = _native(data) or ()
    assert getattr(got, field) == want
    _same(data)


def test_blank_lines_and_a_missing_final_newline_are_the_python_parsers_too() -> None:
    for data in (
        b"",
        b"\n\n\n",
        b"C:Q1x=\nP:a\nV:1",
        b"C:Q1x=\nP:a\nV:1\n",
        b"\n\nC:Q1x=\nP:a\nV:1\n\n\n\nC:Q1y=\nP:b\nV:2\n\n",
    ):
        _same(data)
        assert _native(data) is not None


def test_equal_values_share_one_str_and_unique_checksums_do_not() -> None:
    text = b"".join(
        b"C:Q1%d=\nP:p%d\nV:1\nA:x86_64\nD:so:libc.musl-x86_64.so.1\n\n" % (n, n) for n in range(3)
    )
    first, second, third = _native(text) or ()
    assert first.arch is second.arch is third.arch
    assert first.depends[0] is third.depends[0]
    assert first.checksum != second.checksum


_KEYS = "CPVASITULomtckDpir"
_VALUE = st.text(
    alphabet=st.sampled_from(["a", "1", "0", " ", ":", ">", "=", "\t", "\u2003", "\u00e9", "\r"]),
    max_size=12,
)


@st.composite
def _record_lines(draw: st.DrawFn) -> list[str]:
    keys = draw(st.lists(st.sampled_from([*_KEYS, "Z", "x"]), max_size=8))
    keys = draw(st.permutations(["C", "P", "V", *keys]))
    return [f"{key}:{draw(_VALUE)}" for key in keys]


@settings(max_examples=400, deadline=None)
@given(st.lists(_record_lines(), max_size=6), st.sampled_from(["\n", "\n\n", "\n\n\n"]))
def test_generated_records_in_any_order_parse_the_same(records: list[list[str]], gap: str) -> None:
    _same(gap.join("\n".join(lines) for lines in records).encode())


@settings(max_examples=200, deadline=None)
@given(st.lists(_record_lines(), min_size=1, max_size=4))
def test_well_formed_records_are_accepted_not_declined(records: list[list[str]]) -> None:
    """Records as writers make them (known keys, once each, numbers as digits, C P V set)
    are the C parser's to read, in any field order."""
    good = []
    for lines in records:
        fields: dict[str, str] = {}
        for line in lines:
            key, value = line[0], line[2:]
            if key in "Zx" or key in fields:
                continue
            kind = index_records._FIELDS[key][1]
            if kind in ("int", "opt_int"):
                value = str(len(value))
            elif key in "CPV":
                value = value.strip() or "v"
            fields[key] = value
        good.append("".join(f"{k}:{v}\n" for k, v in fields.items()) + "\n")
    data = "".join(good).encode()
    assert _native(data) is not None
    _same(data)


def _damaged(data: bytes, rng: random.Random) -> bytes:
    cut = rng.randrange(len(data))
    action = rng.randrange(4)
    if action == 0:
        return data[:cut]
    if action == 1:
        return data[:cut] + bytes([rng.randrange(256)]) + data[cut + 1 :]
    if action == 2:
        return data[:cut] + rng.choice([b"\n", b":", b"\n\n", b"\xc3", b" ", b"\t"]) + data[cut:]
    return data[:cut] + data[cut + rng.randrange(1, 40) :]


def test_damaged_alpine_text_is_declined_or_parsed_as_python_does() -> None:
    index = parse_index(
        (FIXTURES / "alpine-3.17-main-aarch64" / "APKINDEX.tar.gz").read_bytes(),
        where="alpine",
        keyring=None,
        allow_untrusted=True,
    )
    rng = random.Random(20261123)
    records = list(index.records)
    for _ in range(300):
        start = rng.randrange(len(records) - 3)
        data = "".join(map(render_record, records[start : start + 3])).encode()
        for _ in range(rng.randrange(1, 4)):
            data = _damaged(data, rng) or b"\n"
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            assert _native(data) is None
            continue
        _same(data)


def test_parsing_leaks_nothing() -> None:
    data = (FIXTURES / "wolfi" / "x86_64" / "APKINDEX.tar.gz").read_bytes()
    text = "".join(
        map(render_record, parse_index(data, where="w", keyring=None, allow_untrusted=True).records)
    ).encode()
    declined = text + b"Z:x\n\n"

    def blocks_after(rounds: int) -> int:
        for _ in range(rounds):
            _native(text)
            _native(declined)
        gc.collect()
        return sys.getallocatedblocks()

    blocks_after(20)  # warm caches
    before = blocks_after(1)
    assert blocks_after(200) - before < 50


class _SubRecord(IndexRecord):
    __slots__ = ()


@pytest.mark.parametrize(
    ("args", "error"),
    [
        ((IndexRecord, "CP", "0", ("checksum", "name", "extra"), "C", "C"), ValueError),
        ((IndexRecord, "C", "0", ("nope", "extra"), "C", "C"), AttributeError),
        ((IndexRecord, "C", "0", ("filename", "extra"), "C", "C"), TypeError),
        ((IndexRecord, "C", "9", ("checksum", "extra"), "C", "C"), ValueError),
        ((IndexRecord, "CC", "00", ("checksum", "name", "extra"), "C", "C"), ValueError),
        ((int, "C", "0", ("real", "extra"), "C", "C"), TypeError),
        ((IndexRecord, "CP", "00", ("name", "name", "extra"), "C", "C"), ValueError),
        ((_SubRecord, "C", "0", ("checksum", "extra"), "C", "C"), TypeError),  # not its slot
    ],
)
def test_a_bad_layout_is_refused(args: tuple[object, ...], error: type[Exception]) -> None:
    with pytest.raises(error):
        native.layout(*args)  # type: ignore[arg-type]


def test_parse_wants_a_layout_and_immutable_bytes() -> None:
    with pytest.raises(ValueError, match="PyCapsule"):
        native.parse(object(), b"")  # type: ignore[arg-type]
    good = b"C:Q1x=\nP:a\nV:1\n\n"
    for other in ("text", bytearray(good), memoryview(good)):
        with pytest.raises(TypeError):
            native.parse(index_records._NATIVE, other)  # type: ignore[arg-type]


def test_text_with_a_lone_surrogate_goes_to_the_python_parser() -> None:
    text = "C:Q1x=\nP:a\nV:1\nT:\udc80\n\n"
    assert _python(text) == parse_records(text, where="x")
    assert parse_records(text, where="x")[0].description == "\udc80"
