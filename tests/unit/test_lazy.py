"""buildkit.lazy: a module declared lazy runs its code at the first attribute read."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from buildkit.lazy import lazy_module


def test_a_lazy_module_runs_at_first_use_and_only_then(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "bk_lazy_probe.py").write_text("RAN = True\nimport sys\nsys.bk_lazy_ran = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "bk_lazy_probe", raising=False)
    module = lazy_module("bk_lazy_probe")
    assert not hasattr(sys, "bk_lazy_ran")
    assert module.RAN is True
    assert sys.bk_lazy_ran == 1  # type: ignore[attr-defined]
    assert lazy_module("bk_lazy_probe") is module
    del sys.bk_lazy_ran  # type: ignore[attr-defined]
    monkeypatch.delitem(sys.modules, "bk_lazy_probe")


def test_an_imported_module_is_returned_as_it_is() -> None:
    assert lazy_module("json") is json


def test_a_missing_module_fails_at_once() -> None:
    with pytest.raises(ModuleNotFoundError):
        lazy_module("buildkit.no_such_module")
