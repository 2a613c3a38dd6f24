"""The ``buildkit`` command line: verbs mirror the nox sessions.

Each verb lives in ``buildkit.commands.<name>`` and exposes ``register(subparsers)``, which adds
its parser and sets ``func`` (a callable taking the parsed namespace and returning an exit
code). This module is the only place, besides the nox sessions, that turns a
:class:`~buildkit.errors.BuildkitError` into one line on stderr and an exit status.

Usage errors: ``main`` keeps argparse's convention for a missing or malformed argument (the
verb's usage line, then the error, exit 2); unrecognized arguments are one line naming the
verb. ``run`` (what the nox sessions call) raises :class:`~buildkit.errors.UsageError` for
all of them, so a session shows one line that points at the verb's ``--help``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn, cast

from buildkit import __version__
from buildkit.errors import BuildkitError, Terminated, UsageError, os_error
from buildkit.hints import rerun
from buildkit.toolchain.engine import containers_stopped_on_signals
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
    "scan",
    "show",
)

Handler = Callable[[argparse.Namespace], int]


class RaisingParser(argparse.ArgumentParser):
    """An ArgumentParser (and, through add_subparsers, its sub-parsers) whose usage errors
    raise UsageError rather than printing the usage and exiting."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message, where=self.prog, hint=f"see `{self.prog} --help`")


def build_parser(
    *, raise_usage_errors: bool = False, verbs: Sequence[str] = COMMAND_MODULES
) -> argparse.ArgumentParser:
    """The parser of ``verbs`` (default: every verb)."""
    parser_class = RaisingParser if raise_usage_errors else argparse.ArgumentParser
    parser = parser_class(
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
    for name in verbs:
        module = importlib.import_module(f"buildkit.commands.{name}")
        module.register(sub)
    return parser


def run(argv: Sequence[str]) -> int:
    """Parse ``argv`` and run the verb; errors propagate (for the nox sessions), usage errors
    as UsageError, and an OSError nothing handled as one-line FileSystemError. SIGTERM and
    SIGINT remove the containers the verb started before they interrupt it."""
    parser = build_parser(raise_usage_errors=True, verbs=verbs_for(argv))
    with containers_stopped_on_signals():
        return _call(_parse(parser, argv))


def main(argv: Sequence[str] | None = None) -> int:
    words = sys.argv[1:] if argv is None else list(argv)
    try:
        with containers_stopped_on_signals():
            return _call(_parse(build_parser(verbs=verbs_for(words)), words))
    except BuildkitError as err:
        print_error(rerun(err, ["buildkit"], words))
        return err.exit_code
    except Terminated:
        print_error("terminated (SIGTERM); the containers buildkit started are removed")
        return Terminated.exit_code
    except KeyboardInterrupt:
        print_error("interrupted; the containers buildkit started are removed")
        return 130


def verbs_for(argv: Sequence[str]) -> Sequence[str]:
    """The verb ``argv`` plainly runs (``[-C DIR] VERB ...``), alone: a command imports only
    its own module, which is most of a short command's start-up time. Anything else (help,
    an abbreviated option, no or an unknown verb) gets every verb, as argparse expects."""
    rest = iter(argv)
    for arg in rest:
        if arg in ("-C", "--project"):
            next(rest, None)
        elif not arg.startswith(("--project=", "-C")):
            return (arg,) if arg in COMMAND_MODULES else COMMAND_MODULES
    return COMMAND_MODULES


def _parse(parser: argparse.ArgumentParser, argv: Sequence[str]) -> argparse.Namespace:
    args, extras = parser.parse_known_args(list(argv))
    if extras:  # argparse would blame the top parser; name the verb they were given to
        verb = " ".join(filter(None, ("buildkit", args.command, getattr(args, "apk_command", ""))))
        raise UsageError(
            f"unrecognized arguments: {' '.join(extras)}", where=verb, hint=f"see `{verb} --help`"
        )
    return args


def _call(args: argparse.Namespace) -> int:
    handler = cast(Handler, args.func)
    try:
        return handler(args)
    except OSError as exc:
        # Modules turn the file errors they expect into BuildkitErrors; this is the net for
        # the rest (a folder made read-only, a full disk): still one line, never a traceback.
        # An OSError without a file name (a socket) escaping is a bug: let it show.
        if exc.filename is None:
            raise
        raise os_error(exc) from exc
