"""The real machine for integration tests: engine, pinned tool images, bootstrap repository.

The pytest fixtures that use these live in tests/integration/conftest.py.

Everything comes from scripts/setup (its env file, or the same variables already exported).
A missing piece FAILS the test with what to run: CI always provides it, so a skip would hide
a broken machine.
"""

from __future__ import annotations

import os
import shlex
import shutil
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from buildkit.errors import BuildkitError, ToolFailedError
from buildkit.project.config import ProjectConfig, default_cache_dir
from buildkit.toolchain import (
    Engine,
    ImageRef,
    MelangeBuild,
    Owner,
    Toolchain,
    parse_image_ref,
)

REQUIRED = (
    "DOCKER_HOST",
    "BUILDKIT_APKO_IMAGE",
    "BUILDKIT_MELANGE_IMAGE",
    "BUILDKIT_BOOTSTRAP_URL",
    "BUILDKIT_BOOTSTRAP_KEY_URL",
    "BUILDKIT_BUSYBOX_AMD64",
    "BUILDKIT_BUSYBOX_ARM64",
)
SOURCE_DATE_EPOCH = 1700000000


def read_env_file(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    if not path.is_file():
        return values
    for line in path.read_text(encoding="utf-8").splitlines():
        words = shlex.split(line, comments=True)
        if len(words) == 2 and words[0] == "export" and "=" in words[1]:
            name, _, value = words[1].partition("=")
            values[name] = value
    return values


@dataclass(frozen=True, kw_only=True)
class Machine:
    engine: Engine
    apko_image: ImageRef
    melange_image: ImageRef
    bootstrap_url: str
    bootstrap_key_url: str
    env: dict[str, str]

    def toolchain(self, project: Path, owner: Owner | None = None) -> Toolchain:
        return Toolchain(
            engine=self.engine,
            apko_image=self.apko_image,
            melange_image=self.melange_image,
            project=project,
            owner=owner,
            chown_helper=Path(self.env["BUILDKIT_BUSYBOX_AMD64"]),
        )


def other_owner(project: Path) -> Owner:
    """An unprivileged owner for ``project``: uid 1000 when the tests run as root (the project
    is handed to it), else the invoking user, whose checkout it already is."""
    if os.getuid() != 0:
        return Owner.current()
    owner = Owner(uid=1000, gid=1000)
    for path in (project, *project.rglob("*")):
        os.lchown(path, owner.uid, owner.gid)
    return owner


def setup_failure(what: str) -> None:
    env_file = default_cache_dir() / "env"
    pytest.fail(
        f"integration machine not ready: {what} (run scripts/setup, then `. {env_file}`)",
        pytrace=False,
    )


def connect(env: dict[str, str]) -> Machine:
    try:
        # BUILDKIT_ENGINE=podman runs the same tests through the podman CLI.
        choice = os.environ.get("BUILDKIT_ENGINE") or "auto"
        engine = Engine.detect(ProjectConfig(root=Path.cwd(), engine=choice))
        apko = parse_image_ref(env["BUILDKIT_APKO_IMAGE"])
        melange = parse_image_ref(env["BUILDKIT_MELANGE_IMAGE"])
        engine.ensure_image(apko)
        engine.ensure_image(melange)
    except BuildkitError as err:
        setup_failure(str(err))
        raise  # unreachable: pytest.fail raises
    url = env["BUILDKIT_BOOTSTRAP_URL"].rstrip("/")
    try:
        with urllib.request.urlopen(f"{url}/x86_64/APKINDEX.tar.gz", timeout=5):
            pass
    except OSError as err:
        setup_failure(f"the bootstrap repository {url} does not answer: {err}")
    return Machine(
        engine=engine,
        apko_image=apko,
        melange_image=melange,
        bootstrap_url=url,
        bootstrap_key_url=env["BUILDKIT_BOOTSTRAP_KEY_URL"],
        env=env,
    )


def run_tool(action: Callable[[], None]) -> None:
    """Run a tool action; on failure show the log's tail in the test report."""
    try:
        action()
    except ToolFailedError as err:
        pytest.fail(f"{err}\n--- last lines of {err.log} ---\n{err.tail}", pytrace=False)


HELLO_YAML = """\
package:
  name: hello
  version: 1.0.0
  epoch: 0
  description: prints a greeting
  copyright:
    - license: Apache-2.0
environment:
  contents:
    keyring:
      - {key_url}
    repositories:
      - {repo_url}
    packages:
      - busybox
pipeline:
  - runs: |
      mkdir -p "${{{{targets.destdir}}}}/usr/bin"
      printf '#!/bin/sh\\necho hello from buildkit\\n' > "${{{{targets.destdir}}}}/usr/bin/hello"
      chmod 0755 "${{{{targets.destdir}}}}/usr/bin/hello"
"""


@dataclass(frozen=True, kw_only=True)
class MelangeOutput:
    project: Path
    arch: str
    out_dir: Path  # packages/ with <arch>/hello-1.0.0-r0.apk and APKINDEX.tar.gz
    public_key: Path
    log: Path


def write_hello_project(machine: Machine, key: Path, project: Path) -> Path:
    """keys/ with the test key pair and hello.yaml; returns the config."""
    keys = project / "keys"
    keys.mkdir(parents=True)
    for path in (key, key.with_name(key.name + ".pub")):
        shutil.copy2(path, keys / path.name)
    config = project / "hello.yaml"
    config.write_text(
        HELLO_YAML.format(key_url=machine.bootstrap_key_url, repo_url=machine.bootstrap_url)
    )
    return config


def build_hello(
    machine: Machine, key: Path, project: Path, arch: str, owner: Owner | None = None
) -> MelangeOutput:
    """Build hello with the real melange into project/packages (the project must exist)."""
    config = project / "hello.yaml"
    keys = project / "keys"
    job = MelangeBuild(
        config=config,
        arch=arch,
        signing_key=keys / key.name,
        out_dir=project / "packages",
        cache_dir=project / "cache" / "melange",
        git_commit="0" * 40,
        git_repo_url="https://example.invalid/buildkit-test",
        namespace="buildkit",
    )
    log = project / "logs" / f"melange-{arch}.log"
    chain = machine.toolchain(project, owner)
    # The bootstrap repository is served on the host's loopback: the run needs its network.
    run_tool(
        lambda: chain.melange_build(
            job, log=log, source_date_epoch=SOURCE_DATE_EPOCH, network="host"
        )
    )
    return MelangeOutput(
        project=project,
        arch=arch,
        out_dir=project / "packages",
        public_key=keys / f"{key.name}.pub",
        log=log,
    )
