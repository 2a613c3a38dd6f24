"""How the use cases say what they do: one reporter protocol, a no-op by default (like
resolvelib's ``BaseReporter``). The command line passes :class:`buildkit.progress.RichReporter`;
tests and library callers get silence unless they ask otherwise."""

from __future__ import annotations

from typing import Protocol


class Reporter(Protocol):
    """Progress and notes from lock, build, verify and publish."""

    def info(self, message: str) -> None:
        """A note worth a line (a warning, a step of a publish)."""

    def started(self, label: str) -> None:
        """An action (a package or image build) started."""

    def finished(self, label: str, seconds: float, *, cached: bool) -> None:
        """An action finished (``cached``: its outputs came from the action cache)."""

    def failed(self, label: str, seconds: float) -> None:
        """An action failed (the error itself is raised, not reported)."""


class BaseReporter:
    """Says nothing. Subclass it and override what you want to hear."""

    def info(self, message: str) -> None:
        pass

    def started(self, label: str) -> None:
        pass

    def finished(self, label: str, seconds: float, *, cached: bool) -> None:
        pass

    def failed(self, label: str, seconds: float) -> None:
        pass


def damage_warning(where: object, what: str, reason: str, then: str) -> str:
    """The one line said when a cache entry fails verification and is thrown away:
    ``warning: <file>: <what> failed verification (<reason>); discarded, <then>``."""
    return f"warning: {where}: {what} failed verification ({reason}); discarded, {then}"
