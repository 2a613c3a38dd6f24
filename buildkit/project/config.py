"""buildkit.toml: the project settings (archs, frameworks, pinned tools, publishing).

Environment variables override the file for CI and mirrors:
``BUILDKIT_APKO_IMAGE``, ``BUILDKIT_MELANGE_IMAGE``, ``BUILDKIT_COSIGN_IMAGE``,
``BUILDKIT_CRANE_IMAGE``, ``BUILDKIT_ENGINE``, ``BUILDKIT_REGISTRY``, ``BUILDKIT_REPOSITORY``,
``BUILDKIT_TAG`` (one tag: replaces ``[publish] tags``), ``BUILDKIT_SIGNING``,
``BUILDKIT_COSIGN_KEY``, ``BUILDKIT_SOURCE_DATE_EPOCH``, ``BUILDKIT_CACHE``; the limits
(``[limits]``): ``BUILDKIT_FETCH_TIMEOUT``, ``BUILDKIT_MAX_INDEX_SIZE``, ``BUILDKIT_MAX_KEY_SIZE``,
``BUILDKIT_MAX_PACKAGE_SIZE``, ``BUILDKIT_TOOL_TIMEOUT``, ``BUILDKIT_LOCK_MEMORY_LIMIT``.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from buildkit.apk.arch import normalize_arch
from buildkit.errors import BuildkitError, ConfigError
from buildkit.fields import Fields
from buildkit.fsutil import parse_size, read_input
from buildkit.repo import FetchLimits

CONFIG_NAME = "buildkit.toml"

# Public images, pinned by digest. These are the defaults for users with network access; the
# project's own machines override them with locally built images (see scripts/setup).
DEFAULT_APKO_IMAGE = (
    "cgr.dev/chainguard/apko"
    "@sha256:20dfc1f5e3461b5eaf3279f762cd4bf86c7f3635d2a9642f905cf583525f9ee6"
)
DEFAULT_MELANGE_IMAGE = (
    "cgr.dev/chainguard/melange"
    "@sha256:b6f11bb45a6090c182986028fd2249fb1a18dcb6e173c4ce001dd3fb4cb1dd71"
)
# cosign v3.1.3 and crane as public projects pin them (this project's machines build both from
# the Go module proxy instead, see toolchain/versions.env).
DEFAULT_COSIGN_IMAGE = (
    "ghcr.io/sigstore/cosign/cosign"
    "@sha256:9e5c2f2edc34351160407ca3416c61855bdf9403c3c5936e0f0be7fc261611b8"
)
DEFAULT_CRANE_IMAGE = (
    "gcr.io/go-containerregistry/crane"
    "@sha256:1f968817b95790bed063f71175aa6b8ff879fa17064020415f3e18bb6e6a36e1"
)
SIGNING_MODES = ("key", "keyless", "none")

_KNOWN: Mapping[str, frozenset[str]] = {
    "project": frozenset({"archs", "frameworks", "source_date_epoch", "signing_key"}),
    "tools": frozenset({"engine", "apko", "melange", "cosign", "crane", "allow_unpinned"}),
    "publish": frozenset(
        {
            "registry",
            "repository",
            "tag",
            "tags",
            "arch_tags",
            "insecure",
            "signing",
            "cosign_key",
            "certificate_identity",
            "certificate_oidc_issuer",
        }
    ),
    "paths": frozenset({"dist", "packages", "lockfiles", "frameworks", "cache"}),
    "scan": frozenset({"databases", "ignore"}),
    "limits": frozenset(
        {
            "fetch_timeout",
            "max_index_size",
            "max_key_size",
            "max_package_size",
            "tool_timeout",
            "lock_memory_limit",
        }
    ),
}
DEFAULT_TOOL_TIMEOUT = 3600.0  # seconds for one apko, melange, crane or cosign run
# [limits] key -> (environment variable, FetchLimits field or "" for the tool timeout)
_LIMITS: Mapping[str, tuple[str, str]] = {
    "fetch_timeout": ("BUILDKIT_FETCH_TIMEOUT", "deadline"),
    "max_index_size": ("BUILDKIT_MAX_INDEX_SIZE", "index"),
    "max_key_size": ("BUILDKIT_MAX_KEY_SIZE", "key"),
    "max_package_size": ("BUILDKIT_MAX_PACKAGE_SIZE", "package"),
}


# tomllib ends its messages with "(at line 3, column 7)"; the line belongs in ``where``.
_TOML_POSITION = re.compile(r"\s*\(at (?:line (?P<line>\d+), column \d+|end of document)\)$")


def default_cache_dir() -> Path:
    """The machine-wide cache (indexes, packages, tool builds): stable across checkouts."""
    env = os.environ.get("BUILDKIT_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "buildkit"


@dataclass(frozen=True, kw_only=True)
class ProjectConfig:
    """Settings from buildkit.toml with environment overrides applied. Paths are absolute."""

    root: Path
    archs: tuple[str, ...] = ("x86_64", "aarch64")  # apk arch names
    frameworks: tuple[str, ...] = ()  # what a plain `build`/`publish` covers; () = all
    source_date_epoch: int | None = None  # None: newest build time among locked packages
    signing_key: Path = Path("keys/buildkit.rsa")
    engine: str = "auto"  # "auto", "docker" or "podman"
    apko_image: str = DEFAULT_APKO_IMAGE
    melange_image: str = DEFAULT_MELANGE_IMAGE
    allow_unpinned: bool = False
    cosign_image: str = DEFAULT_COSIGN_IMAGE
    crane_image: str = DEFAULT_CRANE_IMAGE
    registry: str = "127.0.0.1:5000"
    repository: str = "buildkit"  # images are REGISTRY/REPOSITORY/<framework>:<tag>
    tag: str = "latest"  # the first of ``tags`` (kept for the build's local image name)
    tags: tuple[str, ...] = ("latest",)  # every tag a publish gives the list
    arch_tags: bool = False  # also tag each arch <tag>-<oci arch>
    insecure_registries: tuple[str, ...] = ()
    signing: str = "key"  # "key" (keys/cosign.key, offline), "keyless" (OIDC, CI) or "none"
    cosign_key: Path = Path("keys/cosign.key")
    certificate_identity: str = ""  # keyless verify: a regexp the signer's identity matches
    certificate_oidc_issuer: str = "https://token.actions.githubusercontent.com"
    dist_dir: Path = Path("dist")
    packages_dir: Path = Path("packages")
    lockfiles_dir: Path = Path("lockfiles")
    frameworks_dir: Path = Path("frameworks")
    cache_dir: Path = field(default_factory=default_cache_dir)
    # [scan]: repository URL -> its security database (URL or path), and the ignore file
    scan_databases: tuple[tuple[str, str], ...] = ()
    scan_ignore: Path = Path(".buildkit-scan-ignore.toml")
    # [limits]: every network read (total deadline, size per kind) and every tool run
    fetch_limits: FetchLimits = field(default_factory=FetchLimits)
    tool_timeout: float = DEFAULT_TOOL_TIMEOUT
    lock_memory_limit: int | None = None  # RSS of one lock worker process; None: no limit

    def registry_is_insecure(self, registry: str | None = None) -> bool:
        """Plain HTTP is allowed for loopback registries and those configured as insecure."""
        reg = registry or self.registry
        host = reg.rsplit(":", 1)[0] if ":" in reg else reg
        return host in {"127.0.0.1", "localhost", "[::1]"} or reg in self.insecure_registries


def _table(data: Mapping[str, Any], name: str, where: str) -> Mapping[str, Any]:
    value = data.get(name, {})
    if not isinstance(value, dict):
        raise ConfigError(f"[{name}] must be a table", where=where)
    unknown = sorted(set(value) - _KNOWN[name])
    if unknown:
        raise ConfigError(
            f"unknown key {name}.{unknown[0]}",
            where=where,
            hint=_did_you_mean(unknown[0], _KNOWN[name])
            + f"known keys in [{name}]: {', '.join(sorted(_KNOWN[name]))}",
        )
    return value


def _did_you_mean(word: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, sorted(known), n=1)
    return f"did you mean {close[0]}? " if close else ""


def _at(where: str, table: str) -> Fields:
    """Getters for the values of ``[table]``."""
    return Fields(where=where, path=table, mapping_word="a table")


def _tags(env: Mapping[str, str], publish: Mapping[str, Any], where: str) -> tuple[str, ...]:
    """BUILDKIT_TAG (one tag), else [publish] tags, else [publish] tag, else latest."""
    if env.get("BUILDKIT_TAG"):
        return (env["BUILDKIT_TAG"],)
    if "tags" in publish:
        if "tag" in publish:
            raise ConfigError(
                "[publish] has both tag and tags", where=where, hint="keep tags = [...] only"
            )
        tags = _at(where, "publish").strings(publish, "tags")
        if not tags or not all(tags):
            raise ConfigError("publish.tags must be a non-empty list of tags", where=where)
        return tuple(dict.fromkeys(tags))
    return (_at(where, "publish").string(publish, "tag", default="latest"),)


def _read_toml(path: Path) -> dict[str, Any]:
    """buildkit.toml's tables; {} when there is no file. The line of a syntax error goes in
    ``where`` (tomllib puts it at the end of its message)."""
    where = str(path)
    if not path.exists():
        return {}
    try:
        data = read_input(path, "config")
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", where=where) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        row = data[: exc.start].count(b"\n") + 1
        raise ConfigError(
            f"not UTF-8 text (byte 0x{data[exc.start]:02x}: {exc.reason})",
            where=f"{where}:{row}",
            hint="save it as UTF-8",
        ) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        problem, line = str(exc), ""
        found = _TOML_POSITION.search(problem)
        if found:
            last = text.rstrip("\n").count("\n") + 1  # "at end of document"
            problem, line = problem[: found.start()], f":{found['line'] or last}"
        raise ConfigError(f"invalid TOML: {problem}", where=f"{where}{line}") from None


MAX_SOURCE_DATE_EPOCH = 253402300799  # 9999-12-31T23:59:59Z, the last time RFC 3339 can write


def _source_date_epoch(
    env: Mapping[str, str], project: Mapping[str, Any], where: str
) -> int | None:
    """Whole seconds since 1970 (>= 0) from BUILDKIT_SOURCE_DATE_EPOCH or the file, or None."""
    from_env = env.get("BUILDKIT_SOURCE_DATE_EPOCH", "")
    raw: object = from_env or project.get("source_date_epoch")
    origin = "environment (BUILDKIT_SOURCE_DATE_EPOCH)" if from_env else where
    if raw is None:
        return None
    text = raw.strip() if isinstance(raw, str) else raw
    value: int | None = None
    if isinstance(text, str) and text.isascii() and text.isdigit():
        value = int(text)
    elif isinstance(text, int) and not isinstance(text, bool) and text >= 0:
        value = text
    if value is not None and value <= MAX_SOURCE_DATE_EPOCH:
        return value
    raise ConfigError(
        f"project.source_date_epoch must be whole seconds since 1970 (an integer >= 0), not {raw!r}"
        if value is None
        else f"project.source_date_epoch {value} is after 9999-12-31: image timestamps "
        "(RFC 3339) cannot say it",
        where=origin,
        hint=f"use whole seconds from 0 to {MAX_SOURCE_DATE_EPOCH}: "
        "`export BUILDKIT_SOURCE_DATE_EPOCH=$(git log -1 --format=%ct)` (the last commit's), or "
        "`unset BUILDKIT_SOURCE_DATE_EPOCH` for the newest locked package's time"
        if from_env
        else f"use whole seconds from 0 to {MAX_SOURCE_DATE_EPOCH} (the last commit's: "
        "git log -1 --format=%ct), or leave it unset for the newest locked package's time",
    )


def _engine(env: Mapping[str, str], tools: Mapping[str, Any], where: str) -> str:
    from_env = env.get("BUILDKIT_ENGINE", "")
    engine = from_env or _at(where, "tools").string(tools, "engine", default="auto")
    if engine not in {"auto", "docker", "podman"}:
        raise ConfigError(
            f"tools.engine must be auto, docker or podman, not {engine!r}",
            where="environment (BUILDKIT_ENGINE)" if from_env else where,
            hint="`export BUILDKIT_ENGINE=podman` (or docker, auto), or `unset BUILDKIT_ENGINE`"
            if from_env
            else None,
        )
    return engine


def load_project(root: Path | str = ".", env: Mapping[str, str] | None = None) -> ProjectConfig:
    """Read ``root/buildkit.toml`` (optional) and apply environment overrides."""
    env = os.environ if env is None else env
    given = str(root)
    root = Path(root).resolve()
    if not root.is_dir():
        if root.exists():
            beside = (root.parent / CONFIG_NAME).is_file()
            err = ConfigError(
                "the project folder is a file, not a folder",
                where=str(root),
                hint=f"pass -C the folder that holds {CONFIG_NAME}"
                + (f": -C {root.parent}" if beside else ""),
            )
            if beside:  # the command line's hint repeats the command with that folder
                err.correction = (given, str(root.parent))
            raise err
        raise ConfigError(
            "the project folder does not exist",
            where=str(root),
            hint="run `buildkit` in the folder with buildkit.toml, or name it with `-C DIR`",
        )
    path = root / CONFIG_NAME
    where = str(path)
    data = _read_toml(path)
    unknown = sorted(set(data) - set(_KNOWN))
    if unknown:
        raise ConfigError(
            f"unknown table [{unknown[0]}]",
            where=where,
            hint=_did_you_mean(unknown[0], _KNOWN) + f"known: {', '.join(_KNOWN)}",
        )
    project = _table(data, "project", where)
    tools = _table(data, "tools", where)
    publish = _table(data, "publish", where)
    paths = _table(data, "paths", where)
    scan = _table(data, "scan", where)
    limits = _table(data, "limits", where)

    try:
        archs = tuple(
            normalize_arch(a) for a in _at(where, "project").strings(project, "archs")
        ) or (
            "x86_64",
            "aarch64",
        )
    except BuildkitError as exc:
        raise ConfigError(exc.message, where=where, hint=exc.hint) from None
    sde = _source_date_epoch(env, project, where)
    engine = _engine(env, tools, where)
    allow_unpinned = _at(where, "tools").boolean(tools, "allow_unpinned", default=False)

    def rel(key: str, default: str) -> Path:
        return root / _at(where, "paths").string(paths, key, default=default)

    cache = Path(env["BUILDKIT_CACHE"]) if env.get("BUILDKIT_CACHE") else None
    tags = _tags(env, publish, where)
    signing = env.get("BUILDKIT_SIGNING") or _at(where, "publish").string(
        publish, "signing", default="key"
    )
    if signing not in SIGNING_MODES:
        raise ConfigError(
            f"publish.signing must be one of {', '.join(SIGNING_MODES)}, not {signing!r}",
            where="environment (BUILDKIT_SIGNING)" if env.get("BUILDKIT_SIGNING") else where,
        )
    return ProjectConfig(
        root=root,
        archs=archs,
        frameworks=_at(where, "project").strings(project, "frameworks"),
        source_date_epoch=sde,
        signing_key=root
        / _at(where, "project").string(project, "signing_key", default="keys/buildkit.rsa"),
        engine=engine,
        apko_image=env.get("BUILDKIT_APKO_IMAGE")
        or _at(where, "tools").string(tools, "apko", default=DEFAULT_APKO_IMAGE),
        melange_image=env.get("BUILDKIT_MELANGE_IMAGE")
        or _at(where, "tools").string(tools, "melange", default=DEFAULT_MELANGE_IMAGE),
        allow_unpinned=allow_unpinned,
        registry=env.get("BUILDKIT_REGISTRY")
        or _at(where, "publish").string(publish, "registry", default="127.0.0.1:5000"),
        repository=env.get("BUILDKIT_REPOSITORY")
        or _at(where, "publish").string(publish, "repository", default="buildkit"),
        tag=tags[0],
        tags=tags,
        arch_tags=_at(where, "publish").boolean(publish, "arch_tags", default=False),
        cosign_image=env.get("BUILDKIT_COSIGN_IMAGE")
        or _at(where, "tools").string(tools, "cosign", default=DEFAULT_COSIGN_IMAGE),
        crane_image=env.get("BUILDKIT_CRANE_IMAGE")
        or _at(where, "tools").string(tools, "crane", default=DEFAULT_CRANE_IMAGE),
        insecure_registries=_at(where, "publish").strings(publish, "insecure"),
        signing=signing,
        cosign_key=root
        / (
            env.get("BUILDKIT_COSIGN_KEY")
            or _at(where, "publish").string(publish, "cosign_key", default="keys/cosign.key")
        ),
        certificate_identity=env.get("BUILDKIT_CERTIFICATE_IDENTITY")
        or str(publish.get("certificate_identity", "")),
        certificate_oidc_issuer=_at(where, "publish").string(
            publish,
            "certificate_oidc_issuer",
            default="https://token.actions.githubusercontent.com",
        ),
        dist_dir=rel("dist", "dist"),
        packages_dir=rel("packages", "packages"),
        lockfiles_dir=rel("lockfiles", "lockfiles"),
        frameworks_dir=rel("frameworks", "frameworks"),
        cache_dir=Path(
            _at(where, "paths").string(paths, "cache", default=str(cache or default_cache_dir()))
        ),
        scan_databases=_databases(scan, where),
        scan_ignore=root
        / _at(where, "scan").string(scan, "ignore", default=".buildkit-scan-ignore.toml"),
        fetch_limits=_fetch_limits(env, limits, where),
        tool_timeout=_seconds(env, limits, "tool_timeout", "BUILDKIT_TOOL_TIMEOUT", where)
        or DEFAULT_TOOL_TIMEOUT,
        lock_memory_limit=_size(
            env, limits, "lock_memory_limit", "BUILDKIT_LOCK_MEMORY_LIMIT", where
        ),
    )


def _seconds(
    env: Mapping[str, str], limits: Mapping[str, Any], key: str, variable: str, where: str
) -> float | None:
    """A positive number of seconds from ``variable`` or ``[limits] key``; None when unset."""
    raw: object = env.get(variable) or limits.get(key)
    if raw is None:
        return None
    try:
        value = float(raw) if isinstance(raw, str | int | float) and raw is not True else -1.0
    except ValueError:
        value = -1.0
    if not value > 0 or value == float("inf"):
        raise ConfigError(
            f"limits.{key} must be a positive number of seconds, not {raw!r}",
            where=f"environment ({variable})" if env.get(variable) else where,
        )
    return value


def _size(
    env: Mapping[str, str], limits: Mapping[str, Any], key: str, variable: str, where: str
) -> int | None:
    """A positive size in bytes (``64M``, ``1G`` or a number) from ``variable`` or
    ``[limits] key``; None when unset."""
    raw: object = env.get(variable) or limits.get(key)
    if raw is None:
        return None
    try:
        return parse_size(str(raw) if isinstance(raw, str | int) and raw is not True else "")
    except ValueError:
        raise ConfigError(
            f"limits.{key} must be a positive size in bytes (e.g. 536870912, 512M, 2G), "
            f"not {raw!r}",
            where=f"environment ({variable})" if env.get(variable) else where,
        ) from None


def _fetch_limits(env: Mapping[str, str], limits: Mapping[str, Any], where: str) -> FetchLimits:
    defaults = FetchLimits()
    deadline = _seconds(env, limits, "fetch_timeout", "BUILDKIT_FETCH_TIMEOUT", where)
    sizes = {
        field_name: _size(env, limits, key, variable, where)
        for key, (variable, field_name) in _LIMITS.items()
        if key != "fetch_timeout"
    }
    return FetchLimits(
        deadline=deadline or defaults.deadline,
        index=sizes["index"] or defaults.index,
        key=sizes["key"] or defaults.key,
        package=sizes["package"] or defaults.package,
    )


def _databases(scan: Mapping[str, Any], where: str) -> tuple[tuple[str, str], ...]:
    value = _at(where, "scan").string_map(
        scan,
        "databases",
        hint='e.g. "https://packages.wolfi.dev/os" = "https://packages.wolfi.dev/os/security.json"',
    )
    return tuple((k.rstrip("/"), v) for k, v in value.items())
