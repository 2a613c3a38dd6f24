"""What ``lock`` settles before resolving anything: ``--update`` names, and cached resolutions.

Both run before a single index is parsed: a typo in ``--update`` fails at once, and a
framework whose inputs are unchanged takes its lockfile from the resolution cache
(:mod:`buildkit.usecases.resolution_cache`) instead of being resolved again.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from buildkit.errors import ConfigError
from buildkit.events import Reporter
from buildkit.framework import Framework
from buildkit.lockfile import Lockfile
from buildkit.project.config import ProjectConfig
from buildkit.repo import RepoClient
from buildkit.usecases.file_digests import FileDigests
from buildkit.usecases.resolution_cache import ResolutionCache, framework_key

if TYPE_CHECKING:
    from buildkit.usecases.locking import LockOptions

Existing = tuple[bytes | None, Lockfile | None, str | None]  # bytes, parsed, problem

_NAME = re.compile(r"^!?([^<>=~@]+)")


def check_update_names_early(
    update: Sequence[str], frameworks: Sequence[Framework], existing: Mapping[str, Existing]
) -> None:
    """Fail when an ``--update`` name is neither locked nor requested by a framework."""
    if not update:
        return
    known: set[str] = set()
    for fw in frameworks:
        old = existing[fw.name][1]
        if old is not None:
            known.update(package.name for package in old.packages)
        for text in fw.contents.packages:
            match = _NAME.match(text)
            if match:
                known.add(match.group(1))
    unknown = [name for name in update if name not in known]
    if unknown:
        close = difflib.get_close_matches(unknown[0], sorted(known), n=3)
        raise ConfigError(
            f"--update {unknown[0]}: no locked or requested package has that name",
            where=", ".join(fw.config_name for fw in frameworks),
            hint=f"did you mean: {', '.join(close)}"
            if close
            else "name a package from the lockfiles (see `buildkit resolve`)",
        )


def cached_resolutions(
    project: ProjectConfig,
    client: RepoClient,
    frameworks: Sequence[Framework],
    existing: Mapping[str, Existing],
    options: LockOptions,
    *,
    keyrings: Mapping[str, Mapping[str, bytes]],
    reporter: Reporter,
) -> tuple[ResolutionCache | None, dict[str, str], dict[str, Lockfile]]:
    """(the cache, each framework's key, the lockfiles found for unchanged inputs).

    ``keyrings``: each framework's keyring (file name -> PEM)."""
    if not options.cache:
        return None, {}, {}
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
            old_lockfile=existing[fw.name][0] if pins_matter else None,
            digests=digests,
        )
        hit = cache.get(keys[fw.name])
        if hit is not None:
            found[fw.name] = hit
    digests.save()
    return cache, keys, found
