"""Frameworks chosen by default that have no lockfile yet are skipped, with a note.

``build``, ``verify`` and ``publish`` without framework names cover ``[project].frameworks``
(else every ``frameworks/*.yaml``). A framework just added there has no lockfile until
``lock`` runs for it; failing the whole run on it would block the others, so it is left out
and named, with the command that locks it. Frameworks named on the command line are never
skipped: for them a missing lockfile is an error (:func:`buildkit.hints.missing_lockfile`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from buildkit.errors import MissingLockfileError
from buildkit.hints import lock_command, missing_lockfile, run
from buildkit.project.config import ProjectConfig


def framework_name(path: Path) -> str:
    """A framework's name is its config's stem (``frameworks/demo.yaml`` -> ``demo``)."""
    return path.name.removesuffix(".yml").removesuffix(".yaml")


def lockfile_for(project: ProjectConfig, name: str) -> Path:
    return project.lockfiles_dir / f"{name}.lock.json"


def skip_unlocked(
    project: ProjectConfig, paths: Sequence[Path], *, say: Callable[[str], None]
) -> list[Path]:
    """``paths`` (default frameworks' configs) without those that have no lockfile; says
    which were skipped. None left is the missing-lockfile error (exit 1) for all of them."""
    kept = [p for p in paths if lockfile_for(project, framework_name(p)).is_file()]
    skipped = [framework_name(p) for p in paths if p not in kept]
    if not skipped:
        return kept
    if not kept:
        if len(skipped) == 1:
            raise missing_lockfile(skipped[0], lockfile_for(project, skipped[0]))
        raise MissingLockfileError(
            f"frameworks {', '.join(skipped)} have no lockfile",
            where=str(project.lockfiles_dir),
            hint=f"{run(lock_command(*skipped))} and commit the lockfiles",
        )
    say(
        f"note: skipping {', '.join(skipped)}: no lockfile yet "
        f"({run(lock_command(*skipped))} to include {'it' if len(skipped) == 1 else 'them'})"
    )
    return kept
