"""The rich consoles: stdout for results, stderr for progress and errors."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from buildkit.errors import BuildkitError, ToolFailedError
from buildkit.redaction import redact
from buildkit.toolchain.failure import meaningful_lines

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def print_error(error: BuildkitError | str) -> None:
    """One line: ``buildkit: error: <what>``.

    A failed tool: that line (tool, package or framework, arch, exit status), then the last
    few meaningful lines of the tool's own output, indented, then the log's path. Never the
    container command line: it is the log's first line, and stays there."""
    if isinstance(error, ToolFailedError) and error.log:
        _print_tool_failure(error)
        return
    err.print(Text.assemble(("buildkit: error: ", "bold red"), redact(str(error))))


def _print_tool_failure(error: ToolFailedError) -> None:

    line = redact(f"{error.message} ({error.hint})" if error.hint else error.message)
    err.print(Text.assemble(("buildkit: error: ", "bold red"), line))
    for text in meaningful_lines(redact(error.tail)):
        err.print(f"  {text}", markup=False, highlight=False, emoji=False)
    err.print(f"  log: {error.log}", markup=False, highlight=False, emoji=False)


def info(message: str) -> None:
    err.print(redact(message), markup=False, highlight=False, emoji=False)


def table(title: str, columns: Sequence[str], *, right: Collection[str] = ()) -> Table:
    """A results table that fits the terminal, 80 columns and up: rows are never cut; a cell
    too wide for its column wraps inside it, between words where it can and within a word
    (a long package name, version or id) where it must, never cut off with an ellipsis.
    A light frame (a rule under the header, no sides) leaves the width to the cells.
    ``right``: the columns aligned right (sizes)."""
    found = Table(
        title=title, title_justify="left", box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False
    )
    for column in columns:
        found.add_column(column, justify="right" if column in right else "left", overflow="fold")
    return found
