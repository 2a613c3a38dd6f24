"""Reference implementations of cross-arch consistency over full version maps.

Production computes the restrictions from flat columns
(:func:`buildkit.resolve.arch_consistency.restrictions_from_columns`); these are the plain
definitions the tests compare it with.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import combinations

from buildkit.resolve import RepoSource
from buildkit.resolve.arch_consistency import VersionMap


def version_map(sources: Sequence[RepoSource]) -> VersionMap:
    """Every package name in ``sources`` with the versions they offer."""
    found: dict[str, set[str]] = {}
    for source in sources:
        for record in source.index.records:
            found.setdefault(record.name, set()).add(record.version)
    return {name: frozenset(versions) for name, versions in found.items()}


def restrictions(per_arch: Mapping[str, VersionMap]) -> dict[str, VersionMap]:
    """Cross-arch consistency as ``allowed_versions`` for each arch.

    The versions a name may take are those present on every arch having it (what
    :func:`common_versions` computes from whole indexes). An entry only matters
    where that is fewer than the arch offers, so only those are returned: few or none, where
    the full map has a Wolfi-sized 200k names. Works on version maps, which are cheap to
    send between processes, with set operations over dict views (no Python loop per name).
    """
    maps = list(per_arch.values())
    uneven: set[str] = set()
    for first, second in combinations(maps, 2):
        same = {name for name, _versions in first.items() & second.items()}
        uneven |= (first.keys() & second.keys()) - same
    result: dict[str, VersionMap] = {arch: {} for arch in per_arch}
    for name in sorted(uneven):
        shared = frozenset.intersection(*(found[name] for found in maps if name in found))
        for arch, own in per_arch.items():
            if name in own and own[name] != shared:
                result[arch][name] = shared
    return result


def common_versions(
    per_arch_sources: Mapping[str, Sequence[RepoSource]],
) -> dict[str, frozenset[str]]:
    """For each package name present on 2+ archs, the versions present on every arch having it.

    apko resolves each arch on its own, so versions can differ between archs; passing this as
    ``allowed_versions`` keeps one version of each package across all the archs of an image.
    """
    per_arch: dict[str, dict[str, set[str]]] = {}
    for arch, sources in per_arch_sources.items():
        names = per_arch.setdefault(arch, {})
        for source in sources:
            for record in source.index.records:
                names.setdefault(record.name, set()).add(record.version)
    result: dict[str, frozenset[str]] = {}
    all_names = sorted({name for names in per_arch.values() for name in names})
    for name in all_names:
        found = [names[name] for names in per_arch.values() if name in names]
        if len(found) >= 2:
            result[name] = frozenset(set.intersection(*found))
    return result
