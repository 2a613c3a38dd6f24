"""What every build step shares: the project, the store, the tools (made only when needed),
where logs go, and how progress is reported.

The tools are created lazily: a build whose every action is in the cache never detects the
engine, so it runs no engine command at all.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Protocol

from buildkit.actions.plan import public_key_fingerprint
from buildkit.errors import ToolchainError, ToolFailedError
from buildkit.events import BaseReporter, Reporter
from buildkit.imageref import parse_image_ref
from buildkit.project.config import ProjectConfig
from buildkit.store import Store
from buildkit.toolchain import Toolchain
from buildkit.usecases.source_check import SourceCheck

if TYPE_CHECKING:
    from buildkit.toolchain import ApkoBuild, MelangeBuild, Network


@dataclass
class Outcome:
    cached: bool = False


class Tools(Protocol):
    """What the build needs from :class:`buildkit.toolchain.Toolchain` (tests pass a fake)."""

    def apko_build(
        self, job: ApkoBuild, *, log: Path, source_date_epoch: int, network: Network = "none"
    ) -> None: ...

    def melange_build(
        self, job: MelangeBuild, *, log: Path, source_date_epoch: int, network: Network = "none"
    ) -> None: ...


def default_tools(project: ProjectConfig) -> Tools:

    return Toolchain.from_config(project)


class BuildContext:
    def __init__(
        self,
        project: ProjectConfig,
        *,
        store: Store | None = None,
        tools: Callable[[], Tools] | None = None,
        reporter: Reporter | None = None,
        jobs: int = 1,
        logs: Path | None = None,
        environment_check: bool | None = None,
    ) -> None:
        self.project = project
        self.store = store or Store(project.dist_dir)
        self.logs = logs or project.dist_dir / "logs"  # one log per action
        self.reporter: Reporter = reporter or BaseReporter()
        self.jobs = max(1, jobs)
        self._make_tools = tools or (lambda: default_tools(project))
        # Resolve local packages' build environments against their repositories before
        # melange runs (buildkit.usecases.melange_env). Reading those indexes is I/O like
        # running the tools: with injected tools (tests) it is off unless asked for.
        self.environment_check = tools is None if environment_check is None else environment_check
        self._tools: Tools | None = None
        self._lock = threading.Lock()
        self._tool_spans: list[tuple[float, float]] = []  # when tools ran (for the benchmark)

    def __enter__(self) -> BuildContext:
        self.store.clean_scratch()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        return None

    @cached_property
    def apko_ref(self) -> str:
        """The pinned apko image as the engine runs it (parsed, not looked up: no engine)."""
        return self._image_ref(self.project.apko_image, "tools.apko / BUILDKIT_APKO_IMAGE")

    @cached_property
    def melange_ref(self) -> str:
        return self._image_ref(self.project.melange_image, "tools.melange / BUILDKIT_MELANGE_IMAGE")

    def _image_ref(self, text: str, where: str) -> str:

        ref = parse_image_ref(text, True, where=where)
        if not ref.pinned and not self.project.allow_unpinned:
            # Refused here rather than by parse_image_ref: its hint names doctor's
            # --allow-unpinned, and `build` has no such flag.
            raise ToolchainError(
                f"image {text.strip()} is not pinned by digest",
                where=where,
                hint=f"pin it as {ref.name}@sha256:<digest>, "
                "or set tools.allow_unpinned = true in buildkit.toml; then check the pins with "
                "`nox -s doctor`",
            )
        return ref.run_ref

    @cached_property
    def signing_fingerprint(self) -> str:
        """The project public key's fingerprint ("none" without a key: then nothing local
        can be signed, and the melange step says so)."""

        public = self.project.signing_key.with_name(self.project.signing_key.name + ".pub")
        try:
            return public_key_fingerprint(public.read_bytes(), where=str(public))
        except FileNotFoundError:
            return "none"

    @cached_property
    def sources(self) -> SourceCheck:
        """Lockfiles checked against their keys and indexes (offline from the machine cache
        when ``lock`` ran here)."""
        return SourceCheck.of(self.project, warn=self.reporter.info)

    @property
    def tools(self) -> Tools:
        """The toolchain, detected on first use (a full cache hit never gets here)."""
        with self._lock:
            if self._tools is None:
                self._tools = self._make_tools()
            return self._tools

    def log_path(self, label: str) -> Path:
        return self.logs / (label.replace(" ", "-") + ".log")

    @contextmanager
    def timed_tool(self) -> Iterator[None]:
        start = time.monotonic()
        try:
            yield
        finally:
            with self._lock:
                self._tool_spans.append((start, time.monotonic()))

    @property
    def tool_seconds(self) -> float:
        """Wall time during which at least one tool container ran (parallel runs overlap)."""
        total, reach = 0.0, float("-inf")
        for start, end in sorted(self._tool_spans):
            total += max(0.0, end - max(start, reach))
            reach = max(reach, end)
        return total

    @contextmanager
    def action(self, label: str) -> Iterator[Outcome]:
        """Report an action's start and end (the caller marks a cache hit on the outcome)."""
        outcome = Outcome()
        start = time.monotonic()
        self.reporter.started(label)
        try:
            yield outcome
        except ToolFailedError as err:
            self.reporter.failed(label, time.monotonic() - start)
            raise named(err, label) from None
        except BaseException:
            self.reporter.failed(label, time.monotonic() - start)
            raise
        self.reporter.finished(label, time.monotonic() - start, cached=outcome.cached)


def named(err: ToolFailedError, label: str) -> ToolFailedError:
    """The same failure, its message prefixed with the action it belongs to."""
    if err.message.startswith(f"{label}:"):
        return err
    return ToolFailedError(
        f"{label}: {err.message}",
        where=err.where,
        hint=err.hint,
        returncode=err.returncode,
        log=err.log,
        tail=err.tail,
    )
