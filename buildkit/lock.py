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
  (version maps, constraints, lock entries). :func:`lock_framework` runs them in-process.
"""

from __future__ import annotations

import contextlib
import difflib
import gc
import multiprocessing
import os
import traceback
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import combinations
from multiprocessing.connection import Connection
from multiprocessing.context import ForkServerContext, SpawnContext
from pathlib import Path
from typing import Any

from buildkit import errors, ui
from buildkit.apk.keys import Keyring
from buildkit.apk.package import ApkLayout
from buildkit.config import ProjectConfig
from buildkit.errors import BuildkitError, ConfigError, LockError, ResolveError, StaleLockError
from buildkit.framework import Framework, Repository, key_name, load_framework
from buildkit.lockfile import (
    UNSIGNED,
    LockConfig,
    LockedPackage,
    Lockfile,
    LockKey,
    LockRange,
    LockRepo,
    PackageChange,
    describe_differences,
    diff,
    write_lockfile,
)
from buildkit.repo import RepoClient, index_location, package_location
from buildkit.resolve import RepoSource, Resolved, resolve

_FETCH_THREADS = 8  # package downloads are I/O bound; verification releases the GIL in zlib

VersionMap = dict[str, frozenset[str]]  # package name -> versions


@dataclass(frozen=True, kw_only=True)
class LockOptions:
    names: tuple[str, ...] = ()  # frameworks to lock; () = every frameworks/*.yaml
    check: bool = False
    update: tuple[str, ...] = ()  # package names to move; the rest keep their pins
    allow_arch_skew: bool = False
    allow_untrusted: bool = False
    parallel: bool = True  # one worker process per arch (when there are several)


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
    context: str  # "frameworks/demo.yaml (framework demo, arch x86_64)": where errors happened
    repositories: tuple[Repository, ...]
    pems: tuple[tuple[str, bytes], ...]  # the keyring
    requests: tuple[str, ...]


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

    def load(self, jobs: Sequence[ArchJob], versions: bool) -> dict[str, VersionMap]:
        """Fetch and parse each job's indexes; their version maps when ``versions``."""
        maps: dict[str, VersionMap] = {}
        for job in jobs:
            keyring = Keyring.from_pems(dict(job.pems))
            sources = repo_sources(job.repositories, self.client, self.arch, keyring)
            self._keyrings[job.framework], self._sources[job.framework] = keyring, sources
            if versions:
                maps[job.framework] = version_map(sources)
        return maps

    def lock(
        self, work: Sequence[tuple[ArchJob, ArchConstraints]]
    ) -> dict[str, tuple[LockedPackage, ...]]:
        """Resolve each job under its constraints; the verified lock entries, install order."""
        chosen = {job.framework: self._resolve(job, limits) for job, limits in work}
        items = [(job, item) for job, _limits in work for item in chosen[job.framework]]

        def layout(pair: tuple[ArchJob, Resolved]) -> ApkLayout:
            job, item = pair
            keyring = self._keyrings[job.framework]
            return self.client.layout(item.record, item.source.name, self.arch, keyring=keyring)

        with ThreadPoolExecutor(max_workers=_FETCH_THREADS) as pool:
            layouts = list(pool.map(layout, items))
        locked: dict[str, list[LockedPackage]] = {name: [] for name in chosen}
        for (job, item), found in zip(items, layouts, strict=True):
            locked[job.framework].append(_locked(self.arch, item, found))
        return {name: tuple(packages) for name, packages in locked.items()}

    def _resolve(self, job: ArchJob, limits: ArchConstraints) -> tuple[Resolved, ...]:
        try:
            return resolve(
                job.requests,
                self._sources[job.framework],
                arch=self.arch,
                allowed_versions=limits.allowed,
                preferred_versions=limits.preferred,
                context=job.context,
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
                "build the local packages first",
            ) from None


def repo_sources(
    repositories: Sequence[Repository], client: RepoClient, arch: str, keyring: Keyring
) -> list[RepoSource]:
    """The indexes packages are resolved from, in the given order; a local repository
    without an index for ``arch`` is skipped, as apko does."""
    sources = []
    for repo in repositories:
        if client.index_missing(repo.url, arch):
            ui.info(f"warning: {index_location(repo.url, arch)} does not exist; skipping it")
            continue
        index = client.index(repo.url, arch, keyring=keyring)
        sources.append(RepoSource(name=repo.url, arch=arch, tag=repo.tag, index=index))
    return sources


def version_map(sources: Sequence[RepoSource]) -> VersionMap:
    """Every package name in ``sources`` with the versions they offer."""
    found: dict[str, set[str]] = {}
    for source in sources:
        for record in source.index.records:
            found.setdefault(record.name, set()).add(record.version)
    return {name: frozenset(versions) for name, versions in found.items()}


def restrictions(per_arch: Mapping[str, VersionMap]) -> dict[str, VersionMap]:
    """Cross-arch consistency as ``allowed_versions`` for each arch.

    The versions a name may take are those present on every arch having it (what
    ``buildkit.resolve.common_versions`` computes from whole indexes). An entry only matters
    where that is fewer than the arch offers, so only those are returned: few or none, where
    the full map has a Wolfi-sized 200k names. Works on version maps, which are cheap to
    send between processes, with set operations over dict views (no Python loop per name).
    """
    maps = list(per_arch.values())
    uneven: set[str] = set()
    for first, second in combinations(maps, 2):
        same = {name for name, _versions in first.items() & second.items()}
        uneven |= (first.keys() & second.keys()) - same
    result: dict[str, VersionMap] = {arch: {} for arch in per_arch}
    for name in sorted(uneven):
        shared = frozenset.intersection(*(found[name] for found in maps if name in found))
        for arch, own in per_arch.items():
            if name in own and own[name] != shared:
                result[arch][name] = shared
    return result


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


class _Handle:
    """An arch locker, called as ``call(method, *args)`` -> a function returning the result.

    Calls to several handles are issued before any result is collected, so worker
    processes run concurrently; an in-process locker simply runs at once.
    """

    def call(self, method: str, *args: Any) -> Callable[[], Any]:
        raise NotImplementedError

    def close(self) -> None:
        pass


class _LocalHandle(_Handle):
    def __init__(self, locker: ArchLocker) -> None:
        self.locker = locker

    def call(self, method: str, *args: Any) -> Callable[[], Any]:
        result = getattr(self.locker, method)(*args)
        return lambda: result


class _WorkerHandle(_Handle):
    def __init__(self, arch: str, client_args: dict[str, Any]) -> None:
        context = _process_context()
        self.arch = arch
        self._conn, child = context.Pipe()
        self._process = context.Process(
            target=_serve, args=(child, arch, client_args), name=f"lock-{arch}", daemon=True
        )
        self._process.start()
        child.close()

    def call(self, method: str, *args: Any) -> Callable[[], Any]:
        self._conn.send((method, args))
        return self._receive

    def _receive(self) -> Any:
        try:
            status, value = self._conn.recv()
        except EOFError:
            raise BuildkitError(f"the {self.arch} lock worker exited unexpectedly") from None
        if status == "error":
            raise _load_error(value)
        if status == "crash":
            raise RuntimeError(f"the {self.arch} lock worker failed:\n{value}")
        return value

    def close(self) -> None:
        # Results are in (or an error is on its way up): nothing the worker still holds
        # matters, and its cache writes are atomic. Ending it beats waiting for an
        # interpreter with a 200k-record index to tear itself down.
        self._process.terminate()
        self._process.join()
        self._conn.close()


def _process_context() -> ForkServerContext | SpawnContext:
    # Not "fork": the parent may run threads (an HTTP server in tests, a progress bar), and
    # forking those mid-lock can deadlock the child.
    if "forkserver" in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("forkserver")
    return multiprocessing.get_context("spawn")


def _serve(conn: Connection, arch: str, client_args: dict[str, Any]) -> None:
    """A worker's loop: run ArchLocker methods until the parent ends the process."""
    locker = ArchLocker(RepoClient(**client_args), arch)
    gc.disable()  # see paused_gc; the worker lives only for this lock run
    while True:
        method, args = conn.recv()
        try:
            conn.send(("ok", getattr(locker, method)(*args)))
        except BuildkitError as err:
            conn.send(("error", _dump_error(err)))
        except OSError as exc:
            if exc.filename is None:
                conn.send(("crash", traceback.format_exc()))
                raise
            from buildkit.cli import os_error  # a file's error: one line, as in the parent

            conn.send(("error", _dump_error(os_error(exc))))
        except Exception:
            conn.send(("crash", traceback.format_exc()))
            raise


def _dump_error(err: BuildkitError) -> tuple[str, dict[str, Any]]:
    return type(err).__name__, dict(vars(err))


def _load_error(dumped: tuple[str, dict[str, Any]]) -> BuildkitError:
    # Rebuilt by hand: pickling would drop the keyword-only where= and hint=.
    name, state = dumped
    cls = getattr(errors, name, BuildkitError)
    error: BuildkitError = cls.__new__(cls)
    Exception.__init__(error, state.get("message", ""))
    vars(error).update(state)
    return error


@contextlib.contextmanager
def _handles(
    archs: Sequence[str], client: RepoClient, *, parallel: bool
) -> Iterator[dict[str, _Handle]]:
    handles: dict[str, _Handle] = {}
    try:
        for arch in archs:
            if parallel and len(archs) > 1 and (os.cpu_count() or 1) > 1:
                handles[arch] = _WorkerHandle(arch, client.settings())
            else:
                handles[arch] = _LocalHandle(ArchLocker(client, arch))
        yield handles
    finally:
        for handle in handles.values():
            handle.close()


# --------------------------------------------------------------------------------------------
# Locking frameworks


def lock_framework(
    framework: Framework,
    client: RepoClient,
    *,
    pins: Mapping[str, Mapping[str, str]] | None = None,
    allow_arch_skew: bool = False,
) -> Lockfile:
    """Resolve and lock ``framework`` for each of its archs, in this process.

    ``pins`` maps arch -> {package: version} to keep where still valid (None: resolve fresh).
    """
    with _handles(framework.archs, client, parallel=False) as handles:
        return _lock_frameworks(
            [framework], client, handles, pins={framework.name: pins}, skew=allow_arch_skew
        )[framework.name]


def _lock_frameworks(
    frameworks: Sequence[Framework],
    client: RepoClient,
    handles: Mapping[str, _Handle],
    *,
    pins: Mapping[str, Mapping[str, Mapping[str, str]] | None],
    skew: bool,
) -> dict[str, Lockfile]:
    """Lock several frameworks with one arch locker per arch (indexes loaded once)."""
    keys = {fw.name: load_keyring(fw, client) for fw in frameworks}
    jobs = {
        arch: [_job(fw, arch, keys[fw.name][0]) for fw in frameworks if arch in fw.archs]
        for arch in handles
    }
    pending = {arch: handles[arch].call("load", jobs[arch], not skew) for arch in handles}
    maps = {arch: result() for arch, result in pending.items()}
    work = _constraints(jobs, maps, pins)
    pending = {arch: handles[arch].call("lock", work.get(arch, [])) for arch in handles}
    locked = {arch: result() for arch, result in pending.items()}
    lockfiles = {}
    for fw in frameworks:
        per_arch = {arch: locked[arch][fw.name] for arch in fw.archs}
        if not skew:
            check_arch_skew(fw, per_arch)
        lockfiles[fw.name] = _lockfile(fw, keys[fw.name][1], per_arch)
    return lockfiles


def _job(framework: Framework, arch: str, pems: Mapping[str, bytes]) -> ArchJob:
    return ArchJob(
        framework=framework.name,
        context=f"{framework.config_name} (framework {framework.name}, arch {arch})",
        repositories=framework.resolution_repositories,
        pems=tuple(pems.items()),
        requests=framework.contents.packages,
    )


def _constraints(
    jobs: Mapping[str, Sequence[ArchJob]],
    maps: Mapping[str, Mapping[str, VersionMap]],
    pins: Mapping[str, Mapping[str, Mapping[str, str]] | None],
) -> dict[str, list[tuple[ArchJob, ArchConstraints]]]:
    """Each arch's jobs with their cross-arch restrictions (empty ``maps``: none) and pins."""
    limits: dict[tuple[str, str], VersionMap] = {}
    for name in {job.framework for arch_jobs in jobs.values() for job in arch_jobs}:
        per_arch = {arch: found[name] for arch, found in maps.items() if name in found}
        if len(per_arch) >= 2:
            for arch, allowed in restrictions(per_arch).items():
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


def load_keyring(
    framework: Framework, client: RepoClient
) -> tuple[dict[str, bytes], tuple[LockKey, ...]]:
    """The keyring named in the config (file name -> PEM) and its lock entries, sorted by
    name as apko sorts them."""
    pems: dict[str, bytes] = {}
    places: dict[str, str] = {}
    entries: list[LockKey] = []
    for location in framework.contents.keyring:
        pem = client.key(location)
        name = key_name(location)
        places.setdefault(name, location)
        if pems.get(name, pem) != pem:
            raise ConfigError(
                f"two different keys are named {name}",
                where=framework.config_name,
                hint="signatures find keys by file name; keep one of them",
            )
        pems[name] = pem
    Keyring(pems, where=places)  # reject a bad key here, where it is, rather than in a worker
    for location in framework.contents.keyring:
        name = key_name(location)
        if places[name] == location:
            content = pems[name].decode("ascii")  # a valid PEM key (checked above) is ASCII
            entries.append(LockKey(name=_strip_scheme(location), url=location, content=content))
    entries.sort(key=lambda entry: entry.name)
    return pems, tuple(entries)


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
            hint="wait for the repository to catch up, pin versions, or pass --allow-arch-skew",
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
        build_repositories=_repos(framework.contents.build_repositories, archs),
        runtime_repositories=_repos(framework.contents.runtime_repositories, archs),
        repositories=_repos(framework.contents.repositories, archs),
        packages=tuple(package for arch in archs for package in per_arch[arch]),
    )


def _repos(repositories: Sequence[Repository], archs: Sequence[str]) -> tuple[LockRepo, ...]:
    # apko appends each arch's repositories in turn: arch-major order.
    return tuple(
        LockRepo(
            name=_strip_scheme(f"{repo.url}/{arch}"),
            url=index_location(repo.url, arch),
            architecture=arch,
        )
        for arch in archs
        for repo in repositories
    )


def _strip_scheme(location: str) -> str:
    return location.removeprefix("https://").removeprefix("http://")


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while indexes are loaded and resolved.

    A Wolfi-sized index is 200k long-lived records per arch; every collection the
    allocations trigger walks all of them, which doubles the CPU time of a lock. Nothing
    here builds garbage cycles worth collecting, and the collector resumes afterwards.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


# --------------------------------------------------------------------------------------------
# A project: frameworks/*.yaml -> lockfiles/*.lock.json


def framework_paths(project: ProjectConfig, names: Sequence[str] = ()) -> list[Path]:
    """``frameworks/*.yaml`` (and ``*.yml``) by name, or the ones named."""
    folder = project.frameworks_dir
    found: dict[str, Path] = {}
    for path in sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]):
        stem = path.name.removesuffix(".yml").removesuffix(".yaml")
        if stem in found:
            raise ConfigError(f"two configs for framework {stem}", where=f"{found[stem]}, {path}")
        found[stem] = path
    if not names:
        if not found:
            raise ConfigError("no frameworks found", where=str(folder), hint="add <name>.yaml")
        return list(found.values())
    unknown = [name for name in names if name not in found]
    if unknown:
        raise ConfigError(
            f"unknown framework {unknown[0]!r}",
            where=str(folder),
            hint=f"known: {', '.join(found) or 'none'}",
        )
    return [found[name] for name in dict.fromkeys(names)]


def load_project_framework(project: ProjectConfig, path: Path) -> Framework:
    """Load a framework as apko will see it: relative to the project root."""
    try:
        config = path.resolve().relative_to(project.root).as_posix()
    except ValueError:
        config = str(path)
    return load_framework(config, base_dir=project.root, default_archs=project.archs)


def lockfile_path(project: ProjectConfig, framework: Framework) -> Path:
    return project.lockfiles_dir / f"{framework.name}.lock.json"


def lock_project(project: ProjectConfig, options: LockOptions) -> list[LockResult]:
    """Resolve the selected frameworks; write the changed lockfiles unless ``check``."""
    client = RepoClient(
        base_dir=project.root,
        cache_dir=project.cache_dir,
        allow_untrusted=options.allow_untrusted,
    )
    paths = framework_paths(project, options.names)
    frameworks = [load_project_framework(project, path) for path in paths]
    existing = {fw.name: _read_existing(lockfile_path(project, fw)) for fw in frameworks}
    for fw in frameworks:
        problem = existing[fw.name][2]
        if problem is not None and options.update:
            raise LockError(f"cannot update packages: {problem}")
    pins = {
        fw.name: _pins(existing[fw.name][1], keep_all=options.check, moving=options.update)
        for fw in frameworks
    }
    archs = tuple(dict.fromkeys(arch for fw in frameworks for arch in fw.archs))
    ui.info(f"locking {', '.join(fw.name for fw in frameworks)} ({', '.join(archs)})")
    with paused_gc(), _handles(archs, client, parallel=options.parallel) as handles:
        lockfiles = _lock_frameworks(
            frameworks, client, handles, pins=pins, skew=options.allow_arch_skew
        )
    results = [
        LockResult(
            framework=fw,
            path=lockfile_path(project, fw),
            new=lockfiles[fw.name],
            old_bytes=existing[fw.name][0],
            old=existing[fw.name][1],
            problem=existing[fw.name][2],
        )
        for fw in frameworks
    ]
    _check_update_names(options.update, results)
    if not options.check:
        for result in results:  # only now, with every framework resolved
            if result.changed:
                write_lockfile(result.path, result.new)
    return results


def _read_existing(path: Path) -> tuple[bytes | None, Lockfile | None, str | None]:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None, None, None
    try:
        return data, Lockfile.from_json(data, where=str(path)), None
    except LockError as err:
        return data, None, str(err)


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
    unknown = [name for name in update if name not in known]
    if unknown:
        close = difflib.get_close_matches(unknown[0], sorted(known), n=3)
        raise ConfigError(
            f"--update {unknown[0]}: no locked or resolved package has that name",
            hint=f"did you mean: {', '.join(close)}"
            if close
            else "name a package from the lockfiles (see `buildkit resolve`)",
        )


def raise_if_stale(results: Sequence[LockResult]) -> None:
    """``lock --check``: a missing lockfile is the same error as everywhere else (the one
    from :func:`buildkit.hints.missing_lockfile`, exit 1); stale ones name the frameworks."""
    from buildkit.hints import lock_command, missing_lockfile, run

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
