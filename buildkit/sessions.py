"""Nox sessions, registered on import: thin wrappers that run ``buildkit`` verbs in-process.

``noxfile.py`` only imports this module. Sessions run in the interpreter that runs nox
(``venv_backend="none"``): the project's own environment (see ``scripts/setup``) already has
buildkit and its tools, and a hermetic build must not depend on what a fresh virtualenv
would download today.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from pathlib import Path

import nox

from buildkit.cli import run
from buildkit.errors import BuildkitError
from buildkit.hints import rerun
from buildkit.ui import print_error

UV_PROBE_MESSAGE = "uv binary not found."


class _NoUvProbe(logging.Filter):
    """Drops nox's "uv binary not found." line.

    nox (2026.10) looks for uv whenever a session starts, even with ``venv_backend="none"``:
    ``get_virtualenv`` reads ``OPTIONAL_VENVS`` before it looks at the backend, and the uv
    probe logs that line at INFO when uv is absent. No option skips the probe, and these
    sessions never create an environment, so the line says nothing about them.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != UV_PROBE_MESSAGE


logging.getLogger("nox").addFilter(_NoUvProbe())


def _buildkit(session: nox.Session, argv: Sequence[str]) -> None:

    try:
        code = run(list(argv))
    except BuildkitError as err:
        posargs = ["--", *session.posargs] if session.posargs else []
        print_error(rerun(err, ["nox", "-s", session.name], posargs))
        session.error(f"buildkit {argv[0]} failed (exit {err.exit_code})")
    except SystemExit as done:  # --help / --version: argparse printed them and stops here
        if done.code not in (0, None):
            session.error(f"buildkit {argv[0]} exited {done.code}")
        return
    if code != 0:
        session.error(f"buildkit {argv[0]} exited {code}")


@nox.session(name="lock", venv_backend="none")
def lock(session: nox.Session) -> None:
    """Lock [project].frameworks (else all; or -- NAME...) into lockfiles/, local packages first."""
    _buildkit(session, ["lock", *session.posargs])


@nox.session(name="build-amd64", venv_backend="none")
def build_amd64(session: nox.Session) -> None:
    """Build [project].frameworks (or -- NAME...) for amd64: their local packages, images."""
    _buildkit(session, ["build", "--arch", "amd64", *session.posargs])


@nox.session(name="build-arm64", venv_backend="none")
def build_arm64(session: nox.Session) -> None:
    """Build [project].frameworks (or -- NAME...) for arm64 (native or emulated)."""
    _buildkit(session, ["build", "--arch", "arm64", *session.posargs])


@nox.session(name="build", venv_backend="none")
def build(session: nox.Session) -> None:
    """Build [project].frameworks (or -- NAME...) for every arch in buildkit.toml."""
    _buildkit(session, ["build", *session.posargs])


@nox.session(name="verify", venv_backend="none")
def verify(session: nox.Session) -> None:
    """Rebuild and compare digests with the records (-- --published: check the registry)."""
    _buildkit(session, ["verify", *session.posargs])


@nox.session(name="publish", venv_backend="none")
def publish(session: nox.Session) -> None:
    """Push per-arch images and the multi-arch manifest list (-- --dry-run)."""
    _buildkit(session, ["publish", *session.posargs])


@nox.session(name="scan", venv_backend="none")
def scan(session: nox.Session) -> None:
    """Match locked packages against APK security databases (-- --format sarif -o FILE)."""
    _buildkit(session, ["scan", *session.posargs])


@nox.session(name="keygen", venv_backend="none")
def keygen(session: nox.Session) -> None:
    """Create the project signing key pair in keys/ (never overwrites; -- --cosign: cosign's)."""
    _buildkit(session, ["keygen", *session.posargs])


@nox.session(name="doctor", venv_backend="none")
def doctor(session: nox.Session) -> None:
    """Check the engine, tool images, emulation and registry; say how to fix what is missing."""
    _buildkit(session, ["doctor", *session.posargs])


@nox.session(name="tests", venv_backend="none")
def tests(session: nox.Session) -> None:
    """Run the test suite (-- -m 'not e2e' etc. to narrow it; default: everything)."""
    args = session.posargs or ["-m", "", "-p", "no:cacheprovider"]
    session.run(sys.executable, "-m", "pytest", *args)


@nox.session(name="lint", venv_backend="none")
def lint(session: nox.Session) -> None:
    """ruff (lint + format check), mypy --strict and the layer contracts (import-linter)."""
    paths = ("buildkit", "tests", "benchmarks", "scripts", "noxfile.py")
    session.run(sys.executable, "-m", "ruff", "check", *paths)
    session.run(sys.executable, "-m", "ruff", "format", "--check", *paths)
    session.run(sys.executable, "-m", "mypy", "--strict", "buildkit")
    # The layers and the pure core's limits, as pyproject.toml [tool.importlinter] states them.
    session.run(str(Path(sys.executable).with_name("lint-imports")))
