"""Cross-arch restrictions from flat columns equal those from full version maps."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from buildkit.apk.index import ApkIndex, IndexRecord
from buildkit.resolve import RepoSource
from buildkit.resolve.arch_consistency import restrictions_from_columns, version_columns
from tests.helpers.arch_restrictions import restrictions

_RECORDS = st.lists(
    st.tuples(st.sampled_from("abcdef"), st.sampled_from(["1.0", "1.1", "2.0"])), max_size=12
)


@given(st.dictionaries(st.sampled_from(["x86_64", "aarch64", "riscv64"]), _RECORDS, min_size=2))
def test_columns_give_the_same_restrictions_as_version_maps(
    per_arch: dict[str, list[tuple[str, str]]],
) -> None:
    columns = {
        arch: ([name for name, _v in records], [version for _n, version in records])
        for arch, records in per_arch.items()
    }
    maps = {
        arch: {name: frozenset(v for n, v in records if n == name) for name, _v in records}
        for arch, records in per_arch.items()
    }
    assert restrictions_from_columns(columns) == restrictions(maps)


def _source(arch: str, pairs: list[tuple[str, str]]) -> RepoSource:
    records = tuple(
        IndexRecord(checksum="Q1", name=n, version=v, arch=arch, size=1, installed_size=1)
        for n, v in pairs
    )
    index = ApkIndex(records=records, description="", signers=())
    return RepoSource(name="r", arch=arch, tag=None, index=index)


def test_each_arch_is_narrowed_to_the_versions_every_arch_having_the_name_offers() -> None:
    sources = {
        "x86_64": [_source("x86_64", [("a", "1"), ("a", "2"), ("b", "1"), ("c", "1")])],
        "aarch64": [_source("aarch64", [("a", "2"), ("b", "2"), ("d", "1")])],
        "riscv64": [_source("riscv64", [("a", "2"), ("a", "3"), ("d", "1")])],
    }
    columns = {arch: version_columns(found) for arch, found in sources.items()}
    assert restrictions_from_columns(columns) == {
        "x86_64": {"a": frozenset({"2"}), "b": frozenset()},
        "aarch64": {"b": frozenset()},
        "riscv64": {"a": frozenset({"2"})},
    }


def test_names_on_one_arch_only_and_equal_version_sets_are_not_narrowed() -> None:
    sources = {
        "x86_64": [_source("x86_64", [("a", "1-r0"), ("a", "2-r0"), ("b", "1-r0"), ("x", "1")])],
        "aarch64": [_source("aarch64", [("a", "1-r0"), ("b", "2-r0")])],
    }
    columns = {arch: version_columns(found) for arch, found in sources.items()}
    assert restrictions_from_columns(columns) == {
        "x86_64": {"a": frozenset({"1-r0"}), "b": frozenset()},
        "aarch64": {"b": frozenset()},
    }
