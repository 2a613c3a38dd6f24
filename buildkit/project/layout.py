"""The project's layout: which frameworks, local packages and lockfiles there are, and where.

``frameworks/<name>.yaml`` (apko configs), ``packages/<name>.yaml`` (melange configs) and
``lockfiles/<name>.lock.json``, under the folders buildkit.toml names
(:mod:`buildkit.project.config`).
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Sequence
from pathlib import Path

from buildkit.apk.atom import parse_atom
from buildkit.errors import ConfigError
from buildkit.framework import Framework, load_framework
from buildkit.hints import fixed_by, lock_command
from buildkit.melange import load_package_configs, providers
from buildkit.project.config import ProjectConfig


def framework_paths(project: ProjectConfig, names: Sequence[str] = ()) -> list[Path]:
    """``frameworks/*.yaml`` (and ``*.yml``) by name, or the ones named."""
    folder = project.frameworks_dir
    found: dict[str, Path] = {}
    for path in sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]):
        stem = framework_name(path)
        if stem in found:
            raise ConfigError(f"two configs for framework {stem}", where=f"{found[stem]}, {path}")
        found[stem] = path
    if not names:
        if not found:
            raise ConfigError("no frameworks found", where=str(folder), hint="add <name>.yaml")
        return list(found.values())
    unknown = [name for name in names if name not in found]
    if unknown:
        close = difflib.get_close_matches(unknown[0], list(found), n=1)
        err = ConfigError(
            f"unknown framework {unknown[0]!r}",
            where=str(folder),
            hint=(f"did you mean {close[0]}? " if close else "")
            + f"known: {', '.join(found) or 'none'}",
        )
        if close:  # the command line's hint repeats the command with the name corrected
            err.correction = (unknown[0], close[0])
        raise err
    return [found[name] for name in dict.fromkeys(names)]


def load_project_framework(project: ProjectConfig, path: Path) -> Framework:
    """Load a framework as apko will see it: relative to the project root."""
    try:
        config = path.resolve().relative_to(project.root).as_posix()
    except ValueError:
        config = str(path)
    # Whatever the verb, a framework config edited to fix it must be locked again.
    with fixed_by(lock_command(framework_name(path))):
        framework = load_framework(config, base_dir=project.root, default_archs=project.archs)
        check_inside_project(framework, project.root)
    return framework


def framework_name(path: Path) -> str:
    """``frameworks/myapp.yaml`` -> ``myapp``."""
    return path.name.removesuffix(".yml").removesuffix(".yaml")


def check_inside_project(framework: Framework, root: Path) -> None:
    """apko runs in a container that sees only the project folder (mounted at /work): an
    include, a key path or a local repository outside it would pass ``lock`` on the host and
    fail inside apko. Refuse it here, naming it."""

    contents = framework.contents
    repositories = (
        contents.repositories + contents.build_repositories + contents.runtime_repositories
    )
    local = [("include", str(path), path) for path in framework.includes]
    local += [
        ("key", key, root / key.removeprefix("file://"))
        for key in contents.keyring
        if not key.startswith(("http://", "https://"))
    ]
    local += [
        ("repository", str(repo), root / repo.url.removeprefix("file://"))
        for repo in repositories
        if not repo.is_remote
    ]
    top = root.resolve()
    for kind, text, path in local:
        resolved = path.resolve()
        if resolved != top and top not in resolved.parents:
            written = Path(os.path.normpath(path.absolute()))
            linked = written == top or top in written.parents  # inside, but a link out
            raise ConfigError(
                f"{kind} {text} {f'links to {resolved}, which is' if linked else 'is'} "
                f"outside the project folder {root}",
                where=framework.config_name,
                hint="apko runs in a container that sees only the project folder: put it "
                "under the project and name it relative to it (like ./packages)",
            )


def lockfile_path(project: ProjectConfig, framework: Framework) -> Path:
    return project.lockfiles_dir / f"{framework.name}.lock.json"


def packages_for_frameworks(project: ProjectConfig, frameworks: Sequence[str]) -> tuple[str, ...]:
    """The local packages (built from packages/*.yaml) that the selected frameworks request.

    Only these are built before lock and build, so that frameworks which are not selected (for
    example ones whose package sources need the internet) cost nothing. ``frameworks`` empty
    means buildkit.toml's [project].frameworks, else every framework.
    """
    by_name = providers(load_package_configs(project.packages_dir, project.root))
    wanted: set[str] = set()
    for path in framework_paths(project, frameworks or project.frameworks):
        for text in load_project_framework(project, path).contents.packages:
            name = parse_atom(text).name
            if name in by_name:
                wanted.add(name)
    return tuple(sorted(wanted))
