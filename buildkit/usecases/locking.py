"""``lock``: resolve every framework into ``lockfiles/<framework>.lock.json`` (apko's format).

For each framework and each of its archs, the requested packages are resolved against the
framework's repositories (``buildkit.resolve``), each chosen package's .apk is fetched and
verified (``buildkit.repo``), and its member ranges and checksums go into the lockfile.

- Cross-arch consistency: by default every arch gets the same version of a package (only
  versions present on every arch that has the package are candidates). If that still leaves
  versions differing, lock fails listing them; ``allow_arch_skew`` resolves archs separately,
  as ``apko lock`` does.
- ``update``: only the named packages move; every other package keeps its locked version while
  that version still satisfies the request.
- ``check``: resolve keeping every locked version, write nothing; a lockfile is stale when it
  is missing or differs from that result (config checksum, keyring, repositories, packages).
- All-or-nothing: every framework is resolved before anything is written, and each write is
  atomic, so an error leaves the existing lockfiles byte for byte as they were.
- Each arch is an :class:`ArchLocker`: it owns that arch's indexes (a Wolfi index is 200k
  records) and does the parsing, resolving and package checks. ``lock_project`` runs one per
  arch in a worker process, so archs proceed in parallel; only small values cross over
  (version columns, constraints, lock entries). :func:`lock_framework` runs them in-process.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from multiprocessing.context import ForkServerContext, SpawnContext
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from buildkit.actions.lock_check import keyring_entries, lock_repositories
from buildkit.apk.keys import Keyring
from buildkit.apk.package import ApkLayout
from buildkit.collector import PAUSED, off_for_process
from buildkit.errors import BuildkitError, LockError, ResolveError, StaleLockError
from buildkit.events import BaseReporter, Reporter
from buildkit.framework import Framework, Repository
from buildkit.hints import fixed_by, lock_command, missing_lockfile, run
from buildkit.lazy import lazy_module
from buildkit.lockfile import (
    UNSIGNED,
    LockConfig,
    LockedPackage,
    Lockfile,
    LockKey,
    LockRange,
    PackageChange,
    describe_differences,
    diff,
    write_lockfile,
)
from buildkit.project.config import ProjectConfig
from buildkit.project.layout import (
    framework_name,
    framework_paths,
    load_project_framework,
    lockfile_path,
    packages_for_frameworks,
)
from buildkit.repo import FetchLimits, RepoClient, package_location, repo_sources
from buildkit.resolve import RepoSource, Resolved, resolve
from buildkit.resolve.arch_consistency import (
    Columns,
    VersionMap,
    restrictions_from_columns,
    version_columns,
)
from buildkit.usecases.lock_inputs import (
    cached_resolutions,
    check_update_names_early,
    read_existing,
    refuse_unknown_update_names,
)
from buildkit.usecases.staleness import remember_sections
from buildkit.usecases.worker_death import RssWatch, death_cause

if TYPE_CHECKING:
    from buildkit.usecases import package_builds
else:  # only when the frameworks request local packages (not on a warm lock --check)
    package_builds = lazy_module("buildkit.usecases.package_builds")

_FETCH_THREADS = 8  # package downloads are I/O bound; verification releases the GIL in zlib


@dataclass(frozen=True, kw_only=True)
class LockOptions:
    names: tuple[str, ...] = ()  # frameworks to lock; () = every frameworks/*.yaml
    check: bool = False
    update: tuple[str, ...] = ()  # package names to move; the rest keep their pins
    allow_arch_skew: bool = False
    allow_untrusted: bool = False
    parallel: bool = True  # one worker process per arch (when there are several)
    semantics: str = "apko"  # or "apk-tools": install_if and provider choice as apk decides
    cache: bool = True  # reuse a resolution whose inputs are unchanged (resolution_cache)
    packages: bool = True  # build the local packages the frameworks request first


@dataclass(frozen=True, kw_only=True)
class LockResult:
    """One framework's fresh lock next to what is on disk."""

    framework: Framework
    path: Path
    new: Lockfile
    old: Lockfile | None  # None: missing or unreadable
    old_bytes: bytes | None  # None: missing
    problem: str | None = None  # why the old lockfile could not be read

    @property
    def changed(self) -> bool:
        return self.old_bytes != self.new.to_json()

    @property
    def changes(self) -> list[PackageChange]:
        return diff(self.old, self.new)

    @property
    def differences(self) -> list[str]:
        """What differs besides package entries, one line each."""
        if self.old_bytes is None:
            return [f"framework {self.framework.name} has no lockfile"]
        if self.old is None:
            return [f"lockfile is unreadable: {self.problem}"]
        notes = describe_differences(self.old, self.new)
        if self.changed and not notes and not self.changes:
            notes.append("formatting differs from the canonical form")
        return notes


# --------------------------------------------------------------------------------------------
# One arch: load indexes, resolve, lock packages


@dataclass(frozen=True, kw_only=True)
class ArchJob:
    """What an arch locker needs for one framework (picklable: it crosses to workers)."""

    framework: str
    config: str  # "frameworks/demo.yaml"
    context: str  # "frameworks/demo.yaml (framework demo, arch x86_64)": where errors happened
    repositories: tuple[Repository, ...]
    pems: tuple[tuple[str, bytes], ...]  # the keyring
    requests: tuple[str, ...]
    semantics: str = "apko"


@dataclass(frozen=True, kw_only=True)
class ArchConstraints:
    allowed: VersionMap | None = None  # cross-arch consistency
    preferred: dict[str, str] | None = None  # pins to keep where still valid


class ArchLocker:
    """Loads the indexes of one arch and locks frameworks against them."""

    def __init__(self, client: RepoClient, arch: str) -> None:
        self.client = client
        self.arch = arch
        self._sources: dict[str, list[RepoSource]] = {}
        self._keyrings: dict[str, Keyring] = {}

    def load(self, jobs: Sequence[ArchJob], versions: bool) -> Loaded:
        """Fetch and parse each job's indexes; their (name, version) columns when
        ``versions`` (see arch_consistency)."""
        maps: dict[str, Columns] = {}
        warnings: list[str] = []
        for job in jobs:
            keyring = Keyring.from_pems(dict(job.pems))
            with fixed_by(lock_command(job.framework)):
                sources = repo_sources(
                    job.repositories, self.client, self.arch, keyring, warn=warnings.append
                )
            self._keyrings[job.framework], self._sources[job.framework] = keyring, sources
            if versions:
                maps[job.framework] = version_columns(sources)
        warnings += self.client.take_warnings()
        return Loaded(maps=maps, warnings=tuple(dict.fromkeys(warnings)))

    def lock(self, work: Sequence[tuple[ArchJob, ArchConstraints]]) -> Locked:
        """Resolve each job under its constraints; the verified lock entries, install order."""
        chosen = {job.framework: self._resolve(job, limits) for job, limits in work}
        items = [(job, item) for job, _limits in work for item in chosen[job.framework]]

        def layout(pair: tuple[ArchJob, Resolved]) -> ApkLayout:
            job, item = pair
            keyring = self._keyrings[job.framework]
            with fixed_by(lock_command(job.framework)):
                return self.client.layout(item.record, item.source.name, self.arch, keyring=keyring)

        with ThreadPoolExecutor(max_workers=_FETCH_THREADS) as pool:
            layouts = list(pool.map(layout, items))
        locked: dict[str, list[LockedPackage]] = {name: [] for name in chosen}
        for (job, item), found in zip(items, layouts, strict=True):
            locked[job.framework].append(_locked(self.arch, item, found))
        return Locked(
            packages={name: tuple(packages) for name, packages in locked.items()},
            warnings=self.client.take_warnings(),
        )

    def _resolve(self, job: ArchJob, limits: ArchConstraints) -> tuple[Resolved, ...]:
        with fixed_by(lock_command(job.framework), first=f"edit {job.config}"):
            return self._resolve_job(job, limits)

    def _resolve_job(self, job: ArchJob, limits: ArchConstraints) -> tuple[Resolved, ...]:
        try:
            return resolve(
                job.requests,
                self._sources[job.framework],
                arch=self.arch,
                allowed_versions=limits.allowed,
                preferred_versions=limits.preferred,
                context=job.context,
                semantics=job.semantics,
            )
        except ResolveError as err:
            missing = [
                r.url for r in job.repositories if self.client.index_missing(r.url, self.arch)
            ]
            if not missing or err.hint:
                raise
            raise ResolveError(
                err.message,
                where=err.where,
                hint=f"local repositories without an {self.arch} index: {', '.join(missing)}; "
                f"build the local packages first: {run(lock_command(job.framework))} without "
                "--skip-packages",
            ) from None


def _locked(arch: str, item: Resolved, layout: ApkLayout) -> LockedPackage:
    record = item.record
    signature = (
        LockRange(range=layout.signature.range, checksum=layout.signature_checksum)
        if layout.signature is not None
        else UNSIGNED
    )
    return LockedPackage(
        name=record.name,
        url=package_location(item.source.name, arch, record),
        version=record.version,
        architecture=record.arch or arch,
        signature=signature,
        control=LockRange(range=layout.control.range, checksum=layout.control_checksum),
        data=LockRange(range=layout.data.range, checksum=layout.data_checksum),
        checksum=record.checksum,
    )


# --------------------------------------------------------------------------------------------
# Running arch lockers here or in worker processes


@dataclass(frozen=True, kw_only=True)
class ClientSettings:
    """What a worker process needs to make a :class:`RepoClient` equal to the parent's."""

    base_dir: Path
    cache_dir: Path
    allow_untrusted: bool
    limits: FetchLimits

    @classmethod
    def of(cls, client: RepoClient) -> ClientSettings:
        return cls(**client.settings())

    def client(self) -> RepoClient:
        return RepoClient(
            base_dir=self.base_dir,
            cache_dir=self.cache_dir,
            allow_untrusted=self.allow_untrusted,
            limits=self.limits,
        )


@dataclass(frozen=True, kw_only=True)
class Loaded:
    """What loading one arch's indexes gives back: version columns and warnings to report."""

    maps: dict[str, Columns]
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Locked:
    """What locking on one arch gives back: each framework's entries and warnings to report
    (a damaged cached package fetched again, say)."""

    packages: dict[str, tuple[LockedPackage, ...]]
    warnings: tuple[str, ...] = ()


class ArchRunner:
    """One arch locker, run in this process or in a worker process of its own.

    ``load`` and ``lock`` return futures, so that every arch's call is issued before any
    result is awaited: worker processes run concurrently; in this process, a call simply
    runs at once. Errors cross the process boundary by pickling (BuildkitError keeps its
    attributes); a worker that dies says so, with the signal that ended it when known.
    """

    def __init__(
        self, arch: str, client: RepoClient, *, in_process: bool, watch: RssWatch | None = None
    ) -> None:
        self.arch = arch
        self._watch = watch
        self._known: dict[int, multiprocessing.process.BaseProcess] = {}
        self._local = ArchLocker(client, arch) if in_process else None
        self._pool = (
            None
            if in_process
            else ProcessPoolExecutor(
                max_workers=1,
                mp_context=_process_context(),
                initializer=_start_worker,
                initargs=(ClientSettings.of(client), arch),
            )
        )

    def load(self, jobs: Sequence[ArchJob], versions: bool) -> Callable[[], Loaded]:
        if self._pool is None:
            assert self._local is not None
            return _done(self._local.load(jobs, versions))
        return self._result(self._submitted(self._pool.submit(_worker_load, jobs, versions)))

    def lock(self, work: Sequence[tuple[ArchJob, ArchConstraints]]) -> Callable[[], Locked]:
        if self._pool is None:
            assert self._local is not None
            return _done(self._local.lock(work))
        return self._result(self._submitted(self._pool.submit(_worker_lock, work)))

    def _submitted(self, future: Future[T]) -> Future[T]:
        """Remember the worker processes (their exit status explains a death later) and put
        them under the RSS watch."""
        for pid, process in getattr(self._pool, "_processes", {}).items():
            self._known[pid] = process
            if self._watch is not None:
                self._watch.watch(pid)
        return future

    def _result(self, future: Future[T]) -> Callable[[], T]:
        def result() -> T:
            try:
                return future.result()
            except BrokenProcessPool:
                raise BuildkitError(
                    f"the {self.arch} lock worker exited unexpectedly{self._death()}",
                    hint="nothing was written; `dmesg` shows why the kernel ended it",
                ) from None

        return result

    def _death(self) -> str:
        """Why the worker died (" (killed by SIGKILL, signal 9: out of memory ...)"), as far
        as its exit status, the RSS watch and the kernel's log tell."""
        for pid, process in self._known.items():
            process.join(timeout=5)  # the pool is ending it; its status is due at once
            if process.exitcode is not None and process.exitcode < 0:
                killed = self._watch is not None and pid in self._watch.killed
                limit = self._watch.limit if killed and self._watch is not None else None
                return death_cause(process.exitcode, pid, rss_limit=limit)
        return ""

    def close(self) -> None:
        # Results are in (or an error is on its way up): nothing the worker still holds
        # matters, and its cache writes are atomic. Ending it beats waiting for an
        # interpreter with a 200k-record index to tear itself down.
        if self._pool is not None:
            processes = list(getattr(self._pool, "_processes", {}).values())
            self._pool.shutdown(wait=False, cancel_futures=True)
            for process in processes:
                process.terminate()
                process.join()


T = TypeVar("T")


def _done(value: T) -> Callable[[], T]:
    return lambda: value


def _process_context() -> ForkServerContext | SpawnContext:
    # Not "fork": the parent may run threads (an HTTP server in tests, a progress bar), and
    # forking those mid-lock can deadlock the child.
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        # The server imports this module once and each worker forks with it: otherwise
        # every worker imports it anew before it can start (effective until it runs).
        context.set_forkserver_preload([__name__])
        return context
    return multiprocessing.get_context("spawn")


_WORKER: ArchLocker | None = None  # the worker process's locker (set by its initializer)


def _start_worker(settings: ClientSettings, arch: str) -> None:
    global _WORKER  # noqa: PLW0603 - one locker per worker process, made by the initializer
    _WORKER = ArchLocker(settings.client(), arch)
    off_for_process()  # see buildkit.collector; the worker lives only for this lock run


def _worker() -> ArchLocker:
    if _WORKER is None:
        raise RuntimeError("lock worker used before its initializer ran")
    return _WORKER


def _worker_load(jobs: Sequence[ArchJob], versions: bool) -> Loaded:
    return _worker().load(jobs, versions)


def _worker_lock(work: Sequence[tuple[ArchJob, ArchConstraints]]) -> Locked:
    return _worker().lock(work)


@contextlib.contextmanager
def _runners(
    archs: Sequence[str], client: RepoClient, *, parallel: bool, memory_limit: int | None = None
) -> Iterator[dict[str, ArchRunner]]:
    """One runner per arch; worker processes (when parallel) are killed past
    ``memory_limit`` bytes of RSS, and their death then says so."""
    in_process = not (parallel and len(archs) > 1 and (os.cpu_count() or 1) > 1)
    watch = RssWatch(memory_limit) if memory_limit and not in_process else None
    runners: dict[str, ArchRunner] = {}
    try:
        for arch in archs:
            runners[arch] = ArchRunner(arch, client, in_process=in_process, watch=watch)
        yield runners
    finally:
        for runner in runners.values():
            runner.close()
        if watch is not None:
            watch.close()


# --------------------------------------------------------------------------------------------
# Locking frameworks


def lock_framework(
    framework: Framework,
    client: RepoClient,
    *,
    pins: Mapping[str, Mapping[str, str]] | None = None,
    allow_arch_skew: bool = False,
    reporter: Reporter | None = None,
) -> Lockfile:
    """Resolve and lock ``framework`` for each of its archs, in this process.

    ``pins`` maps arch -> {package: version} to keep where still valid (None: resolve fresh).
    """
    with _runners(framework.archs, client, parallel=False) as runners:
        return _lock_frameworks(
            [framework],
            client,
            runners,
            reporter or BaseReporter(),
            pins={framework.name: pins},
            skew=allow_arch_skew,
        )[framework.name]


def _lock_frameworks(
    frameworks: Sequence[Framework],
    client: RepoClient,
    runners: Mapping[str, ArchRunner],
    reporter: Reporter,
    *,
    pins: Mapping[str, Mapping[str, Mapping[str, str]] | None],
    skew: bool,
    semantics: str = "apko",
) -> dict[str, Lockfile]:
    """Lock several frameworks with one arch locker per arch (indexes loaded once)."""
    keys = {fw.name: load_keyring(fw, client) for fw in frameworks}
    jobs = {
        arch: [
            _job(fw, arch, keys[fw.name].pems, semantics) for fw in frameworks if arch in fw.archs
        ]
        for arch in runners
    }
    loading = {arch: runners[arch].load(jobs[arch], not skew) for arch in runners}
    loaded = {arch: result() for arch, result in loading.items()}
    for found in loaded.values():
        for warning in found.warnings:
            reporter.info(warning)
    work = _constraints(jobs, {arch: found.maps for arch, found in loaded.items()}, pins)
    locking = {arch: runners[arch].lock(work.get(arch, [])) for arch in runners}
    locked = {arch: result() for arch, result in locking.items()}
    for done in locked.values():
        for warning in done.warnings:
            reporter.info(warning)
    lockfiles = {}
    for fw in frameworks:
        per_arch = {arch: locked[arch].packages[fw.name] for arch in fw.archs}
        if not skew:
            check_arch_skew(fw, per_arch)
        lockfiles[fw.name] = _lockfile(fw, keys[fw.name].entries, per_arch)
    return lockfiles


def _job(
    framework: Framework, arch: str, pems: Mapping[str, bytes], semantics: str = "apko"
) -> ArchJob:
    return ArchJob(
        semantics=semantics,
        framework=framework.name,
        config=framework.config_name,
        context=f"{framework.config_name} (framework {framework.name}, arch {arch})",
        repositories=framework.resolution_repositories,
        pems=tuple(pems.items()),
        requests=framework.contents.packages,
    )


def _constraints(
    jobs: Mapping[str, Sequence[ArchJob]],
    maps: Mapping[str, Mapping[str, Columns]],
    pins: Mapping[str, Mapping[str, Mapping[str, str]] | None],
) -> dict[str, list[tuple[ArchJob, ArchConstraints]]]:
    """Each arch's jobs with their cross-arch restrictions (empty ``maps``: none) and pins."""
    limits: dict[tuple[str, str], VersionMap] = {}
    for name in {job.framework for arch_jobs in jobs.values() for job in arch_jobs}:
        per_arch = {arch: found[name] for arch, found in maps.items() if name in found}
        if len(per_arch) >= 2:
            for arch, allowed in restrictions_from_columns(per_arch).items():
                limits[arch, name] = allowed
    work: dict[str, list[tuple[ArchJob, ArchConstraints]]] = {}
    for arch, arch_jobs in jobs.items():
        for job in arch_jobs:
            preferred = (pins.get(job.framework) or {}).get(arch)
            constraint = ArchConstraints(
                allowed=limits.get((arch, job.framework)),
                preferred=dict(preferred) if preferred else None,
            )
            work.setdefault(arch, []).append((job, constraint))
    return work


@dataclass(frozen=True, kw_only=True)
class FrameworkKeyring:
    """The keyring a framework names: file name -> PEM, and its lock entries sorted by name as
    apko sorts them."""

    pems: Mapping[str, bytes]
    entries: tuple[LockKey, ...]


def load_keyring(framework: Framework, client: RepoClient) -> FrameworkKeyring:
    """The keyring named in the config, each key checked."""
    with fixed_by(lock_command(framework.name)):
        pems = {location: client.key(location) for location in framework.contents.keyring}
        keys, entries = keyring_entries(framework, pems)
    return FrameworkKeyring(pems=keys, entries=entries)


def check_arch_skew(framework: Framework, per_arch: Mapping[str, Sequence[LockedPackage]]) -> None:
    """Fail when a package was locked at different versions on different archs."""
    versions: dict[str, dict[str, str]] = {}
    for arch, packages in per_arch.items():
        for package in packages:
            versions.setdefault(package.name, {})[arch] = package.version
    skewed = {
        name: found for name, found in sorted(versions.items()) if len(set(found.values())) > 1
    }
    if skewed:
        listing = "; ".join(
            f"{name} " + ", ".join(f"{arch}={version}" for arch, version in found.items())
            for name, found in skewed.items()
        )
        raise ResolveError(
            f"package versions differ between archs: {listing}",
            where=framework.config_name,
            hint="wait for the repository to catch up, pin versions, or resolve each arch on "
            f"its own: {run(lock_command(framework.name, '--allow-arch-skew'))}",
        )


def _lockfile(
    framework: Framework,
    keys: tuple[LockKey, ...],
    per_arch: Mapping[str, Sequence[LockedPackage]],
) -> Lockfile:
    archs = framework.archs
    return Lockfile(
        config=LockConfig(name=framework.config_name, checksum=framework.checksum),
        keyring=keys,
        build_repositories=lock_repositories(framework.contents.build_repositories, archs),
        runtime_repositories=lock_repositories(framework.contents.runtime_repositories, archs),
        repositories=lock_repositories(framework.contents.repositories, archs),
        packages=tuple(package for arch in archs for package in per_arch[arch]),
    )


def lock_project(
    project: ProjectConfig, options: LockOptions, *, reporter: Reporter | None = None
) -> list[LockResult]:
    """Build the local packages the selected frameworks request (action-cached), resolve the
    frameworks, and write the changed lockfiles unless ``check``."""
    reporter = reporter or BaseReporter()
    if options.packages and any(project.packages_dir.glob("*.yaml")):
        # Local packages are locked like any other: they must exist (built, signed, indexed)
        # before resolution. The action cache makes this a no-op when nothing changed.
        # A package config fixed, the frameworks being locked are locked again.
        selected = [framework_name(p) for p in framework_paths(project, options.names)]
        with fixed_by(lock_command(*selected)):
            local = packages_for_frameworks(project, options.names)
            if local:
                package_builds.build_local_packages(
                    project, project.archs, local, reporter=reporter
                )
    client = RepoClient(
        base_dir=project.root,
        cache_dir=project.cache_dir,
        allow_untrusted=options.allow_untrusted,
        limits=project.fetch_limits,
        warn=reporter.info,
    )
    paths = framework_paths(project, options.names)
    frameworks = [load_project_framework(project, path) for path in paths]
    existing = {fw.name: read_existing(lockfile_path(project, fw)) for fw in frameworks}
    for fw in frameworks:
        problem = existing[fw.name].problem
        if problem is not None and options.update:
            raise LockError(f"cannot update packages: {problem}")
    check_update_names_early(options.update, frameworks, existing)
    pins = {
        fw.name: _pins(existing[fw.name].lock, keep_all=options.check, moving=options.update)
        for fw in frameworks
    }
    with fixed_by(lock_command(*(fw.name for fw in frameworks))):  # an index fetched first
        cached = cached_resolutions(
            project,
            client,
            frameworks,
            existing,
            options,
            keyrings={fw.name: load_keyring(fw, client).pems for fw in frameworks}
            if options.cache
            else {},
            reporter=reporter,
        )
    lockfiles = dict(cached.found)
    todo = [fw for fw in frameworks if fw.name not in lockfiles]
    archs = tuple(dict.fromkeys(arch for fw in todo for arch in fw.archs))
    if todo:
        reporter.info(f"locking {', '.join(fw.name for fw in todo)} ({', '.join(archs)})")
        with (
            PAUSED,
            _runners(
                archs,
                client,
                parallel=options.parallel,
                memory_limit=project.lock_memory_limit,
            ) as runners,
        ):
            fresh = _lock_frameworks(
                todo,
                client,
                runners,
                reporter,
                pins=pins,
                skew=options.allow_arch_skew,
                semantics=options.semantics,
            )
        lockfiles.update(fresh)
        if cached.cache is not None:
            for name, lockfile in fresh.items():
                cached.cache.put(cached.keys[name], lockfile)
    results = [
        LockResult(
            framework=fw,
            path=lockfile_path(project, fw),
            new=lockfiles[fw.name],
            old_bytes=existing[fw.name].raw,
            old=existing[fw.name].lock,
            problem=existing[fw.name].problem,
        )
        for fw in frameworks
    ]
    _check_update_names(options.update, results)
    if not options.check:
        for result in results:  # only now, with every framework resolved
            if result.changed:
                write_lockfile(result.path, result.new)
            fw = result.framework
            remember_sections(project.cache_dir, fw.checksum, project.root / fw.config_name)
    return results


def _pins(
    old: Lockfile | None, *, keep_all: bool, moving: Collection[str]
) -> dict[str, dict[str, str]] | None:
    if old is None or not (keep_all or moving):
        return None
    return {
        arch: {name: v for name, v in old.pins(arch).items() if name not in moving}
        for arch in old.archs()
    }


def _check_update_names(update: Sequence[str], results: Sequence[LockResult]) -> None:
    known = {p.name for r in results for lock in (r.old, r.new) if lock for p in lock.packages}
    refuse_unknown_update_names(update, known, "locked or resolved")


def raise_if_stale(results: Sequence[LockResult]) -> None:
    """``lock --check``: a missing lockfile is the same error as everywhere else (the one
    from :func:`buildkit.hints.missing_lockfile`, exit 1); stale ones name the frameworks."""

    stale = [r for r in results if r.changed]
    if not stale:
        return
    missing = [r for r in stale if r.old_bytes is None]
    if len(stale) == 1 and missing:
        raise missing_lockfile(missing[0].framework.name, missing[0].path)
    names = ", ".join(str(r.path.name) for r in stale)
    raise StaleLockError(
        f"{len(stale)} lockfile(s) out of date: {names}",
        hint=f"{run(lock_command(*(r.framework.name for r in stale)))} and commit the lockfiles",
    )
