"""Running one command: the only subprocess call in buildkit's toolchain.

A ``Runner`` either captures output (short queries: versions, inspect) or streams stdout and
stderr into a log file (tool runs, one log per action). Tests pass a fake runner.
"""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from buildkit.errors import ToolchainError
from buildkit.redaction import redact

TAIL_LINES = 30


@dataclass(frozen=True, kw_only=True)
class Completed:
    """What a command did. With a log file, stdout and stderr went there and are empty here."""

    argv: tuple[str, ...]
    returncode: int
    stdout: str = ""
    stderr: str = ""
    timed_out: float | None = None  # the timeout (seconds) that ended it, if one did

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def error_line(self) -> str:
        """The last non-empty line of stderr (or stdout), as one short line for a message."""
        for text in (self.stderr, self.stdout):
            lines = [line.strip() for line in text.splitlines() if line.strip()]
            if lines:
                return shorten(lines[-1])
        return f"exit status {self.returncode}"


def shorten(line: str, limit: int = 300) -> str:
    """At most ``limit`` characters, keeping the end: engines wrap the reason an error
    happened at the end of a long line ("...: manifest unknown")."""
    if len(line) <= limit:
        return line
    keep = limit - 5
    return f"{line[: keep // 3]} ... {line[-(keep - keep // 3) :]}"


class Runner(Protocol):
    def __call__(
        self, argv: Sequence[str], *, log: Path | None = None, timeout: float | None = None
    ) -> Completed: ...


def run_process(
    argv: Sequence[str], *, log: Path | None = None, timeout: float | None = None
) -> Completed:
    """Run ``argv`` (no shell). With ``log``, the command line then all output go to that file."""
    args = tuple(argv)
    try:
        return _capture(args, timeout) if log is None else _to_log(args, log, timeout)
    except FileNotFoundError:
        raise ToolchainError(
            f"{args[0]} not found on PATH", hint="install it or run scripts/setup"
        ) from None
    except subprocess.TimeoutExpired:
        return Completed(
            argv=args, returncode=124, stderr=f"timed out after {timeout:g} s", timed_out=timeout
        )


def _capture(args: tuple[str, ...], timeout: float | None) -> Completed:
    proc = subprocess.run(
        args,
        capture_output=True,
        text=True,
        errors="replace",
        timeout=timeout,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    return Completed(argv=args, returncode=proc.returncode, stdout=proc.stdout, stderr=proc.stderr)


def _to_log(args: tuple[str, ...], log: Path, timeout: float | None) -> Completed:
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w", encoding="utf-8") as handle:
        handle.write(f"$ {redact(shlex.join(args))}\n")
        handle.flush()
        proc = subprocess.run(
            args,
            stdout=handle,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            timeout=timeout,
            check=False,
        )
    return Completed(argv=args, returncode=proc.returncode)


def tail(path: Path, lines: int = TAIL_LINES) -> str:
    """The last ``lines`` lines of a log file ("" if it cannot be read)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])
