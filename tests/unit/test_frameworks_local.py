"""The offline runtime frameworks (python3-11-local, java17-local, password-generator-local).

They stand in for the field frameworks on this project's offline machines, built from the
runtime repository scripts/setup serves on 127.0.0.1:8041 (scripts/runtime_repo.py). Each must
be its field framework with only the repository and its key swapped (and, for the app, the local
package's name), so that what is built and run here is what the field gets.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from buildkit.project.config import load_project

ROOT = Path(__file__).resolve().parents[2]
WOLFI = "https://packages.wolfi.dev/os"
WOLFI_KEY = "https://packages.wolfi.dev/os/wolfi-signing.rsa.pub"
RUNTIMES = "http://127.0.0.1:8041/os"
RUNTIMES_KEY = "http://127.0.0.1:8041/os/buildkit-runtimes.rsa.pub"
LOCAL = {"python3-11": "python3-11-local", "java17": "java17-local"}
APP = ("password-generator", "password-generator-local")


def _swap(value: Any, old: str, new: str) -> Any:
    """``value`` with every string equal to ``old`` replaced by ``new``, all the way down."""
    if isinstance(value, dict):
        return {k: _swap(v, old, new) for k, v in value.items()}
    if isinstance(value, list):
        return [_swap(v, old, new) for v in value]
    return new if value == old else value


def _as_local(field: Any, renames: dict[str, str]) -> Any:
    local = _swap(_swap(field, WOLFI, RUNTIMES), WOLFI_KEY, RUNTIMES_KEY)
    for old, new in renames.items():
        local = _swap(local, old, new)
    return local


def _load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


@pytest.mark.parametrize(
    ("field", "local", "renames"),
    [
        *((f, loc, {}) for f, loc in LOCAL.items()),
        (APP[0], APP[1], {"password-generator@local": "password-generator-local@local"}),
    ],
)
def test_a_local_framework_is_its_field_framework_with_only_the_repository_swapped(
    field: str, local: str, renames: dict[str, str]
) -> None:
    frameworks = ROOT / "frameworks"
    expected = _as_local(_load(frameworks / f"{field}.yaml"), renames)
    assert _load(frameworks / f"{local}.yaml") == expected


def test_the_local_app_package_is_the_field_one_with_only_name_and_repository_swapped() -> None:
    packages = ROOT / "packages"
    field = _load(packages / f"{APP[0]}.yaml")
    expected = _as_local(field, {APP[0]: APP[1]})
    assert _load(packages / f"{APP[1]}.yaml") == expected
    # The pipeline runs in the app's sources, like the field package's.
    assert (packages / APP[1]).resolve() == (packages / APP[0]).resolve()


def test_the_default_build_set_holds_every_local_runtime_framework() -> None:
    """`scripts/demo` (lock, build, publish of [project].frameworks) covers the runtimes."""
    project = load_project(ROOT, env={})
    assert {"demo", *LOCAL.values(), APP[1]} <= set(project.frameworks)
