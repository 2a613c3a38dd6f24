"""Nox sessions: thin wrappers that call the ``buildkit`` command line in-process.

``noxfile.py`` only calls :func:`register`. Sessions run in the interpreter that runs nox
(``venv_backend="none"``): the project's own environment (see ``scripts/setup``) already has
buildkit and its tools, and a hermetic build must not depend on what a fresh virtualenv
would download today.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from buildkit.errors import BuildkitError

_NO_VENV: dict[str, Any] = {"venv_backend": "none"}


def _buildkit(session: Any, argv: Sequence[str]) -> None:
    from buildkit.cli import run
    from buildkit.ui import print_error

    try:
        code = run(list(argv))
    except BuildkitError as err:
        print_error(err)
        session.error(f"buildkit {argv[0]} failed (exit {err.exit_code})")
    if code != 0:
        session.error(f"buildkit {argv[0]} exited {code}")


def register(nox: Any) -> None:
    """Register every session on the ``nox`` module."""

    @nox.session(name="lock", **_NO_VENV)
    def lock(session: Any) -> None:
        """Resolve frameworks/*.yaml into lockfiles/<framework>.lock.json (-- --check, --update)."""
        _buildkit(session, ["lock", *session.posargs])

    @nox.session(name="build-amd64", **_NO_VENV)
    def build_amd64(session: Any) -> None:
        """Build local packages and images for amd64 (names after -- select frameworks)."""
        _buildkit(session, ["build", "--arch", "amd64", *session.posargs])

    @nox.session(name="build-arm64", **_NO_VENV)
    def build_arm64(session: Any) -> None:
        """Build local packages and images for arm64 (native or under emulation)."""
        _buildkit(session, ["build", "--arch", "arm64", *session.posargs])

    @nox.session(name="build", **_NO_VENV)
    def build(session: Any) -> None:
        """Build every configured framework for every arch, frameworks in parallel."""
        _buildkit(session, ["build", *session.posargs])

    @nox.session(name="verify", **_NO_VENV)
    def verify(session: Any) -> None:
        """Rebuild into a temporary store and compare digests with the build records."""
        _buildkit(session, ["verify", *session.posargs])

    @nox.session(name="publish", **_NO_VENV)
    def publish(session: Any) -> None:
        """Push per-arch images and the multi-arch manifest list (-- --dry-run)."""
        _buildkit(session, ["publish", *session.posargs])

    @nox.session(name="keygen", **_NO_VENV)
    def keygen(session: Any) -> None:
        """Create the project signing key pair in keys/ (never overwrites)."""
        _buildkit(session, ["keygen", *session.posargs])

    @nox.session(name="doctor", **_NO_VENV)
    def doctor(session: Any) -> None:
        """Check the engine, tool images, emulation and registry; say how to fix what is missing."""
        _buildkit(session, ["doctor", *session.posargs])

    @nox.session(name="tests", **_NO_VENV)
    def tests(session: Any) -> None:
        """Run the test suite (-- -m 'not e2e' etc. to narrow it; default: everything)."""
        args = session.posargs or ["-m", "unit or not unit", "-p", "no:cacheprovider"]
        session.run("python", "-m", "pytest", *args)

    @nox.session(name="lint", **_NO_VENV)
    def lint(session: Any) -> None:
        """ruff (lint + format check) and mypy --strict."""
        session.run("python", "-m", "ruff", "check", "buildkit", "tests", "benchmarks", "noxfile.py")
        session.run("python", "-m", "ruff", "format", "--check", "buildkit", "tests", "benchmarks")
        session.run("python", "-m", "mypy", "--strict", "buildkit")
