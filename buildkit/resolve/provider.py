"""The resolvelib provider: apk semantics behind resolvelib's five questions.

resolvelib knows nothing about apk. This module answers, for an identifier (a name), which
packages may fill it and in which order of preference (:meth:`ApkProvider.find_matches`),
whether a chosen package satisfies a requirement, and what a chosen package requires in turn.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING

from resolvelib import AbstractProvider

from buildkit.apk.atom import Atom
from buildkit.resolve.terms import (
    Choice,
    Exactly,
    Forbid,
    Need,
    Requirement,
    Virtual,
    answers,
    describe,
)
from buildkit.resolve.universe import Pkg, Universe

if TYPE_CHECKING:
    from resolvelib.structs import Matches, RequirementInformation

Preference = tuple[bool, bool, bool, str]


class ApkProvider(AbstractProvider[Requirement, Choice, str]):
    """One resolution's view of a universe: its version policy plus per-run caches."""

    def __init__(
        self,
        universe: Universe,
        *,
        allowed_versions: Mapping[str, frozenset[str]],
        preferred_versions: Mapping[str, str],
        semantics: str = "apko",
    ) -> None:
        self.universe = universe
        # apko: an unversioned provide carries no version for the name and ties with any
        # version (``gvim`` providing ``vim`` ties with ``vim`` itself; the name decides).
        self._unversioned_ties = semantics == "apko"
        self._allowed_versions = allowed_versions
        self._preferred_versions = preferred_versions
        self._choices: dict[tuple[str, int], Choice] = {}
        self._absent: dict[str, Choice] = {}
        self._ordered: dict[tuple[str, frozenset[str]], list[Choice]] = {}
        self._deps: dict[Pkg, tuple[list[Requirement], list[Virtual]]] = {}
        self._virtual: dict[tuple[Atom, frozenset[str]], bool] = {}
        self._edges: dict[Choice, tuple[Requirement, ...]] = {}
        self._counts: dict[tuple[Atom, frozenset[str]], int] = {}
        # resolvelib re-checks every pin against every requirement each round (O(n^2));
        # answers are memoised by identity, holding the requirement so its id stays unique.
        self._satisfied: dict[tuple[int, int], tuple[bool, Requirement]] = {}

    # -- policy ---------------------------------------------------------------------------

    def allowed(self, pkg: Pkg) -> bool:
        """False when cross-arch consistency rules this version out."""
        versions = self._allowed_versions.get(pkg.name)
        return versions is None or pkg.record.version in versions

    def eligible(self, pkg: Pkg, tags: frozenset[str]) -> bool:
        """Allowed, and from an untagged repository or one whose tag was asked for."""
        tag = pkg.tag
        return self.allowed(pkg) and (tag is None or tag in tags)

    def ordered(self, ident: str, prefer: frozenset[str] = frozenset()) -> list[Choice]:
        """Every allowed, installable package answering to ``ident``, best first."""
        key = (ident, prefer)
        found = self._ordered.get(key)
        if found is None:
            seen: set[int] = set()
            pkgs = []
            for pkg in self.universe.answering(ident):
                if id(pkg) not in seen and self.allowed(pkg) and pkg.installable:
                    seen.add(id(pkg))
                    pkgs.append(pkg)
            pkgs.sort(key=functools.cmp_to_key(self._comparator(ident, prefer)))
            found = self._ordered[key] = [self.choice(ident, pkg) for pkg in pkgs]
        return found

    def _comparator(self, ident: str, prefer: frozenset[str]) -> Callable[[Pkg, Pkg], int]:
        """apk/apko's provider order; negative when ``a`` is the better choice.

        Locked versions first (lock --update keeps other pins), then the explicitly requested
        repository tag, the highest version of the requested name (versioned before
        unversioned provides), the latest of one package, the highest provider priority,
        the latest build, then name, repository order and checksum so that ties never
        depend on index order.
        """
        key = self.universe.version_key

        def provided_key(pkg: Pkg) -> tuple[int] | tuple[int, object]:
            version = pkg.provided(ident)
            return key(version) if version else (-1,)

        ties = self._unversioned_ties

        def by_provided(a: Pkg, b: Pkg) -> tuple[object, object]:
            left, right = provided_key(b), provided_key(a)
            if ties and (left == (-1,) or right == (-1,)):
                return (0, 0)
            return (left, right)

        def compare(a: Pkg, b: Pkg) -> int:
            steps: tuple[tuple[object, object], ...] = (
                (self._preferred(b), self._preferred(a)),
                (b.tag in prefer, a.tag in prefer),
                by_provided(a, b),
                (key(b.record.version), key(a.record.version)) if a.name == b.name else (0, 0),
                (b.priority, a.priority),
                (key(b.record.version), key(a.record.version)),
                (a.name, b.name),
                (a.rank, b.rank),
                (a.record.checksum, b.record.checksum),
            )
            for left, right in steps:
                if left != right:
                    return -1 if left < right else 1  # type: ignore[operator]
            return 0

        return compare

    def _preferred(self, pkg: Pkg) -> bool:
        return self._preferred_versions.get(pkg.name) == pkg.record.version

    # -- terms ----------------------------------------------------------------------------

    def choice(self, ident: str, pkg: Pkg) -> Choice:
        key = (ident, id(pkg))
        found = self._choices.get(key)
        if found is None:
            found = self._choices[key] = Choice(ident, pkg)
        return found

    def classify(self, atom: Atom, tags: frozenset[str], requirer: Pkg | None) -> Need | Virtual:
        """A positive atom as a resolver requirement, or as a virtual left to check later."""
        universe = self.universe
        ident = universe.ident_for(atom.name)
        if ident == atom.name and universe.contested(atom.name) and self._is_virtual(atom, tags):
            return Virtual(atom, tags, requirer)
        return Need(ident, atom, tags, atom.tag)

    def _is_virtual(self, atom: Atom, tags: frozenset[str]) -> bool:
        key = (atom, tags)
        found = self._virtual.get(key)
        if found is None:
            eligible = self.virtual_providers(atom, tags)
            found = self._virtual[key] = (
                bool(eligible)
                and all(pkg.provided(atom.name) == "" for pkg in eligible)
                and len({pkg.name for pkg in eligible}) > 1
            )
        return found

    def virtual_providers(self, atom: Atom, tags: frozenset[str]) -> list[Pkg]:
        """The eligible packages answering to ``atom``, best first."""
        prefer = frozenset({atom.tag}) if atom.tag else frozenset()
        return [
            c.pkg
            for c in self.ordered(atom.name, prefer)
            if c.pkg is not None and self.eligible(c.pkg, tags) and answers(c.pkg, atom)
        ]

    @staticmethod
    def inherited_tags(pkg: Pkg) -> frozenset[str]:
        """Tags a package's dependencies may draw from: its repository's (apk pinning)."""
        return frozenset({pkg.tag}) if pkg.tag else frozenset()

    def candidate_count(self, atom: Atom, tags: frozenset[str]) -> int:
        """How many eligible packages could fill ``atom`` (apko orders by it; see order.py)."""
        key = (atom, tags)
        found = self._counts.get(key)
        if found is None:
            # The identifier's list (allowed, installable), which resolution already built.
            found = self._counts[key] = sum(
                1
                for c in self.ordered(self.universe.ident_for(atom.name))
                if c.pkg is not None
                and (c.pkg.tag is None or c.pkg.tag in tags)
                and answers(c.pkg, atom)
            )
        return found

    def dependencies_of(self, pkg: Pkg) -> tuple[list[Requirement], list[Virtual]]:
        """A package's requirements (depends, conflicts, claims on its contested provides)."""
        found = self._deps.get(pkg)
        if found is None:
            found = self._deps[pkg] = self._compute_dependencies(pkg)
        return found

    def _compute_dependencies(self, pkg: Pkg) -> tuple[list[Requirement], list[Virtual]]:
        universe = self.universe
        inherited = self.inherited_tags(pkg)
        requirements: list[Requirement] = []
        virtuals: list[Virtual] = []
        for atom in pkg.depends():
            if answers(pkg, atom):
                # apk: a package satisfies its own needs and is exempt from its own conflicts
                continue
            if atom.conflict:
                requirements.append(Forbid(universe.ident_for(atom.name), atom))
                continue
            tags = (inherited | {atom.tag}) if atom.tag else inherited
            term = self.classify(atom, tags, pkg)
            if isinstance(term, Virtual):
                virtuals.append(term)
            else:
                requirements.append(term)
        # apk: a versioned provide locks its name; two packages providing it cannot coexist.
        for name, version in pkg.provides().items():
            if version and name != pkg.name and universe.contested(name):
                reason = f"{describe(pkg)} provides {name}"
                requirements.append(Exactly(name, frozenset({pkg}), reason))
        return requirements, virtuals

    # -- resolvelib -----------------------------------------------------------------------

    def identify(self, requirement_or_candidate: Requirement | Choice) -> str:
        return requirement_or_candidate.ident

    def get_preference(
        self,
        identifier: str,
        resolutions: Mapping[str, Choice],
        candidates: Mapping[str, Iterator[Choice]],
        information: Mapping[str, Iterator[RequirementInformation[Requirement, Choice]]],
        backtrack_causes: Sequence[RequirementInformation[Requirement, Choice]],
    ) -> Preference:
        """Backtrack causes first, then exact pins, names only forbidden last; ties by name."""
        kinds = {type(info.requirement) for info in information[identifier]}
        caused = any(cause.requirement.ident == identifier for cause in backtrack_causes)
        return (not caused, Exactly not in kinds, kinds == {Forbid}, identifier)

    def find_matches(
        self,
        identifier: str,
        requirements: Mapping[str, Iterator[Requirement]],
        incompatibilities: Mapping[str, Iterator[Choice]],
    ) -> Matches[Choice]:
        reqs = list(requirements[identifier])
        bad = set(incompatibilities[identifier])
        needs = [r for r in reqs if isinstance(r, Need)]
        exacts = [r for r in reqs if isinstance(r, Exactly)]
        if not needs and not exacts:
            absent = self._absent.setdefault(identifier, Choice(identifier, None))
            return [] if absent in bad else [absent]
        pinned = frozenset.intersection(*(e.pkgs for e in exacts)) if exacts else None
        tags = frozenset().union(*(n.tags for n in needs))
        prefer = frozenset(n.prefer_tag for n in needs if n.prefer_tag)
        ordered = self.ordered(identifier, prefer)

        def matches() -> Iterable[Choice]:
            for choice in ordered:
                pkg = choice.pkg
                assert pkg is not None
                if choice in bad or (pinned is not None and pkg not in pinned):
                    continue
                # Tags are a union over requirers (apk inherits pinning), not a filter each.
                if pinned is None and pkg.tag is not None and pkg.tag not in tags:
                    continue
                if all(self.is_satisfied_by(r, choice) for r in reqs):
                    yield choice

        return matches

    def is_satisfied_by(self, requirement: Requirement, candidate: Choice) -> bool:
        key = (id(requirement), id(candidate))
        found = self._satisfied.get(key)
        if found is None:
            found = self._satisfied[key] = (self._satisfies(requirement, candidate), requirement)
        return found[0]

    @staticmethod
    def _satisfies(requirement: Requirement, candidate: Choice) -> bool:
        pkg = candidate.pkg
        if isinstance(requirement, Exactly):
            return pkg in requirement.pkgs
        if isinstance(requirement, Forbid):
            return pkg is None or not answers(pkg, requirement.atom)
        return pkg is not None and answers(pkg, requirement.atom)

    def get_dependencies(self, candidate: Choice) -> Iterable[Requirement]:
        pkg = candidate.pkg
        if pkg is None:
            return ()
        if not candidate.principal:
            edge = self._edges.get(candidate)
            if edge is None:
                reason = f"{describe(pkg)} was chosen to provide {candidate.ident}"
                edge = self._edges[candidate] = (Exactly(pkg.name, frozenset({pkg}), reason),)
            return edge
        return self.dependencies_of(pkg)[0]
