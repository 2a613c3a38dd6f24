"""What ``lock`` settles before resolving anything: ``--update`` names, and cached resolutions.

Both run before a single index is parsed: a typo in ``--update`` fails at once, and a
framework whose inputs are unchanged takes its lockfile from the resolution cache
(:mod:`buildkit.usecases.resolution_cache`) instead of being resolved again.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from buildkit.errors import ConfigError, LockError
from buildkit.events import Reporter
from buildkit.framework import Framework
from buildkit.fsutil import read_input
from buildkit.lockfile import Lockfile
from buildkit.project.config import ProjectConfig
from buildkit.repo import RepoClient
from buildkit.usecases.file_digests import FileDigests
from buildkit.usecases.resolution_cache import ResolutionCache, framework_key


@dataclass(frozen=True, kw_only=True)
class ExistingLock:
    """A framework's lockfile as it is on disk before locking."""

    raw: bytes | None = None  # None: missing
    lock: Lockfile | None = None  # None: missing or unreadable
    problem: str | None = None  # why it could not be read


def read_existing(path: Path) -> ExistingLock:
    try:
        data = read_input(path, "lockfile")
    except FileNotFoundError:
        return ExistingLock()
    except OSError as exc:
        raise LockError(f"cannot read lockfile: {exc.strerror}", where=str(path)) from None
    try:
        return ExistingLock(raw=data, lock=Lockfile.from_json(data, where=str(path)))
    except LockError as err:
        return ExistingLock(raw=data, problem=str(err))


class CacheSettings(Protocol):
    """The lock options a resolution's cache key depends on (``locking.LockOptions``)."""

    @property
    def cache(self) -> bool: ...
    @property
    def semantics(self) -> str: ...
    @property
    def allow_arch_skew(self) -> bool: ...
    @property
    def allow_untrusted(self) -> bool: ...
    @property
    def check(self) -> bool: ...
    @property
    def update(self) -> tuple[str, ...]: ...


@dataclass(frozen=True, kw_only=True)
class CachedResolutions:
    """The resolution cache (None: off), each framework's key in it, and the lockfiles found
    for unchanged inputs."""

    cache: ResolutionCache | None = None
    keys: Mapping[str, str]
    found: Mapping[str, Lockfile]


_NAME = re.compile(r"^!?([^<>=~@]+)")


def check_update_names_early(
    update: Sequence[str], frameworks: Sequence[Framework], existing: Mapping[str, ExistingLock]
) -> None:
    """Fail when an ``--update`` name is neither locked nor requested by a framework."""
    if not update:
        return
    known: set[str] = set()
    for fw in frameworks:
        old = existing[fw.name].lock
        if old is not None:
            known.update(package.name for package in old.packages)
        for text in fw.contents.packages:
            match = _NAME.match(text)
            if match:
                known.add(match.group(1))
    refuse_unknown_update_names(
        update, known, "locked or requested", where=", ".join(fw.config_name for fw in frameworks)
    )


def refuse_unknown_update_names(
    update: Sequence[str], known: set[str], which: str, *, where: str | None = None
) -> None:
    """The one ``--update`` error: the first name not in ``known``, with close matches."""
    unknown = [name for name in update if name not in known]
    if not unknown:
        return
    close = difflib.get_close_matches(unknown[0], sorted(known), n=3)
    err = ConfigError(
        f"--update {unknown[0]}: no {which} package has that name",
        where=where,
        hint=f"did you mean: {', '.join(close)}"
        if close
        else "name a package from the lockfiles (see `buildkit resolve`)",
    )
    if close:
        err.correction = (unknown[0], close[0])
    raise err


def cached_resolutions(
    project: ProjectConfig,
    client: RepoClient,
    frameworks: Sequence[Framework],
    existing: Mapping[str, ExistingLock],
    options: CacheSettings,
    *,
    keyrings: Mapping[str, Mapping[str, bytes]],
    reporter: Reporter,
) -> CachedResolutions:
    """The cache, each framework's key, the lockfiles found for unchanged inputs.

    ``keyrings``: each framework's keyring (file name -> PEM)."""
    if not options.cache:
        return CachedResolutions(keys={}, found={})
    cache = ResolutionCache(project.cache_dir / "resolutions", warn=reporter.info)
    settings = {
        "semantics": options.semantics,
        "allow_arch_skew": options.allow_arch_skew,
        "allow_untrusted": options.allow_untrusted,
        "check": options.check,
        "update": sorted(options.update),
    }
    pins_matter = options.check or bool(options.update)
    digests = FileDigests(project.cache_dir / "digests" / "files.json")
    keys: dict[str, str] = {}
    found: dict[str, Lockfile] = {}
    for fw in frameworks:
        keys[fw.name] = framework_key(
            fw,
            client,
            keyrings[fw.name],
            options=settings,
            old_lockfile=existing[fw.name].raw if pins_matter else None,
            digests=digests,
        )
        hit = cache.get(keys[fw.name])
        if hit is not None:
            found[fw.name] = hit
    digests.save()
    return CachedResolutions(cache=cache, keys=keys, found=found)
