"""Fixtures for every test. Upstream test data lives in tests/fixtures (read-only)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import settings

from tests.helpers.paths import FIXTURES, PROJECT_ROOT

# No per-example deadline: tests assert behaviour, never time (a loaded CI machine made a
# round-trip property "flaky" by taking 200 ms). Speed is benchmarks/' job.
settings.register_profile("buildkit", deadline=None)
settings.load_profile("buildkit")


@pytest.fixture(scope="session")
def fixtures() -> Path:
    """The upstream fixtures folder (never write to it; copy to tmp_path first)."""
    return FIXTURES


@pytest.fixture(scope="session")
def project_root() -> Path:
    return PROJECT_ROOT
