"""Where scan's inputs come from (the I/O edge): databases, lockfiles, package metadata.

- Databases are configured per repository in buildkit.toml (``[scan.databases]``: repository
  URL -> database URL or path); known defaults cover Wolfi and Alpine. A remote database is
  fetched through the same revalidating cache as indexes (``<cache>/secdb``, ``ETag`` /
  ``If-Modified-Since``), checked before it replaces the cached copy, and served from the
  cache with a warning when its server does not answer.
- A locked package's origin, licence and installed size come from its ``.PKGINFO``: the
  verified copy in the package cache (remote repositories) or the file on disk (local ones).
"""

from __future__ import annotations

import base64
import hashlib
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from pathlib import Path

from buildkit.apk.gzmembers import iter_members, parse_tar
from buildkit.apk.pkginfo import PkgInfo, parse_pkginfo
from buildkit.errors import BuildkitError, FetchError, SecDbError
from buildkit.events import BaseReporter, Reporter
from buildkit.lockfile import LockedPackage, Lockfile
from buildkit.project.config import ProjectConfig
from buildkit.repo import HttpFetcher, PackageCache, RetryPolicy, RevalidatingCache, is_remote
from buildkit.scan.match import Installed
from buildkit.scan.report import DatabaseInfo
from buildkit.secdb import SecDb, parse_secdb

WOLFI_DB = "https://packages.wolfi.dev/os/security.json"
KNOWN_DATABASES: tuple[tuple[str, str], ...] = (("https://packages.wolfi.dev/os", WOLFI_DB),)
# Alpine's mirrors: <mirror>/alpine/<branch>/<repo> -> secdb.alpinelinux.org/<branch>/<repo>.json
_ALPINE = re.compile(r"^https?://[^/]+(?:/[^/]+)*/alpine/(v\d+\.\d+|edge)/(main|community)$")


def repository_of(url: str) -> str:
    """``<repo>/<arch>/<file>`` (a locked package or index URL) -> ``<repo>``."""
    return url.rsplit("/", 2)[0]


def database_for(repository: str, configured: Sequence[tuple[str, str]]) -> str | None:
    """The database covering ``repository``: buildkit.toml first, then the known defaults."""
    repo = repository.rstrip("/")
    for prefix, database in (*configured, *KNOWN_DATABASES):
        if repo == prefix.rstrip("/"):
            return database
    found = _ALPINE.match(repo)
    if found:
        return f"https://secdb.alpinelinux.org/{found[1]}/{found[2]}.json"
    return None


@dataclass(frozen=True, kw_only=True)
class LoadedDb:
    db: SecDb
    info: DatabaseInfo


class DatabaseLoader:
    """Loads each database once per run, through the revalidating cache."""

    def __init__(
        self,
        project: ProjectConfig,
        *,
        fetcher: HttpFetcher | None = None,
        now: Callable[[], float] = time.time,
        reporter: Reporter | None = None,
    ) -> None:
        self.project = project
        self.reporter = reporter or BaseReporter()
        # Fewer tries than for indexes: an outage falls back to the cache, so fail fast.
        policy = RetryPolicy(attempts=2, backoff=0.5, timeout=20.0)
        self._cache = RevalidatingCache(
            project.cache_dir / "secdb", fetcher or HttpFetcher(policy, limits=project.fetch_limits)
        )
        self._now = now
        self._loaded: dict[str, LoadedDb] = {}

    def load(self, location: str) -> LoadedDb:
        if location not in self._loaded:
            self._loaded[location] = (
                self._remote(location) if is_remote(location) else self._local(location)
            )
        return self._loaded[location]

    def _remote(self, url: str) -> LoadedDb:
        parsed: list[SecDb] = []

        def check(data: bytes) -> None:
            parsed.append(parse_secdb(data, where=url))

        try:
            data = self._cache.get(url, check=check)
            stale = False
        except FetchError as err:
            cached = self._cache.cached(url)
            if cached is None:
                raise FetchError(
                    f"security database unavailable and not cached: {err.message}",
                    where=url,
                    hint="check the network, or configure a reachable copy in buildkit.toml "
                    "[scan.databases]",
                ) from None
            data = cached[0]
            stale = True
            self.reporter.info(f"warning: {url}: {err.message}; using the cached copy")
        db = parsed[0] if parsed else parse_secdb(data, where=url)
        meta = self._cache.cached(url)
        modified = _http_time(meta[1].get("last_modified", "")) if meta else None
        return LoadedDb(db=db, info=self._info(db, modified, stale=stale))

    def _local(self, location: str) -> LoadedDb:
        path = Path(location.removeprefix("file://"))
        path = path if path.is_absolute() else self.project.root / path
        try:
            data = path.read_bytes()
            modified = path.stat().st_mtime
        except OSError as exc:
            raise SecDbError(
                f"cannot read security database: {exc.strerror}", where=str(path)
            ) from None
        db = parse_secdb(data, where=str(path))
        return LoadedDb(db=db, info=self._info(db, modified, stale=False))

    def _info(self, db: SecDb, modified: float | None, *, stale: bool) -> DatabaseInfo:
        age = "unknown" if modified is None else _age(self._now() - modified)
        return DatabaseInfo(source=db.source, entries=db.entries, age=age, stale=stale)


def _http_time(text: str) -> float | None:
    try:
        return parsedate_to_datetime(text).timestamp() if text else None
    except (TypeError, ValueError):
        return None


def _age(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 3600:
        return f"{int(seconds // 60)} min"
    if seconds < 2 * 86400:
        return f"{int(seconds // 3600)} h"
    return f"{int(seconds // 86400)} d"


# --------------------------------------------------------------------------------------------
# Package metadata from the package cache or the local repository


class PackageInfos:
    """The ``.PKGINFO`` of locked packages, read from where ``lock`` left them (no network)."""

    def __init__(self, project: ProjectConfig) -> None:
        self.project = project
        self._cache = PackageCache(project.cache_dir / "packages")
        self._seen: dict[str, PkgInfo | None] = {}

    def get(self, package: LockedPackage) -> PkgInfo | None:
        if package.checksum not in self._seen:
            self._seen[package.checksum] = self._read(package)
        return self._seen[package.checksum]

    def _read(self, package: LockedPackage) -> PkgInfo | None:
        """Only the control member is read (its range is in the lockfile): a JDK package is
        hundreds of megabytes, its ``.PKGINFO`` a few hundred bytes."""
        bounds = package.control.bounds()
        if bounds is None:
            return None
        if is_remote(package.url):
            try:
                path = self._cache.path_for(package.checksum)
            except BuildkitError:
                return None
        else:
            path = self.project.root / package.url.removeprefix("file://")
        start, end = bounds
        try:
            with path.open("rb") as file:
                file.seek(start)
                chunk = file.read(end - start + 1)
            if package_identity(chunk) != package.checksum:
                return None  # damaged or another package: its metadata is not this one's
            member = next(iter_members(chunk, where=str(path)))
            for entry in parse_tar(member.data, where=str(path)):
                if entry.name.removeprefix("./") == ".PKGINFO" and entry.is_file:
                    return parse_pkginfo(entry.content, where=f"{path}:.PKGINFO")
        except (BuildkitError, OSError, StopIteration):
            pass  # metadata is a courtesy here: the locked version is what is scanned
        return None


def package_identity(control: bytes) -> str:
    """``Q1`` + base64(SHA-1) of a compressed control member: the identity it must have."""
    return "Q1" + base64.b64encode(hashlib.sha1(control, usedforsecurity=False).digest()).decode()


def locked_packages(
    project: ProjectConfig,
    framework: str,
    lock: Lockfile,
    *,
    location: str,
    infos: PackageInfos,
    archs: Sequence[str] = (),
) -> tuple[list[Installed], set[str]]:
    """Every locked package of the selected archs, with its origin and database; and the
    repositories that no database covers."""
    uncovered: set[str] = set()
    found = []
    for package in lock.packages:
        if archs and package.architecture not in archs:
            continue
        repo = repository_of(package.url)
        database = database_for(repo, project.scan_databases) or ""
        if not database:
            uncovered.add(repo)
        info = infos.get(package) if database else None
        found.append(
            Installed(
                framework=framework,
                arch=package.architecture,
                name=package.name,
                version=package.version,
                origin=info.origin if info and info.origin else "",
                database=database,
                location=location,
            )
        )
    return found, uncovered


def distro_database(namespace: str) -> str | None:
    """The default database for an SBOM whose package URLs name ``namespace``."""
    return {"wolfi": WOLFI_DB}.get(namespace)
