"""Build records: what an action read (its inputs and key) and what it produced (blobs).

Two kinds, serialised canonically by :func:`buildkit.digest.canonical_json`:

- :class:`PackageRecord` (``dist/packages/<name>/<arch>.json``): one melange build, the .apk
  files it produced (the package and its subpackages) with their identities (index ``C:``).
- :class:`ImageRecord` (``dist/<framework>/<arch>.json``): one apko build, the tarball, the
  SBOMs, and the image as apko made it (manifest and config digests, layers and diff_ids, the
  tag ``docker load`` gives it). Publishing reads these.

The same record is also stored under ``dist/actions/<key>.json`` (the action cache).
Reading a record back checks its shape; :mod:`buildkit.project.records` reads and writes them
in the store and checks the bytes they name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from buildkit.actions.inputs import ImageInputs, PackageInputs
from buildkit.digest import Blob
from buildkit.errors import BuildkitError, StoreError
from buildkit.fields import Fields

SCHEMA = 1


@dataclass(frozen=True, kw_only=True)
class BuiltApk:
    filename: str  # <name>-<version>.apk
    name: str
    version: str
    identity: str  # Q1<b64 sha1 of the control member> = index C:
    blob: Blob

    def to_dict(self) -> dict[str, Any]:
        return {
            "filename": self.filename,
            "name": self.name,
            "version": self.version,
            "identity": self.identity,
            "blob": self.blob.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str) -> BuiltApk:
        fields = _fields(where)
        return cls(
            filename=fields.string(data, "filename"),
            name=fields.string(data, "name"),
            version=fields.string(data, "version"),
            identity=fields.string(data, "identity"),
            blob=Blob.from_dict(data.get("blob"), where),
        )


@dataclass(frozen=True, kw_only=True)
class PackageRecord:
    name: str
    arch: str
    action_key: str
    inputs: PackageInputs
    apks: tuple[BuiltApk, ...] = ()
    cached: bool = field(default=False, compare=False)  # this run: from the action cache

    @property
    def main(self) -> BuiltApk:
        """The package itself (not a subpackage)."""
        return next((a for a in self.apks if a.name == self.name), self.apks[0])

    @property
    def identity(self) -> str:
        return self.main.identity

    def blobs(self) -> tuple[Blob, ...]:
        return tuple(apk.blob for apk in self.apks)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "kind": "package",
            "name": self.name,
            "arch": self.arch,
            "action_key": self.action_key,
            "inputs": self.inputs.to_dict(),
            "outputs": {"apks": [apk.to_dict() for apk in self.apks]},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str) -> PackageRecord:
        _check_kind(data, "package", where)
        fields = _fields(where)
        outputs = fields.mapping(data, "outputs")
        apks = outputs.get("apks")
        if not isinstance(apks, list) or not apks:
            raise _malformed("outputs.apks must be a non-empty list", where)
        return cls(
            name=fields.string(data, "name"),
            arch=fields.string(data, "arch"),
            action_key=fields.string(data, "action_key"),
            inputs=PackageInputs.from_dict(fields.mapping(data, "inputs"), fields.at("inputs")),
            apks=tuple(BuiltApk.from_dict(_as_mapping(a, where), where) for a in apks),
        )


@dataclass(frozen=True, kw_only=True)
class ImageSummary:
    """The image inside the tarball, as apko computed it."""

    tag: str  # what `docker load` names it: <repository>/<framework>:<tag>-<oci arch>
    platform: str  # linux/amd64, linux/arm64 (apko sets no variant)
    manifest_digest: str  # apko's; a registry may store another after recompression
    config_digest: str  # the image ID: survives docker load + push
    diff_ids: tuple[str, ...]  # uncompressed layer digests: survive docker load + push
    layers: tuple[Blob, ...]  # compressed layer digests as apko wrote them

    def to_dict(self) -> dict[str, Any]:
        return {
            "tag": self.tag,
            "platform": self.platform,
            "manifest_digest": self.manifest_digest,
            "config_digest": self.config_digest,
            "diff_ids": list(self.diff_ids),
            "layers": [layer.to_dict() for layer in self.layers],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str) -> ImageSummary:
        diff_ids = data.get("diff_ids")
        layers = data.get("layers")
        if not isinstance(diff_ids, list) or not all(isinstance(d, str) for d in diff_ids):
            raise _malformed("outputs.image.diff_ids must be a list of digests", where)
        if not isinstance(layers, list):
            raise _malformed("outputs.image.layers must be a list", where)
        fields = _fields(where)
        return cls(
            tag=fields.string(data, "tag"),
            platform=fields.string(data, "platform"),
            manifest_digest=fields.string(data, "manifest_digest"),
            config_digest=fields.string(data, "config_digest"),
            diff_ids=tuple(diff_ids),
            layers=tuple(Blob.from_dict(layer, where) for layer in layers),
        )


@dataclass(frozen=True, kw_only=True)
class ImageRecord:
    framework: str
    arch: str
    action_key: str
    inputs: ImageInputs
    source_date_epoch: int  # the value apko ran with (configured, or from the locked packages)
    tarball: Blob
    sboms: Mapping[str, Blob]  # file name (sbom-x86_64.spdx.json, ...) -> blob
    image: ImageSummary
    cached: bool = field(default=False, compare=False)  # this run: from the action cache

    def blobs(self) -> tuple[Blob, ...]:
        return (self.tarball, *self.sboms.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "kind": "image",
            "framework": self.framework,
            "arch": self.arch,
            "action_key": self.action_key,
            "inputs": self.inputs.to_dict(),
            "outputs": {
                "source_date_epoch": self.source_date_epoch,
                "tarball": self.tarball.to_dict(),
                "sboms": {name: blob.to_dict() for name, blob in sorted(self.sboms.items())},
                "image": self.image.to_dict(),
            },
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str) -> ImageRecord:
        _check_kind(data, "image", where)
        fields = _fields(where)
        outputs = fields.mapping(data, "outputs")
        sde = outputs.get("source_date_epoch")
        if not isinstance(sde, int) or isinstance(sde, bool):
            raise _malformed("outputs.source_date_epoch must be an integer", where)
        sboms = fields.mapping(outputs, "sboms")
        return cls(
            framework=fields.string(data, "framework"),
            arch=fields.string(data, "arch"),
            action_key=fields.string(data, "action_key"),
            inputs=ImageInputs.from_dict(fields.mapping(data, "inputs"), fields.at("inputs")),
            source_date_epoch=sde,
            tarball=Blob.from_dict(outputs.get("tarball"), where),
            sboms={str(name): Blob.from_dict(blob, where) for name, blob in sboms.items()},
            image=ImageSummary.from_dict(fields.mapping(outputs, "image"), where),
        )


def _check_kind(data: Mapping[str, Any], kind: str, where: str) -> None:
    if data.get("kind") != kind or data.get("schema") != SCHEMA:
        raise _malformed(f"not a schema {SCHEMA} {kind} record", where)


def _fields(where: str) -> Fields:
    return Fields(
        where=where,
        error=StoreError,
        prefix="malformed build record: ",
        hint="build again",
        mapping_word="an object",
    )


def _malformed(message: str, where: str) -> BuildkitError:
    return _fields(where).fail(message)


def _as_mapping(value: object, where: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise _malformed("expected an object", where)
    return value
