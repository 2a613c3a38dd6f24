"""THE container command-line builder: every ``docker run`` (and load/tag/push/inspect/manifest)
line buildkit executes is made here, from data, with no I/O.

Invariants of a run line: ``--rm``; ``--pull never`` (images are pulled, and their digests
checked, before anything runs); the project mounted at /work and used as the working directory;
``SOURCE_DATE_EPOCH`` in the environment; no network unless the caller needs one; privileges
only when asked; the image by digest.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Literal

from buildkit.errors import ToolchainError
from buildkit.imageref import ImageRef
from buildkit.toolchain.containers import STATE_FORMAT

WORKDIR = "/work"
Network = Literal["none", "host"]
# One bind mount: (host path, container path, read-only).
Mount = tuple[Path, str, bool]

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True, kw_only=True)
class Owner:
    """Who runs buildkit: outputs in the checkout must end up owned by this user."""

    uid: int
    gid: int

    @classmethod
    def current(cls) -> Owner:
        return cls(uid=os.getuid(), gid=os.getgid())

    @property
    def is_root(self) -> bool:
        return self.uid == 0

    def __str__(self) -> str:
        return f"{self.uid}:{self.gid}"


@dataclass(frozen=True, kw_only=True)
class ContainerSpec:
    """One tool run in a container. Paths in ``args`` are container paths (see container_path)."""

    image: ImageRef
    args: tuple[str, ...]
    workdir_mount: Path  # host folder mounted at /work (the project root)
    workdir_read_only: bool = False  # outputs then come through writable extra_mounts
    env: Mapping[str, str] = field(default_factory=dict)
    network: Network = "none"
    privileged: bool = False
    platform: str | None = None  # "linux/arm64": only for running foreign-arch images
    extra_mounts: tuple[Mount, ...] = ()
    source_date_epoch: int | None = None
    user: Owner | None = None  # --user uid:gid; None = the image's user (root)
    entrypoint: str | None = None
    # Names passed as ``-e NAME``: the engine CLI copies the value from its own environment, so
    # a secret (COSIGN_PASSWORD) never appears on a command line or in a log.
    inherit_env: tuple[str, ...] = ()


def _check_mount(host: Path, target: str) -> None:
    text = str(host)
    if not host.is_absolute():
        raise ToolchainError(f"mount source {text} is not an absolute path")
    # `-v a:b:ro` splits on ':'; a path with ':' or ',' cannot be expressed safely.
    if ":" in text or "," in text:
        raise ToolchainError(
            f"cannot mount {text} into a container: the path contains ':' or ','",
            hint="move the project or cache to a path without ':' or ','",
        )
    if not PurePosixPath(target).is_absolute() or ":" in target:
        raise ToolchainError(f"container mount point {target!r} must be an absolute path")


def _volume(host: Path, target: str, read_only: bool) -> list[str]:
    _check_mount(host, target)
    return ["-v", f"{host}:{target}" + (":ro" if read_only else "")]


def _env_args(spec: ContainerSpec) -> list[str]:
    env: dict[str, str] = {}
    if spec.source_date_epoch is not None:
        env["SOURCE_DATE_EPOCH"] = str(spec.source_date_epoch)
    env.update(spec.env)
    args: list[str] = []
    for name in sorted(env):  # sorted: the same spec always gives the same line
        if not _ENV_NAME.fullmatch(name):
            raise ToolchainError(f"invalid environment variable name {name!r}")
        args += ["-e", f"{name}={env[name]}"]
    for name in sorted(set(spec.inherit_env) - set(env)):
        if not _ENV_NAME.fullmatch(name):
            raise ToolchainError(f"invalid environment variable name {name!r}")
        args += ["-e", name]
    return args


def run_argv(
    engine: str,
    spec: ContainerSpec,
    *,
    name: str | None = None,
    labels: Mapping[str, str] | None = None,
    remove: bool | None = None,
) -> list[str]:
    """The complete ``docker run`` / ``podman run`` argv for ``spec``.

    ``name`` (and ``labels``) let buildkit stop the container (timeouts, signals). ``remove``
    (``--rm``; default: when there is no name) is False where the docker CLI against podman's
    Docker API before 4.6 reports exit status 0 for every ``run --rm`` (containers/podman#18889):
    the engine then reads the status and removes the container itself.
    """
    keep = ["--rm"] if (name is None if remove is None else remove) else []
    keep += ["--name", name] if name else []
    for key in sorted(labels or {}):
        keep += ["--label", f"{key}={(labels or {})[key]}"]
    argv = [engine, "run", *keep, "--pull", "never", "--network", spec.network]
    if spec.privileged:
        argv.append("--privileged")
    if spec.platform:
        argv += ["--platform", spec.platform]
    if spec.user is not None:
        argv += ["--user", str(spec.user)]
    if spec.entrypoint:
        argv += ["--entrypoint", spec.entrypoint]
    argv += _volume(spec.workdir_mount, WORKDIR, spec.workdir_read_only)
    for host, target, read_only in spec.extra_mounts:
        # Mounts below /work are allowed (writable outputs over a read-only project), /work not.
        if PurePosixPath(target) == PurePosixPath(WORKDIR):
            raise ToolchainError(f"extra mount {host} would hide the project at {WORKDIR}")
        argv += _volume(host, target, read_only)
    argv += ["-w", WORKDIR, *_env_args(spec), spec.image.run_ref, *spec.args]
    return argv


def container_path(spec: ContainerSpec, host: Path) -> str:
    """Where the host path ``host`` appears inside the container of ``spec``."""
    mounts = [(spec.workdir_mount, WORKDIR), *((h, t) for h, t, _ in spec.extra_mounts)]
    return map_path(mounts, host)


def map_path(mounts: Sequence[tuple[Path, str]], host: Path) -> str:
    """Translate ``host`` through the first mount that contains it (longest source first)."""
    for source, target in sorted(mounts, key=lambda m: len(m[0].parts), reverse=True):
        if host == source or host.is_relative_to(source):
            rel = host.relative_to(source)
            return str(PurePosixPath(target) / rel.as_posix()) if rel.parts else target
    raise ToolchainError(
        f"{host} is not inside the project or a mounted cache, so the tool cannot see it",
        hint="keep configs, keys, repositories and outputs under the project folder",
    )


# --- image commands (the engine CLI; docker and podman take the same syntax) -----------------


def inspect_argv(engine: str, ref: str, template: str) -> list[str]:
    return [engine, "image", "inspect", "--format", template, ref]


def state_argv(engine: str, container: str) -> list[str]:
    """The container's recorded status, exit code and start time (``containers.STATE_FORMAT``)."""
    return [engine, "container", "inspect", "--format", STATE_FORMAT, container]


def logs_argv(engine: str, container: str) -> list[str]:
    return [engine, "container", "logs", container]


def remove_container_argv(engine: str, container: str) -> list[str]:
    return [engine, "container", "rm", "--force", container]


def list_labelled_argv(engine: str, label: str) -> list[str]:
    """``NAME LABEL-VALUE`` lines for every container (running or not) carrying ``label``."""
    template = '{{.Names}} {{.Label "' + label + '"}}'
    return [engine, "container", "ls", "--all", "--filter", f"label={label}", "--format", template]


def pull_argv(engine: str, ref: str) -> list[str]:
    return [engine, "pull", ref]


def load_argv(engine: str, tarball: Path) -> list[str]:
    return [engine, "load", "-i", str(tarball)]


def tag_argv(engine: str, source: str, target: str) -> list[str]:
    return [engine, "tag", source, target]


def push_argv(
    engine: str, ref: str, *, tls_verify: bool = True, digest_file: Path | None = None
) -> list[str]:
    """``tls_verify`` and ``digest_file`` are podman CLI flags (the docker daemon decides
    about plain HTTP itself, and the docker CLI prints the digest)."""
    flags = [] if tls_verify else ["--tls-verify=false"]
    flags += ["--digestfile", str(digest_file)] if digest_file else []
    return [engine, "push", *flags, ref]


# --- docker manifest (client-side: talks to the registry directly, needs no engine) ---------


def manifest_create_argv(
    docker: str, target: str, sources: Sequence[str], *, insecure: bool, amend: bool = False
) -> list[str]:
    flags = (["--insecure"] if insecure else []) + (["--amend"] if amend else [])
    return [docker, "manifest", "create", *flags, target, *sources]


def manifest_annotate_argv(
    docker: str, target: str, source: str, *, os_name: str, arch: str, variant: str | None
) -> list[str]:
    argv = [docker, "manifest", "annotate", target, source, "--os", os_name, "--arch", arch]
    return argv + (["--variant", variant] if variant else [])


def manifest_push_argv(
    docker: str, target: str, *, insecure: bool, purge: bool = True
) -> list[str]:
    flags = (["--insecure"] if insecure else []) + (["--purge"] if purge else [])
    return [docker, "manifest", "push", *flags, target]


def manifest_inspect_argv(
    docker: str, ref: str, *, insecure: bool, verbose: bool = False
) -> list[str]:
    flags = (["--insecure"] if insecure else []) + (["--verbose"] if verbose else [])
    return [docker, "manifest", "inspect", *flags, ref]


def manifest_rm_argv(docker: str, target: str) -> list[str]:
    return [docker, "manifest", "rm", target]
