"""Keep ``packages/<arch>/`` equal to what the current package configs build.

Two machines must see the same local repository: a used checkout must not keep serving an
``.apk`` that a clean checkout (CI) would not have. After a build, every ``.apk`` of a package
that was just built but is not one of its current outputs (a superseded version) is removed,
and so is every ``.apk`` no package config produces any more (an orphan). An ``.apk`` of a
config that was not part of this build is left alone: the build did not look at it.

Rebuilding a package at the same version with different bytes is legal but hides the change
from anyone holding the old file under the same name: :func:`same_version_warning` says so.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from pathlib import Path

from buildkit.apk.index import record_from_package
from buildkit.errors import BuildkitError


@dataclass(frozen=True, kw_only=True)
class Pruned:
    path: Path
    why: str  # "superseded" or "orphan"


def stale_files(
    repo: Path,
    *,
    current: Collection[str],
    built: Collection[str],
    configured: Collection[str],
) -> list[Pruned]:
    """The ``.apk`` files of ``repo`` to remove.

    ``current``: file names the packages just built produce; ``built``: the config names
    built (an .apk's origin, else its name, tells which config made it); ``configured``:
    every package config of the project.
    """
    found: list[Pruned] = []
    for path in sorted(repo.glob("*.apk")):
        if path.name in current:
            continue
        try:
            record = record_from_package(path.read_bytes(), where=str(path))
        except (BuildkitError, OSError):
            found.append(Pruned(path=path, why="orphan"))  # unreadable: nothing builds it
            continue
        owner = record.origin or record.name
        if owner in built or record.name in built:
            found.append(Pruned(path=path, why="superseded"))
        elif owner not in configured and record.name not in configured:
            found.append(Pruned(path=path, why="orphan"))
    return found


def remove(files: Iterable[Pruned]) -> list[str]:
    """Delete the files; one line per file for the log."""
    lines = []
    for item in files:
        item.path.unlink(missing_ok=True)
        lines.append(f"removed {item.path.name} from {item.path.parent.name}/ ({item.why})")
    return lines


def same_version_warning(config: str, filename: str) -> str:
    return (
        f"warning: {config}: {filename} was rebuilt with different content at the same "
        "version; bump its epoch so that every machine and lockfile sees a new version"
    )
