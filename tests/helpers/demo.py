"""The demo project copied to a temporary folder and driven through ``python -m buildkit``, for
the end-to-end tests (tests/e2e)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from buildkit.apk.keys import generate_keypair
from buildkit.digest import Blob, is_sha256
from buildkit.store import Store, hash_file
from tests.helpers.paths import PROJECT_ROOT as PROJECT

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
        digest = str(self.record(arch)["outputs"]["tarball"]["digest"])
        return self.root / "dist" / "sha256" / digest.removeprefix("sha256:")


def only_demo(toml: Path) -> None:
    """A copied buildkit.toml whose [project].frameworks is the demo alone (the project's own
    list also names the runtime frameworks, which a demo copy neither holds nor builds)."""
    text = toml.read_text()
    toml.write_text(
        re.sub(r"^frameworks = .*$", 'frameworks = ["demo"]', text, count=1, flags=re.M)
    )


def make_demo(base: Path, **env: str) -> Demo:
    """A copy of the demo project with a fresh key pair, and the environment to build it."""
    root = base / "demo"
    for name in DEMO_FILES:
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(PROJECT / name, target)
    only_demo(root / "buildkit.toml")
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
