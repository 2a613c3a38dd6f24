"""Matching installed packages against security databases (pure).

A package is affected by the ids listed under a ``secfixes`` version when its installed version
sorts before that version by apk's exact rules (``buildkit.apk.version``); ``"0"`` lists ids
that never affected it. A database keyed by origin (Alpine's, Wolfi's) covers subpackages
through their origin: ``libcrypto3`` is found under ``openssl``. A version that apk would not
accept, in the database or installed, is reported as a problem, never guessed at.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from buildkit.apk.version import VersionKey, parse_version
from buildkit.errors import VersionError
from buildkit.secdb import SecDb, SecFix


@dataclass(frozen=True, kw_only=True)
class Installed:
    """One package in one image (framework + arch), as a lockfile or an SBOM lists it."""

    framework: str  # or the SBOM's name
    arch: str
    name: str
    version: str
    origin: str = ""  # "" when unknown: matched by name only
    database: str = ""  # the source of the database that covers it; "" = none
    location: str = ""  # the file it was read from (lockfile, SBOM), for reports


@dataclass(frozen=True, kw_only=True)
class Finding:
    """``package`` at ``version`` is affected by ``id``, fixed in ``fixed_in``."""

    framework: str
    arch: str
    package: str
    version: str
    id: str
    fixed_in: str
    origin: str = ""
    database: str = ""
    location: str = ""
    # Whether the repositories offer ``fixed_in`` or newer (None: not checked, e.g. an SBOM)
    fix_available: bool | None = None

    @property
    def sort_key(self) -> tuple[str, ...]:
        return (self.framework, self.arch, self.package, self.id)


@functools.lru_cache(maxsize=1 << 16)
def _key(version: str) -> VersionKey:
    return parse_version(version).key


def affected_ids(
    version: str, fixes: Sequence[SecFix], *, problems: list[str] | None = None, name: str = ""
) -> list[tuple[str, str]]:
    """``(id, fixed_in)`` for each id whose fix ``version`` has not reached; an id listed
    under several versions is fixed from the earliest of them. VersionError for ``version``;
    a database version apk would not accept goes to ``problems`` and is skipped."""
    installed = _key(version)
    never = {i for fix in fixes if fix.never_affected for i in fix.ids}
    first: dict[str, tuple[VersionKey, str]] = {}  # id -> the earliest version fixing it
    for fix in fixes:
        if fix.never_affected:
            continue
        try:
            fixed = _key(fix.version)
        except VersionError:
            if problems is not None:
                problems.append(f"{name}: fixed version {fix.version!r} is not an apk version")
            continue
        for vuln in fix.ids:
            if vuln not in first or fixed < first[vuln][0]:
                first[vuln] = (fixed, fix.version)
    return sorted(
        (vuln, text)
        for vuln, (fixed, text) in first.items()
        if installed < fixed and vuln not in never
    )


def fixed_between(old: str, new: str, fixes: Sequence[SecFix]) -> tuple[str, ...]:
    """Ids an upgrade from ``old`` to ``new`` fixes: affecting ``old``, no longer ``new``."""
    before = dict(affected_ids(old, fixes))
    after = dict(affected_ids(new, fixes))
    return tuple(sorted(set(before) - set(after)))


def fixes_for(package: Installed, db: SecDb) -> tuple[SecFix, ...]:
    """The database's fixes for ``package``: by origin when the database knows it, else by
    name (a package whose origin is itself, or an unknown origin)."""
    table = db.by_name
    if package.origin and package.origin in table:
        return table[package.origin]
    return table.get(package.name, ())


def match(
    packages: Iterable[Installed], databases: Sequence[SecDb]
) -> tuple[list[Finding], list[str]]:
    """Findings for ``packages`` and problems found on the way. A package is compared with
    the database its ``database`` names (by source), or with every one when it names none."""
    by_source = {db.source: db for db in databases}
    findings: list[Finding] = []
    problems: list[str] = []
    for package in packages:
        if package.database:
            found = by_source.get(package.database)
            candidates: Sequence[SecDb] = (found,) if found else ()
        else:
            candidates = databases
        seen: set[str] = set()  # two databases naming one id: the first one's finding
        for db in candidates:
            for finding in _package_findings(package, db, problems):
                if finding.id not in seen:
                    seen.add(finding.id)
                    findings.append(finding)
    findings.sort(key=lambda f: f.sort_key)
    return findings, sorted(set(problems))


def _package_findings(package: Installed, db: SecDb, problems: list[str]) -> list[Finding]:
    fixes = fixes_for(package, db)
    if not fixes:
        return []
    try:
        hits = affected_ids(package.version, fixes, problems=problems, name=package.name)
    except VersionError:
        problems.append(
            f"{package.framework} {package.arch}: {package.name} {package.version!r} is "
            "not an apk version; not compared"
        )
        return []
    return [
        Finding(
            framework=package.framework,
            arch=package.arch,
            package=package.name,
            version=package.version,
            id=vuln,
            fixed_in=fixed_in,
            origin=package.origin,
            database=db.source,
            location=package.location,
        )
        for vuln, fixed_in in hits
    ]
