"""Shared fixtures. Upstream test data lives in ../shared/fixtures (read-only)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(os.environ.get("BUILDKIT_FIXTURES", PROJECT_ROOT.parent / "shared" / "fixtures"))


@pytest.fixture(scope="session")
def fixtures() -> Path:
    """The upstream fixtures folder (never write to it; copy to tmp_path first)."""
    assert FIXTURES.is_dir(), f"upstream fixtures not found at {FIXTURES}"
    return FIXTURES


@pytest.fixture(scope="session")
def project_root() -> Path:
    return PROJECT_ROOT
