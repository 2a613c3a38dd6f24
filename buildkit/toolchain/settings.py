"""What the toolchain reads from a project's settings (``buildkit.project.config.ProjectConfig``
provides it): the engine choice and the pinned tool images. A protocol, so that the toolchain
does not depend on the project layer above it."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol


class ToolSettings(Protocol):
    @property
    def root(self) -> Path: ...  # the project folder (mounted into tool containers)

    @property
    def engine(self) -> str: ...  # "auto", "docker" or "podman"

    @property
    def apko_image(self) -> str: ...

    @property
    def melange_image(self) -> str: ...

    @property
    def allow_unpinned(self) -> bool: ...

    @property
    def tool_timeout(self) -> float: ...  # seconds for one tool run ([limits] tool_timeout)
