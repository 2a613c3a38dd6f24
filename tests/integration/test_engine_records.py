"""The engine's record of a named container settles what the CLI said, with the real engine.

On podman's Docker API before 4.6 buildkit names its containers and reads their recorded
status (buildkit.toolchain.containers). Here a real container exits with a status of its own,
and one can never start (its entrypoint does not exist): the first is reported with the
recorded status, the second is tried twice and reported with both attempts in its log, and no
container of this process is left behind either way.
"""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import pytest

from buildkit.errors import ToolFailedError
from buildkit.toolchain import ContainerSpec
from buildkit.toolchain.containers import RUN_LABEL
from buildkit.toolchain.facade import HELPER_TARGET
from tests.helpers.machine import Machine

pytestmark = pytest.mark.integration


def _left_behind(machine: Machine) -> list[str]:
    done = subprocess.run(
        [
            machine.engine.binary,
            *("container", "ls", "--all", "--format", "{{.Names}}"),
            *("--filter", f"label={RUN_LABEL}={socket.gethostname()}:{os.getpid()}"),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return done.stdout.split()


def _busybox(machine: Machine, project: Path, *args: str, entrypoint: str) -> ContainerSpec:
    return ContainerSpec(
        image=machine.apko_image,
        args=args,
        workdir_mount=project,
        workdir_read_only=True,
        entrypoint=entrypoint,
        extra_mounts=((Path(machine.env["BUILDKIT_BUSYBOX_AMD64"]), HELPER_TARGET, True),),
    )


def test_a_tools_own_exit_status_is_the_one_reported(machine: Machine, tmp_path: Path) -> None:
    spec = _busybox(machine, tmp_path, "sh", "-c", "echo working; exit 3", entrypoint=HELPER_TARGET)
    log = tmp_path / "logs" / "tool.log"
    with pytest.raises(ToolFailedError) as info:
        machine.engine.run(spec, log=log)
    assert info.value.returncode == 3
    assert "working" in log.read_text()
    assert log.read_text().count("# buildkit:") == 0  # the tool ran once
    assert _left_behind(machine) == []


def test_a_container_that_never_starts_is_tried_twice_then_reported(
    machine: Machine, tmp_path: Path
) -> None:
    spec = _busybox(machine, tmp_path, entrypoint="/no/such/entrypoint")
    log = tmp_path / "logs" / "tool.log"
    with pytest.raises(ToolFailedError) as info:
        machine.engine.run(spec, log=log)
    text = log.read_text()
    if machine.engine.named_runs:  # podman's Docker API before 4.6 (this machine's)
        assert text.count("$ ") == 2, text  # two command lines: a second attempt, not a third
        assert "# buildkit: the engine never started the container" in text
    else:  # engines whose CLI reports statuses itself: --rm, one attempt
        assert text.count("$ ") == 1, text
    assert "apko run failed with exit status 125" in str(info.value)
    assert info.value.hint == "the engine could not start the container (image, mounts or flags)"
    assert _left_behind(machine) == []
