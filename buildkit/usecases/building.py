"""Build orchestration: local packages (melange), then images (apko), through the action cache.

- :mod:`plan` (pure): lock checks, lock entries, action keys.
- :mod:`records`: package and image build records.
- :mod:`packages`: the melange step into ``packages/<arch>/``.
- :mod:`images` and :mod:`apko_cache`: the apko step, offline from a prepared cache.
- :mod:`verify`: rebuild into a temporary store and compare with the records.
- :mod:`progress`: the rich display of running actions.

Every framework's lockfile is checked before anything runs; packages are built one arch at a
time (they depend on each other through ``packages/<arch>/``); images run in parallel threads.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from buildkit.actions.plan import ImageAction, is_local
from buildkit.actions.records import ImageRecord, PackageRecord
from buildkit.errors import StaleLockError
from buildkit.events import Reporter
from buildkit.hints import fixed_by, lock_command, run
from buildkit.project.config import ProjectConfig
from buildkit.project.layout import packages_for_frameworks
from buildkit.store import Store
from buildkit.usecases.build_context import BuildContext, Tools
from buildkit.usecases.image_builds import check_local_sources, plan_images, run_image
from buildkit.usecases.package_builds import build_packages

__all__ = [
    "BuildContext",
    "BuildOptions",
    "BuildResult",
    "ImageRecord",
    "PackageRecord",
    "build_project",
    "default_jobs",
    "run_images",
]


@dataclass(frozen=True, kw_only=True)
class BuildOptions:
    archs: tuple[str, ...] = ()  # apk archs; () = buildkit.toml's
    frameworks: tuple[str, ...] = ()  # () = buildkit.toml's [project].frameworks, else all
    jobs: int = 0  # parallel image builds; 0 = one per core
    packages: bool = True  # build local packages first


@dataclass(frozen=True, kw_only=True)
class BuildResult:
    packages: tuple[PackageRecord, ...]
    images: tuple[ImageRecord, ...]
    tool_seconds: float  # wall time spent inside tool containers

    @property
    def ran(self) -> int:
        """How many actions actually ran (0 for a fully cached build)."""
        return sum(not p.cached for p in self.packages) + sum(not i.cached for i in self.images)


def default_jobs() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def build_project(
    project: ProjectConfig,
    options: BuildOptions,
    *,
    tools: Callable[[], Tools] | None = None,
    reporter: Reporter | None = None,
    store: Store | None = None,
) -> BuildResult:
    """Build the selected frameworks for the selected archs; returns every record."""

    archs = options.archs or project.archs
    jobs = options.jobs or default_jobs()
    with BuildContext(project, store=store, tools=tools, reporter=reporter, jobs=jobs) as context:
        actions = plan_images(context, options.frameworks, archs)  # refuses stale locks first
        # Local packages only for archs some image needs (`--arch ppc64le` builds nothing).
        needed = tuple(arch for arch in archs if any(a.arch == arch for a in actions))
        # The frameworks actually planned: a default one skipped for want of a lockfile
        # builds no local package either.
        planned = tuple(dict.fromkeys(a.framework.name for a in actions)) or options.frameworks
        # A package config fixed, the frameworks that use it are locked again.
        with fixed_by(lock_command(*planned)):
            packages = (
                build_packages(context, needed, packages_for_frameworks(project, planned))
                if options.packages
                else []
            )
        check_local_packages(actions, packages)
        check_local_sources(context, actions)
        images = run_images(context, actions)
        return BuildResult(
            packages=tuple(packages), images=tuple(images), tool_seconds=context.tool_seconds
        )


def check_local_packages(actions: Sequence[ImageAction], packages: Sequence[PackageRecord]) -> None:
    """A lock naming a local package that has since been rebuilt differently (its config
    changed) is stale: building from it would silently use the old package."""

    built = {(p.arch, apk.filename): apk.identity for p in packages for apk in p.apks}
    for action in actions:
        for package in action.packages:
            if not is_local(package):
                continue
            identity = built.get((action.arch, package.url.rsplit("/", 1)[-1]))
            if identity is not None and identity != package.checksum:
                # The identities are hashes: say what changed in words (the package's
                # config or source folder), and which lock to refresh.
                raise StaleLockError(
                    f"local package {package.name} changed since the lock of "
                    f"{action.framework.name}: its config or source was edited, so it "
                    f"rebuilds differently for {action.arch}",
                    where=str(action.lockfile),
                    hint=f"{run(lock_command(action.framework.name))} and commit the lockfile",
                )


def run_images(context: BuildContext, actions: Sequence[ImageAction]) -> list[ImageRecord]:
    """Run image actions in up to ``context.jobs`` threads. Every started action finishes;
    then the first failure (in plan order) is raised."""

    if len(actions) <= 1 or context.jobs == 1:
        return [run_image(context, action) for action in actions]
    with ThreadPoolExecutor(max_workers=min(context.jobs, len(actions))) as pool:
        futures = [pool.submit(run_image, context, action) for action in actions]
        errors = [f.exception() for f in futures]
    first = next((e for e in errors if e is not None), None)
    if first is not None:
        raise first
    return [f.result() for f in futures]
