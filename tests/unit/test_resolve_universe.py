"""buildkit.resolve.universe: the index maps a resolution uses, cached per set of sources."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator
from dataclasses import fields, replace

import pytest

from buildkit.apk.index import IndexRecord
from buildkit.resolve import resolve
from buildkit.resolve.universe import (
    Universe,
    clear_universe_cache,
    universe_for,
)
from tests.helpers.resolve_sources import ARCH, make_record, make_sources, names
from tests.helpers.universe import cached_universes

ONE_PACKAGE = [{"name": "main", "tag": None, "packages": [{"name": "a", "version": "1-r0"}]}]


@pytest.fixture
def empty_cache() -> Iterator[None]:
    clear_universe_cache()
    yield
    clear_universe_cache()


def test_repeated_resolution_reuses_the_index_maps(empty_cache: None) -> None:
    sources = make_sources(ONE_PACKAGE)
    first, second = universe_for(sources, ARCH), universe_for(list(sources), ARCH)
    assert first.providers is second.providers
    assert universe_for(make_sources(ONE_PACKAGE), ARCH).providers is not first.providers


def test_universe_holds_the_callers_own_sources(empty_cache: None) -> None:
    sources = make_sources(ONE_PACKAGE)
    universe_for(sources, ARCH)
    again = [replace(sources[0])]  # equal, same index object, another RepoSource
    (result,) = resolve(["a"], again, arch=ARCH)
    assert result.source is again[0]


class TracedRecord(IndexRecord):
    """An IndexRecord that can be weakly referenced (IndexRecord has slots)."""


def test_cached_maps_go_when_the_caller_drops_its_indexes(empty_cache: None) -> None:
    traced = TracedRecord(
        **{
            f.name: getattr(make_record("main", {"name": "a", "version": "1-r0"}), f.name)
            for f in fields(IndexRecord)
        }
    )
    (source,) = make_sources(ONE_PACKAGE)
    sources = [replace(source, index=replace(source.index, records=(traced,)))]
    record = weakref.ref(traced)
    del traced, source
    resolve(["a"], sources, arch=ARCH)
    assert cached_universes() == 1
    del sources
    gc.collect()
    assert cached_universes() == 0
    assert record() is None  # nothing kept the records alive


def test_the_cache_is_bounded_and_can_be_cleared(empty_cache: None) -> None:
    kept = [make_sources(ONE_PACKAGE) for _ in range(10)]
    for sources in kept:
        universe_for(sources, ARCH)
    assert 1 <= cached_universes() < len(kept)
    clear_universe_cache()
    assert cached_universes() == 0


def test_a_universe_passed_in_is_used_instead_of_the_cache(empty_cache: None) -> None:
    sources = make_sources(ONE_PACKAGE)
    universe = Universe(sources, ARCH)
    assert names(resolve(["a"], sources, arch=ARCH, universe=universe)) == ["a=1-r0"]
    assert cached_universes() == 0
    with pytest.raises(ValueError, match="universe of x86_64"):
        resolve(["a"], sources, arch="aarch64", universe=universe)
