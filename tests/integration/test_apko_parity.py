"""buildkit's resolution is apko's: 200 random package sets through the real `apko show-packages`.

The harness (benchmarks/parity_apko.py) draws the sets over the real Alpine 3.17 aarch64 index
(re-signed with a throw-away key in a temp dir) and the real Wolfi x86_64 index. Every set
must give the same packages in the same order, except where apko itself cannot answer the
same way twice (Go map order; buildkit must then match one of its answers) or where apko
refuses a set apk-tools resolves (see KNOWN_APKO_REFUSALS).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

pytestmark = pytest.mark.integration

SETS = 200
SEED = 1
# apko v1.2.39 reports a conflict when a package depends on `name>=v` and the package already
# selected provides `name=w` with w > v: its check compares the provide with `=` instead of the
# dependency's operator. apk-tools (and buildkit) install the set.
KNOWN_APKO_REFUSALS = ("which conflicts with",)


def _harness() -> ModuleType:
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "parity_apko.py"
    spec = importlib.util.spec_from_file_location("parity_apko", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_random_package_sets_resolve_as_apko_resolves_them() -> None:
    parity = _harness()
    try:
        apko = parity.find_apko(None)
    except SystemExit as exc:
        pytest.fail(f"{exc}")
    cases = parity.run_parity(apko, SETS, SEED)
    assert len(cases) == SETS
    unexplained = [
        case
        for case in cases
        if not case.same_order
        and not (
            case.apko.packages is None
            and case.buildkit.packages is not None
            and any(text in case.apko.error for text in KNOWN_APKO_REFUSALS)
        )
    ]
    assert not unexplained, parity.report(unexplained)
    assert sum(case.same_order for case in cases) >= SETS - 5, parity.report(cases)
