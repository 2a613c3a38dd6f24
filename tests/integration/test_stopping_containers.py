"""SIGTERM and SIGINT to buildkit, and a tool timeout, stop and remove the tool's container.

A child process (tests/helpers/sleeper.py) runs a real container (``sleep 600``) through
``Engine.run`` under ``containers_stopped_on_signals``, as the command line does; the test
signals it once the container runs, then asks the real engine for containers labelled with
the child's pid: there must be none.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from buildkit.toolchain.containers import RUN_LABEL
from tests.helpers.machine import Machine

pytestmark = pytest.mark.integration


def _labelled(machine: Machine, pid: int) -> list[str]:
    done = subprocess.run(
        [
            machine.engine.binary,
            "container",
            "ls",
            "--all",
            "--filter",
            f"label={RUN_LABEL}={socket.gethostname()}:{pid}",
            "--format",
            "{{.Names}} {{.State}}",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return [line for line in done.stdout.splitlines() if line.strip()]


def _start(tmp_path: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.helpers.sleeper", str(tmp_path), *extra],
        cwd=Path(__file__).resolve().parents[2],
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_running(machine: Machine, child: subprocess.Popen[str]) -> None:
    for _ in range(600):
        if any(
            "running" in line.lower() or " up" in line.lower()
            for line in _labelled(machine, child.pid)
        ):
            return
        if child.poll() is not None:
            pytest.fail(f"the sleeper ended early: {child.stderr.read() if child.stderr else ''}")
        time.sleep(0.2)
    pytest.fail("the sleeper's container never ran")


@pytest.mark.parametrize(
    ("sig", "status"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)], ids=["SIGTERM", "SIGINT"]
)
def test_a_signal_to_buildkit_removes_the_container_it_started(
    machine: Machine, tmp_path: Path, sig: signal.Signals, status: int
) -> None:
    child = _start(tmp_path)
    try:
        _wait_running(machine, child)
        child.send_signal(sig)
        assert child.wait(timeout=120) == status
        assert _labelled(machine, child.pid) == []
    finally:
        child.kill()
        child.wait()


def test_a_tool_past_its_timeout_is_stopped_and_named(machine: Machine, tmp_path: Path) -> None:
    child = _start(tmp_path, "3")
    try:
        _, err = child.communicate(timeout=180)
    finally:
        child.kill()
    assert child.returncode == 1
    assert "did not finish within the 3 s tool timeout" in err
    assert "BUILDKIT_TOOL_TIMEOUT" in err
    assert _labelled(machine, child.pid) == []
