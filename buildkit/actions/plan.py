"""Planning builds (pure): which lock entries an image uses, refusing stale locks, action keys.

An action's key is the SHA-256 of the canonical JSON of its inputs (:func:`buildkit.store.
action_key`). Everything that can change an output is an input:

- an apko image build: the config checksum (the file and its includes, as apko computes it),
  the lock entries for that arch (keyring, repositories, packages with their checksums), the
  apko image digest, SOURCE_DATE_EPOCH (configured, or "the newest locked package", which the
  lock entries determine), the image tag, the signing key fingerprint and the recipe
  (:data:`buildkit.actions.inputs.RECIPE`);
- a melange package build: the config bytes, its source folder, the melange image digest, the
  arch, SOURCE_DATE_EPOCH, the signing key and keyring, the environment's repositories and
  keys, and the identities of the local packages it needs, as built.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from buildkit.actions.inputs import (
    ConfigInput,
    ImageInputs,
    PackageConfigInput,
    PackageInputs,
)
from buildkit.apk.arch import oci_arch
from buildkit.apk.keys import fingerprint
from buildkit.digest import canonical_json, sha256_digest
from buildkit.errors import StaleLockError
from buildkit.framework import Framework
from buildkit.hints import lock_command, missing_lockfile, run
from buildkit.lockfile import LockedPackage, Lockfile
from buildkit.melange import PackageConfig
from buildkit.redaction import redact

_PEM_SPKI = b"-----BEGIN PUBLIC KEY-----"


LOCAL_REGISTRY = "localhost"  # local image names: never a public registry's namespace


def image_tag(repository: str, framework: str, tag: str) -> str:
    """The reference apko names the image with: ``localhost/buildkit/demo:latest``. A bare
    ``buildkit/demo`` would mean ``docker.io/buildkit/demo`` to every engine and to the
    tarball's own index; ``localhost/`` is what podman names loaded images anyway."""
    return f"{LOCAL_REGISTRY}/{repository}/{framework}:{tag}"


def loaded_tag(tag: str, arch: str) -> str:
    """What ``docker load`` of apko's tarball names the image:
    ``localhost/buildkit/demo:latest-amd64``."""
    return f"{tag}-{oci_arch(arch)}"


# --------------------------------------------------------------------------------------------
# Lockfiles


def check_lock(framework: Framework, lock: Lockfile | None, arch: str, *, path: Path) -> Lockfile:
    """Refuse a missing lockfile, one locked from another version of the config or naming
    another config, or one without ``arch``; return the lock otherwise."""
    if lock is None:
        raise missing_lockfile(framework.name, path)
    lock_hint = f"{run(lock_command(framework.name))} and commit the lockfile"
    locked = lock.config.checksum if lock.config else None
    if locked != framework.checksum:
        raise StaleLockError(
            # In words: the checksums (in the lockfile and apko's) say nothing more to a reader.
            f"the lockfile is stale: {framework.config_name} changed since it was locked"
            if locked
            else f"the lockfile is stale: it records no config checksum for "
            f"{framework.config_name}",
            where=str(path),
            hint=lock_hint,
        )
    if lock.config is not None and lock.config.name != framework.config_name:
        raise StaleLockError(
            f"config.name {lock.config.name!r} does not match {framework.config_name}",
            where=str(path),
            hint=lock_hint,
        )
    if arch not in lock.archs():
        raise StaleLockError(
            f"the lockfile has no packages for {arch}",
            where=str(path),
            hint=f"add {arch} to the framework's archs, then {lock_hint}",
        )
    return lock


def lock_entries(lock: Lockfile, arch: str) -> dict[str, Any]:
    """Everything in the lock that one arch's image is made from (its 'lock entries')."""
    data = lock.to_dict()["contents"]
    return {
        "keyring": data["keyring"],
        "repositories": [
            r
            for kind in ("repositories", "build_repositories", "runtime_repositories")
            for r in data[kind]
            if r["architecture"] == arch
        ],
        "packages": [p for p in data["packages"] if p["architecture"] == arch],
    }


def lock_digest(lock: Lockfile, arch: str) -> str:
    return sha256_digest(canonical_json(lock_entries(lock, arch)))


def newest_build_time(times: Iterable[int | None]) -> int:
    """apko's default build date: the newest package build time (0 when none is known)."""
    return max((t for t in times if t is not None), default=0)


def is_local(package: LockedPackage) -> bool:
    return not package.url.startswith(("http://", "https://"))


# --------------------------------------------------------------------------------------------
# Actions


@dataclass(frozen=True, kw_only=True)
class ImageAction:
    """One apko build: a framework for one arch."""

    framework: Framework
    arch: str
    lockfile: Path
    lock: Lockfile
    tag: str  # the reference apko is given; the image loads as loaded_tag(tag, arch)
    source_date_epoch: int | None  # configured; None = the newest locked package
    inputs: ImageInputs

    @property
    def key(self) -> str:
        return self.inputs.key

    @property
    def label(self) -> str:
        return f"apko {self.framework.name} {self.arch}"

    @property
    def packages(self) -> tuple[LockedPackage, ...]:
        return self.lock.packages_for(self.arch)


def plan_image(
    framework: Framework,
    lock: Lockfile,
    arch: str,
    *,
    lockfile: Path,
    apko_image: str,
    tag: str,
    source_date_epoch: int | None,
    signing_key: str,
) -> ImageAction:
    """The action for ``framework`` on ``arch`` (the lock must have passed check_lock)."""
    return ImageAction(
        framework=framework,
        arch=arch,
        lockfile=lockfile,
        lock=lock,
        tag=tag,
        source_date_epoch=source_date_epoch,
        inputs=ImageInputs(
            arch=arch,
            config=ConfigInput(name=framework.config_name, checksum=framework.checksum),
            lock=lock_digest(lock, arch),
            apko_image=apko_image,
            source_date_epoch=source_date_epoch,
            tag=tag,
            signing_key=signing_key,
        ),
    )


@dataclass(frozen=True, kw_only=True)
class PackageAction:
    """One melange build: a package config for one arch."""

    config: PackageConfig
    arch: str
    source_date_epoch: int
    inputs: PackageInputs

    @property
    def key(self) -> str:
        return self.inputs.key

    @property
    def label(self) -> str:
        return f"melange {self.config.name} {self.arch}"


def plan_package(
    config: PackageConfig,
    *,
    config_bytes: bytes,
    source_tree: str | None,
    arch: str,
    melange_image: str,
    source_date_epoch: int,
    signing_key: str,
    local_deps: Mapping[str, str],
) -> PackageAction:
    """``local_deps``: name -> identity of each local package it needs, as built for ``arch``."""
    return PackageAction(
        config=config,
        arch=arch,
        source_date_epoch=source_date_epoch,
        inputs=PackageInputs(
            arch=arch,
            config=PackageConfigInput(name=config.path.name, digest=sha256_digest(config_bytes)),
            source_tree=source_tree,
            melange_image=melange_image,
            source_date_epoch=source_date_epoch,
            signing_key=signing_key,
            # recorded: no password of a repository URL goes into a record
            repositories=tuple(redact(r) for r in config.repositories),
            keyring=tuple(redact(k) for k in config.keyring),
            local_deps=dict(sorted(local_deps.items())),
        ),
    )


def public_key_fingerprint(pem: bytes, *, where: str = "public key") -> str:
    """``sha256:<hex>`` of the DER SubjectPublicKeyInfo, as :func:`buildkit.apk.keys.fingerprint`.

    An SPKI PEM's body *is* that DER, so the common case needs no crypto library (which would
    cost a no-op build its import time); other PEM kinds go through ``keys.fingerprint``.
    """
    text = pem.strip()
    lines = text.splitlines()
    if lines and lines[0].strip() == _PEM_SPKI and len(lines) > 2:
        try:
            der = base64.b64decode(b"".join(line.strip() for line in lines[1:-1]), validate=True)
        except binascii.Error:
            der = b""
        if der:
            return "sha256:" + hashlib.sha256(der).hexdigest()

    return fingerprint(pem, where=where)
