"""A finished selection: what it offers, whether it holds together, and its install order."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from buildkit.apk.atom import Atom, parse_atom
from buildkit.errors import ResolveError
from buildkit.resolve.install_if import ApkoWalk, Edge
from buildkit.resolve.install_if import triggered_by as apko_install_if
from buildkit.resolve.order import install_order
from buildkit.resolve.provider import ApkProvider
from buildkit.resolve.terms import Virtual, answers, describe
from buildkit.resolve.universe import Pkg


class Offer:
    """Which selected packages answer to each name (own names and provides)."""

    def __init__(self, pkgs: Iterable[Pkg]) -> None:
        self.by_name: dict[str, list[Pkg]] = {}
        for pkg in pkgs:
            for name in dict.fromkeys(pkg.provided_names()):
                self.by_name.setdefault(name, []).append(pkg)

    def answering(self, atom: Atom) -> list[Pkg]:
        return [pkg for pkg in self.by_name.get(atom.name, ()) if answers(pkg, atom)]

    def satisfies(self, atom: Atom) -> bool:
        """A positive atom: something answers; a conflict atom: nothing does."""
        return bool(self.answering(atom)) != atom.conflict


def check(provider: ApkProvider, selection: Mapping[str, Pkg], context: str) -> None:
    """Re-verify apk's rules on the final selection.

    resolvelib enforces them for everything it saw; what it cannot see (a conflict with a
    name someone provides without a version, a name provided both with and without a
    version) is caught here rather than by apko at build time.
    """
    offer = Offer(selection.values())
    for pkg in sorted(selection.values(), key=lambda p: p.name):
        for atom in pkg.depends():
            others = [p for p in offer.answering(atom) if p is not pkg]
            if atom.conflict and others:
                target = str(atom).removeprefix("!")
                _fail(
                    f"{describe(pkg)} conflicts with {target},"
                    f" which {describe(others[0])} provides",
                    context,
                )
            if not atom.conflict and not answers(pkg, atom) and not others:
                _fail(f"{describe(pkg)} requires {atom}, which nothing selected provides", context)
    for name, pkgs in sorted(offer.by_name.items()):
        if len(pkgs) > 1 and any(p.provided(name) for p in pkgs):
            holders = " and ".join(describe(p) for p in sorted(pkgs, key=lambda p: p.name))
            _fail(f"{holders} both provide {name}", context)


def unsatisfied_virtuals(
    virtuals: Iterable[Virtual], selection: Mapping[str, Pkg]
) -> list[Virtual]:
    offer = Offer(selection.values())
    return [v for v in virtuals if not offer.satisfies(v.atom)]


def ordered_selection(
    provider: ApkProvider,
    selection: Mapping[str, Pkg],
    pins: Mapping[str, Pkg],
    requests: Sequence[str],
    *,
    semantics: str = "apko",
    mismatches: dict[str, str] | None = None,
) -> list[Pkg]:
    """The selection in apko's install order (see order.py): requests sorted, as apko
    writes them to /etc/apk/world; a package after what it depends on and triggers on.

    With apko's semantics, the install_if packages of each request join here (see
    install_if.py): they depend on the install order's dependency closures. Virtual names
    whose provider apko would choose differently go into ``mismatches`` (name -> package)."""
    selection = dict(selection)
    offer = Offer(selection.values())

    def target(atom: Atom) -> Pkg | None:
        answering = offer.answering(atom)
        if not answering:
            return None
        pinned = pins.get(provider.universe.ident_for(atom.name))
        return pinned if pinned in answering else min(answering, key=lambda p: p.name)

    deps: dict[str, list[str]] = {}
    triggers: dict[str, set[str]] = {}
    edges: dict[str, list[Edge]] = {}
    for pkg in selection.values():
        triggered_by = (
            [target(atom) for atom in pkg.install_if() if not atom.conflict]
            if semantics != "apko"
            else []  # apko: install_if entries are no dependencies
        )
        counted = _counted(provider, pkg)
        needed = [target(atom) for _count, _text, atom in counted]
        edges[pkg.name] = [
            Edge(a.name, t.name, _virtual_candidates(provider, pkg, a), count, text)
            for (count, text, a), t in zip(counted, needed, strict=True)
            if t
        ]
        deps[pkg.name] = [t.name for t in (*needed, *triggered_by) if t is not None]
        if semantics != "apko" and triggered_by and None not in triggered_by:
            triggers[pkg.name] = {t.name for t in triggered_by if t is not None}
    roots = [target(parse_atom(text)) for text in sorted(requests) if not text.startswith("!")]
    names = [pkg.name for pkg in roots if pkg is not None]
    if semantics != "apko":
        return [selection[name] for name in install_order(deps, names, triggers)]
    provides = {
        pkg.name: [name for name, version in pkg.provides().items() if version]
        for pkg in selection.values()
    }
    walk = ApkoWalk(edges, provides, dict(selection), names)
    placed: dict[str, None] = {}
    for root in dict.fromkeys(names):
        reached = walk.dependencies(root)
        extras = [pkg.name for pkg in apko_install_if(root, reached, selection, provider.universe)]
        for pkg in apko_install_if(root, reached, selection, provider.universe):
            selection.setdefault(pkg.name, pkg)  # apko installs it without its dependencies
        walk.add(extras)
        placed.update(dict.fromkeys([*reached, *extras, root]))
    if mismatches is not None:
        mismatches.update(walk.mismatches)
    rest = {name: [d for d in deps[name] if d not in placed] for name in deps if name not in placed}
    return [selection[name] for name in [*placed, *install_order(rest)]]


def _virtual_candidates(provider: ApkProvider, pkg: Pkg, atom: Atom) -> tuple[Pkg, ...]:
    """For a dependency on a virtual name, its eligible providers best first; else ()."""
    inherited = provider.inherited_tags(pkg)
    tags = inherited | {atom.tag} if atom.tag else inherited
    if not isinstance(provider.classify(atom, tags, pkg), Virtual):
        return ()
    return tuple(provider.virtual_providers(atom, tags))


def _walk_order(provider: ApkProvider, pkg: Pkg) -> list[Atom]:
    """What ``pkg`` needs from others, as apko walks it: fewest candidates first, then by
    the dependency's text in the index."""
    return [atom for _count, _text, atom in _counted(provider, pkg)]


def _counted(provider: ApkProvider, pkg: Pkg) -> list[tuple[int, str, Atom]]:
    """``pkg``'s dependencies on others as (candidate count, text, atom), in walk order."""
    inherited = provider.inherited_tags(pkg)
    needs = [
        (provider.candidate_count(atom, inherited | {atom.tag} if atom.tag else inherited), text)
        for text, atom in zip(pkg.record.depends, pkg.depends(), strict=False)
        if not atom.conflict and not answers(pkg, atom)
    ]
    return [(count, text, parse_atom(text)) for count, text in sorted(needs)]


def _fail(message: str, context: str) -> None:
    raise ResolveError(
        message, where=context or None, hint="add or remove packages so that apk's rules hold"
    )
