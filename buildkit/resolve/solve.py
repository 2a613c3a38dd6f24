"""resolve(): resolvelib inside a small loop that settles virtual providers and install_if.

Both are decided after a resolution pass, as apk decides them against a selection: a virtual
(unversioned provide of several packages) is satisfied by whatever the selection already
offers, else by the provider with the highest priority; an install_if package joins once every
one of its triggers is selected. Either adds requirements and resolution runs again, until a
pass adds nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from resolvelib import BaseReporter, ResolutionImpossible, ResolutionTooDeep, Resolver

from buildkit.apk.atom import parse_atom
from buildkit.errors import AtomError, ResolveError, VersionError
from buildkit.resolve.explain import explain
from buildkit.resolve.install_if import SEMANTICS
from buildkit.resolve.model import RepoSource, Resolved
from buildkit.resolve.provider import ApkProvider
from buildkit.resolve.selection import Offer, check, ordered_selection, unsatisfied_virtuals
from buildkit.resolve.terms import Choice, Exactly, Forbid, Requirement, Virtual, describe
from buildkit.resolve.universe import Pkg, Universe, universe_for

_MAX_ROUNDS = 100_000  # resolvelib pins one name per round; backtracking needs headroom
_MAX_PASSES = 100

Selection = dict[str, Pkg]


def resolve(
    requests: Sequence[str],
    sources: Sequence[RepoSource],
    *,
    arch: str,
    allowed_versions: Mapping[str, frozenset[str]] | None = None,
    preferred_versions: Mapping[str, str] | None = None,
    context: str = "",
    universe: Universe | None = None,
    semantics: str = "apko",
) -> tuple[Resolved, ...]:
    """Resolve package atoms against the repositories of ``arch``, apk's way.

    Returns the selection in install order (dependencies first). ``allowed_versions``
    restricts the versions of a package name (cross-arch consistency);
    ``preferred_versions`` are chosen whenever they still fit (lock --update keeps the other
    pins). Raises ResolveError, prefixed with ``context``, when no selection exists.
    ``universe``: maps the caller built (``Universe(sources, arch)``) and keeps for as long
    as it likes; without it, maps are shared through ``universe_for``'s cache.
    ``semantics``: "apko" (default: install_if and provider choice as apko decides them, see
    install_if.py) or "apk-tools" (install_if over the whole selection, as apk itself does).
    """
    if semantics not in SEMANTICS:
        raise ValueError(f"resolve(semantics={semantics!r}): expected one of {SEMANTICS}")
    if universe is None:
        universe = universe_for(sources, arch, context=context)
    elif universe.arch != arch:
        raise ValueError(f"resolve(arch={arch!r}) was given the universe of {universe.arch}")
    provider = ApkProvider(
        universe,
        allowed_versions=allowed_versions or {},
        preferred_versions=preferred_versions or {},
        semantics=semantics,
    )
    roots, root_virtuals, root_tags = _root_terms(requests, provider, context)
    forced: dict[str, str] = {}  # virtual name -> the provider apko's walk takes
    for _attempt in range(_MAX_PASSES):
        selection, pins = _settle(
            provider,
            roots,
            root_virtuals=root_virtuals,
            root_tags=root_tags,
            forced=forced,
            context=context,
            semantics=semantics,
        )
        check(provider, selection, context)
        mismatches: dict[str, str] = {}
        ordered = ordered_selection(
            provider, selection, pins, requests, semantics=semantics, mismatches=mismatches
        )
        fresh = {name: pkg for name, pkg in mismatches.items() if name not in forced}
        if not fresh:
            break
        forced.update(fresh)
    return tuple(Resolved(record=pkg.record, source=universe.source_of(pkg)) for pkg in ordered)


def _settle(
    provider: ApkProvider,
    roots: list[Requirement],
    *,
    root_virtuals: list[Virtual],
    root_tags: frozenset[str],
    forced: Mapping[str, str],
    context: str,
    semantics: str,
) -> tuple[Selection, dict[str, Pkg]]:
    """Resolution passes until virtual providers (and apk-tools' install_if) settle."""
    added: list[Requirement] = []
    for _ in range(_MAX_PASSES):
        selection, pins = _run(provider, [*roots, *added], context)
        virtuals = [*root_virtuals, *_virtuals_of(provider, selection)]
        more = _pick_virtuals(
            provider, selection, virtuals, context, semantics=semantics, forced=forced
        )
        if not more and semantics == "apk-tools":
            more = _install_if(provider, selection, root_tags)
        if not more:
            return selection, pins
        added.extend(more)
    raise ResolveError("virtual providers and install_if did not settle", where=context or None)


def _root_terms(
    requests: Sequence[str], provider: ApkProvider, context: str
) -> tuple[list[Requirement], list[Virtual], frozenset[str]]:
    roots: list[Requirement] = []
    virtuals: list[Virtual] = []
    tags: set[str] = set()
    for text in requests:
        try:
            atom = parse_atom(text)
        except AtomError as err:  # its message already names the atom
            raise ResolveError(err.message, where=context or None, hint=err.hint) from err
        except VersionError as err:
            raise ResolveError(
                f"invalid package {text!r}: {err.message}", where=context or None, hint=err.hint
            ) from err
        if atom.tag is not None:
            if atom.tag not in provider.universe.tags:
                raise ResolveError(
                    f"no repository is tagged @{atom.tag} (requested {text})",
                    where=context or None,
                    hint=f"add '@{atom.tag} <path or url>' to contents.repositories",
                )
            tags.add(atom.tag)
        if atom.conflict:
            roots.append(Forbid(provider.universe.ident_for(atom.name), atom))
            continue
        term = provider.classify(atom, frozenset({atom.tag} if atom.tag else ()), None)
        if isinstance(term, Virtual):
            virtuals.append(term)
        else:
            roots.append(term)
    return roots, virtuals, frozenset(tags)


def _run(
    provider: ApkProvider, requirements: list[Requirement], context: str
) -> tuple[Selection, dict[str, Pkg]]:
    """One resolvelib pass: (package name -> package, identifier -> package pinned there)."""
    resolver: Resolver[Requirement, Choice, str] = Resolver(provider, BaseReporter())
    try:
        result = resolver.resolve(requirements, max_rounds=_MAX_ROUNDS)
    except ResolutionImpossible as err:
        message, hint = explain(err.causes, provider)
        raise ResolveError(message, where=context or None, hint=hint) from None
    except ResolutionTooDeep:
        raise ResolveError(
            f"resolution gave up after {_MAX_ROUNDS} steps",
            where=context or None,
            hint="pin some versions to narrow the search",
        ) from None
    selection: Selection = {}
    pins: dict[str, Pkg] = {}
    for ident, choice in result.mapping.items():
        if choice.pkg is not None:
            pins[ident] = choice.pkg
            if choice.principal:
                selection[ident] = choice.pkg
    return selection, pins


def _virtuals_of(provider: ApkProvider, selection: Selection) -> list[Virtual]:
    return [v for name in sorted(selection) for v in provider.dependencies_of(selection[name])[1]]


def _pick_virtuals(
    provider: ApkProvider,
    selection: Selection,
    virtuals: list[Virtual],
    context: str,
    *,
    semantics: str = "apko",
    forced: Mapping[str, str] | None = None,
) -> list[Requirement]:
    """A provider for each virtual the selection does not offer yet (apk: by priority)."""
    picks: list[Requirement] = []
    picked: list[Pkg] = []
    for virtual in unsatisfied_virtuals(virtuals, selection):
        if Offer(picked).satisfies(virtual.atom):
            continue  # an earlier pick of this pass provides it too
        candidates = provider.virtual_providers(virtual.atom, virtual.tags)
        if semantics == "apko":
            candidates = _origins_first(candidates, selection)
        name = (forced or {}).get(virtual.atom.name) or _choose_provider(
            virtual, candidates, context
        )
        chosen = [pkg for pkg in candidates if pkg.name == name]
        picked.extend(chosen)
        reason = f"{name} was picked to provide {virtual.atom}" + (
            f" for {describe(virtual.requirer)}" if virtual.requirer else ""
        )
        picks.append(Exactly(name, frozenset(chosen), reason))
    return picks


def _origins_first(candidates: list[Pkg], selection: Selection) -> list[Pkg]:
    """apko prefers a provider built from a source package already selected, at the version
    selected (``busybox-ifupdown`` over ``ifupdown-ng`` once ``busybox`` is in), before it
    looks at provider priorities."""
    origins = {p.record.origin: p.record.version for p in selection.values() if p.record.origin}

    def pulled_in(pkg: Pkg) -> bool:
        return bool(pkg.record.origin) and origins.get(pkg.record.origin) == pkg.record.version

    return sorted(candidates, key=lambda pkg: not pulled_in(pkg))  # stable: best first stays


def _choose_provider(virtual: Virtual, candidates: list[Pkg], context: str) -> str:
    with_priority = [pkg for pkg in candidates if pkg.priority > 0]
    if candidates and candidates[0] in with_priority:
        return candidates[0].name
    if with_priority:
        return with_priority[0].name  # candidates are best first: highest priority leads
    names = sorted({pkg.name for pkg in candidates})
    if len(names) == 1:
        return names[0]
    wanted = f"required by {describe(virtual.requirer)}" if virtual.requirer else "requested"
    raise ResolveError(
        f"{virtual.atom} ({wanted}) is provided by {', '.join(names)},"
        " and none has a provider priority",
        where=context or None,
        hint="add the one you want to the package list",
    )


def _install_if(
    provider: ApkProvider, selection: Selection, root_tags: frozenset[str]
) -> list[Requirement]:
    """Packages whose install_if atoms the selection now satisfies (apk adds them itself)."""
    offer = Offer(selection.values())
    triggered: dict[str, list[Pkg]] = {}
    seen: set[int] = set()
    for name in sorted(offer.by_name):
        for pkg in provider.universe.install_if.get(name, ()):
            if id(pkg) in seen or pkg.name in selection or not provider.eligible(pkg, root_tags):
                continue
            seen.add(id(pkg))
            atoms = pkg.install_if()  # () when the rule is invalid: apk ignores it
            if atoms and pkg.installable and all(offer.satisfies(atom) for atom in atoms):
                triggered.setdefault(pkg.name, []).append(pkg)
    return [
        Exactly(
            name,
            frozenset(pkgs),
            f"{name} is added by its install_if ({' '.join(pkgs[0].record.install_if)})",
        )
        for name, pkgs in sorted(triggered.items())
    ]
