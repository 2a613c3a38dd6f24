"""Cross-arch consistency from compact (name, version) columns instead of per-name maps.

``lock`` keeps one version of each package across the archs of a framework: a version may
only be chosen where every arch having that name offers it. The per-arch workers used to send
a full ``name -> frozenset(versions)`` map (200k entries for a Wolfi index): building it cost
each worker about 0.3 s and the parent another 0.2 s to pickle and compare. Here a worker
sends two flat columns, built at C speed, and the parent finds the few names whose version
sets differ with set operations, then looks only those up.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import combinations
from operator import attrgetter

from buildkit.resolve.model import RepoSource

Columns = tuple[list[str], list[str]]  # names, versions: one entry per index record
VersionMap = dict[str, frozenset[str]]

_NAME = attrgetter("name")
_VERSION = attrgetter("version")


def version_columns(sources: Sequence[RepoSource]) -> Columns:
    """Every record's name and version, in index order."""
    names: list[str] = []
    versions: list[str] = []
    for source in sources:
        records = source.index.records
        names.extend(map(_NAME, records))
        versions.extend(map(_VERSION, records))
    return names, versions


def restrictions_from_columns(per_arch: Mapping[str, Columns]) -> dict[str, VersionMap]:
    """For each arch, the names whose versions it must narrow, with the versions allowed:
    those present on every arch having the name (the same result as ``lock.restrictions``
    over full version maps)."""
    result: dict[str, VersionMap] = {arch: {} for arch in per_arch}
    columns = list(per_arch.values())
    if all(other == columns[0] for other in columns[1:]):
        return result  # the same records everywhere (compared at C speed): nothing to narrow
    pairs = {arch: set(zip(*columns, strict=True)) for arch, columns in per_arch.items()}
    names = {arch: set(columns[0]) for arch, columns in per_arch.items()}
    uneven: set[str] = set()
    for first, second in combinations(per_arch, 2):
        differing = {name for name, _version in pairs[first] ^ pairs[second]}
        uneven |= differing & names[first] & names[second]
    if not uneven:
        return result
    own: dict[str, dict[str, set[str]]] = {}
    for arch, (arch_names, arch_versions) in per_arch.items():
        found = own[arch] = {}
        for name, version in zip(arch_names, arch_versions, strict=True):
            if name in uneven:
                found.setdefault(name, set()).add(version)
    for name in sorted(uneven):
        having = [found[name] for found in own.values() if name in found]
        shared = frozenset(set.intersection(*having))
        for arch, found in own.items():
            if name in found and found[name] != shared:
                result[arch][name] = shared
    return result
