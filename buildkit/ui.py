"""The rich consoles: stdout for results, stderr for progress and errors."""

from __future__ import annotations

from rich.console import Console
from rich.text import Text

from buildkit.errors import BuildkitError, ToolFailedError
from buildkit.registry import redact

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def print_error(error: BuildkitError | str) -> None:
    """One line: ``buildkit: error: <what>``. A failed tool's log tail comes first, so that
    line stays the last one on the screen, where the eye lands."""
    if isinstance(error, ToolFailedError) and error.tail:
        err.print(f"--- last lines of {error.log} ---", markup=False)

        err.print(redact(error.tail.rstrip("\n")), markup=False, highlight=False, emoji=False)
        err.print("---", markup=False)
    err.print(Text.assemble(("buildkit: error: ", "bold red"), str(error)))


def info(message: str) -> None:
    err.print(message, markup=False, highlight=False, emoji=False)
