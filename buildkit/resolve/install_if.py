"""install_if as apko applies it (the default), next to apk-tools' rule (``semantics="apk-tools"``).

apko (v1.2.39, pkg/apk/apk/repo.go ``GetPackageWithDependencies``) decides install_if once per
*requested* package, over that package's own dependency closure (the request itself excluded):
a package joins when every one of its ``i:`` entries matches a package of that closure, by name
(``docs``) or by name and exact version (``zlib=1.2.13-r0``; an operator other than ``=`` is
read as ``=``). Provided names do not match, packages triggered this way bring no dependencies
of their own, and they are installed just before the request, after its dependencies. So
``openrc`` and ``py3-gpep517`` requested together do not pull ``ssl_client`` (``busybox`` and
``libssl3`` are in two different closures), while apk-tools would add it.

Where apko's choice depends on Go map iteration (several install_if packages for one request,
chains of install_if), buildkit picks a stable answer: by name, no chains.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import NamedTuple

from buildkit.resolve.universe import Pkg, Universe

Semantics = str  # "apko" (default) or "apk-tools"
SEMANTICS = ("apko", "apk-tools")

_SPLIT = re.compile(r"[<>=~]+")


class Edge(NamedTuple):
    """One dependency of a selected package, as apko's walk meets it."""

    name: str  # the name depended on
    target: str  # the selected package filling it
    candidates: tuple[Pkg, ...]  # a virtual name's eligible providers best first, else ()
    candidates_left: int  # how many packages could fill it (apko walks the fewest first)
    text: str  # the dependency as written (ties between equal counts)


class ApkoWalk:
    """apko's dependency walk over a finished selection, to learn what apko would decide.

    apko remembers, across requests, every package whose dependencies it has walked (and the
    versioned names it provides); a dependency on such a name is skipped without descending.
    So a request's closure holds what its walk reached, not everything it depends on. While
    walking it also knows the packages placed so far ("existing") and their origins, and a
    virtual name's provider is chosen preferring those: :attr:`mismatches` collects virtual
    names whose provider in the selection is not the one apko would take at that point.
    """

    def __init__(
        self,
        edges: Mapping[str, Sequence[Edge]],
        provides: Mapping[str, Sequence[str]],
        selection: Mapping[str, Pkg],
        requests: Sequence[str],
    ) -> None:
        self.edges = edges  # package -> its dependencies in apko's visiting order
        self.provides = provides  # package -> its versioned provided names
        self.selection = selection
        self.selected: set[str] = set()
        self.known: set[str] = set(requests)  # apko's dependenciesMap
        # Names a chosen package provides with a version: apko disqualifies every other
        # provider of them, so a dependency on one has a single candidate left.
        self.claimed: set[str] = set()
        for name in requests:
            self.claimed.update(provides.get(name, ()))
        self.mismatches: dict[str, str] = {}

    def dependencies(self, root: str) -> list[str]:
        """What apko lists for the request ``root``: the packages its walk reaches, each
        after what it depends on (a package may repeat; the first place counts)."""
        existing = set(self.known)
        origins = self._origins(existing)
        reached = self._walk(root, frozenset(), existing, origins)
        self.known.update(reached)
        self.known.add(root)
        return reached

    def add(self, names: Sequence[str]) -> None:
        """Packages apko placed besides the walk (install_if): known to later requests."""
        self.known.update(names)

    def _origins(self, names: set[str]) -> dict[str, str]:
        found = {}
        for name in names:
            pkg = self.selection.get(name)
            if pkg is not None and pkg.record.origin:
                found[pkg.record.origin] = pkg.record.version
        return found

    def _walk(
        self, pkg: str, parents: frozenset[str], existing: set[str], origins: dict[str, str]
    ) -> list[str]:
        if pkg in parents:
            return []
        reached: list[str] = []
        pending = list(self.edges.get(pkg, ()))
        while pending:
            pending = [edge for edge in pending if edge.name not in self.selected]
            if not pending:
                break
            edge = min(pending, key=self._rank)
            pending.remove(edge)
            name, target, candidates = edge.name, edge.target, edge.candidates
            self.claimed.update(self.provides.get(target, ()))
            if candidates:
                choice = self._prefer(candidates, existing, origins)
                if choice != target:
                    self.mismatches.setdefault(name, choice)
            self.selected.add(pkg)
            self.selected.update(self.provides.get(pkg, ()))
            below = self._walk(target, parents | {pkg}, existing, origins)
            reached.extend(below)
            reached.append(target)
            for found in below:
                existing.add(found)
                origin = self.selection[found].record.origin if found in self.selection else ""
                if origin:
                    origins[origin] = self.selection[found].record.version
        return reached

    def _rank(self, edge: Edge) -> tuple[int, str]:
        return (1 if edge.name in self.claimed else edge.candidates_left, edge.text)

    def _prefer(
        self, candidates: Sequence[Pkg], existing: set[str], origins: Mapping[str, str]
    ) -> str:
        """apko's pick: a package already placed, then one of a placed origin at that
        version, then the resolver's own order (version, priority, name)."""

        def rank(pkg: Pkg) -> tuple[bool, bool]:
            placed = pkg.name in existing and self.selection.get(pkg.name) is pkg
            origin = pkg.record.origin
            pulled = bool(origin) and origins.get(origin) == pkg.record.version
            return (not placed, not pulled)

        return min(candidates, key=rank).name  # min keeps the first of equals


def _matches(entry: str, found: Mapping[str, Pkg]) -> bool:
    if entry in found:
        return True
    parts = _SPLIT.split(entry, maxsplit=1)
    if len(parts) != 2:
        return False
    name, version = parts
    pkg = found.get(name)
    return pkg is not None and pkg.record.version == version


def triggered_by(
    root: str,
    reached: Sequence[str],
    selection: Mapping[str, Pkg],
    universe: Universe,
) -> list[Pkg]:
    """The packages apko installs for the request ``root`` through their install_if.

    For each package the walk reached (by name here; apko iterates a Go map), the install_if
    packages listing its name, or if none does its ``name=version``, in index order."""
    found = {name: selection[name] for name in reached if name in selection and name != root}
    chosen: dict[str, Pkg] = {}
    for name in sorted(found):
        listed = universe.install_if.get(name, ())
        exact = f"{name}={found[name].record.version}"
        by_name = [pkg for pkg in listed if name in pkg.record.install_if]
        keyed = by_name or [pkg for pkg in listed if exact in pkg.record.install_if]
        for pkg in keyed:
            if pkg.name in found or pkg.name in chosen:
                continue
            entries = pkg.record.install_if
            if entries and all(_matches(entry, found) for entry in entries):
                chosen[pkg.name] = pkg
    return list(chosen.values())
