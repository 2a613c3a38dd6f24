"""`buildkit doctor` (placeholder until implemented)."""

from __future__ import annotations

import argparse
from typing import Any

from buildkit.errors import BuildkitError


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser("doctor", help="(not implemented yet)")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    raise BuildkitError("'doctor' is not implemented yet")
