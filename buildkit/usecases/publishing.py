"""Publishing: per-arch images into a registry, byte for byte as apko built them, one
multi-arch list over them, signatures and attestations, and a record of it all.

For each framework, from its build records (``dist/<framework>/<arch>.json``):

1. **Ping**: the registry must answer (a TCP connect, 2 s) before anything is read or pushed.
2. **Prepare** (reads only): every arch's record must exist, name bytes that still hash to
   their digests, and come from the current config and lockfile.
3. **Push** each arch with crane from an OCI layout of apko's tarball: its own manifest blob,
   config and layers, so the registry's manifest digest is ``outputs.image.manifest_digest`` of
   the build record. Blobs the registry has are skipped. Per-arch tags only when asked.
4. **List**: ``docker manifest rm`` (stale local list), ``create`` over the per-arch digests,
   ``annotate`` (``--variant v8`` for arm64), ``push --purge`` under the first tag; the other
   tags name the same list digest (``crane tag``).
5. **Read back** the list by digest and by tag: exactly the planned platforms, each with the
   build record's manifest and config digests.
6. **Sign and attest** (``[publish] signing``): cosign signs the list and each arch, attests
   each arch's SPDX SBOM and a SLSA v1 provenance predicate (written beside the records).
   What already verifies is not signed again, so a re-publish uploads nothing.
7. **Record** ``dist/<framework>/publish.json`` (every tag, the list digest, every entry,
   what was signed): written only after all of the above passed. ``dist/<framework>/<arch>
   .spdx.json`` name the SBOMs in the store.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import re
import socket
import subprocess
import tarfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict, TypeVar

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import Encoding

from buildkit.actions.plan import check_lock, lock_digest
from buildkit.actions.provenance import provenance_predicate
from buildkit.actions.records import ImageRecord
from buildkit.apk.arch import oci_arch, oci_platform, oci_variant
from buildkit.digest import canonical_json, sha256_digest
from buildkit.errors import BuildkitError, ConfigError, PublishError, ToolFailedError
from buildkit.framework import Framework
from buildkit.fsutil import read_input
from buildkit.hints import build_command, publish_command
from buildkit.lockfile import read_lockfile
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
    ContainerSpec,
    Engine,
    ImageRef,
    manifest_annotate_argv,
    manifest_create_argv,
    manifest_inspect_argv,
    manifest_push_argv,
    manifest_rm_argv,
    parse_image_ref,
    run_argv,
)
from buildkit.toolchain.supply import (
    PROVENANCE_TYPE,
    SBOM_TYPE,
    Signer,
    cosign_attest_spec,
    cosign_public_key_spec,
    cosign_sign_spec,
    cosign_verify_spec,
    crane_push_spec,
    crane_tag_spec,
)

SCHEMA = 2
OS = "linux"


def build_hint(framework: str, arch: str) -> str:
    """Rebuild exactly the image that is wrong, then publish that framework again."""
    return f"run `{build_command(framework, arch=arch)}`, then `{publish_command(framework)}`"


BUILD_HINT = "build it again, then publish"
PING_TIMEOUT = 2.0
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
T = TypeVar("T")
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


# --------------------------------------------------------------------------------------------
# The plan (pure data)


@dataclass(frozen=True, kw_only=True)
class Target:
    """Where images go: ``REGISTRY/REPOSITORY/<framework>:<tag>`` for every tag."""

    registry: str
    repository: str
    tags: tuple[str, ...]
    insecure: bool  # plain HTTP allowed: `--insecure` on docker manifest and crane
    arch_tags: bool = False  # also tag each arch <tag>-<oci arch>

    @property
    def tag(self) -> str:
        return self.tags[0]

    def repo(self, framework: str) -> str:
        return f"{self.registry}/{self.repository}/{framework}"


@dataclass(frozen=True, kw_only=True)
class ArchImage:
    """One verified build record and where its image goes."""

    arch: str  # apk arch
    record: ImageRecord
    record_path: Path
    tarball: Path  # the verified object in the store
    reference: str  # REGISTRY/REPOSITORY/<framework>@<apko's manifest digest>
    tags: tuple[str, ...] = ()  # per-arch tags (<tag>-<oci arch>), when asked for
    sbom: Path | None = None  # the per-arch SPDX document in the store

    @property
    def platform(self) -> str:
        """The platform the list annotates: ``linux/arm64/v8``."""
        return platform_text(OS, oci_arch(self.arch), oci_variant(self.arch))

    @property
    def config_digest(self) -> str:
        return self.record.image.config_digest

    @property
    def manifest_digest(self) -> str:
        return self.record.image.manifest_digest


@dataclass(frozen=True, kw_only=True)
class FrameworkPlan:
    framework: str
    registry: str
    repo: str  # REGISTRY/REPOSITORY/<framework>
    tags: tuple[str, ...]
    insecure: bool
    images: tuple[ArchImage, ...]
    record_path: Path  # dist/<framework>/publish.json

    @property
    def reference(self) -> str:
        """The list under its first tag (the one ``docker manifest`` composes)."""
        return f"{self.repo}:{self.tags[0]}"

    @property
    def references(self) -> tuple[str, ...]:
        return tuple(f"{self.repo}:{tag}" for tag in self.tags)


def make_target(
    project: ProjectConfig,
    *,
    registry: str | None = None,
    repository: str | None = None,
    tags: Sequence[str] = (),
    arch_tags: bool | None = None,
) -> Target:
    """buildkit.toml (with its environment overrides) overridden by the command line."""
    chosen = Target(
        registry=(registry or project.registry).rstrip("/"),
        repository=(repository or project.repository).rstrip("/"),
        tags=tuple(dict.fromkeys(tags)) or project.tags,
        insecure=project.registry_is_insecure(registry or project.registry),
        arch_tags=project.arch_tags if arch_tags is None else arch_tags,
    )
    for tag in chosen.tags:
        _check_target(chosen, tag, registry=registry, repository=repository, flag=bool(tags))
    return chosen


def _check_target(
    target: Target, tag: str, *, registry: str | None, repository: str | None, flag: bool
) -> None:
    """Each part on its own, by the engine's reference grammar, so the error quotes what the
    user wrote and where they wrote it."""
    parts = (
        ("registry", target.registry, f"{target.registry}/x", registry, "host[:port]"),
        ("repository", target.repository, f"localhost/{target.repository}", repository,
         "lowercase path components such as team/images"),
        ("tag", tag, f"localhost/x:{tag}-amd64", tag if flag else None,
         "letters, digits, '_', '.' and '-', up to 120 characters"),
    )  # fmt: skip
    for name, value, probe, given, expected in parts:
        where = (
            f"--{name}"
            if given
            else f"[publish] {name}{'s' if name == 'tag' else ''} (buildkit.toml / "
            f"BUILDKIT_{name.upper()})"
        )
        try:
            ref = parse_image_ref(probe, True)
            if name == "repository" and ref.name != probe:
                # `a:b` parses as repository `a` with tag `b`: not the repository given.
                raise ConfigError(f"not a repository: {value}")
        except BuildkitError:
            raise ConfigError(
                f"invalid image reference: bad {name} {value!r}",
                where=where,
                hint=f"use {expected}",
            ) from None
        if name == "registry" and ref.registry is None:
            # Without a dot, a colon or "localhost" the engine reads it as a Docker Hub user.
            err = ConfigError(
                f"invalid image reference: the engine would read registry {value!r} as a Docker "
                "Hub namespace",
                where=where,
                hint="use host[:port], e.g. 127.0.0.1:5000 or registry.example.com",
            )
            if given:  # the command line's hint repeats the command with the example
                err.correction = (value, "127.0.0.1:5000")
            raise err


def ping(registry: str, *, insecure: bool = False, timeout: float = PING_TIMEOUT) -> None:
    """The registry must accept a connection within ``timeout`` and, when it answers HTTP,
    answer ``GET /v2/`` as a registry does: one clear line otherwise, before anything is read,
    loaded or pushed. Refused and unknown hosts are not retried."""
    host, _, port_text = registry.rpartition(":")
    if not host or not port_text.isdigit():
        host, port_text = registry, "443"
    host = host.strip("[]")
    try:
        with socket.create_connection((host, int(port_text)), timeout=timeout):
            pass
    except socket.gaierror:
        why = "no such host"
    except TimeoutError:
        why = f"no answer within {timeout:g}s"
    except ConnectionRefusedError:
        why = "connection refused"
    except OSError as exc:
        why = exc.strerror or type(exc).__name__
    else:
        _check_v2(registry, insecure=insecure, timeout=timeout)
        return
    raise PublishError(
        f"the registry is unreachable ({why}): nothing was pushed, and nothing was recorded "
        "as published",
        where=registry,
        hint="start the registry (scripts/setup serves 127.0.0.1:5000) or fix --registry, "
        "then publish again",
    )


# Statuses a registry's API root never gives (it answers 200, or 401/403 asking for a login).
_NOT_A_REGISTRY = frozenset({400, 404, 405, 406, 410, 501})


def _check_v2(registry: str, *, insecure: bool, timeout: float) -> None:
    """``GET /v2/``, the registry API's root: a web server that is not a registry answers it
    with 404 (or the like) and no ``Docker-Distribution-API-Version`` header. Anything else,
    including no HTTP answer at all (TLS, a proxy), is left for the tools to judge."""
    url = f"{'http' if insecure else 'https'}://{registry}/v2/"
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=timeout):
            return
    except urllib.error.HTTPError as exc:
        status, text, header = exc.code, exc.reason, exc.headers.get(_API_VERSION)
    except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError):
        return
    if status in _NOT_A_REGISTRY and not header:
        err = PublishError(
            f"{registry} answers but is not a container registry (GET /v2/ gave {status} "
            f"{text}): nothing was pushed, and nothing was recorded as published",
            hint="point --registry (or BUILDKIT_REGISTRY, [publish] registry) at an OCI "
            "registry's host:port, e.g. 127.0.0.1:5000 that scripts/setup serves",
        )
        if registry != LOCAL_REGISTRY:  # a --registry given: the hint repeats the command
            err.correction = (registry, LOCAL_REGISTRY)
        raise err


LOCAL_REGISTRY = "127.0.0.1:5000"  # the registry scripts/setup serves


_API_VERSION = "Docker-Distribution-API-Version"


def plan_commands(
    plan: FrameworkPlan,
    *,
    docker: str = "docker",
    engine: str = "docker",
    crane: ImageRef | None = None,
    project: Path = Path("/"),
) -> list[list[str]]:
    """Every registry command a publish of ``plan`` runs, in order (the dry run prints these;
    signing follows when configured)."""
    argv: list[list[str]] = []
    crane = crane or parse_image_ref("crane", True)
    for image in plan.images:
        layout = plan.record_path.parent / f"<layout of {image.tarball.name}>"
        argv.append(
            run_argv(
                engine,
                crane_push_spec(
                    crane,
                    layout=layout,
                    reference=image.reference,
                    insecure=plan.insecure,
                    project=project,
                    docker_config=None,
                ),
            )
        )
    argv += list_commands(plan, docker)
    argv.append(
        manifest_inspect_argv(
            docker, f"{plan.repo}@<list digest>", insecure=plan.insecure, verbose=True
        )
    )
    argv += [
        manifest_inspect_argv(docker, reference, insecure=plan.insecure)
        for reference in plan.references
    ]
    return argv


def list_commands(plan: FrameworkPlan, docker: str) -> list[list[str]]:
    """rm (stale local list), create over the per-arch digests, annotate, push --purge."""
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
    reference: str  # REPO@DIGEST
    tags: tuple[str, ...]
    manifest_digest: str  # as the registry stores it: = the build record's
    config_digest: str  # = the build record's
    action_key: str  # the build action that made it
    tarball: str  # the tarball's digest in the store
    sbom: str | None  # the SPDX document's digest
    provenance: str | None  # the provenance predicate's digest (dist/<fw>/<arch>.provenance.json)

    def to_dict(self) -> dict[str, Any]:
        return {
            "platform": self.platform,
            "reference": self.reference,
            "tags": list(self.tags),
            "manifest_digest": self.manifest_digest,
            "config_digest": self.config_digest,
            "build": {"action_key": self.action_key, "tarball": self.tarball},
            "sbom": self.sbom,
            "provenance": self.provenance,
        }


@dataclass(frozen=True, kw_only=True)
class PublishRecord:
    framework: str
    repo: str
    tags: tuple[str, ...]
    digest: str  # the list's digest, as `docker manifest push` reported it
    images: tuple[PublishedImage, ...]
    signing: Mapping[str, Any]

    @property
    def reference(self) -> str:
        return f"{self.repo}:{self.tags[0]}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "kind": "publish",
            "framework": self.framework,
            "list": {
                "repository": self.repo,
                "digest": self.digest,
                "reference": f"{self.repo}@{self.digest}",
                "tags": list(self.tags),
                "references": [f"{self.repo}:{tag}" for tag in self.tags],
            },
            "images": {image.arch: image.to_dict() for image in self.images},
            "signing": dict(self.signing),
        }


def publish_record(
    plan: FrameworkPlan,
    list_digest: str,
    *,
    signing: Mapping[str, Any],
    provenance: Mapping[str, str],
) -> PublishRecord:
    return PublishRecord(
        framework=plan.framework,
        repo=plan.repo,
        tags=plan.tags,
        digest=list_digest,
        images=tuple(
            PublishedImage(
                arch=image.arch,
                platform=image.platform,
                reference=image.reference,
                tags=image.tags,
                manifest_digest=image.manifest_digest,
                config_digest=image.config_digest,
                action_key=image.record.action_key,
                tarball=image.record.tarball.digest,
                sbom=_sbom_blob(image.record, image.arch),
                provenance=provenance.get(image.arch),
            )
            for image in plan.images
        ),
        signing=signing,
    )


def _sbom_name(arch: str) -> str:
    return f"sbom-{arch}.spdx.json"


def _sbom_blob(record: ImageRecord, arch: str) -> str | None:
    blob = record.sboms.get(_sbom_name(arch))
    return blob.digest if blob else None


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
        current = BuiltFrom(config=framework.checksum, lock=lock_digest(lock, arch))
        images.append(_prepare_image(store, framework.name, arch, current, target))
    return FrameworkPlan(
        framework=framework.name,
        registry=target.registry,
        repo=target.repo(framework.name),
        tags=target.tags,
        insecure=target.insecure,
        images=tuple(images),
        record_path=store.record_path(framework.name, "publish.json"),
    )


def _prepare_image(
    store: Store, framework: str, arch: str, current: BuiltFrom, target: Target
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
        sbom_blob = record.sboms.get(_sbom_name(arch))
        sbom = store.verify(sbom_blob, where=str(path)) if sbom_blob else None
    except BuildkitError as exc:
        raise PublishError(
            f"refusing to publish {framework} for {arch}: {exc.message}",
            where=exc.where,
            hint=build_hint(framework, arch),
        ) from None
    repo = target.repo(framework)
    return ArchImage(
        arch=arch,
        record=record,
        record_path=path,
        tarball=tarball,
        reference=f"{repo}@{record.image.manifest_digest}",
        tags=tuple(f"{repo}:{tag}-{oci_arch(arch)}" for tag in target.tags)
        if target.arch_tags
        else (),
        sbom=sbom,
    )


@dataclass(frozen=True, kw_only=True)
class BuiltFrom:
    """What an image must be built from to be published: the config checksum and the lock
    entries digest of the current config and lockfile."""

    config: str
    lock: str


def check_record(
    record: ImageRecord, *, arch: str, framework: str, current: BuiltFrom, where: str
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
    for what, built, now in (
        ("config", record.inputs.config.checksum, current.config),
        ("lockfile", record.inputs.lock, current.lock),
    ):
        if built != now:
            raise PublishError(
                f"the image was built from another {what} than the current one "
                f"({built or 'unknown'}, now {now})",
                where=where,
                hint=build_hint(framework, arch),
            )


# --------------------------------------------------------------------------------------------
# Executing


def _quiet(_: str) -> None:
    return None


def oci_layout(tarball: Path, dest: Path, manifest_digest: str) -> Path:
    """Unpack apko's tarball into an OCI image layout at ``dest``: its manifest blob
    (``sha256:<hex>``), config (``sha256:<hex>``) and layers (``<hex>.tar.gz``) under
    ``blobs/sha256/``, and an index naming the manifest. No byte of a blob changes."""
    blobs = dest / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    with tarfile.open(tarball) as archive:
        for member in archive:
            name = member.name.removeprefix("./")
            if not member.isfile() or "/" in name:
                continue
            if name.startswith("sha256:"):
                hex_ = name.removeprefix("sha256:")
            elif name.endswith(".tar.gz"):
                hex_ = name.removesuffix(".tar.gz")
            else:
                continue
            if not re.fullmatch(r"[0-9a-f]{64}", hex_):
                continue
            source = archive.extractfile(member)
            assert source is not None
            with source, open(blobs / hex_, "wb") as out:
                while chunk := source.read(1 << 20):
                    out.write(chunk)
    manifest = blobs / manifest_digest.removeprefix("sha256:")
    if not manifest.is_file():
        raise PublishError(
            f"the tarball has no manifest blob {manifest_digest}",
            where=str(tarball),
            hint=BUILD_HINT,
        )
    index = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {
                "mediaType": OCI_MANIFEST,
                "size": manifest.stat().st_size,
                "digest": manifest_digest,
            }
        ],
    }
    (dest / "index.json").write_bytes(canonical_json(index))
    (dest / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}', encoding="utf-8")
    return dest


def docker_config_dir(env: Mapping[str, str]) -> Path | None:
    """Where ``docker login`` keeps credentials (DOCKER_CONFIG, else ~/.docker), if it exists."""
    path = Path(env["DOCKER_CONFIG"]) if env.get("DOCKER_CONFIG") else Path.home() / ".docker"
    return path.resolve() if path.is_dir() else None


def source_revision(root: Path) -> str:
    """The checkout's commit (``git rev-parse HEAD``), or "unknown" outside a git checkout."""
    try:
        done = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    value = done.stdout.strip()
    return value if done.returncode == 0 and value else "unknown"


def _provenance_path(plan: FrameworkPlan, arch: str) -> Path:
    return plan.record_path.parent / f"{arch}.provenance.json"


def link_sbom(image: ArchImage, dest: Path) -> None:
    """``dest`` (dist/<framework>/<arch>.spdx.json) -> the SBOM in the store, replaced
    atomically (a relative symlink, so the dist folder can move)."""
    if image.sbom is None:
        return
    target = os.path.relpath(image.sbom, dest.parent)
    if dest.is_symlink() and os.readlink(dest) == target:
        return
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    os.symlink(target, tmp)
    os.replace(tmp, dest)


@dataclass(frozen=True, kw_only=True)
class Tools:
    """The registry and signing tools a publish runs (images pinned by digest)."""

    crane: ImageRef
    cosign: ImageRef | None  # None: no signing
    signer: Signer | None
    project: Path
    docker_config: Path | None
    tool_images: Mapping[str, str]  # for the provenance: name -> pinned reference


class _Access(TypedDict):
    insecure: bool
    project: Path
    docker_config: Path | None


class Publisher:
    """Runs plans: crane (per-arch images, extra tags), the docker CLI (manifest lists),
    cosign (signatures and attestations)."""

    def __init__(
        self,
        *,
        engine: Engine,
        docker: str,
        store: Store,
        tools: Tools,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        say: Callable[[str], None] = _quiet,
    ) -> None:
        self.engine = engine
        self.docker = docker
        self.store = store
        self.tools = tools
        self.policy = policy or RetryPolicy()
        self.sleep = sleep
        self.say = say
        self._ready: set[ImageRef] = set()
        self._key_checked = False

    def publish(self, plan: FrameworkPlan) -> PublishRecord:
        """Push, list, read back, sign, record. One framework at a time per dist/ (a lock)."""
        with self.store.lock(f"publish-{plan.framework}"):
            self._check_key()
            for image in plan.images:
                self._push_image(image, plan)
            list_digest = self._push_list(plan)
            self._read_back(plan, list_digest)
            for reference in plan.references[1:]:
                self._tag(f"{plan.repo}@{list_digest}", reference, plan)
            predicates = self._provenance(plan)
            # The predicates are attested from scratch copies and reach dist/ only once every
            # signature is made: a failed signing (a wrong COSIGN_PASSWORD) leaves dist/ as it was.
            with self.store.scratch_dir("provenance") as scratch:
                attested = {}
                for arch, predicate in predicates.items():
                    attested[arch] = scratch / f"{arch}.provenance.json"
                    attested[arch].write_bytes(canonical_json(predicate))
                signing = self._sign(plan, list_digest, attested)
            for arch, predicate in predicates.items():
                self.store.write_record(_provenance_path(plan, arch), predicate)
            for image in plan.images:
                link_sbom(image, plan.record_path.parent / f"{image.arch}.spdx.json")
            record = publish_record(
                plan,
                list_digest,
                signing=signing,
                provenance={
                    arch: sha256_digest(canonical_json(predicate))
                    for arch, predicate in predicates.items()
                },
            )
            self.store.write_record(plan.record_path, record.to_dict())
        return record

    # -- running a tool container ------------------------------------------------------------------

    def _ensure(self, image: ImageRef) -> None:
        if image not in self._ready:
            try:
                self.engine.ensure_image(image)
            except BuildkitError as exc:
                raise PublishError(exc.message, where=exc.where, hint=exc.hint) from None
            self._ready.add(image)

    def _tool(
        self,
        spec: ContainerSpec,
        what: str,
        registry: str,
        *,
        retry: bool = True,
        explain: Callable[[str], PublishError | None] = lambda _text: None,
    ) -> str:
        """Run a crane/cosign container against the registry; one clear line on failure."""
        self._ensure(spec.image)
        policy = self.policy if retry else RetryPolicy(attempts=1)
        return with_retry(
            lambda: self.engine.capture(spec, timeout=self.engine.tool_timeout),
            what=what,
            registry=registry,
            policy=policy,
            sleep=self.sleep,
            on_retry=self.say,
            explain=explain,
        )

    def _cosign(self, spec: ContainerSpec, what: str, registry: str, signer: Signer) -> None:
        """A cosign sign or attest: its own failures (key, password, Sigstore) named as such."""
        key = signer.key.relative_to(self.tools.project) if signer.key else None
        self._tool(
            spec,
            what,
            registry,
            explain=lambda text: cosign_error(text, mode=signer.mode, what=what, key=key),
        )

    def _passes(self, spec: ContainerSpec) -> bool:
        self._ensure(spec.image)
        try:
            self.engine.capture(spec, timeout=self.engine.tool_timeout)
        except ToolFailedError:
            return False
        return True

    # -- per-arch images ------------------------------------------------------------------------

    def _push_image(self, image: ArchImage, plan: FrameworkPlan) -> None:
        self.say(f"pushing {image.reference} ({image.platform})")
        with self.store.scratch_dir("layout") as scratch:
            try:
                layout = oci_layout(image.tarball, scratch / "layout", image.manifest_digest)
            except PublishError as err:
                err.hint = build_hint(plan.framework, image.arch)  # that image, rebuilt
                raise
            spec = crane_push_spec(
                self.tools.crane,
                layout=layout,
                reference=image.reference,
                insecure=plan.insecure,
                project=self.tools.project,
                docker_config=self.tools.docker_config,
            )
            out = self._tool(spec, f"pushing {image.reference}", plan.registry)
        found = _DIGEST.findall(out)
        if not found or found[-1] != image.manifest_digest:
            raise PublishError(
                f"the registry stored {found[-1] if found else 'no digest'} for "
                f"{image.platform}, the build record says {image.manifest_digest}",
                where=plan.registry,
                hint="the registry rewrote the manifest; use an OCI-compliant registry",
            )
        for tag in image.tags:
            self._tag(image.reference, tag, plan)

    def _tag(self, reference: str, tagged: str, plan: FrameworkPlan) -> None:
        self.say(f"tagging {tagged}")
        spec = crane_tag_spec(
            self.tools.crane,
            reference=reference,
            tag=tagged.rsplit(":", 1)[1],
            insecure=plan.insecure,
            project=self.tools.project,
            docker_config=self.tools.docker_config,
        )
        self._tool(spec, f"tagging {tagged}", plan.registry)

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

    def _read_back(self, plan: FrameworkPlan, list_digest: str) -> None:
        by_digest = f"{plan.repo}@{list_digest}"
        verbose = self._network(
            manifest_inspect_argv(self.docker, by_digest, insecure=plan.insecure, verbose=True),
            f"reading back {by_digest}",
            plan.registry,
        )
        check_listed(plan, parse_verbose_list(verbose, where=by_digest))
        tagged = self._network(
            manifest_inspect_argv(self.docker, plan.reference, insecure=plan.insecure),
            f"reading back {plan.reference}",
            plan.registry,
        )
        check_tagged(plan, parse_list(tagged, where=plan.reference), list_digest)

    # -- signatures and attestations --------------------------------------------------------------

    def _check_key(self) -> None:
        """Key mode, before anything is pushed: COSIGN_PASSWORD opens the private key, and the
        key is the pair of the public key that verify uses. A wrong password or a stray .pub
        would otherwise be found after the push, leaving unsigned images in the registry."""
        signer, cosign = self.tools.signer, self.tools.cosign
        if self._key_checked or signer is None or cosign is None or signer.mode != "key":
            return
        if signer.key is None:
            return
        self._ensure(cosign)
        check_cosign_key(
            self.engine,
            cosign,
            signer.key,
            project=self.tools.project,
            what="checking the cosign key before pushing",
            outcome="nothing was pushed",
        )
        self._key_checked = True

    def _provenance(self, plan: FrameworkPlan) -> dict[str, dict[str, Any]]:
        """The SLSA v1 predicate of each arch (dist/<framework>/<arch>.provenance.json)."""
        revision = source_revision(self.tools.project)
        return {
            image.arch: provenance_predicate(
                image.record, source_revision=revision, tool_images=self.tools.tool_images
            )
            for image in plan.images
        }

    def _sign(
        self, plan: FrameworkPlan, list_digest: str, provenance: Mapping[str, Path]
    ) -> dict[str, Any]:
        signer, cosign = self.tools.signer, self.tools.cosign
        if signer is None or cosign is None:
            return {"mode": "none"}
        common: _Access = {
            "insecure": plan.insecure,
            "project": self.tools.project,
            "docker_config": self.tools.docker_config,
        }
        subjects = [f"{plan.repo}@{list_digest}", *(image.reference for image in plan.images)]
        signed: list[str] = []
        for subject in subjects:
            if not self._passes(
                cosign_verify_spec(cosign, signer=signer, reference=subject, **common)
            ):
                self.say(f"signing {subject}")
                self._cosign(
                    cosign_sign_spec(cosign, signer=signer, reference=subject, **common),
                    f"signing {subject}",
                    plan.registry,
                    signer,
                )
            signed.append(subject)
        attested: dict[str, list[str]] = {}
        for image in plan.images:
            predicates: list[tuple[str, Path]] = [(PROVENANCE_TYPE, provenance[image.arch])]
            if image.sbom is not None:
                predicates.insert(0, (SBOM_TYPE, image.sbom))
            for kind, predicate in predicates:
                check = cosign_verify_spec(
                    cosign, signer=signer, reference=image.reference, predicate_type=kind, **common
                )
                if not self._passes(check):
                    self.say(f"attesting {kind} for {image.reference}")
                    self._cosign(
                        cosign_attest_spec(
                            cosign,
                            signer=signer,
                            reference=image.reference,
                            predicate=predicate,
                            predicate_type=kind,
                            **common,
                        ),
                        f"attesting {kind} for {image.reference}",
                        plan.registry,
                        signer,
                    )
                attested.setdefault(image.arch, []).append(kind)
        described: dict[str, Any] = {"mode": signer.mode, "signed": signed, "attested": attested}
        if signer.mode == "key" and signer.public_key is not None:
            described["public_key"] = str(signer.public_key.relative_to(self.tools.project))
        else:
            described["identity"] = signer.identity
            described["issuer"] = signer.issuer
        return described

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


# cosign's words when the key's password is wrong or missing (it cannot prompt: no terminal).
_BAD_PASSWORD = re.compile(
    r"decryption failed|incorrect password|reading password|password.*(terminal|tty)",
    re.IGNORECASE,
)
# ... and when keyless signing cannot reach Sigstore (TUF, Fulcio, Rekor) or get an identity.
_SIGSTORE = re.compile(
    r"sigstore|fulcio|rekor|\btuf\b|oidc|oauth|id[ _-]?token|identity token|browser",
    re.IGNORECASE,
)


def check_cosign_key(
    engine: Engine, cosign: ImageRef, key: Path, *, project: Path, what: str, outcome: str
) -> None:
    """COSIGN_PASSWORD opens ``key`` and ``key`` is the pair of its .pub (``cosign public-key``,
    offline, in the pinned cosign container), else one PublishError ending with ``outcome``.
    The cosign image must be present."""
    signer = Signer(mode="key", key=key)
    shown = key.relative_to(project) if key.is_relative_to(project) else key
    spec = cosign_public_key_spec(cosign, signer=signer, project=project)
    try:
        derived = engine.capture(spec, timeout=engine.tool_timeout)
    except ToolFailedError as exc:
        text = exc.tail or exc.message
        raise cosign_error(text, mode="key", what=what, key=shown, outcome=outcome) or PublishError(
            f"{what}: {shown}: {reason(text)}; {outcome}"
        ) from None
    public = key.with_suffix(".pub")
    public_shown = shown.with_suffix(".pub")
    try:
        matches = same_public_key(derived.encode(), read_input(public, "key"))
    except OSError as exc:
        raise PublishError(f"cannot read {public_shown}: {exc.strerror or exc}") from None
    if not matches:
        raise PublishError(
            f"{shown} and {public_shown} are not one key pair: signatures made with the key "
            f"would not verify with the public key; {outcome}",
            hint=f"restore the {public_shown} that belongs to {shown}, or make a new pair with "
            "`nox -s keygen -- --cosign` (remove both files first)",
        )


def same_public_key(first: bytes, second: bytes) -> bool:
    """Two PEM public keys are the same key (whatever their line breaks); False when either is
    not a public key."""
    try:
        keys = [serialization.load_pem_public_key(pem.strip()) for pem in (first, second)]
    except (ValueError, UnsupportedAlgorithm):
        return False
    der = [
        key.public_bytes(Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        for key in keys
    ]
    return der[0] == der[1]


def cosign_error(
    text: str,
    *,
    mode: str,
    what: str,
    key: Path | None,
    outcome: str = "nothing was recorded as published",
) -> PublishError | None:
    """One line for a cosign failure that is not the registry's fault, else None.

    Key mode: the password in COSIGN_PASSWORD does not open the key (never the password or
    the key in the line). Keyless: Sigstore's services or the OIDC token are out of reach
    (offline), which cosign reports as failed HTTP requests that look like a registry's."""
    why = reason(text)
    if mode == "key" and _BAD_PASSWORD.search(text):
        name = key or "the cosign key"
        return PublishError(
            f"{what}: the password in COSIGN_PASSWORD does not open {name} (cosign: "
            f"decryption failed); {outcome}",
            hint=f"set COSIGN_PASSWORD to the password {name} was made with, or make a new "
            "pair with `nox -s keygen -- --cosign`",
        )
    if mode == "keyless" and _SIGSTORE.search(text):
        return PublishError(
            f"{what}: keyless signing cannot reach Sigstore (the TUF, Fulcio or Rekor service) "
            f"or get an OIDC identity token ({why}); {outcome}",
            hint=KEYLESS_HINT,
        )
    return None


KEYLESS_HINT = (
    "offline, sign with a key pair: `nox -s keygen -- --cosign` writes keys/cosign.key, and "
    '[publish] signing = "key" (or BUILDKIT_SIGNING=key) uses it; otherwise publish online, '
    "from CI"
)


def check_listed(plan: FrameworkPlan, listed: Sequence[ListedImage]) -> None:
    """The list read back by digest has exactly the planned platforms, each with the build
    record's manifest and config digests."""
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
        if entry.manifest_digest != image.manifest_digest:
            raise PublishError(
                f"{image.platform} in the list is {entry.manifest_digest}, the build record "
                f"says {image.manifest_digest}",
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


def check_tagged(plan: FrameworkPlan, pairs: Sequence[tuple[str, str]], list_digest: str) -> None:
    """The tag serves the list just pushed (same platforms and manifests)."""
    expected = tuple(sorted((image.platform, image.manifest_digest) for image in plan.images))
    if tuple(pairs) != expected:
        raise PublishError(
            f"{plan.reference} does not serve the list just pushed ({list_digest})",
            where=plan.reference,
            hint=f"another publish raced this one; run `{publish_command(plan.framework)}`",
        )
