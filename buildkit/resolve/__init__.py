"""Dependency resolution with apk semantics, on top of resolvelib.

Public API (see docs/architecture.md): :class:`RepoSource`, :class:`Resolved`,
:func:`resolve`; :class:`Universe` and
:func:`clear_universe_cache` for callers that manage the lifetime of the index maps.
How apk's rules map onto resolvelib:

- identifiers are names; a name that only one package answers to is folded onto that
  package's name, a name several packages answer to (``/bin/sh``, ``cmd:psql``) is its own
  identifier whose candidates point back at their package with an exact requirement;
- a versioned provide of a contested name is claimed by the package that provides it, so two
  packages never provide the same versioned name (apk's "same name provided" conflict);
- ``!name`` forbids whatever would fill ``name``; a name only forbidden is filled by "absent";
- virtual names and install_if are settled between resolution passes (see solve.py);
- bad index data as apk-tools treats it: an invalid ``D:`` makes a package uninstallable, an
  invalid ``p:`` entry or ``i:`` rule is ignored (see universe.py);
- the result is in apko's install order (see order.py).
"""

from buildkit.resolve.model import RepoSource, Resolved
from buildkit.resolve.solve import resolve
from buildkit.resolve.universe import Universe, clear_universe_cache

__all__ = [
    "RepoSource",
    "Resolved",
    "Universe",
    "clear_universe_cache",
    "resolve",
]
