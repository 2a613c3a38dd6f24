"""`buildkit verify` (placeholder until implemented)."""

from __future__ import annotations

import argparse
from typing import Any

from buildkit.errors import BuildkitError


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser("verify", help="(not implemented yet)")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    raise BuildkitError("'verify' is not implemented yet")
