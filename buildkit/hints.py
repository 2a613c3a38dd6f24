"""The commands that fix a case, named for the case: ``nox -s lock -- myapp``,
``nox -s build-arm64 -- myapp``.

A hint is followed literally: "run `nox -s lock`" locks ``[project].frameworks``, not the
framework that failed. Every hint that names a session comes from here, with the framework
(and the arch, for a build) it is about.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from buildkit.errors import MissingLockfileError

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
