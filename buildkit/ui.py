"""The rich consoles: stdout for results, stderr for progress and errors."""

from __future__ import annotations

from rich.console import Console
from rich.text import Text

from buildkit.errors import BuildkitError, ToolFailedError

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def print_error(error: BuildkitError | str) -> None:
    """One line: ``buildkit: error: <what>`` (plus a log tail for a failed tool)."""
    err.print(Text.assemble(("buildkit: error: ", "bold red"), str(error)))
    if isinstance(error, ToolFailedError) and error.tail:
        err.print(f"--- last lines of {error.log} ---", markup=False)
        err.print(error.tail.rstrip("\n"), markup=False)


def info(message: str) -> None:
    err.print(message, markup=False, highlight=False, emoji=False)
