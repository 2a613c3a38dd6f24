"""buildkit.oci: reading image tarballs shaped like apko's output, docker save, and OCI layouts.

The tarballs are made here, member for member as go-containerregistry writes them for apko
(config ``sha256:<hex>``, layers ``<hex>.tar.gz``, ``manifest.json``, then the appended raw
manifest ``sha256:<hex>`` and ``index.json``). The e2e tests read real apko output.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path
from typing import Any

import pytest

from buildkit.errors import StoreError
from buildkit.oci import loaded_name_matches, read_image_tarball, single_image

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _layer(files: dict[str, bytes]) -> tuple[bytes, bytes]:
    """(uncompressed tar, gzip'ed tar) of ``files``."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as archive:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
    return raw.getvalue(), gzip.compress(raw.getvalue(), mtime=0)


def _add(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    archive.addfile(info, io.BytesIO(data))


def make_image(arch: str = "amd64", greeting: bytes = b"hi\n") -> dict[str, Any]:
    """The parts of a one-layer image: config, layer, manifest (bytes and digests)."""
    raw, compressed = _layer({"usr/bin/hello": greeting})
    config = _json(
        {
            "architecture": arch,
            "os": "linux",
            "created": "2024-01-01T00:00:00Z",
            "config": {"Entrypoint": ["/usr/bin/hello"]},
            "rootfs": {"type": "layers", "diff_ids": [_sha(raw)]},
        }
    )
    manifest = _json(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "x", "size": len(config), "digest": _sha(config)},
            "layers": [{"mediaType": "y", "size": len(compressed), "digest": _sha(compressed)}],
        }
    )
    return {
        "config": config,
        "layer": compressed,
        "diff_id": _sha(raw),
        "manifest": manifest,
        "arch": arch,
    }


def write_docker_archive(
    path: Path, tags: list[str], image: dict[str, Any] | None = None, *, apko: bool = True
) -> dict[str, Any]:
    """A docker-archive; with ``apko`` also the appended manifest and index.json."""
    image = image or make_image()
    config_name = _sha(image["config"])
    layer_name = _sha(image["layer"]).removeprefix("sha256:") + ".tar.gz"
    entry = {"Config": config_name, "RepoTags": tags, "Layers": [layer_name]}
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, mode="w") as archive:
        _add(archive, config_name, image["config"])
        _add(archive, layer_name, image["layer"])
        _add(archive, "manifest.json", _json([entry]))
        if apko:
            _add(archive, _sha(image["manifest"]), image["manifest"])
            index = {
                "schemaVersion": 2,
                "mediaType": OCI_INDEX,
                "manifests": [
                    {
                        "mediaType": OCI_MANIFEST,
                        "digest": _sha(image["manifest"]),
                        "size": len(image["manifest"]),
                        "platform": {"os": "linux", "architecture": image["arch"]},
                    }
                ],
            }
            _add(archive, "index.json", _json(index))
    return image


def write_oci_layout(path: Path, image: dict[str, Any], ref: str | None = "1.0") -> None:
    manifest = image["manifest"]
    descriptor: dict[str, Any] = {
        "mediaType": OCI_MANIFEST,
        "digest": _sha(manifest),
        "size": len(manifest),
    }
    if ref:
        descriptor["annotations"] = {"org.opencontainers.image.ref.name": ref}
    nested = _json({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [descriptor]})
    top = {
        "schemaVersion": 2,
        "manifests": [{"mediaType": OCI_INDEX, "digest": _sha(nested), "size": len(nested)}],
    }
    with tarfile.open(path, mode="w") as archive:
        _add(archive, "oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
        _add(archive, "index.json", _json(top))
        for blob in (nested, manifest, image["config"], image["layer"]):
            _add(archive, "blobs/sha256/" + _sha(blob).removeprefix("sha256:"), blob)


def test_reads_an_apko_style_docker_archive(tmp_path: Path) -> None:
    path = tmp_path / "image.tar"
    image = write_docker_archive(path, ["index.docker.io/buildkit/demo:latest-amd64"])
    info = single_image(path)
    assert info.tags == ("index.docker.io/buildkit/demo:latest-amd64",)
    assert info.config_digest == _sha(image["config"])
    assert info.manifest_digest == _sha(image["manifest"])
    assert info.diff_ids == (image["diff_id"],)
    assert [(layer.digest, layer.size) for layer in info.layers] == [
        (_sha(image["layer"]), len(image["layer"]))
    ]
    assert info.platform == "linux/amd64"
    assert info.created == "2024-01-01T00:00:00Z"


def test_a_plain_docker_save_has_no_manifest_digest(tmp_path: Path) -> None:
    path = tmp_path / "saved.tar"
    image = write_docker_archive(path, ["demo:1"], apko=False)
    info = single_image(path)
    assert info.manifest_digest is None
    assert info.config_digest == _sha(image["config"])


def test_reads_an_oci_layout_through_nested_indexes(tmp_path: Path) -> None:
    path = tmp_path / "layout.tar"
    image = make_image("arm64")
    write_oci_layout(path, image)
    (info,) = read_image_tarball(path)
    assert info.tags == ("1.0",)
    assert info.manifest_digest == _sha(image["manifest"])
    assert info.architecture == "arm64"
    assert info.diff_ids == (image["diff_id"],)


def test_images_with_different_content_have_different_digests(tmp_path: Path) -> None:
    a = single_image_of(tmp_path / "a.tar", make_image(greeting=b"a"))
    b = single_image_of(tmp_path / "b.tar", make_image(greeting=b"b"))
    assert a.config_digest != b.config_digest
    assert a.manifest_digest != b.manifest_digest


def single_image_of(path: Path, image: dict[str, Any]) -> Any:
    write_docker_archive(path, ["x:1"], image)
    return single_image(path)


def _rewrite(path: Path, name: str, data: bytes) -> None:
    """Replace one member's bytes, keeping its name."""
    with tarfile.open(path) as archive:
        members = [(m, archive.extractfile(m).read()) for m in archive.getmembers()]  # type: ignore[union-attr]
    with tarfile.open(path, mode="w") as archive:
        for member, content in members:
            _add(archive, member.name, data if member.name == name else content)


def test_a_blob_that_does_not_match_its_name_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "layout.tar"
    image = make_image()
    write_oci_layout(path, image)
    config_name = "blobs/sha256/" + _sha(image["config"]).removeprefix("sha256:")
    _rewrite(path, config_name, image["config"] + b" ")
    with pytest.raises(StoreError, match="does not match its digest"):
        read_image_tarball(path)


def test_an_appended_manifest_that_does_not_match_its_name_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "image.tar"
    image = write_docker_archive(path, ["x:1"])
    manifest = json.loads(image["manifest"])
    manifest["annotations"] = {"tampered": "yes"}
    _rewrite(path, _sha(image["manifest"]), _json(manifest))
    with pytest.raises(StoreError, match="does not match its digest"):
        single_image(path)


@pytest.mark.parametrize(
    ("members", "message"),
    [
        ({"hello.txt": b"hi"}, "not an image tarball"),
        ({"manifest.json": b"{"}, "not valid JSON"),
        ({"manifest.json": b"{}"}, "not a list"),
        ({"manifest.json": b'[{"Config": "sha256:x"}]'}, "no member sha256:x"),
    ],
)
def test_malformed_tarballs_are_one_clear_error(
    tmp_path: Path, members: dict[str, bytes], message: str
) -> None:
    path = tmp_path / "bad.tar"
    with tarfile.open(path, mode="w") as archive:
        for name, data in members.items():
            _add(archive, name, data)
    with pytest.raises(StoreError, match=message) as info:
        read_image_tarball(path)
    assert info.value.where == str(path)


def test_a_file_that_is_not_a_tar_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "junk.tar"
    path.write_bytes(b"\x00junk" * 10)
    with pytest.raises(StoreError, match="cannot read image tarball"):
        read_image_tarball(path)


def test_single_image_refuses_a_multi_image_tarball(tmp_path: Path) -> None:
    path = tmp_path / "two.tar"
    image = make_image()
    write_docker_archive(path, ["x:1"], image)
    with tarfile.open(path) as archive:
        members = {m.name: archive.extractfile(m).read() for m in archive.getmembers()}  # type: ignore[union-attr]
    entries = json.loads(members["manifest.json"])
    members["manifest.json"] = _json(entries * 2)
    with tarfile.open(path, mode="w") as archive:
        for name, data in members.items():
            _add(archive, name, data)
    assert len(read_image_tarball(path)) == 2
    with pytest.raises(StoreError, match="expected one image"):
        single_image(path)


@pytest.mark.parametrize(
    ("loaded", "tag", "same"),
    [
        ("localhost/buildkit/demo:latest-amd64", "buildkit/demo:latest-amd64", True),
        ("docker.io/buildkit/demo:latest-amd64", "buildkit/demo:latest-amd64", True),
        ("index.docker.io/buildkit/demo:latest-amd64", "buildkit/demo:latest-amd64", True),
        ("docker.io/library/demo:1", "demo:1", True),
        ("buildkit/demo:latest-amd64", "buildkit/demo:latest-amd64", True),
        ("localhost/buildkit/demo:latest-arm64", "buildkit/demo:latest-amd64", False),
        ("127.0.0.1:5000/buildkit/demo:latest-amd64", "buildkit/demo:latest-amd64", False),
    ],
)
def test_loaded_names_match_across_engine_spellings(loaded: str, tag: str, same: bool) -> None:
    assert loaded_name_matches(loaded, tag) is same
