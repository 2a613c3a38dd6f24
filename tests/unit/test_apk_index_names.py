"""buildkit.apk.index_names: the compiled name index answers as the Python maps do.

The resolver looks packages up through these answers, so a difference would change
resolutions: the contract pinned here is equality (the same positions in the same order, the
same absences) on the real fixture indexes, on generated records with awkward provides and
install_if atoms (operators, "!", non-ASCII, empty texts), and over several indexes numbered
one after the other.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from buildkit.apk import index_names as names_module
from buildkit.apk.index import IndexRecord, parse_index
from buildkit.apk.index_names import NameIndex, atom_name
from tests.helpers.paths import FIXTURES

ARCH = "x86_64"
ACCEPTED = frozenset((ARCH, "noarch", ""))
ABSENT = ("", "!", "=", "nope", "so:nope.so.1", "a=1", "é")


def _record(name: str = "p", arch: str = ARCH, **fields: tuple[str, ...]) -> IndexRecord:
    return IndexRecord(
        checksum="Q1", name=name, version="1", arch=arch, size=1, installed_size=1, **fields
    )


def _same(
    records: list[IndexRecord], *, first: int = 0, accepted: frozenset[str] = ACCEPTED
) -> tuple[dict[str, list[int]], dict[str, list[int]]]:
    """The Python maps, after checking that the compiled index answers every name alike."""
    compiled = NameIndex(records, accepted, first=first)
    assert compiled.compiled
    python = NameIndex(records, accepted, first=first, native=False)
    providers, install_if = python.maps()
    for name in [*providers, *install_if, *ABSENT]:
        assert compiled.providers(name) == providers.get(name), name
        assert compiled.install_if(name) == install_if.get(name), name
    assert compiled.maps() == python.maps()
    return providers, install_if


def test_the_compiled_index_is_built_and_in_use() -> None:
    # CI has a C compiler: without it the Python maps serve, silently slower.
    assert names_module.compiled(), "rebuild buildkit/apk/_native_index.c (pip install -e .)"


@pytest.mark.parametrize(
    "path", sorted(FIXTURES.rglob("APKINDEX.tar.gz")), ids=lambda p: str(p.parent.name)
)
def test_compiled_lookups_equal_the_python_maps_on_the_fixture_indexes(path: Path) -> None:
    index = parse_index(path.read_bytes(), where=str(path), keyring=None, allow_untrusted=True)
    records = list(index.records)
    arch = records[0].arch
    providers, _ = _same(records, first=7, accepted=frozenset((arch, "noarch", "")))
    assert len(providers) > len(records) / 2  # not vacuous
    assert all(positions == sorted(positions) for positions in providers.values())


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("so:libz.so.1", "so:libz.so.1"),
        ("!so:libz.so.1>=1", "so:libz.so.1"),
        ("kmod=30-r1", "kmod"),
        ("docs@tag", "docs"),
        ("!", "!"),  # the regex backtracks: "!" is then the name
        ("!=1", "!"),
        ("!!x", "!x"),
        ("=1", "=1"),  # no name at all: the text itself
        ("", ""),
        ("ü~1", "ü"),
    ],
)
def test_install_if_atoms_are_listed_under_the_name_the_regex_gives(text: str, name: str) -> None:
    assert atom_name(text) == name
    _providers, install_if = _same([_record(install_if=(text,))])
    assert install_if == {name: [0]}


def test_a_provide_of_the_own_name_is_not_listed_twice_but_repeats_are() -> None:
    record = _record(name="a", provides=("a=2", "so:x=1", "so:x=2", "cmd:a"))
    providers, _ = _same([_record(arch="aarch64"), record], first=3)
    assert providers == {"a": [4], "so:x": [4, 4], "cmd:a": [4]}


_TEXT = st.text(alphabet=st.sampled_from("ab!=<>~@:.é\u20ac\U0001f600 "), max_size=8)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["a", "b", "so:a", "", "é"]),
            st.sampled_from([ARCH, "noarch", "", "aarch64"]),
            st.lists(_TEXT, max_size=4),
            st.lists(_TEXT, max_size=3),
        ),
        max_size=12,
    ),
    st.integers(min_value=0, max_value=1000),
)
def test_compiled_lookups_equal_the_python_maps_on_generated_records(
    rows: list[tuple[str, str, list[str], list[str]]], first: int
) -> None:
    records = [
        _record(name=name, arch=arch, provides=tuple(provides), install_if=tuple(install_if))
        for name, arch, provides, install_if in rows
    ]
    _same(records, first=first)


def test_the_compiled_index_keeps_its_own_copy_of_a_record_list() -> None:
    records = [_record(name="a"), _record(name="b")]
    index = NameIndex(records, ACCEPTED)
    records.clear()  # positions stay valid: the index does not read the caller's list
    assert index.providers("b") == [1]
