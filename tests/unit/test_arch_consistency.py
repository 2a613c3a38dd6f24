"""Cross-arch restrictions from flat columns equal those from full version maps."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from buildkit.resolve.arch_consistency import restrictions_from_columns
from buildkit.usecases.locking import restrictions

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
