"""What the resolver reasons about: requirements, candidates, and how they match.

resolvelib sees only these objects. An identifier is a name: a package name, or a provided
name that packages of several names answer to (``/bin/sh``, ``cmd:psql``). A candidate
(:class:`Choice`) is one package under one identifier; a package chosen under a provided name
points back at its own name with an :class:`Exactly` requirement, so the same package cannot be
selected twice at two versions.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from buildkit.apk.atom import Atom, Op
from buildkit.errors import VersionError
from buildkit.resolve.universe import Pkg


@dataclass(frozen=True, eq=False)
class Choice:
    """A candidate: ``pkg`` under identifier ``ident``; ``pkg is None`` means "not installed".

    The absent choice exists only for names that nothing requires but something forbids.
    Choices are interned by the provider, so identity equality is enough.
    """

    ident: str
    pkg: Pkg | None

    @property
    def principal(self) -> bool:
        """True when the identifier is the package's own name (its dependencies live here)."""
        return self.pkg is not None and self.pkg.name == self.ident


@dataclass(frozen=True)
class Need:
    """A positive dependency atom, resolved under ``ident`` (see Universe.ident_for).

    ``tags``: repository tags it may draw from (its own ``@tag`` plus the tag of the
    repository its requirer came from, as apk inherits pinning); ``prefer_tag``: an explicit
    ``@tag`` whose repository wins over a higher version elsewhere.
    """

    ident: str
    atom: Atom
    tags: frozenset[str]
    prefer_tag: str | None


@dataclass(frozen=True)
class Forbid:
    """A ``!name`` conflict: whatever is chosen for ``ident`` must not answer to ``atom``."""

    ident: str
    atom: Atom


@dataclass(frozen=True)
class Exactly:
    """``ident`` must be one of ``pkgs``; ``reason`` is the clause used in error messages."""

    ident: str
    pkgs: frozenset[Pkg]
    reason: str


@dataclass(frozen=True)
class Virtual:
    """An unversioned dependency on a name only virtual providers of several names answer to.

    apk never picks such a provider by itself unless one has a priority; resolution leaves it
    out and checks afterwards that the selection provides it (see solve.py).
    """

    atom: Atom
    tags: frozenset[str]
    requirer: Pkg | None


Requirement = Need | Forbid | Exactly


@functools.lru_cache(maxsize=1 << 16)
def _version_matches(atom: Atom, version: str) -> bool:
    try:
        return atom.matches(version)
    except VersionError:
        return False  # an invalid version never satisfies a versioned constraint


def answers(pkg: Pkg, atom: Atom) -> bool:
    """Whether ``pkg`` answers to ``atom``'s name within its version constraint.

    An unversioned provide satisfies only an unversioned atom, as in apk; ``name><Q1...``
    pins a package by its checksum (apk's APK_DEPMASK_CHECKSUM), not by a version.
    """
    version = pkg.provided(atom.name)
    if version is None:
        return False
    if atom.op is None:
        return True
    if atom.op is Op.CHECKSUM:
        return atom.name == pkg.name and atom.matches(version, checksum=pkg.record.checksum)
    return version != "" and _version_matches(atom, version)


def describe(pkg: Pkg | None) -> str:
    return "nothing" if pkg is None else f"{pkg.name} {pkg.record.version}"
