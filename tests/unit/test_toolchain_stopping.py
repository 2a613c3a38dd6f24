"""Stopping what buildkit started: every tool container is named, a tool timeout removes it
with a message naming the limit, and SIGTERM / SIGINT remove every running one first.

No engine here (FakeRunner); tests/integration/test_stopping_containers.py does the same with
the real engine.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Sequence
from pathlib import Path

import pytest

from buildkit.errors import Terminated, ToolchainError, ToolFailedError
from buildkit.project.config import ProjectConfig
from buildkit.toolchain import Completed, ContainerSpec, Engine
from buildkit.toolchain.containers import RUN_LABEL, RUNNING
from buildkit.toolchain.engine import (
    containers_stopped_on_signals,
    stop_running_containers,
)
from tests.helpers.toolchain import APKO, FakeRunner, P, engine_with, ok

SPEC = ContainerSpec(image=APKO, args=("build",), workdir_mount=P)


def _timed_out(args: tuple[str, ...], _log: Path | None) -> Completed:
    return Completed(argv=args, returncode=124, stderr="timed out after 5 s", timed_out=5.0)


@pytest.mark.parametrize("server", ["Docker Engine", "Podman Engine"])
def test_every_tool_container_is_named_and_labelled(tmp_path: Path, server: str) -> None:
    engine, runner = engine_with((("docker", "run"), ok()), server=server)
    engine.run(SPEC, log=tmp_path / "l")
    run = next(call for call in runner.calls if call[1] == "run")
    assert run[run.index("--name") + 1].startswith("buildkit-")
    assert run[run.index("--label") + 1].startswith(f"{RUN_LABEL}=")
    assert ("--rm" in run) is (server == "Docker Engine")  # old podman: status read, then rm
    assert RUNNING.names() == []  # forgotten once it ended


@pytest.mark.parametrize("server", ["Docker Engine", "Podman Engine"])
def test_a_tool_past_its_timeout_is_removed_and_the_limit_named(
    tmp_path: Path, server: str
) -> None:
    engine, runner = engine_with((("docker", "run"), _timed_out), server=server)
    with pytest.raises(ToolFailedError) as caught:
        engine.run(SPEC, log=tmp_path / "apko.log", timeout=5)
    line = str(caught.value)
    assert "apko build did not finish within the 5 s tool timeout" in line
    assert "BUILDKIT_TOOL_TIMEOUT" in line
    name = next(c for c in runner.calls if c[1] == "run")
    name_value = name[name.index("--name") + 1]
    assert ("docker", "container", "rm", "--force", name_value) in runner.calls


def test_the_engine_takes_the_configured_tool_timeout_by_default(tmp_path: Path) -> None:
    seen: list[float | None] = []

    def runner(
        argv: Sequence[str], *, log: Path | None = None, timeout: float | None = None
    ) -> Completed:
        seen.append(timeout)
        return ok()

    engine = Engine(name="docker", binary="docker", version="29.0", runner=runner)
    engine.tool_timeout = ProjectConfig(root=P, tool_timeout=42.0).tool_timeout
    engine.run(SPEC, log=tmp_path / "l")
    assert seen == [42.0]


def test_stopping_removes_every_running_container_and_refuses_new_ones(tmp_path: Path) -> None:
    runner = FakeRunner(
        [(("docker", "container", "rm"), ok()), (("podman", "container", "rm"), ok())]
    )
    RUNNING.add("docker", "buildkit-a")
    RUNNING.add("podman", "buildkit-b")
    try:
        assert stop_running_containers(runner) == ["buildkit-a", "buildkit-b"]
        assert runner.calls == [
            ("docker", "container", "rm", "--force", "buildkit-a"),
            ("podman", "container", "rm", "--force", "buildkit-b"),
        ]
        engine, _ = engine_with((("docker", "run"), ok()))
        with pytest.raises(ToolchainError, match="buildkit is stopping"):
            engine.run(SPEC, log=tmp_path / "l")
    finally:
        RUNNING.discard("buildkit-a")
        RUNNING.discard("buildkit-b")
        RUNNING.reopen()


@pytest.mark.parametrize(
    ("sig", "raised"),
    [(signal.SIGTERM, Terminated), (signal.SIGINT, KeyboardInterrupt)],
    ids=["SIGTERM", "SIGINT"],
)
def test_a_signal_removes_the_running_containers_before_it_interrupts(
    sig: signal.Signals, raised: type[BaseException]
) -> None:
    runner = FakeRunner([(("docker", "container", "rm"), ok())])
    before = signal.getsignal(sig)
    RUNNING.add("docker", "buildkit-running")
    try:
        with containers_stopped_on_signals(runner), pytest.raises(raised):
            os.kill(os.getpid(), sig)  # the handler runs at once, in this (the main) thread
    finally:
        RUNNING.discard("buildkit-running")
    assert runner.calls == [("docker", "container", "rm", "--force", "buildkit-running")]
    assert signal.getsignal(sig) == before  # restored
    assert not RUNNING.closed  # open again for the next command in this process
