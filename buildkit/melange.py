"""melange package configs (``packages/<name>.yaml``): what they build and in which order.

Only the fields buildkit needs are read: ``package.name/version/epoch``, the names a package
provides (its subpackages and ``dependencies.provides``), what it needs (``dependencies.runtime``
and ``environment.contents.packages``), the environment's repositories and keyring, and
``package.target-architecture``. melange itself validates the rest when it builds.

Local packages that depend on each other are built dependencies first
(:func:`build_order`); the build step itself lives in :mod:`buildkit.usecases.package_builds`, and
:func:`build_local_packages` is the entry point ``lock`` calls before resolving.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from buildkit.apk.arch import normalize_arch
from buildkit.apk.atom import parse_atom
from buildkit.apk.version import parse_version
from buildkit.errors import AtomError, BuildkitError, ConfigError
from buildkit.fields import Fields
from buildkit.framework import yaml_error
from buildkit.fsutil import read_input

_ALL_ARCHS = frozenset({"all"})


@dataclass(frozen=True, kw_only=True)
class PackageConfig:
    """One melange config, as far as ordering and caching need it."""

    name: str
    version: str  # package.version, without the epoch
    epoch: int
    path: Path
    provides: tuple[str, ...] = ()  # subpackage names and dependencies.provides names
    runtime: tuple[str, ...] = ()  # names from dependencies.runtime
    environment: tuple[str, ...] = ()  # names from environment.contents.packages
    repositories: tuple[str, ...] = ()  # environment.contents.repositories, as written
    keyring: tuple[str, ...] = ()  # environment.contents.keyring, as written
    target_archs: tuple[str, ...] = ()  # apk archs; () = every arch
    subpackages: tuple[str, ...] = ()

    @property
    def full_version(self) -> str:
        return f"{self.version}-r{self.epoch}"

    @property
    def filename(self) -> str:
        return f"{self.name}-{self.full_version}.apk"

    @property
    def needs(self) -> tuple[str, ...]:
        """Every package name this one needs to build or to run."""
        return tuple(dict.fromkeys((*self.environment, *self.runtime)))

    def builds_for(self, arch: str) -> bool:
        return not self.target_archs or arch in self.target_archs


def atom_name(atom: str) -> str:
    """The package name of a dependency atom: ``foo>=1.2`` -> ``foo``, ``!bar`` -> ``bar``.

    An atom apk cannot parse (melange substitutes ``${{...}}`` variables before using them)
    is kept as written: it cannot name a local package either way.
    """

    try:
        return parse_atom(atom.strip()).name
    except AtomError:
        return atom.strip()


# --------------------------------------------------------------------------------------------
# Parsing: bytes in, values out


def parse_package_config(data: bytes, *, path: Path, where: str | None = None) -> PackageConfig:
    """Read the fields buildkit needs from a melange config's bytes."""

    label = where or str(path)
    try:
        document = yaml.load(data, Loader=yaml.CSafeLoader)
    except yaml.YAMLError as exc:
        raise yaml_error(exc, label, data) from None
    if not isinstance(document, dict):
        raise ConfigError("a melange config must be a mapping", where=label)
    fields = Fields(where=label)
    package = fields.mapping(
        document, "package", missing="a melange config starts with package: (name, version, epoch)"
    )
    name = _package_name(fields.at("package").text(package, "name"), "package.name", label)
    version = fields.at("package").text(package, "version")
    epoch = package.get("epoch", 0)
    if not isinstance(epoch, int) or isinstance(epoch, bool) or epoch < 0:
        raise ConfigError("package.epoch must be a non-negative integer", where=label)
    _check_version(version, epoch, label)
    dependencies = fields.mapping(package, "dependencies", default={})
    contents = fields.mapping(
        fields.mapping(document, "environment", default={}), "contents", default={}
    )
    subpackages = tuple(
        _package_name(
            fields.at(f"subpackages[{n}]").text(sub, "name"), f"subpackages[{n}].name", label
        )
        for n, sub in enumerate(fields.items(document, "subpackages"))
        if isinstance(sub, dict)
    )
    provides = [atom_name(p) for p in _strings(fields, dependencies, "provides")]
    return PackageConfig(
        name=name,
        version=version,
        epoch=epoch,
        path=path,
        provides=tuple(dict.fromkeys((*subpackages, *provides))),
        runtime=tuple(atom_name(a) for a in _strings(fields, dependencies, "runtime")),
        environment=tuple(atom_name(a) for a in _strings(fields, contents, "packages")),
        repositories=_strings(fields, contents, "repositories"),
        keyring=_strings(fields, contents, "keyring"),
        target_archs=_target_archs(package, label),
        subpackages=subpackages,
    )


_PACKAGE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9+._-]*")


def _package_name(name: str, dotted: str, where: str) -> str:
    """A package name is also a file name (``packages/<arch>/<name>-<version>.apk``): refuse
    one that is a path (``../evil``) before melange writes anywhere (variables are melange's)."""

    if "${{" in name or _PACKAGE_NAME.fullmatch(name):
        return name
    raise ConfigError(
        f"{dotted} {name!r} is not a package name",
        where=where,
        hint="use letters, digits and '+', '-', '_', '.', starting with a letter or digit",
    )


def _check_version(version: str, epoch: int, where: str) -> None:
    """melange names the package <name>-<version>-r<epoch>: refuse what apk cannot compare
    now, rather than after a container has started (variables are melange's to expand)."""

    if "${{" in version:
        return
    try:
        parse_version(f"{version}-r{epoch}")
    except BuildkitError as err:
        raise ConfigError(
            f"package.version {version!r} is not a valid apk version: {err.message}",
            where=where,
            hint=err.hint,
        ) from None


def _strings(fields: Fields, parent: Mapping[str, Any], key: str) -> tuple[str, ...]:
    values = fields.items(parent, key)
    if not all(isinstance(v, str) for v in values):
        raise fields.fail(f"{fields.name(key)} must be a list of strings")
    return tuple(values)


def _target_archs(package: Mapping[str, Any], where: str) -> tuple[str, ...]:
    raw = package.get("target-architecture") or []
    values = [raw] if isinstance(raw, str) else raw
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise ConfigError("package.target-architecture must be a list of archs", where=where)
    if not values or set(values) & _ALL_ARCHS:
        return ()
    try:
        return tuple(dict.fromkeys(normalize_arch(v) for v in values))
    except BuildkitError as exc:
        raise ConfigError(exc.message, where=where, hint=exc.hint) from None


# --------------------------------------------------------------------------------------------
# Discovery and ordering


def package_config_paths(folder: Path) -> list[Path]:
    """``packages/*.yaml`` (and ``*.yml``), sorted by name."""
    return sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")])


def load_package_configs(folder: Path, root: Path | None = None) -> tuple[PackageConfig, ...]:
    """Every melange config in ``folder``; two configs building the same name are an error.
    Errors name a config relative to ``root`` (the project), as the other config errors do."""
    configs: dict[str, PackageConfig] = {}
    for path in package_config_paths(folder):
        where = _relative(path, root)
        try:
            data = read_input(path, "config")
        except OSError as exc:
            raise ConfigError(f"cannot read: {exc.strerror}", where=where) from None
        config = parse_package_config(data, path=path, where=where)
        if config.name in configs:
            raise ConfigError(
                f"package {config.name} is built by two configs",
                where=f"{configs[config.name].path}, {path}",
            )
        configs[config.name] = config
    return tuple(configs.values())


def _relative(path: Path, root: Path | None) -> str:
    if root is None:
        return str(path)
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)


def providers(configs: Iterable[PackageConfig]) -> dict[str, PackageConfig]:
    """Name (package, subpackage or provided name) -> the config that builds it."""
    found: dict[str, PackageConfig] = {}
    for config in configs:
        for name in (config.name, *config.provides):
            found.setdefault(name, config)
    return found


def local_dependencies(
    config: PackageConfig, by_name: Mapping[str, PackageConfig]
) -> tuple[PackageConfig, ...]:
    """The local configs ``config`` needs (itself excluded), in the order it names them."""
    found = {
        by_name[name].name: by_name[name]
        for name in config.needs
        if name in by_name and by_name[name].name != config.name
    }
    return tuple(found.values())


def build_order(
    configs: Sequence[PackageConfig], names: Collection[str] | None = None
) -> tuple[PackageConfig, ...]:
    """The configs to build, dependencies first (ties by name, so the order is stable).

    ``names`` selects packages (and, transitively, the local packages they need); None = all.
    A dependency cycle among local packages is a ConfigError naming it.
    """
    by_name = providers(configs)
    selected = _closure(configs, by_name, names)
    deps = {c.name: {d.name for d in local_dependencies(c, by_name)} for c in selected}
    order: list[PackageConfig] = []
    done: set[str] = set()
    pending = {c.name: c for c in selected}
    while pending:
        ready = sorted(name for name in pending if deps[name] <= done)
        if not ready:
            cycle = " -> ".join(_cycle(deps, set(pending), sorted(pending)[0]))
            raise ConfigError(
                f"local packages depend on each other in a cycle: {cycle}",
                where=str(pending[sorted(pending)[0]].path),
                hint="break the cycle in dependencies.runtime or environment.contents.packages",
            )
        for name in ready:
            order.append(pending.pop(name))
            done.add(name)
    return tuple(order)


def _closure(
    configs: Sequence[PackageConfig],
    by_name: Mapping[str, PackageConfig],
    names: Collection[str] | None,
) -> list[PackageConfig]:
    if names is None:
        return list(configs)
    unknown = sorted(n for n in names if n not in by_name)
    if unknown:
        raise ConfigError(
            f"no package config builds {unknown[0]!r}",
            hint=f"known: {', '.join(sorted(c.name for c in configs)) or 'none'}",
        )
    selected: dict[str, PackageConfig] = {}
    stack = [by_name[n] for n in names]
    while stack:
        config = stack.pop()
        if config.name not in selected:
            selected[config.name] = config
            stack.extend(local_dependencies(config, by_name))
    return list(selected.values())


def _cycle(deps: Mapping[str, set[str]], pending: set[str], start: str) -> list[str]:
    """Walk unbuilt dependencies from ``start`` until a name repeats: that loop is a cycle
    (every pending package has a pending dependency, so the walk never stops early)."""
    path = [start]
    while True:
        nxt = sorted(deps[path[-1]] & pending)[0]
        if nxt in path:
            return [*path[path.index(nxt) :], nxt]
        path.append(nxt)
