"""Install order as apko writes it: depth first, dependencies before their dependents.

apko (v1.2.39, pkg/apk/apk/repo.go ``GetPackagesWithDependencies``) walks the world file
(the requests, sorted) in turn; for each package it places its dependencies depth first,
picking among the dependencies still open the one with the fewest candidate packages (ties
by the dependency's text), and then the package itself. A package is placed where it first
appears, and a dependency on a package still being walked (a cycle) is skipped. The caller
supplies each package's dependencies already in that visiting order (selection.py).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence


def install_order(
    deps: Mapping[str, Sequence[str]],
    roots: Sequence[str] | None = None,
    triggers: Mapping[str, Collection[str]] | None = None,
    extras: Mapping[str, Sequence[str]] | None = None,
) -> list[str]:
    """Every key of ``deps`` (name -> names it depends on, in visiting order), in order.

    Walks from each of ``roots`` in turn (default: every name, sorted); names never reached
    are walked last, by name. A package of ``triggers`` (install_if) is walked, by name, as
    soon as every name it triggers on is placed, and before the root whose dependencies
    completed them (apko appends them to that root's dependencies). ``extras``: per root,
    packages placed right after that root's dependencies and before the root itself (apko's
    install_if, see install_if.py), or when the root comes up if it was placed earlier.
    """
    placed: dict[str, None] = {}  # insertion-ordered set
    walking: set[str] = set()
    wanted = {name: set(names) for name, names in (triggers or {}).items() if name in deps}

    def walk(root: str, *, before: Callable[[], None] | None = None) -> None:
        if root not in deps or root in placed:
            return
        walking.add(root)
        stack = [(root, iter(deps[root]))]
        while stack:  # without recursion: dependency chains can be deep
            node, children = stack[-1]
            for child in children:
                if child in deps and child not in placed and child not in walking:
                    walking.add(child)
                    stack.append((child, iter(deps[child])))
                    break
            else:
                if node == root and before is not None:
                    before()
                stack.pop()
                walking.discard(node)
                placed[node] = None

    def settle() -> None:
        while True:  # an install_if package can trigger another one
            done = placed.keys()
            ready = sorted(n for n, needs in wanted.items() if n in done or needs <= done)
            if not ready:
                return
            for name in ready:
                del wanted[name]
                walk(name)

    def place_extras(root: str) -> None:
        for name in (extras or {}).get(root, ()):
            walk(name)

    def before_root(root: str) -> Callable[[], None]:
        def run() -> None:
            place_extras(root)
            settle()

        return run

    for root in sorted(deps) if roots is None else roots:
        walk(root, before=before_root(root))
        place_extras(root)
        settle()
    for name in sorted(deps):
        walk(name, before=settle)
        settle()
    return list(placed)
