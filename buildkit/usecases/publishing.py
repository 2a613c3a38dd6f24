"""Publishing: per-arch images into a registry, then one multi-arch manifest list over them.

For each framework, from its build records (``dist/<framework>/<arch>.json``):

1. **Prepare** (reads only): every arch's record must exist, name bytes that still hash to
   their digests, and come from the current config and lockfile (recomputed with the build's
   own functions). Any refusal stops everything before the first push.
2. **Push** each arch: ``docker load`` the tarball (skipped when the engine already holds the
   image under its target name), check that the loaded image ID is the record's config digest,
   ``docker tag REGISTRY/REPOSITORY/<framework>:<tag>-<oci arch>``, ``docker push``.
3. **List**: ``docker manifest rm`` (a stale local list would make ``create`` refuse or, with
   ``--amend``, keep old entries), ``create`` over the per-arch tags, ``annotate`` the
   platforms (``--variant v8`` for arm64, which apko does not set), ``push --purge``.
4. **Read back** the list by its digest and by its tag, and check that every platform is there
   with the manifest digest ``docker push`` reported and the config digest of its build record
   (the manifest digest can differ from apko's, since the engine recompresses layers; the
   config digest, the image ID, survives and ties the published image to its build).
5. **Record** ``dist/<framework>/publish.json``: written only after the read-back passed.

Running it again changes nothing: the engine skips blobs the registry has, and the same images
give the same list. A run that failed midway is repaired by running it again.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from buildkit.actions.plan import check_lock, lock_digest
from buildkit.actions.records import ImageRecord
from buildkit.apk.arch import oci_arch, oci_platform, oci_variant
from buildkit.errors import BuildkitError, ConfigError, PublishError, ToolFailedError
from buildkit.framework import Framework
from buildkit.hints import build_command, publish_command
from buildkit.lockfile import read_lockfile
from buildkit.oci import loaded_name_matches
from buildkit.project.config import ProjectConfig
from buildkit.project.layout import framework_paths, load_project_framework, lockfile_path
from buildkit.project.records import read_image_record
from buildkit.project.unlocked import skip_unlocked
from buildkit.registry import (
    Fault,
    ListedImage,
    RetryPolicy,
    classify,
    parse_list,
    parse_verbose_list,
    platform_text,
    reason,
    with_retry,
)
from buildkit.store import Store
from buildkit.toolchain import (
    Engine,
    inspect_argv,
    load_argv,
    manifest_annotate_argv,
    manifest_create_argv,
    manifest_inspect_argv,
    manifest_push_argv,
    manifest_rm_argv,
    parse_image_ref,
    push_argv,
    tag_argv,
)

SCHEMA = 1
OS = "linux"


def build_hint(framework: str, arch: str) -> str:
    """Rebuild exactly the image that is wrong, then publish that framework again."""
    return f"run `{build_command(framework, arch=arch)}`, then `{publish_command(framework)}`"


_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
T = TypeVar("T")


# --------------------------------------------------------------------------------------------
# The plan (pure data)


@dataclass(frozen=True, kw_only=True)
class Target:
    """Where images go: ``REGISTRY/REPOSITORY/<framework>:<tag>``."""

    registry: str
    repository: str
    tag: str
    insecure: bool  # plain HTTP allowed: `--insecure` on docker manifest create/push/inspect

    def repo(self, framework: str) -> str:
        return f"{self.registry}/{self.repository}/{framework}"


@dataclass(frozen=True, kw_only=True)
class ArchImage:
    """One verified build record and where its image goes."""

    arch: str  # apk arch
    record: ImageRecord
    record_path: Path
    tarball: Path  # the verified object in the store
    reference: str  # REGISTRY/REPOSITORY/<framework>:<tag>-<oci arch>

    @property
    def platform(self) -> str:
        """The platform the list annotates: ``linux/arm64/v8``."""
        return platform_text(OS, oci_arch(self.arch), oci_variant(self.arch))

    @property
    def config_digest(self) -> str:
        return self.record.image.config_digest


@dataclass(frozen=True, kw_only=True)
class FrameworkPlan:
    framework: str
    registry: str
    repo: str  # REGISTRY/REPOSITORY/<framework>
    reference: str  # the list: REGISTRY/REPOSITORY/<framework>:<tag>
    insecure: bool
    images: tuple[ArchImage, ...]
    record_path: Path  # dist/<framework>/publish.json


def make_target(
    project: ProjectConfig,
    *,
    registry: str | None = None,
    repository: str | None = None,
    tag: str | None = None,
) -> Target:
    """buildkit.toml (with its environment overrides) overridden by the command line."""
    chosen = Target(
        registry=(registry or project.registry).rstrip("/"),
        repository=(repository or project.repository).strip("/"),
        tag=tag or project.tag,
        insecure=project.registry_is_insecure(registry or project.registry),
    )
    _check_target(chosen, registry=registry, repository=repository, tag=tag)
    return chosen


def _check_target(
    target: Target, *, registry: str | None, repository: str | None, tag: str | None
) -> None:
    """Each part on its own, by the engine's reference grammar, so the error quotes what the
    user wrote and where they wrote it."""
    parts = (
        ("registry", target.registry, f"{target.registry}/x", registry, "host[:port]"),
        ("repository", target.repository, f"localhost/{target.repository}", repository,
         "lowercase path components such as team/images"),
        ("tag", target.tag, f"localhost/x:{target.tag}-amd64", tag,
         "letters, digits, '_', '.' and '-', up to 120 characters"),
    )  # fmt: skip
    for name, value, probe, flag, expected in parts:
        where = (
            f"--{name}" if flag else f"[publish] {name} (buildkit.toml / BUILDKIT_{name.upper()})"
        )
        try:
            ref = parse_image_ref(probe, True)
        except BuildkitError:
            raise ConfigError(
                f"invalid image reference: bad {name} {value!r}",
                where=where,
                hint=f"use {expected}",
            ) from None
        if name == "registry" and ref.registry is None:
            # Without a dot, a colon or "localhost" the engine reads it as a Docker Hub user.
            raise ConfigError(
                f"invalid image reference: the engine would read registry {value!r} as a Docker "
                "Hub namespace",
                where=where,
                hint="use host[:port], e.g. 127.0.0.1:5000 or registry.example.com",
            )


def plan_commands(
    plan: FrameworkPlan, *, engine: str = "docker", docker: str = "docker"
) -> list[list[str]]:
    """Every command a publish of ``plan`` runs, in order (the dry run prints these)."""
    argv: list[list[str]] = []
    for image in plan.images:
        argv += [
            load_argv(engine, image.tarball),
            tag_argv(engine, image.record.image.tag, image.reference),
            push_argv(engine, image.reference),
        ]
    argv += list_commands(plan, docker)
    argv += [
        manifest_inspect_argv(
            docker, f"{plan.repo}@<list digest>", insecure=plan.insecure, verbose=True
        ),
        manifest_inspect_argv(docker, plan.reference, insecure=plan.insecure),
    ]
    return argv


def list_commands(plan: FrameworkPlan, docker: str) -> list[list[str]]:
    """rm (stale local list), create, annotate each platform, push --purge."""
    sources = [image.reference for image in plan.images]
    argv = [
        manifest_rm_argv(docker, plan.reference),
        manifest_create_argv(docker, plan.reference, sources, insecure=plan.insecure),
    ]
    for image in plan.images:
        argv.append(
            manifest_annotate_argv(
                docker,
                plan.reference,
                image.reference,
                os_name=OS,
                arch=oci_arch(image.arch),
                variant=oci_variant(image.arch),
            )
        )
    argv.append(manifest_push_argv(docker, plan.reference, insecure=plan.insecure, purge=True))
    return argv


# --------------------------------------------------------------------------------------------
# What was published (publish.json)


@dataclass(frozen=True, kw_only=True)
class PublishedImage:
    arch: str
    platform: str
    reference: str
    manifest_digest: str  # as the registry stores it (what docker push reported)
    config_digest: str  # = the build record's
    action_key: str  # the build action that made it
    tarball: str  # the tarball's digest in the store

    def to_dict(self) -> dict[str, Any]:
        return {
            "platform": self.platform,
            "reference": self.reference,
            "manifest_digest": self.manifest_digest,
            "config_digest": self.config_digest,
            "build": {"action_key": self.action_key, "tarball": self.tarball},
        }


@dataclass(frozen=True, kw_only=True)
class PublishRecord:
    framework: str
    reference: str  # the manifest list
    digest: str  # the list's digest, as `docker manifest push` reported it
    images: tuple[PublishedImage, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "kind": "publish",
            "framework": self.framework,
            "list": {"reference": self.reference, "digest": self.digest},
            "images": {image.arch: image.to_dict() for image in self.images},
        }


def publish_record(
    plan: FrameworkPlan, pushed: Mapping[str, str], list_digest: str
) -> PublishRecord:
    return PublishRecord(
        framework=plan.framework,
        reference=plan.reference,
        digest=list_digest,
        images=tuple(
            PublishedImage(
                arch=image.arch,
                platform=image.platform,
                reference=image.reference,
                manifest_digest=pushed[image.arch],
                config_digest=image.config_digest,
                action_key=image.record.action_key,
                tarball=image.record.tarball.digest,
            )
            for image in plan.images
        ),
    )


# --------------------------------------------------------------------------------------------
# Preparing: records, verification, staleness (reads only; the dry run stops here)


def publish_archs(framework: Framework, project: ProjectConfig) -> tuple[str, ...]:
    """The archs a publish of ``framework`` must cover: the project's that it builds for."""
    return tuple(arch for arch in project.archs if arch in framework.archs)


def prepare(
    project: ProjectConfig,
    names: Sequence[str],
    target: Target,
    *,
    say: Callable[[str], None] | None = None,
) -> list[FrameworkPlan]:
    """Plans for ``names`` (default: buildkit.toml's frameworks, else all), or the first
    refusal. Nothing is pushed until every framework has passed."""
    store = Store(project.dist_dir)
    chosen = tuple(names) or project.frameworks
    paths = framework_paths(project, chosen)
    if not names:  # defaults: a framework not locked yet is skipped with a note
        paths = skip_unlocked(project, paths, say=say or _quiet)
    return [
        _prepare_framework(project, store, load_project_framework(project, path), target)
        for path in paths
    ]


def _prepare_framework(
    project: ProjectConfig, store: Store, framework: Framework, target: Target
) -> FrameworkPlan:
    lock_path = lockfile_path(project, framework)
    lock = read_lockfile(lock_path)
    archs = publish_archs(framework, project)
    if not archs:
        raise PublishError(
            f"framework {framework.name} builds for none of the project's archs",
            where=str(framework.path),
        )
    images = []
    for arch in archs:
        check_lock(framework, lock, arch, path=lock_path)
        current = {"config": framework.checksum, "lock": lock_digest(lock, arch)}
        images.append(_prepare_image(store, framework.name, arch, current, target))
    return FrameworkPlan(
        framework=framework.name,
        registry=target.registry,
        repo=target.repo(framework.name),
        reference=f"{target.repo(framework.name)}:{target.tag}",
        insecure=target.insecure,
        images=tuple(images),
        record_path=store.record_path(framework.name, "publish.json"),
    )


def _prepare_image(
    store: Store, framework: str, arch: str, current: Mapping[str, str], target: Target
) -> ArchImage:
    path = store.record_path(framework, f"{arch}.json")
    record = read_image_record(store, path)
    if record is None:
        raise PublishError(
            f"no build record for {framework} on {arch}: it was never built",
            where=str(path),
            hint=build_hint(framework, arch),
        )
    check_record(record, arch=arch, framework=framework, current=current, where=str(path))
    try:
        tarball = store.verify(record.tarball, where=str(path))
    except BuildkitError as exc:
        raise PublishError(
            f"refusing to publish {framework} for {arch}: {exc.message}",
            where=exc.where,
            hint=build_hint(framework, arch),
        ) from None
    return ArchImage(
        arch=arch,
        record=record,
        record_path=path,
        tarball=tarball,
        reference=f"{target.repo(framework)}:{target.tag}-{oci_arch(arch)}",
    )


def check_record(
    record: ImageRecord, *, arch: str, framework: str, current: Mapping[str, str], where: str
) -> None:
    """Refuse a record of another framework or arch, or one built from another config or
    lockfile than the current ones (``current``: config checksum and lock entries digest)."""
    if record.framework != framework or record.arch != arch:
        raise PublishError(
            f"the record is for {record.framework} on {record.arch}, not {framework} on {arch}",
            where=where,
            hint=build_hint(framework, arch),
        )
    if record.image.platform != oci_platform(arch):
        raise PublishError(
            f"the record's image is for {record.image.platform}, not {oci_platform(arch)}",
            where=where,
            hint=build_hint(framework, arch),
        )
    config = record.inputs.get("config")
    built = {
        "config": config.get("checksum") if isinstance(config, Mapping) else None,
        "lock": record.inputs.get("lock"),
    }
    for key, what in (("config", "config"), ("lock", "lockfile")):
        if built[key] != current[key]:
            raise PublishError(
                f"the image was built from another {what} than the current one "
                f"({built[key] or 'unknown'}, now {current[key]})",
                where=where,
                hint=build_hint(framework, arch),
            )


# --------------------------------------------------------------------------------------------
# Executing


def _quiet(_: str) -> None:
    return None


class Publisher:
    """Runs plans through the engine (push) and the docker CLI (manifest lists)."""

    def __init__(
        self,
        *,
        engine: Engine,
        docker: str,
        store: Store,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        say: Callable[[str], None] = _quiet,
    ) -> None:
        self.engine = engine
        self.docker = docker
        self.store = store
        self.policy = policy or RetryPolicy()
        self.sleep = sleep
        self.say = say

    def publish(self, plan: FrameworkPlan) -> PublishRecord:
        """Push, list, read back, record. One framework at a time per dist/ (a lock)."""
        with self.store.lock(f"publish-{plan.framework}"):
            pushed = {
                image.arch: self._push_image(image, plan.registry, insecure=plan.insecure)
                for image in plan.images
            }
            list_digest = self._push_list(plan)
            self._read_back(plan, pushed, list_digest)
            record = publish_record(plan, pushed, list_digest)
            self.store.write_record(plan.record_path, record.to_dict())
        return record

    # -- per-arch images ------------------------------------------------------------------------

    def _push_image(self, image: ArchImage, registry: str, *, insecure: bool) -> str:
        if self._image_id(image.reference) != image.config_digest:
            self._load_and_tag(image)
        self.say(f"pushing {image.reference}")
        digest = with_retry(
            lambda: self.engine.push(image.reference, insecure=insecure),
            what=f"pushing {image.reference}",
            registry=registry,
            policy=self.policy,
            sleep=self.sleep,
            on_retry=self.say,
        )
        self.say(f"pushed {image.reference}@{digest}")
        return digest

    def _load_and_tag(self, image: ArchImage) -> None:
        self.say(f"loading {image.record_path.parent.name}/{image.arch} from {image.tarball.name}")
        names = self._local(
            lambda: self.engine.load(image.tarball), f"loading {image.tarball}", image.tarball
        )
        wanted = image.record.image.tag
        source = next((n for n in names if loaded_name_matches(n, wanted)), None)
        if source is None:
            raise PublishError(
                f"the engine loaded {', '.join(names) or 'nothing'}, not {wanted}",
                where=str(image.tarball),
                hint=build_hint(image.record.framework, image.arch),
            )
        loaded = self._image_id(source)
        if loaded != image.config_digest:
            raise PublishError(
                f"the loaded image has ID {loaded or 'unknown'}, the build record says "
                f"{image.config_digest}",
                where=str(image.record_path),
                hint=build_hint(image.record.framework, image.arch),
            )
        self._local(
            lambda: self.engine.tag(source, image.reference), f"tagging {image.reference}", None
        )

    def _image_id(self, ref: str) -> str | None:
        """The engine's image ID for ``ref`` (its config digest), or None without one."""
        argv = inspect_argv(self.engine.binary, ref, "{{.Id}}")
        try:
            done = self.engine.check(argv, what=f"inspecting {ref}")
        except ToolFailedError:
            return None
        value = done.stdout.strip()
        return value if value.startswith("sha256:") else f"sha256:{value}" if value else None

    # -- the manifest list ------------------------------------------------------------------------

    def _push_list(self, plan: FrameworkPlan) -> str:
        rm, create, *annotations, push = list_commands(plan, self.docker)
        try:
            self.engine.check(rm, what=f"removing the local list {plan.reference}")
        except ToolFailedError as exc:
            if classify(exc.tail or exc.message) is not Fault.NOT_FOUND:
                raise self._failed(exc, f"removing the local list {plan.reference}") from None
        self.say(f"creating {plan.reference}")
        self._network(create, f"creating the list {plan.reference}", plan.registry)
        for image, argv in zip(plan.images, annotations, strict=True):
            self._run_local(argv, f"annotating {image.reference} as {image.platform}")
        done = self._network(push, f"pushing the list {plan.reference}", plan.registry)
        found: list[str] = _DIGEST.findall(done)
        if not found:
            raise PublishError(
                f"docker manifest push {plan.reference} did not report a digest",
                where=plan.registry,
            )
        self.say(f"pushed {plan.reference}@{found[-1]}")
        return found[-1]

    def _read_back(self, plan: FrameworkPlan, pushed: Mapping[str, str], list_digest: str) -> None:
        by_digest = f"{plan.repo}@{list_digest}"
        verbose = self._network(
            manifest_inspect_argv(self.docker, by_digest, insecure=plan.insecure, verbose=True),
            f"reading back {by_digest}",
            plan.registry,
        )
        check_listed(plan, pushed, parse_verbose_list(verbose, where=by_digest))
        tagged = self._network(
            manifest_inspect_argv(self.docker, plan.reference, insecure=plan.insecure),
            f"reading back {plan.reference}",
            plan.registry,
        )
        check_tagged(plan, pushed, parse_list(tagged, where=plan.reference), list_digest)

    # -- running ---------------------------------------------------------------------------------

    def _network(self, argv: list[str], what: str, registry: str) -> str:
        """A docker manifest command against the registry, retried while it is unreachable."""
        done = with_retry(
            lambda: self.engine.check(argv, what=what),
            what=what,
            registry=registry,
            policy=self.policy,
            sleep=self.sleep,
            on_retry=self.say,
        )
        return done.stdout

    def _local(self, call: Callable[[], T], what: str, where: Path | None = None) -> T:
        try:
            return call()
        except ToolFailedError as exc:
            raise self._failed(exc, what, where) from None

    def _run_local(self, argv: list[str], what: str) -> None:
        self._local(lambda: self.engine.check(argv, what=what), what)

    @staticmethod
    def _failed(exc: ToolFailedError, what: str, where: Path | None = None) -> PublishError:
        # A local engine command; its output could still name a registry with credentials,
        # so only one redacted line goes into the message (never the tail).
        return PublishError(
            f"{what} failed: {reason(exc.tail or exc.message)}",
            where=str(where) if where else None,
        )


def check_listed(
    plan: FrameworkPlan, pushed: Mapping[str, str], listed: Sequence[ListedImage]
) -> None:
    """The list read back by digest has exactly the planned platforms, each with the pushed
    manifest digest and the build record's config digest."""
    where = plan.reference
    by_platform = {entry.platform: entry for entry in listed}
    expected = {image.platform for image in plan.images}
    extra = sorted(set(by_platform) - expected)
    if extra:
        raise PublishError(
            f"the published list has unexpected platforms: {', '.join(extra)}",
            where=where,
            hint=f"run `{publish_command(plan.framework)}`",
        )
    for image in plan.images:
        entry = by_platform.get(image.platform)
        if entry is None:
            raise PublishError(
                f"the published list lacks {image.platform}",
                where=where,
                hint=f"run `{publish_command(plan.framework)}`",
            )
        if entry.manifest_digest != pushed[image.arch]:
            raise PublishError(
                f"{image.platform} in the list is {entry.manifest_digest}, but docker push "
                f"reported {pushed[image.arch]}",
                where=where,
                hint=f"another publish raced this one; run `{publish_command(plan.framework)}`",
            )
        if entry.config_digest != image.config_digest:
            raise PublishError(
                f"{image.platform} in the list has config {entry.config_digest}, the build "
                f"record says {image.config_digest}",
                where=where,
                hint=build_hint(plan.framework, image.arch),
            )


def check_tagged(
    plan: FrameworkPlan,
    pushed: Mapping[str, str],
    pairs: Sequence[tuple[str, str]],
    list_digest: str,
) -> None:
    """The tag serves the list just pushed (same platforms and manifests)."""
    expected = tuple(sorted((image.platform, pushed[image.arch]) for image in plan.images))
    if tuple(pairs) != expected:
        raise PublishError(
            f"{plan.reference} does not serve the list just pushed ({list_digest})",
            where=plan.reference,
            hint=f"another publish raced this one; run `{publish_command(plan.framework)}`",
        )
