"""Fixtures for integration tests: the real machine (engine, pinned tool images, bootstrap
repository) from scripts/setup; the helpers they use live in tests/helpers/machine.py.

A missing piece FAILS the test with what to run: CI always provides it, so a skip would hide
a broken machine.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from buildkit.apk.keys import generate_keypair
from buildkit.project.config import default_cache_dir
from tests.helpers.machine import (
    REQUIRED,
    Machine,
    MelangeOutput,
    build_hello,
    connect,
    read_env_file,
    setup_failure,
    write_hello_project,
)


@pytest.fixture(scope="session")
def machine() -> Iterator[Machine]:
    env_file = default_cache_dir() / "env"
    from_file = read_env_file(env_file)
    env = {name: os.environ.get(name) or from_file.get(name, "") for name in REQUIRED}
    missing = [name for name, value in env.items() if not value]
    if missing:
        setup_failure(f"{', '.join(missing)} not exported and not in {env_file}")
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():  # the engine's subprocesses read DOCKER_HOST
            patch.setenv(name, value)
        yield connect(env)


@pytest.fixture(scope="session")
def test_key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A throwaway signing key (2048 bits: fast; the tools accept any RSA size)."""
    private, _ = generate_keypair(tmp_path_factory.mktemp("keys") / "buildkit-test.rsa", bits=2048)
    return private


@pytest.fixture(scope="session")
def melange_hello(
    machine: Machine, test_key: Path, tmp_path_factory: pytest.TempPathFactory
) -> Callable[[str], MelangeOutput]:
    """Build the tiny `hello` package with the real melange, once per arch per session."""
    built: dict[str, MelangeOutput] = {}

    def build(arch: str) -> MelangeOutput:
        if arch not in built:
            project = tmp_path_factory.mktemp(f"melange-{arch}")
            write_hello_project(machine, test_key, project)
            built[arch] = build_hello(machine, test_key, project, arch)
        return built[arch]

    return build
