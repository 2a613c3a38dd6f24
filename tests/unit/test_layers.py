"""The layers hold: every module imports on its own, in a fresh interpreter (no import-order
dependence, no cycle that only a lucky order hides). The layer contracts themselves are
import-linter's (`nox -s lint`)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import buildkit

PACKAGE = Path(buildkit.__file__).parent
MODULES = sorted(
    ".".join(("buildkit", *path.relative_to(PACKAGE).with_suffix("").parts)).removesuffix(
        ".__init__"
    )
    for path in PACKAGE.rglob("*.py")
    if path.name != "__main__.py"
)


def test_the_module_list_is_not_empty() -> None:
    assert len(MODULES) > 50


@pytest.mark.parametrize("module", MODULES)
def test_each_module_imports_alone_in_a_fresh_interpreter(module: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", f"import {module}"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr.strip().splitlines()[-1:]
