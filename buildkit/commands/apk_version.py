"""apk sub-verbs (placeholder until implemented)."""

from __future__ import annotations

from typing import Any


def register(sub: Any) -> None:
    """Add this module's sub-verbs to the `buildkit apk` group."""
