"""The scan demo loop against the real bootstrap repository, served over HTTP on loopback.

scripts/bootstrap_repo.py generates the repository into this test's own folder (its own key),
``python -m http.server`` serves it on a port of 8050-8059, and the real ``buildkit`` command
line locks, scans and updates a project against it:

1. a lock pinned to the older busybox -> ``scan --fail-on any`` finds the database's id (exit 1);
2. ``lock --update busybox`` -> the change table names the id the upgrade fixes;
3. ``scan --fail-on any`` is clean (exit 0);
4. with the server stopped, ``scan`` answers from the cache with a warning.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest

from buildkit.lockfile import read_lockfile
from buildkit.project.config import default_cache_dir
from tests.helpers.machine import read_env_file

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
PORTS = range(8050, 8060)


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "bootstrap_repo", ROOT / "scripts/bootstrap_repo.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(spec.name, module)  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def _busybox() -> Path:
    name = "BUILDKIT_BUSYBOX_AMD64"
    value = os.environ.get(name) or read_env_file(default_cache_dir() / "env").get(name, "")
    if not value or not Path(value).is_file():
        pytest.fail(f"{name} is not set up (run scripts/setup)", pytrace=False)
    return Path(value)


def _free_port() -> int:
    for port in PORTS:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) != 0:
                return port
    pytest.fail("no free port in 8050-8059", pytrace=False)
    raise AssertionError  # unreachable


@dataclass(frozen=True)
class Repo:
    url: str
    old: str
    new: str
    server: subprocess.Popen[bytes]


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Repo]:
    cache = tmp_path_factory.mktemp("bootstrap")
    binary = _busybox()
    subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts/bootstrap_repo.py"),
            "--cache",
            str(cache),
            "--busybox",
            f"x86_64={binary}",
        ],
        check=True,
        capture_output=True,
    )
    generator = _generator()
    new = generator.apk_version_from_debian((binary.parent.parent / "DEBIAN_VERSION").read_text())
    port = _free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "http.server",
            "--bind",
            "127.0.0.1",
            "--directory",
            str(cache / "bootstrap/www"),
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/os"
    try:
        for _ in range(100):
            try:
                with urllib.request.urlopen(f"{url}/security.json", timeout=1):
                    break
            except OSError:
                time.sleep(0.1)
        yield Repo(url=url, old=generator.older_version(new), new=new, server=server)
    finally:
        server.terminate()
        server.wait(timeout=10)


def _write_framework(project: Path, repo: Repo, busybox: str) -> None:
    (project / "frameworks" / "demo.yaml").write_text(
        f"contents:\n  keyring:\n    - {repo.url}/buildkit-bootstrap.rsa.pub\n"
        f"  repositories:\n    - {repo.url}\n"
        f"  packages:\n    - buildkit-baselayout\n    - {busybox}\n"
        "entrypoint:\n  command: /bin/sh\narchs:\n  - x86_64\n"
    )


@pytest.fixture(scope="module")
def project(repo: Repo, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("project")
    (root / "frameworks").mkdir()
    (root / "buildkit.toml").write_text(
        '[project]\narchs = ["x86_64"]\nframeworks = ["demo"]\n'
        f'[scan.databases]\n"{repo.url}" = "{repo.url}/security.json"\n'
    )
    _write_framework(root, repo, f"busybox={repo.old}")
    return root


def _buildkit(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BUILDKIT_CACHE": str(project / ".cache"), "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "buildkit", "-C", str(project), *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


def _row(*cells: str) -> re.Pattern[str]:
    """One table row holding ``cells`` in order, however the table draws its columns."""
    return re.compile(r"[\s│]+".join(re.escape(cell) for cell in cells))


def test_the_scan_demo_loop(project: Path, repo: Repo) -> None:
    locked = _buildkit(project, "lock")
    assert locked.returncode == 0, locked.stderr
    lock = read_lockfile(project / "lockfiles/demo.lock.json")
    assert lock.pins("x86_64")["busybox"] == repo.old
    _write_framework(project, repo, "busybox")  # the pin is now only in the lockfile

    found = _buildkit(project, "scan", "--fail-on", "any")
    assert found.returncode == 1, found.stderr
    assert "CVE-2022-48174" in found.stdout
    assert _row("busybox", repo.old, "CVE-2022-48174", repo.new).search(found.stdout)
    assert f"{repo.url}/security.json: 1 secfix id(s)" in found.stdout
    fixable = _buildkit(project, "scan", "--fail-on", "fixable")  # the fix is in the repository
    assert fixable.returncode == 1, fixable.stderr
    assert f"{repo.new} *" not in fixable.stdout
    sarif = _buildkit(project, "scan", "--format", "sarif", "-o", str(project / "scan.sarif"))
    assert sarif.returncode == 0, sarif.stderr
    results = json.loads((project / "scan.sarif").read_text())["runs"][0]["results"]
    assert [r["ruleId"] for r in results] == ["CVE-2022-48174"]

    outdated = _buildkit(project, "lock", "--outdated")
    assert outdated.returncode == 0, outdated.stderr
    assert _row(repo.old, repo.new, "CVE-2022-48174").search(outdated.stdout), outdated.stdout

    updated = _buildkit(project, "lock", "--update", "busybox")
    assert updated.returncode == 0, updated.stderr
    assert _row(f"{repo.old} -> {repo.new} (upgraded)", "CVE-2022-48174").search(updated.stdout), (
        updated.stdout
    )

    clean = _buildkit(project, "scan", "--fail-on", "any")
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "0 finding(s) in 2 package(s)" in clean.stdout

    shown = _buildkit(project, "show", "demo")
    assert shown.returncode == 0, shown.stderr
    assert "GPL-2.0-only" in shown.stdout
    assert "demo x86_64: 2 packages; not built" in shown.stdout

    repo.server.terminate()  # the database's server goes down: the cached copy answers
    repo.server.wait(timeout=10)
    offline = _buildkit(project, "scan", "--fail-on", "any")
    assert offline.returncode == 0, offline.stderr
    assert "served from cache" in offline.stdout
    assert "using the cached copy" in offline.stderr
