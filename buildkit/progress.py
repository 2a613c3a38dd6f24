"""The build's progress on stderr: a spinner and timer per running action (on a terminal), and
one line per finished action (everywhere), with its time or "cached"."""

from __future__ import annotations

import threading
from types import TracebackType

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn
from rich.text import Text

from buildkit.events import BaseReporter
from buildkit.redaction import redact


class LineReporter(BaseReporter):
    """Notes as lines on ``console`` (for commands that run no actions: scan, lock)."""

    def __init__(self, console: Console) -> None:
        self.console = console

    def info(self, message: str) -> None:
        self.console.print(redact(message), markup=False, highlight=False, emoji=False)


class RichReporter:
    """A :class:`buildkit.events.Reporter` drawing with rich. Use as a context manager."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
            disable=not console.is_terminal,
        )
        self._tasks: dict[str, TaskID] = {}
        self._lock = threading.Lock()

    def __enter__(self) -> RichReporter:
        self._progress.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._progress.stop()

    def info(self, message: str) -> None:
        self._progress.console.print(redact(message), markup=False, highlight=False, emoji=False)

    def started(self, label: str) -> None:
        with self._lock:
            self._tasks[label] = self._progress.add_task(label, total=None)

    def finished(self, label: str, seconds: float, *, cached: bool) -> None:
        status = ("cached", "dim") if cached else (f"{seconds:.1f}s", "")
        self._end(label, Text.assemble(("  ok   ", "green"), f"{label:<36} ", status))

    def failed(self, label: str, seconds: float) -> None:
        line = Text.assemble(("  FAIL ", "bold red"), f"{label:<36} ", f"{seconds:.1f}s")
        self._end(label, line)

    def _end(self, label: str, line: Text) -> None:
        with self._lock:
            task = self._tasks.pop(label, None)
            if task is not None:
                self._progress.remove_task(task)
            self._progress.console.print(line)
