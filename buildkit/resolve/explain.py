"""Turning resolvelib's ResolutionImpossible causes into one line a user can act on."""

from __future__ import annotations

import difflib
from collections.abc import Collection
from typing import TYPE_CHECKING

from buildkit.resolve.provider import ApkProvider
from buildkit.resolve.terms import Choice, Forbid, Need, Requirement, answers, describe
from buildkit.resolve.universe import Pkg

if TYPE_CHECKING:
    from resolvelib.structs import RequirementInformation

_SHOWN = 5


def explain(
    causes: Collection[RequirementInformation[Requirement, Choice]], provider: ApkProvider
) -> tuple[str, str | None]:
    """(message, hint) for the most specific problem among ``causes``."""
    for info in causes:  # a name nothing answers to is the root cause wherever it appears
        req = info.requirement
        if isinstance(req, Need) and not provider.universe.answering(req.atom.name):
            return _nothing_provides(req, info.parent, provider)
    for info in causes:  # so is a need only packages with broken metadata would fill
        req = info.requirement
        broken = _uninstallable(req, provider) if isinstance(req, Need) else []
        if broken:
            return _not_installable(broken, info.parent, provider)
    groups: dict[str, list[RequirementInformation[Requirement, Choice]]] = {}
    for info in causes:
        groups.setdefault(info.requirement.ident, []).append(info)
    for ident in sorted(groups):
        infos = groups[ident]
        req = infos[0].requirement
        if len(infos) == 1 and isinstance(req, Need) and not _satisfiable(req, provider):
            return _unavailable(req, infos[0].parent, provider)
    ident = min(groups, key=lambda k: (-len(groups[k]), k))
    if len(groups[ident]) == 1:
        info = groups[ident][0]
        return f"no installable choice for {_clause(info.requirement, info.parent)}", None
    clauses = sorted({_clause(info.requirement, info.parent) for info in groups[ident]})
    message = f"cannot satisfy {ident}: " + ", but ".join(clauses)
    return message, "relax or remove one of these requirements"


def _clause(req: Requirement, parent: Choice | None) -> str:
    """``a 1.0 requires b>=2``, ``requested b<2``, ``a 1.0 conflicts with b``, or the reason."""
    if isinstance(req, Need):
        who = "requested" if parent is None else f"{describe(parent.pkg)} requires"
        return f"{who} {req.atom}"
    if isinstance(req, Forbid):
        who = "the request excludes" if parent is None else f"{describe(parent.pkg)} conflicts with"
        return f"{who} {str(req.atom).removeprefix('!')}"
    return req.reason


def _required_by(parent: Choice | None) -> str:
    return "requested" if parent is None else f"required by {describe(parent.pkg)}"


def _nothing_provides(
    req: Need, parent: Choice | None, provider: ApkProvider
) -> tuple[str, str | None]:
    name = req.atom.name
    message = f"nothing provides {req.atom} ({_required_by(parent)})"
    close = difflib.get_close_matches(name, _similar_pool(name, provider), n=6)
    close = [match for match in close if provider.universe.answering(match)][:3]
    return message, (
        f"did you mean: {', '.join(close)}"
        if close
        else "check the name and the framework's repositories"
    )


def _similar_pool(name: str, provider: ApkProvider) -> list[str]:
    # Only names of the same kind (so:, cmd:, plain package names) and similar length:
    # difflib over every provide of a 200k-record index would take seconds.
    prefix = name.partition(":")[0] + ":" if ":" in name else ""
    return sorted(
        key
        for key in provider.universe.providers
        if (key.startswith(prefix) if prefix else ":" not in key and not key.startswith("/"))
        and abs(len(key) - len(name)) <= 4
    )


def _unavailable(req: Need, parent: Choice | None, provider: ApkProvider) -> tuple[str, str | None]:
    """One requirement that no package satisfies, although packages answer to its name."""
    name = req.atom.name
    answering = [c.pkg for c in provider.ordered(name) if c.pkg is not None]
    everything = provider.universe.answering(name)
    if not answering:
        newest = sorted(everything, key=lambda p: provider.universe.version_key(p.record.version))
        versions = list(dict.fromkeys(p.record.version for p in reversed(newest)))
        return (
            f"no version of {name} is available on every arch ({_required_by(parent)})",
            f"versions on this arch: {_first(versions)}; publish the same version for every arch",
        )
    untagged = [pkg for pkg in answering if provider.eligible(pkg, req.tags)]
    if not untagged:
        tagged = answering[0]
        return (
            f"{name} is only in repository {provider.universe.source_of(tagged).name}"
            f" tagged @{tagged.tag} ({_required_by(parent)})",
            f"request it as {name}@{tagged.tag}",
        )
    available = _first([describe(pkg) for pkg in untagged])
    return f"nothing provides {req.atom} ({_required_by(parent)}); available: {available}", None


def _uninstallable(req: Need, provider: ApkProvider) -> list[Pkg]:
    """The packages that would fill ``req`` when none that fills it can be installed."""
    fitting = [
        pkg
        for pkg in provider.universe.answering(req.atom.name)
        if provider.eligible(pkg, req.tags) and answers(pkg, req.atom)
    ]
    return [] if any(pkg.installable for pkg in fitting) else fitting


def _not_installable(
    broken: list[Pkg], parent: Choice | None, provider: ApkProvider
) -> tuple[str, str | None]:
    key = provider.universe.version_key
    pkg = max(broken, key=lambda p: (key(p.record.version), p.name))
    return (
        f"cannot install {describe(pkg)} from {provider.universe.source_of(pkg).name}"
        f" ({_required_by(parent)}): {pkg.problem}",
        "fix the package metadata and rebuild the index, or pick another package",
    )


def _first(items: list[str]) -> str:
    return ", ".join(items[:_SHOWN]) + (", ..." if len(items) > _SHOWN else "")


def _satisfiable(req: Need, provider: ApkProvider) -> bool:
    """Whether some eligible package satisfies ``req`` on its own."""
    return any(
        c.pkg is not None and provider.eligible(c.pkg, req.tags) and answers(c.pkg, req.atom)
        for c in provider.ordered(req.atom.name)
    )
