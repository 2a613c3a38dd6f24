"""buildkit.toolchain.process: running a command with its command line and output in a log."""

from __future__ import annotations

from pathlib import Path

import pytest

from buildkit.errors import ToolchainError
from buildkit.toolchain import (
    run_process,
)


def test_run_process_writes_the_command_line_then_the_output(tmp_path: Path) -> None:
    log = tmp_path / "a.log"
    done = run_process(["sh", "-c", "echo out; echo err >&2; exit 4"], log=log)
    assert done.returncode == 4
    assert log.read_text().splitlines() == [
        "$ sh -c 'echo out; echo err >&2; exit 4'",
        "out",
        "err",
    ]


def test_run_process_missing_binary_is_a_toolchain_error() -> None:
    with pytest.raises(ToolchainError, match="not found on PATH"):
        run_process(["/nonexistent/docker", "version"])
