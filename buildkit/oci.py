"""Reading image tarballs: what an image is, by digest, without an engine.

Two layouts are read:

- docker-archive (``docker save``, and what ``apko build CONFIG TAG OUT.tar`` writes):
  ``manifest.json`` lists each image's config file, ``RepoTags`` and layer files. apko
  (go-containerregistry's ``tarball.MultiWrite``) then appends each image's raw OCI manifest as
  a member named ``sha256:<hex>`` and the OCI ``index.json``, so the manifest digest apko
  computed can be read back exactly.
- OCI image layout (``index.json`` + ``blobs/sha256/<hex>``), as a tar.

Every blob read is hashed and compared with the name that claims it. The config digest (the
image ID) and the layers' ``diff_ids`` survive ``docker load`` + ``docker push`` (which may
recompress layers and so change the manifest digest); publishing checks those.
"""

from __future__ import annotations

import hashlib
import json
import tarfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from buildkit.errors import StoreError

MANIFEST_TYPES = frozenset(
    {
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    }
)
INDEX_TYPES = frozenset(
    {
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    }
)
REF_NAME = "org.opencontainers.image.ref.name"
_CHUNK = 1 << 20


@dataclass(frozen=True, kw_only=True)
class Layer:
    digest: str  # sha256:<hex> of the (compressed) layer blob as stored in the tarball
    size: int
    diff_id: str  # sha256:<hex> of the uncompressed layer (from the image config)

    def to_dict(self) -> dict[str, Any]:
        return {"digest": self.digest, "size": self.size, "diff_id": self.diff_id}


@dataclass(frozen=True, kw_only=True)
class ImageInfo:
    """One image in a tarball."""

    tags: tuple[str, ...]  # RepoTags (docker-archive) or ref names (OCI layout)
    config_digest: str  # sha256:<hex> of the config blob: the image ID
    manifest_digest: str | None  # None when the tarball holds no manifest (plain docker save)
    os: str
    architecture: str
    variant: str | None
    diff_ids: tuple[str, ...]
    layers: tuple[Layer, ...]
    created: str | None = None

    @property
    def platform(self) -> str:
        base = f"{self.os}/{self.architecture}"
        return f"{base}/{self.variant}" if self.variant else base


def read_image_tarball(path: Path) -> tuple[ImageInfo, ...]:
    """Every image in the tarball at ``path`` (docker-archive or OCI layout)."""
    where = str(path)
    try:
        with tarfile.open(path, mode="r:") as archive:
            return _Reader(archive, where).images()
    except (tarfile.TarError, OSError) as exc:
        raise StoreError(f"cannot read image tarball: {exc}", where=where) from None


def single_image(path: Path) -> ImageInfo:
    """The one image of a single-arch tarball (apko's output for one ``--arch``)."""
    images = read_image_tarball(path)
    if len(images) != 1:
        raise StoreError(f"expected one image in the tarball, found {len(images)}", where=str(path))
    return images[0]


def loaded_name_matches(loaded: str, tag: str) -> bool:
    """Engines differ in how they name a loaded image: podman prefixes ``localhost/``, docker
    may spell out ``docker.io/library/``. True when ``loaded`` is ``tag`` in any of those."""
    return _normalize(loaded) == _normalize(tag)


def _normalize(ref: str) -> str:
    for prefix in ("localhost/", "docker.io/library/", "docker.io/", "index.docker.io/"):
        if ref.startswith(prefix):
            return ref.removeprefix(prefix)
    return ref


class _Reader:
    def __init__(self, archive: tarfile.TarFile, where: str) -> None:
        self.archive = archive
        self.where = where
        self.members = {m.name.removeprefix("./"): m for m in archive.getmembers() if m.isfile()}

    def fail(self, message: str) -> StoreError:
        return StoreError(message, where=self.where, hint="rebuild the image")

    # -- raw access --------------------------------------------------------------------------
    def _open(self, name: str) -> IO[bytes]:
        member = self.members.get(name)
        handle = self.archive.extractfile(member) if member is not None else None
        if handle is None:
            raise self.fail(f"the tarball has no member {name}")
        return handle

    def read(self, name: str) -> bytes:
        with self._open(name) as handle:
            return handle.read()

    def read_json(self, name: str) -> Any:
        try:
            return json.loads(self.read(name))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise self.fail(f"{name} is not valid JSON: {exc}") from None
        except RecursionError:
            raise self.fail(f"{name} is not valid JSON: nested too deeply") from None

    def digest_of(self, name: str) -> tuple[str, int]:
        digest = hashlib.sha256()
        size = 0
        with self._open(name) as handle:
            while block := handle.read(_CHUNK):
                digest.update(block)
                size += len(block)
        return f"sha256:{digest.hexdigest()}", size

    def blob(self, digest: str, name: str) -> bytes:
        """Read member ``name`` and check that its bytes hash to ``digest``."""
        data = self.read(name)
        if f"sha256:{hashlib.sha256(data).hexdigest()}" != digest:
            raise self.fail(f"{name} does not match its digest {digest}")
        return data

    # -- layouts -----------------------------------------------------------------------------
    def images(self) -> tuple[ImageInfo, ...]:
        if "manifest.json" in self.members:
            return self.docker_archive()
        if "index.json" in self.members:
            return self.oci_layout()
        raise self.fail("not an image tarball: no manifest.json and no index.json")

    def docker_archive(self) -> tuple[ImageInfo, ...]:
        entries = self.read_json("manifest.json")
        if not isinstance(entries, list):
            raise self.fail("manifest.json is not a list")
        manifests = self._appended_manifests()
        return tuple(self._docker_image(entry, manifests) for entry in entries)

    def _docker_image(self, entry: object, manifests: Mapping[str, str]) -> ImageInfo:
        if not isinstance(entry, dict) or not isinstance(entry.get("Config"), str):
            raise self.fail("manifest.json entry without a Config")
        config_name: str = entry["Config"]
        config_digest, _ = self.digest_of(config_name)
        config = self._config(config_name)
        files = entry.get("Layers") or []
        diff_ids = _diff_ids(config)
        if len(files) != len(diff_ids):
            raise self.fail(f"{len(files)} layers but {len(diff_ids)} diff_ids in {config_name}")
        layers = []
        for name, diff_id in zip(files, diff_ids, strict=True):
            digest, size = self.digest_of(str(name))
            layers.append(Layer(digest=digest, size=size, diff_id=diff_id))
        tags = tuple(str(t) for t in entry.get("RepoTags") or ())
        return _info(config, config_digest, manifests.get(config_digest), tags, layers)

    def _appended_manifests(self) -> dict[str, str]:
        """config digest -> manifest digest, from members named ``sha256:<hex>`` that are
        manifests (apko appends them with index.json)."""
        found: dict[str, str] = {}
        for name in self.members:
            if not name.startswith("sha256:") or len(name) != 71:
                continue
            document = _as_json(self.read(name))
            if isinstance(document, dict) and _is_manifest(document):
                config = document.get("config") or {}
                if isinstance(config, dict) and isinstance(config.get("digest"), str):
                    self.blob(name, name)
                    found[config["digest"]] = name
        return found

    def _config(self, name: str) -> Mapping[str, Any]:
        config = self.read_json(name)
        if not isinstance(config, dict):
            raise self.fail(f"image config {name} is not an object")
        return config

    def oci_layout(self) -> tuple[ImageInfo, ...]:
        index = self.read_json("index.json")
        images: list[ImageInfo] = []
        self._walk_index(index, images, depth=0)
        return tuple(images)

    def _walk_index(self, index: object, out: list[ImageInfo], *, depth: int) -> None:
        if depth > 4 or not isinstance(index, dict):
            raise self.fail("malformed or too deeply nested OCI index")
        for descriptor in index.get("manifests") or ():
            if not isinstance(descriptor, dict) or not isinstance(descriptor.get("digest"), str):
                raise self.fail("OCI index entry without a digest")
            digest = descriptor["digest"]
            document = _as_json(self.blob(digest, _blob_name(digest)))
            if isinstance(document, dict) and _is_manifest(document, descriptor):
                out.append(self._oci_image(digest, document, descriptor))
            else:
                self._walk_index(document, out, depth=depth + 1)

    def _oci_image(
        self, digest: str, manifest: Mapping[str, Any], descriptor: Mapping[str, Any]
    ) -> ImageInfo:
        config_digest = str((manifest.get("config") or {}).get("digest", ""))
        config = _as_json(self.blob(config_digest, _blob_name(config_digest)))
        if not isinstance(config, dict):
            raise self.fail(f"image config {config_digest} is not an object")
        diff_ids = _diff_ids(config)
        descriptors = manifest.get("layers") or []
        if len(descriptors) != len(diff_ids):
            raise self.fail(f"{len(descriptors)} layers but {len(diff_ids)} diff_ids")
        layers = []
        for layer, diff_id in zip(descriptors, diff_ids, strict=True):
            layer_digest, size = self.digest_of(_blob_name(str(layer.get("digest", ""))))
            if layer_digest != layer.get("digest"):
                raise self.fail(f"layer {layer.get('digest')} does not match its bytes")
            layers.append(Layer(digest=layer_digest, size=size, diff_id=diff_id))
        ref = (descriptor.get("annotations") or {}).get(REF_NAME)
        return _info(config, config_digest, digest, (str(ref),) if ref else (), layers)


def _blob_name(digest: str) -> str:
    return "blobs/" + digest.replace(":", "/", 1)


def _as_json(data: bytes) -> Any:
    try:
        return json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        return None


def _is_manifest(document: Mapping[str, Any], descriptor: Mapping[str, Any] | None = None) -> bool:
    media = document.get("mediaType") or (descriptor or {}).get("mediaType")
    if media in MANIFEST_TYPES:
        return True
    # mediaType is optional in an OCI manifest: a config descriptor and a layers list (an
    # image config also has a "config" key, but no digest in it and no layers).
    config = document.get("config")
    return (
        media is None
        and isinstance(document.get("layers"), list)
        and isinstance(config, dict)
        and "digest" in config
    )


def _diff_ids(config: Mapping[str, Any]) -> tuple[str, ...]:
    rootfs = config.get("rootfs") or {}
    values = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
    return tuple(str(v) for v in values or ())


def _info(
    config: Mapping[str, Any],
    config_digest: str,
    manifest_digest: str | None,
    tags: Sequence[str],
    layers: Sequence[Layer],
) -> ImageInfo:
    variant = config.get("variant")
    created = config.get("created")
    return ImageInfo(
        tags=tuple(tags),
        config_digest=config_digest,
        manifest_digest=manifest_digest,
        os=str(config.get("os", "")),
        architecture=str(config.get("architecture", "")),
        variant=str(variant) if variant else None,
        diff_ids=tuple(layer.diff_id for layer in layers),
        layers=tuple(layers),
        created=str(created) if created else None,
    )
