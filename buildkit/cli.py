"""The ``buildkit`` command line: verbs mirror the nox sessions.

Each verb lives in ``buildkit.commands.<name>`` and exposes ``register(subparsers)``, which adds
its parser and sets ``func`` (a callable taking the parsed namespace and returning an exit
code). This module is the only place, besides the nox sessions, that turns a
:class:`~buildkit.errors.BuildkitError` into one line on stderr and an exit status.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from typing import cast

from buildkit import __version__
from buildkit.errors import BuildkitError
from buildkit.ui import print_error

COMMAND_MODULES = (
    "apk",
    "keygen",
    "resolve",
    "lock",
    "build",
    "verify",
    "publish",
    "doctor",
)

Handler = Callable[[argparse.Namespace], int]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="buildkit",
        description="Hermetic, content-addressed builds of multi-arch images from APK packages.",
    )
    parser.add_argument("--version", action="version", version=f"buildkit {__version__}")
    parser.add_argument(
        "-C",
        "--project",
        default=".",
        metavar="DIR",
        help="project root (the folder with buildkit.toml); default: current directory",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"buildkit.commands.{name}")
        module.register(sub)
    return parser


def run(argv: Sequence[str]) -> int:
    """Parse ``argv`` and run the verb; errors propagate (for the nox sessions)."""
    args = build_parser().parse_args(list(argv))
    handler = cast(Handler, args.func)
    return handler(args)


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return run(sys.argv[1:] if argv is None else argv)
    except BuildkitError as err:
        print_error(err)
        return err.exit_code
    except KeyboardInterrupt:
        print_error("interrupted")
        return 130
