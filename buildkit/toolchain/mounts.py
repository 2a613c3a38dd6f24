"""Which host folders a tool run sees, and where (pure).

The project is mounted read-only at /work; the folders a tool writes (its outputs, caches) are
mounted read-write at their own place under /work, or under /mnt when they live outside the
project. Inputs outside the project are mounted read-only. So a tool can change nothing in
the checkout except its declared outputs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from buildkit.toolchain.spec import WORKDIR, Mount, map_path


@dataclass(frozen=True, kw_only=True)
class MountPlan:
    project: Path
    mounts: tuple[Mount, ...]
    project_writable: bool = False  # only when a tool must write the project root itself

    def to_container(self, host: Path) -> str:
        return map_path([(self.project, WORKDIR), *((h, t) for h, t, _ in self.mounts)], host)

    @property
    def writable(self) -> tuple[str, ...]:
        """Container paths of the read-write mounts (what an ownership fix must cover)."""
        rw = tuple(target for _, target, read_only in self.mounts if not read_only)
        return (WORKDIR, *rw) if self.project_writable else rw


def _inside(path: Path, parent: Path) -> bool:
    return path == parent or path.is_relative_to(parent)


def plan_mounts(
    project: Path,
    *,
    writable: Sequence[Path] = (),
    inputs: Sequence[Path] = (),
) -> MountPlan:
    """Mounts for a run that writes ``writable`` and reads ``inputs`` (absolute host paths)."""
    mounts: list[Mount] = []
    kept_rw: list[Path] = []
    # Shortest first, so a folder nested in another writable one needs no mount of its own.
    for path in sorted(set(writable), key=lambda p: (len(p.parts), str(p))):
        if any(_inside(path, other) for other in kept_rw):
            continue
        kept_rw.append(path)
        if path == project:
            continue
        if _inside(path, project):
            target = f"{WORKDIR}/{path.relative_to(project).as_posix()}"
        else:
            target = f"/mnt/rw{sum(1 for m in mounts if m[1].startswith('/mnt/rw'))}"
        mounts.append((path, target, False))
    outside = [p for p in inputs if not _inside(p, project)]
    for path in sorted(set(outside), key=lambda p: (len(p.parts), str(p))):
        if any(_inside(path, other) for other in kept_rw):
            continue
        if any(_inside(path, host) for host, _, read_only in mounts if read_only):
            continue
        mounts.append((path, f"/mnt/ro{sum(1 for m in mounts if m[2])}", True))
    return MountPlan(project=project, mounts=tuple(mounts), project_writable=project in kept_rw)
