"""The demo, end to end: lock, build-amd64, build-arm64, load, run, rebuild, verify.

A copy of the demo project (buildkit.toml, frameworks/demo.yaml, packages/hello-buildkit.yaml)
with its own signing key is built in a temporary folder with the real melange and apko images,
the bootstrap repository and the engine (arm64 under emulation). Images are named under a
repository unique to this run, so parallel runs and other checkouts do not collide.
Needs the environment from ``$BUILDKIT_CACHE/env`` (scripts/test sources it).
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from buildkit.oci import loaded_name_matches, single_image
from tests.helpers.demo import ARCHS, Demo, check_store, docker, greeting, lock_demo, make_demo

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    demo = make_demo(tmp_path_factory.mktemp("build-demo"))
    lock_demo(demo)
    demo.ok("build", "--arch", "amd64")
    demo.ok("build", "--arch", "arm64")
    yield demo
    repository = demo.env["BUILDKIT_REPOSITORY"]
    for _arch, oci, _platform in ARCHS:
        docker("rmi", "-f", f"localhost/{repository}/demo:latest-{oci}")


def test_lock_names_the_local_package_by_its_built_identity(demo: Demo) -> None:
    lock = json.loads((demo.root / "lockfiles" / "demo.lock.json").read_text())
    for arch, _oci, _platform in ARCHS:
        record = json.loads(
            (demo.root / "dist" / "packages" / "hello-buildkit" / f"{arch}.json").read_text()
        )
        (apk,) = record["outputs"]["apks"]
        locked = [
            p
            for p in lock["contents"]["packages"]
            if p["name"] == "hello-buildkit" and p["architecture"] == arch
        ]
        assert [p["checksum"] for p in locked] == [apk["identity"]]
        assert locked[0]["url"] == f"./packages/{arch}/hello-buildkit-1.0.0-r0.apk"


@pytest.mark.parametrize(("arch", "oci", "platform"), ARCHS)
def test_each_tarball_loads_as_its_arch_tag_and_prints_the_greeting(
    demo: Demo, arch: str, oci: str, platform: str
) -> None:
    tag = f"localhost/{demo.env['BUILDKIT_REPOSITORY']}/demo:latest-{oci}"
    record = demo.record(arch)
    assert record["outputs"]["image"]["tag"] == tag
    loaded = docker("load", "-i", str(demo.tarball(arch)))
    assert loaded.returncode == 0, loaded.stderr
    names = [
        line.split(":", 1)[1].strip()
        for line in loaded.stdout.splitlines()
        if line.startswith("Loaded image")
    ]
    assert any(loaded_name_matches(name, tag) for name in names), loaded.stdout
    ran = docker("run", "--rm", "--platform", platform, tag)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == greeting()
    machine = docker("run", "--rm", "--platform", platform, "--entrypoint", "uname", tag, "-m")
    assert machine.stdout.strip() == arch


def test_the_image_runs_as_a_non_root_user(demo: Demo) -> None:
    tag = f"localhost/{demo.env['BUILDKIT_REPOSITORY']}/demo:latest-amd64"
    docker("load", "-i", str(demo.tarball("x86_64")))
    ran = docker("run", "--rm", "--entrypoint", "id", tag)
    assert ran.stdout.startswith("uid=65532(nonroot) gid=65532(nonroot)"), ran.stdout + ran.stderr


@pytest.mark.parametrize(("arch", "oci", "platform"), ARCHS)
def test_the_record_describes_the_tarball(demo: Demo, arch: str, oci: str, platform: str) -> None:
    record = demo.record(arch)
    image = single_image(demo.tarball(arch))
    outputs = record["outputs"]["image"]
    assert outputs["manifest_digest"] == image.manifest_digest
    assert outputs["config_digest"] == image.config_digest
    assert outputs["diff_ids"] == list(image.diff_ids)
    assert outputs["platform"] == platform
    assert set(record["outputs"]["sboms"]) == {f"sbom-{arch}.spdx.json", "sbom-index.spdx.json"}
    assert check_store(demo.root) == []


@pytest.mark.parametrize(("arch", "oci", "platform"), ARCHS)
def test_the_image_sbom_lists_every_installed_package(
    demo: Demo, arch: str, oci: str, platform: str
) -> None:
    """melange's package and the bootstrap's (made by `buildkit apk pack`) alike."""
    sbom = demo.record(arch)["outputs"]["sboms"][f"sbom-{arch}.spdx.json"]
    document = json.loads(
        (demo.root / "dist/sha256" / sbom["digest"].removeprefix("sha256:")).read_text()
    )
    names = {
        p["name"] for p in document["packages"] if p["SPDXID"].startswith("SPDXRef-Package-apk-")
    }
    assert names == {"busybox", "buildkit-baselayout", "hello-buildkit"}


def test_a_second_build_runs_nothing_and_needs_no_engine(demo: Demo) -> None:
    """Without docker or podman on PATH, a rebuild only succeeds if nothing runs."""
    bare = {
        **demo.env,
        "PATH": str(Path(sys.executable).parent),
        "DOCKER_HOST": "unix:///nonexistent",
    }
    out = demo.ok("build", env=bare)
    lines = out.strip().splitlines()
    assert len(lines) == 2
    assert all(line.endswith("(cached)") for line in lines), out


def test_two_builds_from_a_clean_state_are_identical(demo: Demo) -> None:
    before = {arch: demo.record(arch) for arch, _oci, _platform in ARCHS}
    packages_before = {
        arch: (demo.root / "packages" / arch / "hello-buildkit-1.0.0-r0.apk").read_bytes()
        for arch, _o, _p in ARCHS
    }
    shutil.rmtree(demo.root / "dist")
    for arch, _oci, _platform in ARCHS:
        shutil.rmtree(demo.root / "packages" / arch)
    demo.ok("build")
    for arch, _oci, _platform in ARCHS:
        after = demo.record(arch)
        assert after["outputs"] == before[arch]["outputs"]
        assert after["action_key"] == before[arch]["action_key"]
        apk = demo.root / "packages" / arch / "hello-buildkit-1.0.0-r0.apk"
        assert apk.read_bytes() == packages_before[arch]


def test_verify_rebuilds_identically(demo: Demo) -> None:
    out = demo.ok("verify")
    assert out.strip().endswith("4 action(s) rebuilt identically")
