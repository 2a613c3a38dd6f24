"""The resolver's public records: where packages come from, and what was chosen."""

from __future__ import annotations

from dataclasses import dataclass

from buildkit.apk.index import ApkIndex, IndexRecord


@dataclass(frozen=True, kw_only=True)
class RepoSource:
    """One repository's index for one arch, as the config names it.

    ``tag`` is ``"local"`` for ``@local ./packages``: packages from a tagged repository are
    eligible only when requested as ``name@tag`` (or needed by a package from that repository).
    """

    name: str
    arch: str
    tag: str | None
    index: ApkIndex


@dataclass(frozen=True, kw_only=True)
class Resolved:
    """One selected package and the repository it comes from."""

    record: IndexRecord
    source: RepoSource
