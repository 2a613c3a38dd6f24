"""The commands that fix a case, named for the case: ``nox -s lock -- myapp``,
``nox -s build-arm64 -- myapp``.

A hint is followed literally: "run `nox -s lock`" locks ``[project].frameworks``, not the
framework that failed. Every hint that names a session comes from here, with the framework
(and the arch, for a build) it is about.
"""

from __future__ import annotations

import contextlib
import re
import shlex
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from buildkit.errors import BuildkitError, ConfigError, MissingLockfileError, ToolFailedError

# apk arch -> the nox session that builds only that arch.
_ARCH_SESSIONS = {"x86_64": "build-amd64", "aarch64": "build-arm64"}


def session_command(session: str, args: Iterable[str] = ()) -> str:
    """``nox -s SESSION -- ARGS`` (no ``--`` without arguments)."""
    rest = " ".join(args)
    return f"nox -s {session} -- {rest}" if rest else f"nox -s {session}"


def lock_command(*frameworks: str) -> str:
    return session_command("lock", dict.fromkeys(frameworks))


def build_command(*frameworks: str, arch: str | None = None) -> str:
    """The session that builds ``frameworks`` for ``arch`` (every arch when None)."""
    names = list(dict.fromkeys(frameworks))
    if arch is None:
        return session_command("build", names)
    session = _ARCH_SESSIONS.get(arch)
    if session is None:
        return session_command("build", ["--arch", arch, *names])
    return session_command(session, names)


def publish_command(framework: str) -> str:
    return session_command("publish", [framework])


def run(command: str) -> str:
    """``run `COMMAND```: the form every hint takes."""
    return f"run `{command}`"


def missing_lockfile(framework: str, path: Path | str) -> MissingLockfileError:
    """The one message for a framework without a lockfile, wherever it is noticed."""
    return MissingLockfileError(
        f"framework {framework} has no lockfile",
        where=str(path),
        hint=f"{run(lock_command(framework))} and commit the lockfile",
    )


# --------------------------------------------------------------------------------------------
# Giving an error the command that fixes it

# A config file, with or without a line: "frameworks/myapp.yaml:7", not "environment (X)".
_CONFIG_FILE = re.compile(r"^[^\s(),]+\.(?:ya?ml|toml|json)(?::\d+)?$")


def names_command(hint: str | None) -> bool:
    """Whether ``hint`` already names a command (in backticks)."""
    return hint is not None and hint.count("`") >= 2


def add_command(err: BuildkitError, command: str, *, first: str | None = None) -> BuildkitError:
    """Give ``err`` the command to run once it is fixed, unless its hint names one already.

    ``first`` is the step before it; by default, for a config error in a file,
    ``edit FILE[:LINE]``. The hint becomes ``HINT; then run `COMMAND```, or
    ``edit FILE:LINE, then run `COMMAND```, or ``run `COMMAND```. Returns ``err`` (changed
    in place, so that ``raise`` keeps its class, exit status and traceback).
    """
    if names_command(err.hint):
        return err
    if first is None and isinstance(err, ConfigError) and _CONFIG_FILE.match(err.where or ""):
        first = f"edit {err.where}"
    if err.hint:
        err.hint = f"{err.hint}; then {run(command)}"
    elif first:
        err.hint = f"{first}, then {run(command)}"
    else:
        err.hint = run(command)
    return err


@contextlib.contextmanager
def fixed_by(command: str, *, first: str | None = None) -> Iterator[None]:
    """Errors raised inside get ``command`` as the one to run once fixed, after ``first``
    when they say nothing else (:func:`add_command`)."""
    try:
        yield
    except BuildkitError as err:
        add_command(err, command, first=first)
        raise


def rerun(err: BuildkitError, program: Sequence[str], argv: Sequence[str]) -> BuildkitError:
    """The last resort, for an error no use case gave a command: the command as it was run
    (``program`` then ``argv``), with the misspelt word replaced when the error knows the
    right one (``err.correction``)."""
    if isinstance(err, ToolFailedError):
        return err  # its own form: the line, the tool's last lines, the log (ui.print_error)
    words = list(argv)
    if err.correction is not None:
        wrong, right = err.correction
        words = [right if word == wrong else word for word in words]
    elif (err.where or "").startswith("--") or _quotes_an_argument(err.message, words):
        # A bad argument: the same command would fail again; the verb's help says more.
        words = [*_global_words(words), "--help"]
    return add_command(err, shlex.join([*program, *words]))


def _quotes_an_argument(message: str, words: Sequence[str]) -> bool:
    """Whether ``message`` quotes a word of the command line as wrong (``'sparc'``)."""
    return any(f"'{word}'" in message for word in words if word and not word.startswith("-"))


def _global_words(words: Sequence[str]) -> list[str]:
    """``-C DIR lock --update x`` -> ``-C DIR lock``: global options and the verb; for nox
    posargs (``-- --tag x``), just ``--``."""
    kept: list[str] = []
    rest = iter(words)
    for word in rest:
        if word == "--":
            return ["--"]
        if word in ("-C", "--project"):
            kept += [word, next(rest, "")]
        elif word.startswith("-"):
            kept.append(word)
        else:
            kept.append(word)
            if word != "apk":
                break
    return kept
