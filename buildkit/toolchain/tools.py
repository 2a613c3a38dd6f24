"""The apko and melange command lines (pure): jobs in, argv out.

Flags were checked against ``--help`` of apko v1.2.39 and melange v0.59.1/v0.59.2 (the same
build flags). Paths in a job are
host paths; ``to_container`` maps them to where the container sees them (see ``mounts``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from buildkit.apk.arch import normalize_arch
from buildkit.toolchain.spec import WORKDIR

ToContainer = Callable[[Path], str]
Source = Path | str  # a local path (mapped into the container) or a URL (passed as is)

_GIT_VERSION = re.compile(r"^\s*GitVersion:\s*(\S+)", re.MULTILINE)


@dataclass(frozen=True, kw_only=True)
class ApkoBuild:
    """``apko build CONFIG TAG OUTPUT``: one arch, a docker-loadable tarball plus SBOMs."""

    config: Path
    tag: str
    output: Path  # a file: docker-archive tarball; images load as TAG-<oci arch>
    arch: str  # apk arch
    sbom_dir: Path
    lockfile: Path | None = None
    cache_dir: Path | None = None
    offline: bool = True  # every package comes from the lockfile's local paths or the cache
    keyring_append: tuple[Source, ...] = ()
    repository_append: tuple[Source, ...] = ()

    @property
    def outputs(self) -> tuple[Path, ...]:
        return (self.output.parent, self.sbom_dir)

    @property
    def inputs(self) -> tuple[Path, ...]:
        return _local(self.config, self.lockfile, *self.keyring_append, *self.repository_append)

    @property
    def caches(self) -> tuple[Path, ...]:
        return (self.cache_dir,) if self.cache_dir else ()


@dataclass(frozen=True, kw_only=True)
class ApkoLock:
    """``apko lock CONFIG --output L``: resolve with apko itself (for comparisons)."""

    config: Path
    output: Path
    archs: tuple[str, ...]
    cache_dir: Path | None = None
    keyring_append: tuple[Source, ...] = ()
    repository_append: tuple[Source, ...] = ()

    @property
    def outputs(self) -> tuple[Path, ...]:
        return (self.output.parent,)

    @property
    def inputs(self) -> tuple[Path, ...]:
        return _local(self.config, *self.keyring_append, *self.repository_append)

    @property
    def caches(self) -> tuple[Path, ...]:
        return (self.cache_dir,) if self.cache_dir else ()


@dataclass(frozen=True, kw_only=True)
class MelangeBuild:
    """``melange build CONFIG``: one arch into ``out_dir/<arch>/`` (+ a signed APKINDEX)."""

    config: Path
    arch: str  # apk arch
    signing_key: Path
    out_dir: Path
    keyring_append: tuple[Source, ...] = ()
    repository_append: tuple[Source, ...] = ()
    source_dir: Path | None = None  # default: the config's folder
    cache_dir: Path | None = None  # melange's default is ./melange-cache/ in the checkout
    apk_cache_dir: Path | None = None
    # melange records the config's git commit and URL in the package SBOM; pass them so the
    # output does not depend on the checkout's HEAD (None: melange detects or says "unknown").
    git_commit: str | None = None
    git_repo_url: str | None = None
    namespace: str | None = None  # purl namespace in the SBOM (wolfi, alpine, ...)
    generate_index: bool = True

    @property
    def outputs(self) -> tuple[Path, ...]:
        return (self.out_dir,)

    @property
    def inputs(self) -> tuple[Path, ...]:
        return _local(
            self.config,
            self.signing_key,
            self.source_dir,
            *self.keyring_append,
            *self.repository_append,
        )

    @property
    def caches(self) -> tuple[Path, ...]:
        return tuple(p for p in (self.cache_dir, self.apk_cache_dir) if p)


def _local(*values: Source | None) -> tuple[Path, ...]:
    """The local paths among a job's inputs (URLs need no mount)."""
    return tuple(v for v in values if isinstance(v, Path))


def _config_arg(config: Path, to_container: ToContainer) -> str:
    """apko records the config path as given in the lockfile (config.name): give it relative
    to the project (the working directory), as a user typing the command would."""
    path = to_container(config)
    return path.removeprefix(WORKDIR + "/") if path.startswith(WORKDIR + "/") else path


def _sources(flag: str, values: tuple[Source, ...], to_container: ToContainer) -> list[str]:
    args: list[str] = []
    for value in values:
        args += [flag, to_container(value) if isinstance(value, Path) else value]
    return args


def apko_build_args(job: ApkoBuild, to_container: ToContainer) -> tuple[str, ...]:
    # --vcs=false: otherwise the checkout's git remote and commit leak into the annotations.
    args = [
        "build",
        _config_arg(job.config, to_container),
        job.tag,
        to_container(job.output),
        "--arch",
        normalize_arch(job.arch),
        "--vcs=false",
        "--sbom-path",
        to_container(job.sbom_dir),
    ]
    if job.lockfile:
        args += ["--lockfile", to_container(job.lockfile)]
    if job.cache_dir:
        args += ["--cache-dir", to_container(job.cache_dir)]
    if job.offline:
        args.append("--offline")
    args += _sources("--keyring-append", job.keyring_append, to_container)
    args += _sources("--repository-append", job.repository_append, to_container)
    return tuple(args)


def apko_lock_args(job: ApkoLock, to_container: ToContainer) -> tuple[str, ...]:
    args = ["lock", _config_arg(job.config, to_container), "--output", to_container(job.output)]
    for arch in job.archs:
        args += ["--arch", normalize_arch(arch)]
    if job.cache_dir:
        args += ["--cache-dir", to_container(job.cache_dir)]
    args += _sources("--keyring-append", job.keyring_append, to_container)
    args += _sources("--repository-append", job.repository_append, to_container)
    return tuple(args)


def melange_build_args(job: MelangeBuild, to_container: ToContainer) -> tuple[str, ...]:
    # Always one --arch: melange's default is every arch it knows.
    args = [
        "build",
        to_container(job.config),
        "--arch",
        normalize_arch(job.arch),
        "--signing-key",
        to_container(job.signing_key),
        "--out-dir",
        to_container(job.out_dir),
        "--runner",
        "bubblewrap",
    ]
    args += _sources("--keyring-append", job.keyring_append, to_container)
    args += _sources("--repository-append", job.repository_append, to_container)
    optional_paths = (
        ("--source-dir", job.source_dir),
        ("--cache-dir", job.cache_dir),
        ("--apk-cache-dir", job.apk_cache_dir),
    )
    for flag, path in optional_paths:
        if path:
            args += [flag, to_container(path)]
    for flag, value in (
        ("--git-commit", job.git_commit),
        ("--git-repo-url", job.git_repo_url),
        ("--namespace", job.namespace),
    ):
        if value:
            args += [flag, value]
    if not job.generate_index:
        args.append("--generate-index=false")
    return tuple(args)


def parse_tool_version(output: str) -> str:
    """The version from ``apko version`` / ``melange version`` (sigs.k8s.io/release-utils)."""
    match = _GIT_VERSION.search(output)
    if match:
        return match.group(1)
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    return lines[-1] if lines else "unknown"
