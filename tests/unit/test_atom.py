"""Dependency atoms ``[!]name[@tag][op version]`` as apk-tools 3 parses and matches them."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from buildkit.apk.atom import Atom, Op, parse_atom, parse_op, version_matches
from buildkit.errors import AtomError, VersionError
from tests.helpers.apk_versions import ALPINE_INDEX, WOLFI_INDEX, index_records, versions

CHECKSUM = "Q1tfjaxtgIGRBjOYGl6Pq3/hm8V2o="

# text -> (name, tag, op, version, conflict)
PARSED = [
    ("busybox", ("busybox", None, None, None, False)),
    ("so:libc.musl-x86_64.so.1", ("so:libc.musl-x86_64.so.1", None, None, None, False)),
    ("so:libstdc++.so.6", ("so:libstdc++.so.6", None, None, None, False)),
    ("cmd:hello=2.12-r0", ("cmd:hello", None, Op.EQ, "2.12-r0", False)),
    ("pc:zlib>=1.2.11", ("pc:zlib", None, Op.GE, "1.2.11", False)),
    ("/bin/sh", ("/bin/sh", None, None, None, False)),
    ("py3.11-foo<2", ("py3.11-foo", None, Op.LT, "2", False)),
    ("foo>1.0_rc1", ("foo", None, Op.GT, "1.0_rc1", False)),
    ("foo<=1.0-r3", ("foo", None, Op.LE, "1.0-r3", False)),
    ("tdb~1.4.6", ("tdb", None, Op.FUZZY, "1.4.6", False)),
    ("foo<~2", ("foo", None, Op.LT_FUZZY, "2", False)),
    ("foo@edge>~3.6", ("foo", "edge", Op.GT_FUZZY, "3.6", False)),
    (f"foo><{CHECKSUM}", ("foo", None, Op.CHECKSUM, CHECKSUM, False)),
    ("foo@local", ("foo", "local", None, None, False)),
    ("foo@local=1.0-r0", ("foo", "local", Op.EQ, "1.0-r0", False)),
    ("!foo", ("foo", None, None, None, True)),
    ("!foo<1.0", ("foo", None, Op.LT, "1.0", True)),
    ("!so:libfoo.so.1@testing", ("so:libfoo.so.1", "testing", None, None, True)),
    ("font[misc],x", ("font[misc],x", None, None, None, False)),
]

# apk builds the operator from its characters in any order; str() writes the canonical one.
SPELLINGS = [
    ("foo=<1", "foo<=1", Op.LE),
    ("foo=>1", "foo>=1", Op.GE),
    ("foo=~1", "foo~1", Op.FUZZY),
    ("foo~=1", "foo~1", Op.FUZZY),
    ("foo~<1", "foo<~1", Op.LT_FUZZY),
    ("foo=<~1", "foo<~1", Op.LT_FUZZY),
    ("foo~>1", "foo>~1", Op.GT_FUZZY),
    ("foo==1", "foo=1", Op.EQ),
    ("foo<<1", "foo<1", Op.LT),
    (f"foo<>{CHECKSUM}", f"foo><{CHECKSUM}", Op.CHECKSUM),
]

INVALID = [
    ("", "the name is empty"),
    ("!", "the name is empty"),
    ("=1.0", "the name is empty"),
    ("@edge", "the name is empty"),
    ("foo@", "the tag '' is empty"),
    ("foo@a@b", "the tag 'a@b'"),
    ("foo>=", "'>=' needs a version after it"),
    ("foo<>=1", "operator '<>=' allows every version"),
    ("foo<=>1.0", "operator '<=>' allows every version"),
    ("foo=1.x", "invalid version '1.x' at '.x'"),
    ("pc:librtmp=v2.4", "invalid version 'v2.4': it must start with a digit"),
    ("foo=1.0 bar", "unexpected character ' '"),
    ("foo bar", "the name 'foo bar' has characters apk does not allow"),
    ("perl(Foo)", "the name 'perl(Foo)' has characters"),
    ("!!foo", "the name '!foo' has characters"),
    ("foo=~1.x", "invalid version '1.x'"),
    ("foo><1.0", "'><' needs a package checksum (Q1...), not '1.0'"),
]

# (atom, version, expected): the version constraint alone; '!' does not negate it.
MATCHES = [
    ("foo", "1.0", True),
    ("foo=1.0", "1.0", True),
    ("foo=1.0", "01.0", True),
    ("foo=1.0", "1.0-r0", False),
    ("foo<1.0", "1.0_rc1", True),
    ("foo<1.0", "1.0", False),
    ("foo<=1.0", "1.0", True),
    ("foo>1.0", "1.0-r0", True),
    ("foo>1.0", "1.0", False),
    ("foo>=1.0", "0.9", False),
    ("foo>=1.0", "1.0a", True),
    ("foo~3.6", "3.6.9", True),
    ("foo~3.6", "3.6_rc1", True),
    ("foo~3.6", "3.60", False),
    ("foo~3.8.1", "3.8", False),
    ("foo<~3.6", "3.5", True),
    ("foo<~3.6", "3.6.9", True),  # above 3.6, but fuzzy-equal to it
    ("foo<~3.6", "3.7", False),
    ("foo>~3.6", "3.6_rc1", True),  # below 3.6, but fuzzy-equal to it
    ("foo>=3.6", "3.6_rc1", False),
    ("foo>~3.6", "3.5", False),
    ("!foo<2", "1", True),
    ("!foo<2", "3", False),
]


@pytest.mark.parametrize(("text", "fields"), PARSED)
def test_atoms_parse_into_their_parts(
    text: str, fields: tuple[str, str | None, Op | None, str | None, bool]
) -> None:
    atom = parse_atom(text)
    assert (atom.name, atom.tag, atom.op, atom.version, atom.conflict) == fields
    assert str(atom) == text
    assert parse_atom(str(atom)) == atom


@pytest.mark.parametrize(("text", "canonical", "op"), SPELLINGS)
def test_operator_spellings_are_canonicalised(text: str, canonical: str, op: Op) -> None:
    atom = parse_atom(text)
    assert atom.op is op
    assert str(atom) == canonical
    assert parse_atom(canonical) == atom


@pytest.mark.parametrize(("text", "fragment"), INVALID)
def test_invalid_atoms_name_the_atom_and_the_problem(text: str, fragment: str) -> None:
    with pytest.raises(AtomError) as caught:
        parse_atom(text)
    message = str(caught.value)
    assert message.startswith(f"invalid dependency {text!r}: ")
    assert fragment in message
    assert "\n" not in message
    assert "[!]name[@tag][op version]" in message


@pytest.mark.parametrize(("text", "version", "expected"), MATCHES)
def test_matches_checks_the_version_constraint(text: str, version: str, expected: bool) -> None:
    assert parse_atom(text).matches(version) is expected


def test_a_checksum_pin_matches_the_package_checksum_not_its_version() -> None:
    atom = parse_atom(f"foo><{CHECKSUM}")
    assert atom.matches("1.0", checksum=CHECKSUM)
    assert not atom.matches("1.0", checksum="Q1AAAAAAAAAAAAAAAAAAAAAAAAAAA=")
    assert not atom.matches(CHECKSUM)
    assert Op["ANY"] is Op.CHECKSUM  # the contract's first name for '><'


def test_matching_an_invalid_version_raises() -> None:
    with pytest.raises(VersionError):
        parse_atom("foo>=1.0").matches("1.x")


def test_atoms_built_directly_are_validated() -> None:
    assert str(Atom(name="foo", op=Op.GE, version="1.2", conflict=True)) == "!foo>=1.2"
    with pytest.raises(AtomError, match="an operator needs a version"):
        Atom(name="foo", op=Op.GE)
    with pytest.raises(AtomError, match="a version needs an operator"):
        Atom(name="foo", version="1.2")
    with pytest.raises(AtomError, match=r"invalid version '1\.2\.'"):
        Atom(name="foo", op=Op.EQ, version="1.2.")


@pytest.mark.parametrize(
    ("text", "op"),
    [
        ("=", Op.EQ),
        ("<", Op.LT),
        (">=", Op.GE),
        ("~", Op.FUZZY),
        ("=~", Op.FUZZY),
        (">~", Op.GT_FUZZY),
        ("><", Op.CHECKSUM),
        ("<>", Op.CHECKSUM),
    ],
)
def test_parse_op_accepts_apk_spellings(text: str, op: Op) -> None:
    assert parse_op(text) is op


@pytest.mark.parametrize(
    ("text", "fragment"),
    [("", "'' is not an operator"), ("!~", "is not an operator"), ("<>=", "allows every")],
)
def test_parse_op_rejects_non_operators(text: str, fragment: str) -> None:
    with pytest.raises(AtomError, match=fragment):
        parse_op(text)


def test_version_matches_refuses_checksum_pins() -> None:
    assert version_matches("1.2", Op.LT, "1.10")
    with pytest.raises(AtomError, match="checksum"):
        version_matches("1.2", Op.CHECKSUM, CHECKSUM)


def test_every_operator_has_one_canonical_member() -> None:
    assert [op.value for op in Op] == ["=", "<", ">", "<=", ">=", "~", "<~", ">~", "><"]


# --- real indexes -------------------------------------------------------------------------


def _index_atoms(path: object) -> set[str]:
    return {
        atom
        for record in index_records(path)  # type: ignore[arg-type]
        for field in ("D", "p", "i", "r")
        for atom in record.get(field, "").split()
    }


def test_alpine_index_atoms_parse_except_two_broken_provides() -> None:
    atoms = _index_atoms(ALPINE_INDEX)
    assert len(atoms) > 9000
    broken = set()
    for text in atoms:
        try:
            atom = parse_atom(text)
        except AtomError:
            broken.add(text)
        else:
            assert str(atom) == text
    # jemalloc-dev and rtmpdump-dev provide versions apk-tools 3 rejects.
    assert broken == {"pc:jemalloc=5.3.0_", "pc:librtmp=v2.4"}


def test_wolfi_index_atoms_all_parse_and_round_trip() -> None:
    for text in _index_atoms(WOLFI_INDEX):
        assert str(parse_atom(text)) == text


# --- properties ---------------------------------------------------------------------------

_NAMES = st.from_regex(r"[a-z0-9][a-z0-9+\-._]{0,8}", fullmatch=True) | st.sampled_from(
    ["so:libc.musl-x86_64.so.1", "cmd:hello", "pc:zlib", "/bin/sh", "py3.11-x"]
)
_TAGS = st.none() | st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,6}", fullmatch=True)
_CHECKSUMS = st.binary(min_size=20, max_size=20).map(
    lambda digest: "Q1" + base64.b64encode(digest).decode()
)


@st.composite
def atoms(draw: st.DrawFn) -> Atom:
    op = draw(st.none() | st.sampled_from(list(Op)))
    if op is None:
        version = None
    elif op is Op.CHECKSUM:
        version = draw(_CHECKSUMS)
    else:
        version = draw(versions())
    return Atom(
        name=draw(_NAMES), tag=draw(_TAGS), op=op, version=version, conflict=draw(st.booleans())
    )


@given(atoms())
def test_str_round_trips_through_parse_atom(atom: Atom) -> None:
    assert parse_atom(str(atom)) == atom


@given(versions(), versions())
def test_operators_agree_with_each_other(version: str, wanted: str) -> None:
    def holds(op: str) -> bool:
        return parse_atom(f"x{op}{wanted}").matches(version)

    assert holds("<=") == (holds("<") or holds("="))
    assert holds(">=") == (holds(">") or holds("="))
    assert [holds("<"), holds("="), holds(">")].count(True) == 1
    assert holds("<~") == (holds("<") or holds("~"))
    assert holds(">~") == (holds(">") or holds("~"))
    if holds("="):
        assert holds("~")
