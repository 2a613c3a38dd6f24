"""Why a lockfile is stale, in words a user can act on.

``lock --check`` compares the lockfile on disk with a fresh resolution; this module turns the
differences into one line each, naming the file to look at:

- ``packages/myapp.yaml: version 1.0.0 → 1.0.1`` (a local package moved);
- ``packages/myapp/: source changed since the lock`` (same version, other bytes);
- ``frameworks/x.yaml: config changed (environment)`` (which top-level sections changed is
  known when the locked config's section digests were remembered at lock time, in
  ``<cache>/configs/``; otherwise the line says the config changed);
- any other package: ``busybox (x86_64): 1.36.1-r0 → 1.36.1-r1``.

The hint names the frameworks to lock again (``nox -s lock -- myapp``), not a bare
``nox -s lock`` that would lock another set.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from buildkit.fsutil import atomic_write_bytes
from buildkit.lockfile import Lockfile, PackageChange, diff


def section_digests(config: Path) -> dict[str, str]:
    """SHA-256 of each top-level section of a YAML config, by section name."""
    try:
        document = yaml.safe_load(config.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return {}
    if not isinstance(document, dict):
        return {}
    return {
        str(name): hashlib.sha256(
            json.dumps(value, sort_keys=True, default=str).encode("utf-8")
        ).hexdigest()
        for name, value in document.items()
    }


def _sections_path(cache_dir: Path, checksum: str) -> Path:
    return cache_dir / "configs" / (hashlib.sha256(checksum.encode()).hexdigest() + ".json")


def remember_sections(cache_dir: Path, checksum: str, config: Path) -> None:
    """Keep the section digests of the config a lockfile was made from (by its checksum)."""
    path = _sections_path(cache_dir, checksum)
    if path.is_file():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, json.dumps(section_digests(config), sort_keys=True).encode())


def _remembered(cache_dir: Path, checksum: str) -> dict[str, str] | None:
    try:
        found: Any = json.loads(_sections_path(cache_dir, checksum).read_bytes())
    except (OSError, ValueError, RecursionError):
        return None
    return found if isinstance(found, dict) else None


def config_reason(
    config_name: str, old_checksum: str, new_checksum: str, config: Path, cache_dir: Path
) -> str | None:
    if old_checksum == new_checksum:
        return None
    before = _remembered(cache_dir, old_checksum)
    if before is None:
        return f"{config_name}: config changed since the lock"
    now = section_digests(config)
    changed = sorted(name for name in {*before, *now} if before.get(name) != now.get(name))
    if not changed:
        return f"{config_name}: config changed since the lock (an include)"
    return f"{config_name}: config changed ({', '.join(changed)})"


def package_reasons(
    old: Lockfile | None,
    new: Lockfile,
    *,
    local_configs: Mapping[str, str],
    source_dirs: Mapping[str, str],
) -> list[str]:
    """One line per package change; local packages are named by their config file.

    ``local_configs``: package name -> its config ("packages/myapp.yaml"); ``source_dirs``:
    package name -> its source folder ("packages/myapp/") where it has one.
    """
    lines: list[str] = []
    seen: set[tuple[str, str | None, str | None, str]] = set()
    for change in diff(old, new):
        config = local_configs.get(change.package)
        if config is None:
            lines.append(_plain(change))
            continue
        kind = "source" if change.old == change.new else "version"
        key = (change.package, change.old, change.new, kind)
        if key in seen:  # the same change on every arch: say it once
            continue
        seen.add(key)
        lines.append(_local(change, config, source_dirs.get(change.package)))
    return lines


def _plain(change: PackageChange) -> str:
    if change.old is None:
        return f"{change.package} ({change.arch}): added at {change.new}"
    if change.new is None:
        return f"{change.package} ({change.arch}): no longer installed (was {change.old})"
    if change.old == change.new:
        return f"{change.package} ({change.arch}): {change.new} has other content than locked"
    return f"{change.package} ({change.arch}): {change.old} → {change.new}"


def _local(change: PackageChange, config: str, source: str | None) -> str:
    if change.old is None:
        return f"{config}: {change.package} {change.new} is new since the lock"
    if change.new is None:
        return f"{config}: {change.package} is no longer installed (was {change.old})"
    if change.old == change.new:
        where = source or config
        return f"{where}: source changed since the lock ({change.package} {change.new})"
    return f"{config}: version {change.old} → {change.new}"


def local_package_names(packages_dir: Path, root: Path) -> tuple[dict[str, str], dict[str, str]]:
    """(package name -> config, package name -> source folder), relative to ``root``.

    A config's subpackages count as the config's (``myapp-doc`` -> ``packages/myapp.yaml``).
    """
    configs: dict[str, str] = {}
    sources: dict[str, str] = {}
    for path in sorted(packages_dir.glob("*.yaml")):
        try:
            document = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError):  # melange_check says what is wrong
            continue
        if not isinstance(document, dict):
            continue
        package = document.get("package")
        name = package.get("name") if isinstance(package, dict) else None
        if not isinstance(name, str):
            continue
        shown = _relative(path, root)
        folder = path.parent / name
        names = [name] + [
            sub["name"]
            for sub in document.get("subpackages") or []
            if isinstance(sub, dict) and isinstance(sub.get("name"), str)
        ]
        for each in names:
            configs[each] = shown
            if folder.is_dir():
                sources[each] = _relative(folder, root) + "/"
    return configs, sources


def _relative(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


def lock_hint(frameworks: Sequence[str], command: str = "nox -s lock") -> str:
    return f"run `{command} -- {' '.join(frameworks)}`" if frameworks else f"run `{command}`"
