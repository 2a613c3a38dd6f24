"""The scan use cases: ``scan`` (lockfiles or SBOMs against databases), the ids a lock update
fixes, and ``lock --outdated``. They wire the pure core to its I/O edges (``sources``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from buildkit.apk.keys import Keyring
from buildkit.apk.version import parse_version
from buildkit.errors import BuildkitError, LockError, SecDbError, UsageError
from buildkit.events import BaseReporter, Reporter
from buildkit.framework import key_name
from buildkit.lockfile import Lockfile, read_lockfile
from buildkit.project.config import ProjectConfig
from buildkit.repo import RepoClient
from buildkit.scan.ignore import IgnoreRule, apply_ignores, parse_ignores
from buildkit.scan.match import Finding, Installed, fixed_between, fixes_for, match
from buildkit.scan.report import ScanReport
from buildkit.scan.sbom import sbom_packages
from buildkit.secdb import SecDb
from buildkit.usecases.scan_sources import (
    DatabaseLoader,
    LoadedDb,
    PackageInfos,
    database_for,
    distro_database,
    locked_packages,
    repository_of,
)


@dataclass(frozen=True, kw_only=True)
class ScanOptions:
    frameworks: tuple[str, ...] = ()  # () = buildkit.toml's [project].frameworks, else all
    archs: tuple[str, ...] = ()  # apk archs; () = every locked arch
    sboms: tuple[Path, ...] = ()  # scan these SPDX SBOMs instead of lockfiles
    databases: tuple[str, ...] = ()  # --db: use these for every package
    ignore_file: Path | None = None  # None: buildkit.toml's [scan].ignore (if it exists)
    today: dt.date | None = None
    check_repositories: bool = False  # look up whether each fix is in the repositories


def lockfile_names(project: ProjectConfig, names: Sequence[str]) -> list[str]:
    chosen = list(names) or list(project.frameworks)
    if chosen:
        return list(dict.fromkeys(chosen))
    found = sorted(
        p.name.removesuffix(".lock.json") for p in project.lockfiles_dir.glob("*.lock.json")
    )
    if not found:
        raise LockError(
            "no lockfiles to scan",
            where=str(project.lockfiles_dir),
            hint="run `nox -s lock` first, or give an SBOM to scan",
        )
    return found


def read_lock(project: ProjectConfig, name: str) -> tuple[Path, Lockfile]:
    path = project.lockfiles_dir / f"{name}.lock.json"
    if not path.is_file():
        raise LockError(
            f"no lockfile for framework {name!r}",
            where=str(path),
            hint=f"run `nox -s lock -- {name}` first",
        )
    return path, read_lockfile(path)


def _relative(project: ProjectConfig, path: Path) -> str:
    try:
        return path.resolve().relative_to(project.root).as_posix()
    except ValueError:
        return str(path)


def load_ignores(project: ProjectConfig, path: Path | None) -> tuple[IgnoreRule, ...]:
    chosen = path or project.scan_ignore
    if path is None and not chosen.exists():
        return ()
    try:
        data = chosen.read_bytes()
    except OSError as exc:
        raise SecDbError(f"cannot read ignore file: {exc.strerror}", where=str(chosen)) from None
    return parse_ignores(data, where=_relative(project, chosen))


def scan_project(
    project: ProjectConfig,
    options: ScanOptions,
    *,
    loader: DatabaseLoader | None = None,
    reporter: Reporter | None = None,
) -> ScanReport:
    reporter = reporter or BaseReporter()
    loader = loader or DatabaseLoader(project, reporter=reporter)
    rules = load_ignores(project, options.ignore_file)  # a bad ignore file fails first
    problems: list[str] = []
    if options.sboms:
        packages = _sbom_packages(project, options)
    else:
        packages, uncovered = _lock_packages(project, options)
        problems += [f"{repo}: no security database configured" for repo in sorted(uncovered)]
    if options.databases:
        packages = [replace(p, database="") for p in packages]
        locations = list(options.databases)
    else:
        locations = sorted({p.database for p in packages if p.database})
    loaded = {location: loader.load(location) for location in locations}
    packages = [
        replace(p, database=loaded[p.database].db.source) if p.database in loaded else p
        for p in packages
        if p.database or options.databases
    ]
    findings, found_problems = match(packages, [item.db for item in loaded.values()])
    if options.check_repositories and not options.sboms:
        findings = _with_availability(project, findings, reporter)
    applied = apply_ignores(findings, rules, today=options.today or dt.date.today())
    problems += found_problems
    problems += [
        f"{rule.where}: ignore of {rule.id} in {rule.package} expired on "
        f"{rule.expires.isoformat()}; the finding is shown again"
        for rule in applied.expired
    ]
    problems += [
        f"{rule.where}: ignore of {rule.id} in {rule.package} matches no finding; remove it"
        for rule in applied.unused
    ]
    return ScanReport(
        findings=applied.shown,
        ignored=applied.hidden,
        expired=applied.expired,
        databases=tuple(item.info for item in loaded.values()),
        problems=tuple(problems),
        scanned=len(packages),
    )


def _with_availability(
    project: ProjectConfig, findings: Sequence[Finding], reporter: Reporter
) -> list[Finding]:
    """Each finding with whether its lockfile's repositories offer the fixed version."""
    client = RepoClient(
        base_dir=project.root, cache_dir=project.cache_dir, limits=project.fetch_limits
    )
    newest: dict[tuple[str, str], dict[str, str] | None] = {}
    result = []
    for finding in findings:
        key = (finding.framework, finding.arch)
        if key not in newest:
            try:
                _path, lock = read_lock(project, finding.framework)
                newest[key] = _newest(client, lock, finding.arch, lock_keyring(lock))
            except BuildkitError as err:
                reporter.info(f"warning: cannot tell which fixes are available: {err}")
                newest[key] = None
        offered = (newest[key] or {}).get(finding.package)
        available = None if newest[key] is None else False
        if offered is not None:
            try:
                available = parse_version(offered) >= parse_version(finding.fixed_in)
            except BuildkitError:
                available = None
        result.append(replace(finding, fix_available=available))
    return result


def lock_keyring(lock: Lockfile) -> Keyring:
    return Keyring.from_pems({key_name(k.url): k.content.encode() for k in lock.keyring})


def _lock_packages(
    project: ProjectConfig, options: ScanOptions
) -> tuple[list[Installed], set[str]]:
    infos = PackageInfos(project)
    packages: list[Installed] = []
    uncovered: set[str] = set()
    for name in lockfile_names(project, options.frameworks):
        path, lock = read_lock(project, name)
        found, missing = locked_packages(
            project,
            name,
            lock,
            location=_relative(project, path),
            infos=infos,
            archs=options.archs,
        )
        packages += found
        uncovered |= missing
    return packages, uncovered


def _sbom_packages(project: ProjectConfig, options: ScanOptions) -> list[Installed]:
    packages: list[Installed] = []
    for path in options.sboms:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise SecDbError(f"cannot read SBOM: {exc.strerror}", where=str(path)) from None
        name = path.name.removesuffix(".json").removesuffix(".spdx")
        found, distro = sbom_packages(data, where=_relative(project, path), name=name)
        database = "" if options.databases else distro_database(distro)
        if not options.databases and database is None:
            raise UsageError(
                f"no known security database for the SBOM's distribution {distro or '?'!r}",
                where=str(path),
                hint="name one with --db URL_OR_PATH",
            )
        if options.archs:
            found = [p for p in found if p.arch in options.archs]
        packages += [replace(p, database=database or "") for p in found]
    return packages


# --------------------------------------------------------------------------------------------
# What lock shows: ids an update fixes, and outdated packages


ChangeKey = tuple[str, str, str]  # framework, arch, package


class FixLookup:
    """Ids fixed between two versions of a locked package; quiet when no database answers."""

    def __init__(
        self,
        project: ProjectConfig,
        loader: DatabaseLoader | None = None,
        reporter: Reporter | None = None,
    ) -> None:
        self.project = project
        self.reporter = reporter or BaseReporter()
        self.loader = loader or DatabaseLoader(project, reporter=self.reporter)
        self.infos = PackageInfos(project)
        self._failed: set[str] = set()

    def database(self, url: str) -> SecDb | None:
        location = database_for(repository_of(url), self.project.scan_databases)
        if location is None or location in self._failed:
            return None
        try:
            loaded: LoadedDb = self.loader.load(location)
        except BuildkitError as err:
            self._failed.add(location)
            self.reporter.info(f"warning: fixed ids not shown: {err}")
            return None
        return loaded.db

    def fixed(self, lock: Lockfile, arch: str, name: str, old: str, new: str) -> tuple[str, ...]:
        entry = next((p for p in lock.packages if p.architecture == arch and p.name == name), None)
        db = self.database(entry.url) if entry else None
        if entry is None or db is None:
            return ()
        info = self.infos.get(entry)
        package = Installed(
            framework="", arch=arch, name=name, version=old, origin=info.origin if info else ""
        )
        try:
            return fixed_between(old, new, fixes_for(package, db))
        except BuildkitError:
            return ()


@dataclass(frozen=True, kw_only=True)
class Outdated:
    framework: str
    arch: str
    package: str
    locked: str
    newest: str
    fixes: tuple[str, ...]


def outdated(
    project: ProjectConfig, names: Sequence[str], reporter: Reporter | None = None
) -> list[Outdated]:
    """Locked packages with newer versions in their lockfile's repositories (writes nothing)."""
    client = RepoClient(
        base_dir=project.root, cache_dir=project.cache_dir, limits=project.fetch_limits
    )
    lookup = FixLookup(project, reporter=reporter)
    rows: list[Outdated] = []
    for name in lockfile_names(project, names):
        _path, lock = read_lock(project, name)
        keyring = lock_keyring(lock)
        for arch in lock.archs():
            newest = _newest(client, lock, arch, keyring)
            for package in lock.packages_for(arch):
                best = newest.get(package.name)
                if best is None or parse_version(best) <= parse_version(package.version):
                    continue
                fixes = lookup.fixed(lock, arch, package.name, package.version, best)
                rows.append(
                    Outdated(
                        framework=name,
                        arch=arch,
                        package=package.name,
                        locked=package.version,
                        newest=best,
                        fixes=fixes,
                    )
                )
    return rows


def _newest(client: RepoClient, lock: Lockfile, arch: str, keyring: Keyring) -> dict[str, str]:
    newest: dict[str, str] = {}
    for repo in lock.repositories:
        if repo.architecture != arch:
            continue
        base = repository_of(repo.url)
        if client.index_missing(base, arch):
            continue
        for record in client.index(base, arch, keyring=keyring).records:
            have = newest.get(record.name)
            if have is None or parse_version(have) < parse_version(record.version):
                newest[record.name] = record.version
    return newest
