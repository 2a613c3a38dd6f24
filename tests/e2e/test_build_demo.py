"""The demo, end to end: lock, build-amd64, build-arm64, load, run, rebuild, verify.

A copy of the demo project (buildkit.toml, frameworks/demo.yaml, packages/hello-buildkit.yaml)
with its own signing key is built in a temporary folder with the real melange and apko images,
the bootstrap repository and the engine (arm64 under emulation). Images are named under a
repository unique to this run, so parallel runs and other checkouts do not collide.
Needs the environment from ``$BUILDKIT_CACHE/env`` (scripts/test sources it).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from buildkit.apk.keys import generate_keypair
from buildkit.oci import loaded_name_matches, single_image
from buildkit.store import Store, hash_file

pytestmark = pytest.mark.e2e

PROJECT = Path(__file__).resolve().parents[2]
DEMO_FILES = ("buildkit.toml", "frameworks/demo.yaml", "packages/hello-buildkit.yaml")
ARCHS = (("x86_64", "amd64", "linux/amd64"), ("aarch64", "arm64", "linux/arm64"))


def greeting() -> str:
    """The line the demo app prints: written once, in its melange config."""
    config = yaml.safe_load((PROJECT / "packages" / "hello-buildkit.yaml").read_text())
    return str(config["vars"]["greeting"])


@dataclass
class Demo:
    root: Path
    env: dict[str, str]

    def buildkit(
        self, *args: str, env: Mapping[str, str] | None = None, timeout: float = 900
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "buildkit", *args],
            cwd=self.root,
            env=dict(env or self.env),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def ok(self, *args: str, env: Mapping[str, str] | None = None) -> str:
        done = self.buildkit(*args, env=env)
        assert done.returncode == 0, f"buildkit {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
        return done.stdout

    def record(self, arch: str) -> dict[str, Any]:
        path = self.root / "dist" / "demo" / f"{arch}.json"
        data: dict[str, Any] = json.loads(path.read_text())
        return data

    def tarball(self, arch: str) -> Path:
        digest = self.record(arch)["outputs"]["tarball"]["digest"]
        return self.root / "dist" / "sha256" / digest.removeprefix("sha256:")


def make_demo(base: Path, **env: str) -> Demo:
    """A copy of the demo project with a fresh key pair, and the environment to build it."""
    root = base / "demo"
    for name in DEMO_FILES:
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(PROJECT / name, target)
    generate_keypair(root / "keys" / "buildkit.rsa", bits=2048)
    for name in ("DOCKER_HOST", "BUILDKIT_APKO_IMAGE", "BUILDKIT_MELANGE_IMAGE"):
        assert os.environ.get(name), f"{name} is not set: source $BUILDKIT_CACHE/env"
    full = {**os.environ, "BUILDKIT_REPOSITORY": f"e2e-{uuid.uuid4().hex[:8]}", **env}
    return Demo(root=root, env=full)


def lock_demo(demo: Demo) -> None:
    """`lock` builds the local packages it resolves against, then writes the lockfile."""
    demo.ok("lock")


def docker(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def check_store(root: Path) -> list[str]:
    """Every object is named by its hash; every record names intact objects. [] = sound."""
    store = Store(root / "dist")
    problems = []
    for path in sorted(store.objects.glob("*")) if store.objects.is_dir() else []:
        if hash_file(path).hex != path.name:
            problems.append(f"{path.name}: bytes do not match the name")
    records = [*root.glob("dist/*/*.json"), *root.glob("dist/packages/*/*.json")]
    for path in records:
        for blob in _blobs(json.loads(path.read_text())):
            if not store.path(blob).is_file() or hash_file(store.path(blob)).digest != blob.digest:
                problems.append(f"{path}: {blob.digest} missing or damaged")
    return problems


def _blobs(value: object) -> Iterator[Any]:
    """The store objects a record names (the image's layers live inside the tarball)."""
    from buildkit.digest import Blob, is_sha256

    if isinstance(value, dict):
        if set(value) == {"digest", "size"} and is_sha256(str(value["digest"])):
            yield Blob.from_dict(value, "record")
            return
        for key, item in value.items():
            if key != "image":
                yield from _blobs(item)
    elif isinstance(value, list):
        for item in value:
            yield from _blobs(item)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    demo = make_demo(tmp_path_factory.mktemp("build-demo"))
    lock_demo(demo)
    demo.ok("build", "--arch", "amd64")
    demo.ok("build", "--arch", "arm64")
    yield demo
    repository = demo.env["BUILDKIT_REPOSITORY"]
    for _arch, oci, _platform in ARCHS:
        docker("rmi", "-f", f"{repository}/demo:latest-{oci}")


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
    tag = f"{demo.env['BUILDKIT_REPOSITORY']}/demo:latest-{oci}"
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
    tag = f"{demo.env['BUILDKIT_REPOSITORY']}/demo:latest-amd64"
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
