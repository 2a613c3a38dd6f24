"""The apko step: one framework for one arch, from its lockfile, through the action cache.

Planning reads only the framework, its lockfile and buildkit.toml, so a build whose every
action is cached touches neither the engine nor the package cache. On a miss: the locked
packages are gathered (the local repository, the package cache ``lock`` filled, else fetched
and verified), apko's cache folder is prepared from them, apko runs offline with no network,
and the tarball and SBOMs go into the store before the record that names them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from buildkit import oci
from buildkit.actions.plan import (
    ImageAction,
    check_lock,
    image_tag,
    is_local,
    loaded_tag,
    newest_build_time,
    plan_image,
)
from buildkit.actions.records import ImageRecord, ImageSummary
from buildkit.apk.keys import Keyring
from buildkit.apk.pkginfo import PkgInfo
from buildkit.digest import Blob
from buildkit.errors import (
    ApkFormatError,
    BuildkitError,
    ChecksumError,
    ConfigError,
    LockError,
    ToolFailedError,
)
from buildkit.events import damage_warning
from buildkit.framework import Framework, key_name
from buildkit.hints import build_command, lock_command
from buildkit.lockfile import LockedPackage, Lockfile, read_lockfile
from buildkit.oci import loaded_name_matches
from buildkit.project.layout import framework_paths, load_project_framework, lockfile_path
from buildkit.project.records import cached_record, save_record
from buildkit.project.unlocked import skip_unlocked
from buildkit.repo import FetchLimits, HttpFetcher, PackageCache
from buildkit.toolchain import ApkoBuild
from buildkit.usecases import apko_cache
from buildkit.usecases.build_context import BuildContext

if TYPE_CHECKING:
    from buildkit.oci import ImageInfo
    from buildkit.repo import PackageCache

APKO_CACHE = "apko-cache"


def plan_images(
    context: BuildContext, names: Sequence[str], archs: Sequence[str]
) -> list[ImageAction]:
    """An action per framework and arch (frameworks not built for an arch are left out);
    a missing or stale lockfile is refused here, before anything runs."""

    project = context.project
    actions: list[ImageAction] = []
    paths = framework_paths(project, names or project.frameworks)
    if not names:
        paths = skip_unlocked(project, paths, say=context.reporter.info)
    for path in paths:
        framework = load_project_framework(project, path)
        lock_path = lockfile_path(project, framework)
        lock = _read_lock(lock_path)
        wanted = [arch for arch in archs if arch in framework.archs]
        if names and not wanted:
            # Named on the command line yet never built: say so rather than "nothing to build".
            raise ConfigError(
                f"framework {framework.name} is not built for {', '.join(archs)} "
                f"(its archs: {', '.join(framework.archs)})",
                where=str(framework.path),
                hint=f"build one of its archs "
                f"(`{build_command(framework.name, arch=framework.archs[0])}`), "
                f"or add {archs[0]} to its archs: and run `{lock_command(framework.name)}`",
            )
        planned = [_plan(context, framework, lock, arch, lock_path) for arch in wanted]
        if planned:  # the lock exists and is current (check_lock): now against its sources
            context.sources.check_entries(framework, planned[0].lock, lock_path)
        actions.extend(planned)
    return actions


def check_local_sources(context: BuildContext, actions: Sequence[ImageAction]) -> None:
    """The identities of locked local packages against their local repository's index, once
    the build's melange step has written it (the rest was checked by :func:`plan_images`)."""

    done: set[str] = set()
    for action in actions:
        if action.framework.name not in done:
            done.add(action.framework.name)
            context.sources.check_local(action.framework, action.lock, action.lockfile)


def _read_lock(path: Path) -> Lockfile | None:
    if not path.is_file():
        return None
    return read_lockfile(path)


def _plan(
    context: BuildContext, framework: Framework, lock: Lockfile | None, arch: str, path: Path
) -> ImageAction:
    project = context.project
    return plan_image(
        framework,
        check_lock(framework, lock, arch, path=path),
        arch,
        lockfile=path,
        apko_image=context.apko_ref,
        tag=image_tag(project.repository, framework.name, project.tag),
        source_date_epoch=project.source_date_epoch,
        signing_key=context.signing_fingerprint,
    )


def record_path(context: BuildContext, framework: str, arch: str) -> Path:
    return context.store.record_path(framework, f"{arch}.json")


def run_image(context: BuildContext, action: ImageAction) -> ImageRecord:
    """Build ``action`` unless its key has verified outputs; write its current record."""
    store = context.store
    with context.action(action.label) as outcome, store.lock(f"image-{action.key}"):
        record = cached_record(store, action.key, ImageRecord, warn=context.reporter.info)
        outcome.cached = record is not None
        if record is None:
            record = build_image(context, action)
        save_record(store, record_path(context, action.framework.name, action.arch), record)
    return record


def build_image(context: BuildContext, action: ImageAction) -> ImageRecord:
    """Run apko for ``action`` and put its outputs into the store (no records written)."""

    log = context.log_path(action.label)
    with context.store.scratch_dir(f"apko-{action.framework.name}-{action.arch}") as work:
        # A fresh offline cache for this run only, from packages verified just now.
        sde = prepare_cache(context, action, work / APKO_CACHE)
        job = ApkoBuild(
            config=action.framework.path,
            tag=action.tag,
            output=work / "image.tar",
            arch=action.arch,
            sbom_dir=work / "sbom",
            lockfile=action.lockfile,
            cache_dir=work / APKO_CACHE,
            offline=True,
        )
        with context.timed_tool():
            context.tools.apko_build(job, log=log, source_date_epoch=sde, network="none")
        if not job.output.is_file():
            raise ToolFailedError(
                f"{action.label}: apko succeeded but wrote no tarball", where=str(log)
            )
        image = oci.single_image(job.output)
        summary = _summary(action, image, log)
        tarball = context.store.put_file(job.output, move=True)
        sboms = {
            path.name: context.store.put_file(path, move=True)
            for path in sorted(job.sbom_dir.glob("*.json"))
        }
    return ImageRecord(
        framework=action.framework.name,
        arch=action.arch,
        action_key=action.key,
        inputs=action.inputs,
        source_date_epoch=sde,
        tarball=tarball,
        sboms=sboms,
        image=summary,
    )


def _summary(action: ImageAction, image: ImageInfo, log: Path) -> ImageSummary:

    expected = loaded_tag(action.tag, action.arch)
    if not any(loaded_name_matches(tag, expected) for tag in image.tags):
        raise ToolFailedError(
            f"{action.label}: the tarball names the image {', '.join(image.tags) or 'nothing'}, "
            f"expected {expected}",
            where=str(log),
        )
    if image.manifest_digest is None:
        raise ToolFailedError(
            f"{action.label}: the tarball has no image manifest (not written by apko?)",
            where=str(log),
        )
    return ImageSummary(
        tag=expected,
        platform=image.platform,
        manifest_digest=image.manifest_digest,
        config_digest=image.config_digest,
        diff_ids=image.diff_ids,
        layers=tuple(Blob(digest=layer.digest, size=layer.size) for layer in image.layers),
    )


# --------------------------------------------------------------------------------------------
# The offline package cache apko reads


def prepare_cache(context: BuildContext, action: ImageAction, root: Path) -> int:
    """Fill the fresh folder ``root`` with apko's offline cache: every locked package (verified
    against its lock entry while it is copied in) and key; return the build's
    SOURCE_DATE_EPOCH (configured, else the newest locked package's build time)."""

    times = [place_package(context, action, package, root).builddate for package in action.packages]
    apko_cache.write_keys(root, action.lock.keyring)
    if action.source_date_epoch is not None:
        return action.source_date_epoch
    return newest_build_time(times)


def place_package(
    context: BuildContext, action: ImageAction, package: LockedPackage, root: Path
) -> PkgInfo:
    """Copy a locked package into apko's cache under ``root``, verified against its lock entry:
    from the project for a local path, else the package cache (filled by ``lock``), else
    fetched from its URL and verified against the lock's keyring. A cached copy that fails is
    discarded (with a warning naming the file) and fetched again."""

    framework = action.framework.name
    if is_local(package):
        path = context.project.root / package.url
        if not path.is_file():
            raise LockError(
                f"locked local package {package.name} is missing",
                where=str(path),
                hint=f"run `{lock_command(framework)}`: it builds the local "
                "packages and locks them again",
            )
        return apko_cache.copy_package(root, package, path, where=str(path), framework=framework)
    cache = PackageCache(context.project.cache_dir / "packages")
    path = cache.path_for(package.checksum)
    if path.is_file():
        try:
            return apko_cache.copy_package(
                root, package, path, where=str(path), framework=framework
            )
        except (ChecksumError, ApkFormatError, OSError) as err:
            cache.discard(package.checksum)
            reason = err.message if isinstance(err, BuildkitError) else str(err)
            context.reporter.info(
                damage_warning(path, f"cached package {package.name}", reason, "fetching it again")
            )
    _fetch(action, package, cache, context.project.fetch_limits)
    return apko_cache.copy_package(root, package, path, where=str(path), framework=framework)


def _fetch(
    action: ImageAction, package: LockedPackage, cache: PackageCache, limits: FetchLimits
) -> None:
    """Fetch, check against the lock entry, then verify the signature and cache it."""

    data = HttpFetcher(limits=limits).get(package.url, what="package").body
    apko_cache.check_package(package, data, where=package.url, framework=action.framework.name)
    keyring = Keyring.from_pems(
        {key_name(key.url): key.content.encode() for key in action.lock.keyring if key.content}
    )
    cache.put(package.checksum, data, keyring=keyring, where=package.url)
