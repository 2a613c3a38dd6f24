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

from buildkit.resolve.universe import Pkg, Universe

Semantics = str  # "apko" (default) or "apk-tools"
SEMANTICS = ("apko", "apk-tools")

_SPLIT = re.compile(r"[<>=~]+")


Edge = tuple[str, str]  # (the dependency's name as written, the selected package filling it)


class ApkoWalk:
    """apko's dependency walk, only to learn what each request's closure holds.

    apko remembers, across requests, every package whose dependencies it has walked (and the
    versioned names it provides); a dependency on such a name is skipped without descending.
    So a request's closure holds what its walk reached, not everything it depends on.
    """

    def __init__(self, edges: Mapping[str, Sequence[Edge]], provides: Mapping[str, Sequence[str]]):
        self.edges = edges  # package -> its dependencies in apko's visiting order
        self.provides = provides  # package -> its versioned provided names
        self.selected: set[str] = set()

    def closure(self, root: str) -> set[str]:
        """The packages the walk from ``root`` reaches (``root`` itself excluded)."""
        reached: set[str] = set()
        stack: list[tuple[str, frozenset[str], int]] = [(root, frozenset(), 0)]
        while stack:  # depth first, without recursion
            pkg, parents, position = stack.pop()
            if pkg in parents:
                continue
            edges = self.edges.get(pkg, ())
            while position < len(edges):
                name, target = edges[position]
                position += 1
                if name in self.selected:
                    continue
                self.selected.add(pkg)
                self.selected.update(self.provides.get(pkg, ()))
                reached.add(target)
                stack.append((pkg, parents, position))
                stack.append((target, parents | {pkg}, 0))
                break
        reached.discard(root)
        return reached


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
    walk: ApkoWalk,
    selection: Mapping[str, Pkg],
    universe: Universe,
) -> list[Pkg]:
    """The packages apko installs for the request ``root`` through their install_if, by name."""
    names = walk.closure(root)
    found = {name: selection[name] for name in names if name in selection}
    chosen: dict[str, Pkg] = {}
    for name in sorted(found):
        for pkg in universe.install_if.get(name, ()):
            if pkg.name in found or pkg.name in chosen or pkg.name == root:
                continue
            entries = pkg.record.install_if
            if entries and all(_matches(entry, found) for entry in entries):
                chosen[pkg.name] = pkg
    return [chosen[name] for name in sorted(chosen)]
