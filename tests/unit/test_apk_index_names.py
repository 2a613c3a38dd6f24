"""buildkit.apk.index_names: the compiled name maps equal the Python loop's, on every input.

The resolver looks packages up through these maps, so a difference would change resolutions:
the contract pinned here is equality (same keys, same positions in the same order) on the real
fixture indexes, on generated records with awkward provides and install_if atoms, and the
same errors for values of the wrong type.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from buildkit.apk import index_names as names_module
from buildkit.apk.index import IndexRecord, parse_index
from buildkit.apk.index_names import Positions, atom_name, index_names
from tests.helpers.paths import FIXTURES

ARCH = "x86_64"
ACCEPTED = frozenset((ARCH, "noarch", ""))


def _maps(
    records: list[IndexRecord], accepted: frozenset[str], *, native: bool, first: int
) -> tuple[Positions, ...]:
    providers: Positions = {}
    install_if: Positions = {}
    index_names(
        records, accepted, first=first, providers=providers, install_if=install_if, native=native
    )
    return providers, install_if


def _same(
    records: list[IndexRecord], first: int = 0, accepted: frozenset[str] = ACCEPTED
) -> tuple[Positions, ...]:
    compiled = _maps(records, accepted, native=True, first=first)
    python = _maps(records, accepted, native=False, first=first)
    assert compiled == python
    for a, b in zip(compiled, python, strict=True):
        assert list(a) == list(b)  # the same key order too (what iteration sees)
    return compiled


def test_the_compiled_loop_is_built_and_in_use() -> None:
    # CI has a C compiler: without the function the Python loop serves, silently slower.
    assert names_module.compiled(), "rebuild buildkit/apk/_native_index.c (pip install -e .)"


@pytest.mark.parametrize(
    "path", sorted(FIXTURES.rglob("APKINDEX.tar.gz")), ids=lambda p: str(p.parent.name)
)
def test_compiled_maps_equal_the_python_loop_on_the_fixture_indexes(path: Path) -> None:
    records = list(
        parse_index(path.read_bytes(), where=str(path), keyring=None, allow_untrusted=True).records
    )
    arch = records[0].arch
    providers, install_if = _same(records, first=7, accepted=frozenset((arch, "noarch", "")))
    assert providers  # not vacuous
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
def test_atom_name_as_the_regex_gives_it(text: str, name: str) -> None:
    assert atom_name(text) == name
    record = IndexRecord(
        checksum="Q1",
        name="p",
        version="1",
        arch=ARCH,
        size=1,
        installed_size=1,
        install_if=(text,),
    )
    _providers, install_if = _same([record])
    assert install_if == {name: [0]}


_TEXT = st.text(alphabet=st.sampled_from("ab!=<>~@:.é\u20ac\U0001f600 "), max_size=8)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["a", "b", "so:a", ""]),
            st.sampled_from([ARCH, "noarch", "", "aarch64"]),
            st.lists(_TEXT, max_size=4),
            st.lists(_TEXT, max_size=3),
        ),
        max_size=12,
    ),
    st.integers(min_value=0, max_value=1000),
)
def test_compiled_maps_equal_the_python_loop_on_generated_records(
    rows: list[tuple[str, str, list[str], list[str]]], first: int
) -> None:
    records = [
        IndexRecord(
            checksum="Q1",
            name=name,
            version="1",
            arch=arch,
            size=1,
            installed_size=1,
            provides=tuple(provides),
            install_if=tuple(install_if),
        )
        for name, arch, provides, install_if in rows
    ]
    _same(records, first=first)


def test_maps_already_holding_names_are_extended_in_order() -> None:
    one = IndexRecord(checksum="Q1", name="a", version="1", arch=ARCH, size=1, installed_size=1)
    for native in (True, False):
        providers: Positions = {"a": [0]}
        index_names([one], ACCEPTED, first=5, providers=providers, install_if={}, native=native)
        assert providers == {"a": [0, 5]}


def test_a_map_value_that_is_not_a_list_is_an_error_either_way() -> None:
    one = IndexRecord(checksum="Q1", name="a", version="1", arch=ARCH, size=1, installed_size=1)
    with pytest.raises((TypeError, AttributeError)):
        index_names([one], ACCEPTED, providers={"a": ()}, install_if={}, native=False)  # type: ignore[dict-item]
    with pytest.raises(TypeError):
        index_names([one], ACCEPTED, providers={"a": ()}, install_if={}, native=True)  # type: ignore[dict-item]
