"""The kill-and-rerun harness, a few kills in CI (scripts/kill-rerun runs many on demand).

lock, build and publish of a copy of the demo are each killed once with SIGKILL at a point
chosen by the seed, then run again: the re-run exits 0, the store stays content-addressed,
records and the lockfile stay whole, and the digests equal the undisturbed run's.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.kill_rerun import COMMANDS, kill_and_rerun
from tests.helpers.machine import Machine

pytestmark = pytest.mark.integration


def test_lock_build_and_publish_survive_a_sigkill_at_a_random_point(
    machine: Machine, tmp_path: Path
) -> None:
    lines: list[str] = []
    totals = kill_and_rerun(len(COMMANDS), 16, base=tmp_path, say=lines.append, commands=COMMANDS)
    report = "\n".join([*lines, totals.line()])
    assert totals.tried == len(COMMANDS), report  # every kill reached a running command
    assert totals.survived == totals.tried, report
