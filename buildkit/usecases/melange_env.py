"""Every local package config checked before melange runs for any of them.

Two steps, both before the first container starts:

1. each config's bytes (:func:`buildkit.melange_check.check_melange_config`: schema,
   ``uses:``, fetch checksums), for every config that will be built;
2. each config's build environment, per arch it builds for: the packages in
   ``environment.contents.packages`` (those no local config builds) are resolved against the
   environment's own repositories and keyring with the resolver ``lock`` uses, so a typo is
   "nothing provides pyhton-3.11 (did you mean: python-3.11)" at ``file:line``, not an apk
   error deep in melange's output.

Step 2 reads indexes (cached and revalidated, as ``lock`` does); a config whose environment
resolved once is remembered by the digest of its bytes and arch under the machine cache
(``melange-env-checked/``), so an unchanged config costs nothing on the next build.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import yaml

from buildkit.apk.keys import Keyring
from buildkit.errors import BuildkitError, ResolveError
from buildkit.framework import key_name, parse_repository
from buildkit.melange import PackageConfig, atom_name, providers
from buildkit.melange_check import CheckedConfig, check_melange_config
from buildkit.project.config import ProjectConfig
from buildkit.repo import RepoClient, repo_sources
from buildkit.resolve import resolve

CHECKED_DIR = "melange-env-checked"

# (config, arch, checked) -> None; raises a BuildkitError naming file:line when a package is
# missing. The default reads the environment's repositories; tests pass their own.
EnvironmentCheck = Callable[[PackageConfig, str, CheckedConfig], None]


def display_path(project: ProjectConfig, path: Path) -> str:
    try:
        return path.resolve().relative_to(project.root).as_posix()
    except ValueError:
        return str(path)


def check_package_configs(
    project: ProjectConfig,
    configs: Sequence[PackageConfig],
    archs: Sequence[str],
    *,
    resolve_environments: bool = True,
    environment_check: EnvironmentCheck | None = None,
) -> None:
    """Refuse the first mistake in ``configs`` (to be built for ``archs``) before any runs;
    ``resolve_environments`` False checks the configs' bytes only (no index is read)."""
    checked = [
        (
            config,
            check_melange_config(
                config.path.read_bytes(), where=display_path(project, config.path)
            ),
        )
        for config in configs
    ]
    if not resolve_environments and environment_check is None:
        return
    local = set(providers(configs))
    check = environment_check or _resolving_check(project, local)
    for config, result in checked:
        for arch in archs:
            if config.builds_for(arch):
                check(config, arch, result)


def _resolving_check(project: ProjectConfig, local: set[str]) -> EnvironmentCheck:
    stamps = project.cache_dir / CHECKED_DIR

    def check(config: PackageConfig, arch: str, checked: CheckedConfig) -> None:
        stamp = stamps / _stamp_name(config, arch)
        if stamp.is_file():
            return
        requests = [a for a in config_requests(config) if atom_name(a) not in local]
        if requests:
            resolve_environment(project, config, arch, checked, requests)
        try:
            stamp.parent.mkdir(parents=True, exist_ok=True)
            stamp.touch()
        except OSError:
            pass  # only a shortcut for the next build

    return check


def _stamp_name(config: PackageConfig, arch: str) -> str:
    digest = hashlib.sha256(config.path.read_bytes()).hexdigest()
    return f"{digest}-{arch}"


def config_requests(config: PackageConfig) -> list[str]:
    """The build environment's package atoms, without ones melange substitutes variables in."""
    return [a for a in _raw_requests(config) if "${{" not in a]


def _raw_requests(config: PackageConfig) -> Iterable[str]:

    document = yaml.load(config.path.read_bytes(), Loader=yaml.CSafeLoader) or {}
    contents = (document.get("environment") or {}).get("contents") or {}
    return [str(p).strip() for p in contents.get("packages") or [] if str(p).strip()]


def resolve_environment(
    project: ProjectConfig,
    config: PackageConfig,
    arch: str,
    checked: CheckedConfig,
    requests: Sequence[str],
) -> None:
    """Resolve ``requests`` against the environment's repositories for ``arch``; on failure,
    the error names the line of the package that cannot be installed."""

    client = RepoClient(
        base_dir=project.root, cache_dir=project.cache_dir, limits=project.fetch_limits
    )
    pems = {key_name(location): client.key(location) for location in config.keyring}
    keyring = Keyring.from_pems(pems)
    repositories = [parse_repository(r, where=checked.where) for r in config.repositories]
    # A missing local index is skipped quietly here: melange itself says so when it runs.
    sources = repo_sources(repositories, client, arch, keyring, warn=lambda _note: None)
    context = f"{checked.where} (build environment of {config.name}, arch {arch})"
    try:
        resolve(list(requests), sources, arch=arch, context=context)
    except ResolveError as whole:
        # Which entry? Resolve them one by one (rare: only on failure) to name its line.
        for request in requests:
            try:
                resolve([request], sources, arch=arch, context=context)
            except BuildkitError as err:
                line = checked.environment_lines.get(request)
                where = f"{checked.where}:{line}" if line else checked.where
                raise ResolveError(
                    f"environment.contents.packages: {err.message} (arch {arch})",
                    where=where,
                    hint=err.hint
                    or "add the repository that has it to environment.contents.repositories",
                ) from None
        raise whole from None
