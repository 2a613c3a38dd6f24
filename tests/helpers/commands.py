"""Commands as a reader types them (``nox -s lock -- myapp``, ``buildkit -C <project> lock``),
checked against the real argument parsers: the sessions run with a recording stand-in for
``buildkit.sessions._buildkit``, and what they would pass on is parsed by ``buildkit``'s own
parser. Used for the docs' commands and for the commands the error messages name."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from typing import Any

import nox
import pytest

from buildkit import sessions
from buildkit.cli import build_parser
from buildkit.errors import UsageError

# Placeholders a reader substitutes: <name>, ${{ env.FRAMEWORKS }}.
PLACEHOLDERS = ((re.compile(r"<[a-z-]+>"), "demo"), (re.compile(r"\$\{\{[^}]*\}\}"), "demo"))


def concrete(text: str) -> list[str]:
    for pattern, value in PLACEHOLDERS:
        text = pattern.sub(value, text)
    return shlex.split(text)


def buildkit_argv(words: list[str]) -> list[str]:
    return words[3:] if words[:3] == ["python", "-m", "buildkit"] else words[1:]


def parse(argv: list[str]) -> None:
    if not argv:
        return  # `python -m buildkit` named as a spelling, not run
    parser = build_parser(raise_usage_errors=True)
    try:
        _args, extras = parser.parse_known_args(argv)
    except SystemExit as done:  # --help, --version
        if done.code not in (0, None):
            raise UsageError(f"exit {done.code}") from None
        return
    if extras:
        raise UsageError(f"unrecognized arguments: {' '.join(extras)}")


@dataclass
class RecordingSession:
    posargs: list[str]

    def error(self, *args: Any) -> None:
        raise AssertionError(args)

    def run(self, *args: Any, **kwargs: Any) -> None:
        pass


def session_argv(name: str, posargs: list[str], monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """What the session passes to buildkit (empty for tests and lint)."""
    registry = nox.registry.get()
    assert name in registry, f"no nox session {name!r}; sessions: {', '.join(registry)}"
    seen: list[list[str]] = []
    monkeypatch.setattr(sessions, "_buildkit", lambda _session, argv: seen.append(list(argv)))
    registry[name].func(RecordingSession(posargs))
    return seen[0] if seen else []


def check_command(text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """``text`` (a ``nox -s ...`` or ``buildkit ...`` line) parses against the real parsers;
    raises otherwise. Also used for the commands the error messages name."""
    words = concrete(text)
    if words[0] == "nox":
        if "-s" not in words:
            return  # `nox`, `nox -l`: nox's own options
        dashes = words.index("--") if "--" in words else len(words)
        names, posargs = words[words.index("-s") + 1 : dashes], words[dashes + 1 :]
        for name in names:
            argv = session_argv(name, posargs, monkeypatch)
            if argv:
                parse(argv)
        return
    parse(buildkit_argv(words))
