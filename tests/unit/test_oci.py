"""buildkit.oci: reading image tarballs shaped like apko's output, docker save, and OCI layouts.

The tarballs come from tests/helpers/images.py, made member for member as go-containerregistry
writes them for apko. The e2e tests read real apko output.
"""

from __future__ import annotations

import json
import tarfile
from pathlib import Path
from typing import Any

import pytest

from buildkit.errors import StoreError
from buildkit.oci import loaded_name_matches, read_image_tarball, single_image
from tests.helpers.images import (
    add_member,
    digest_of,
    json_bytes,
    make_image,
    write_docker_archive,
    write_oci_layout,
)


def test_reads_an_apko_style_docker_archive(tmp_path: Path) -> None:
    path = tmp_path / "image.tar"
    image = write_docker_archive(path, ["index.docker.io/buildkit/demo:latest-amd64"])
    info = single_image(path)
    assert info.tags == ("index.docker.io/buildkit/demo:latest-amd64",)
    assert info.config_digest == digest_of(image["config"])
    assert info.manifest_digest == digest_of(image["manifest"])
    assert info.diff_ids == (image["diff_id"],)
    assert [(layer.digest, layer.size) for layer in info.layers] == [
        (digest_of(image["layer"]), len(image["layer"]))
    ]
    assert info.platform == "linux/amd64"
    assert info.created == "2024-01-01T00:00:00Z"


def test_a_plain_docker_save_has_no_manifest_digest(tmp_path: Path) -> None:
    path = tmp_path / "saved.tar"
    image = write_docker_archive(path, ["demo:1"], apko=False)
    info = single_image(path)
    assert info.manifest_digest is None
    assert info.config_digest == digest_of(image["config"])


def test_reads_an_oci_layout_through_nested_indexes(tmp_path: Path) -> None:
    path = tmp_path / "layout.tar"
    image = make_image("arm64")
    write_oci_layout(path, image)
    (info,) = read_image_tarball(path)
    assert info.tags == ("1.0",)
    assert info.manifest_digest == digest_of(image["manifest"])
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
            add_member(archive, member.name, data if member.name == name else content)


def test_a_blob_that_does_not_match_its_name_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "layout.tar"
    image = make_image()
    write_oci_layout(path, image)
    config_name = "blobs/sha256/" + digest_of(image["config"]).removeprefix("sha256:")
    _rewrite(path, config_name, image["config"] + b" ")
    with pytest.raises(StoreError, match="does not match its digest"):
        read_image_tarball(path)


def test_an_appended_manifest_that_does_not_match_its_name_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "image.tar"
    image = write_docker_archive(path, ["x:1"])
    manifest = json.loads(image["manifest"])
    manifest["annotations"] = {"tampered": "yes"}
    _rewrite(path, digest_of(image["manifest"]), json_bytes(manifest))
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
            add_member(archive, name, data)
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
    members["manifest.json"] = json_bytes(entries * 2)
    with tarfile.open(path, mode="w") as archive:
        for name, data in members.items():
            add_member(archive, name, data)
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
