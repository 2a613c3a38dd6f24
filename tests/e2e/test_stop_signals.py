"""SIGTERM and SIGINT to a running `buildkit build` stop it and remove every tool container it
started (the audit found them still running). Real engine, real melange and apko. The tool
timeout is pinned by tests/integration/test_stopping_containers.py, whose tool sleeps: here the
demo's tool runs are restored from the action cache, so a short limit is never reached."""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest

from buildkit.toolchain.containers import RUN_LABEL
from tests.helpers.demo import ARCHS, Demo, check_store, docker, lock_demo, make_demo

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def locked(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    demo = make_demo(tmp_path_factory.mktemp("signals"))
    lock_demo(demo)
    return demo


def _clean(demo: Demo) -> None:
    shutil.rmtree(demo.root / "dist", ignore_errors=True)
    for arch, _oci, _platform in ARCHS:
        shutil.rmtree(demo.root / "packages" / arch, ignore_errors=True)


def _containers_of(pid: int) -> list[str]:
    done = docker(
        "container", "ls", "--all", "--filter", f"label={RUN_LABEL}={socket.gethostname()}:{pid}",
        "--format", "{{json .Names}}",
    )  # fmt: skip
    return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]


def _start_build(demo: Demo, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "buildkit", "build"],
        cwd=demo.root,
        env={**demo.env, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize(
    ("sig", "status"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)], ids=["SIGTERM", "SIGINT"]
)
def test_a_signal_stops_the_build_and_removes_its_containers(
    locked: Demo, sig: signal.Signals, status: int
) -> None:
    _clean(locked)
    build = _start_build(locked)
    try:
        for _ in range(600):  # until a tool container of this build runs
            if _containers_of(build.pid) or build.poll() is not None:
                break
            time.sleep(0.2)
        assert _containers_of(build.pid), "no tool container ever ran"
        build.send_signal(sig)
        _, err = build.communicate(timeout=300)
    finally:
        build.kill()
    assert build.returncode == status, err
    assert "the containers buildkit started are removed" in err
    assert _containers_of(build.pid) == []
    assert check_store(locked.root) == []
    locked.ok("build")  # and the next build completes
