"""Fixtures for every test. Upstream test data lives in tests/fixtures (read-only)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.paths import FIXTURES, PROJECT_ROOT


@pytest.fixture(scope="session")
def fixtures() -> Path:
    """The upstream fixtures folder (never write to it; copy to tmp_path first)."""
    return FIXTURES


@pytest.fixture(scope="session")
def project_root() -> Path:
    return PROJECT_ROOT
