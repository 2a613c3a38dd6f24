"""Where the repository and its test fixtures are."""

from __future__ import annotations

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
# Upstream test data copied into the repository (provenance: tests/fixtures/README.md).
FIXTURES = PROJECT_ROOT / "tests" / "fixtures"
