"""Fixtures of the build use cases' tests: a small project and fake tools
(tests/helpers/build_project.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.build_project import Project, make_keys, make_project


@pytest.fixture(scope="session")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_keys(tmp_path_factory.mktemp("keys"))


@pytest.fixture
def project(tmp_path: Path, keys: Path) -> Project:
    return make_project(tmp_path, keys)
