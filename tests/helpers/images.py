"""OCI and docker image tarballs made member for member as go-containerregistry writes them
for apko: config ``sha256:<hex>``, layers ``<hex>.tar.gz``, ``manifest.json``, then the appended
raw manifest ``sha256:<hex>`` and ``index.json``; and OCI layouts with nested indexes."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path
from typing import Any

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def json_bytes(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def layer_of(files: dict[str, bytes]) -> tuple[bytes, bytes]:
    """(uncompressed tar, gzip'ed tar) of ``files``."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as archive:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
    return raw.getvalue(), gzip.compress(raw.getvalue(), mtime=0)


def add_member(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    archive.addfile(info, io.BytesIO(data))


def make_image(arch: str = "amd64", greeting: bytes = b"hi\n") -> dict[str, Any]:
    """The parts of a one-layer image: config, layer, manifest (bytes and digests)."""
    raw, compressed = layer_of({"usr/bin/hello": greeting})
    config = json_bytes(
        {
            "architecture": arch,
            "os": "linux",
            "created": "2024-01-01T00:00:00Z",
            "config": {"Entrypoint": ["/usr/bin/hello"]},
            "rootfs": {"type": "layers", "diff_ids": [digest_of(raw)]},
        }
    )
    manifest = json_bytes(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "x", "size": len(config), "digest": digest_of(config)},
            "layers": [
                {"mediaType": "y", "size": len(compressed), "digest": digest_of(compressed)}
            ],
        }
    )
    return {
        "config": config,
        "layer": compressed,
        "diff_id": digest_of(raw),
        "manifest": manifest,
        "arch": arch,
    }


def write_docker_archive(
    path: Path, tags: list[str], image: dict[str, Any] | None = None, *, apko: bool = True
) -> dict[str, Any]:
    """A docker-archive; with ``apko`` also the appended manifest and index.json."""
    image = image or make_image()
    config_name = digest_of(image["config"])
    layer_name = digest_of(image["layer"]).removeprefix("sha256:") + ".tar.gz"
    entry = {"Config": config_name, "RepoTags": tags, "Layers": [layer_name]}
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, mode="w") as archive:
        add_member(archive, config_name, image["config"])
        add_member(archive, layer_name, image["layer"])
        add_member(archive, "manifest.json", json_bytes([entry]))
        if apko:
            add_member(archive, digest_of(image["manifest"]), image["manifest"])
            index = {
                "schemaVersion": 2,
                "mediaType": OCI_INDEX,
                "manifests": [
                    {
                        "mediaType": OCI_MANIFEST,
                        "digest": digest_of(image["manifest"]),
                        "size": len(image["manifest"]),
                        "platform": {"os": "linux", "architecture": image["arch"]},
                    }
                ],
            }
            add_member(archive, "index.json", json_bytes(index))
    return image


def write_oci_layout(path: Path, image: dict[str, Any], ref: str | None = "1.0") -> None:
    manifest = image["manifest"]
    descriptor: dict[str, Any] = {
        "mediaType": OCI_MANIFEST,
        "digest": digest_of(manifest),
        "size": len(manifest),
    }
    if ref:
        descriptor["annotations"] = {"org.opencontainers.image.ref.name": ref}
    nested = json_bytes({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [descriptor]})
    top = {
        "schemaVersion": 2,
        "manifests": [{"mediaType": OCI_INDEX, "digest": digest_of(nested), "size": len(nested)}],
    }
    with tarfile.open(path, mode="w") as archive:
        add_member(archive, "oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
        add_member(archive, "index.json", json_bytes(top))
        for blob in (nested, manifest, image["config"], image["layer"]):
            add_member(archive, "blobs/sha256/" + digest_of(blob).removeprefix("sha256:"), blob)
