"""apko image configurations (``frameworks/<name>.yaml``): load, validate, include, checksum.

Validation follows apko v1.2.x's ``ImageConfiguration`` (pkg/build/types), which apko decodes
with yaml.v3 in known-fields mode: an unknown key anywhere is an error, so it is one here too,
reported with its dotted path and ``file:line``. Scalars destined for string fields keep their
source text (``cmd: 1.10`` stays "1.10"), as yaml.v3 does.

``include`` follows apko: the included file is found relative to the working directory
(``base_dir``), then under each include path; it is deep-merged with the including file taking
precedence; the config checksum is ``sha256-`` + base64(SHA-256 over the including file's raw
bytes followed by each included file's bytes, in load order) — exactly what apko writes into
a lockfile's ``config.checksum`` and compares on ``apko build --lockfile``.
"""

from __future__ import annotations

import base64
import difflib
import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

import yaml

from buildkit.apk.arch import normalize_arch
from buildkit.apk.atom import parse_atom
from buildkit.errors import BuildkitError, ConfigError
from buildkit.fields import dotted, node_where, type_error
from buildkit.fsutil import read_input

# --------------------------------------------------------------------------------------------
# Schema: apko's ImageConfiguration as yaml.v3 sees it (yaml tag, else the lower-cased Go
# field name).

ScalarKind = Literal["string", "uint", "int", "bool", "arch", "atom", "repository"]


@dataclass(frozen=True)
class _Scalar:
    kind: ScalarKind


@dataclass(frozen=True)
class _List:
    item: _Spec


@dataclass(frozen=True)
class _StrMap:
    """map[string]string"""


@dataclass(frozen=True)
class _Struct:
    fields: Mapping[str, _Spec]


_Spec = _Scalar | _List | _StrMap | _Struct

_STR, _UINT, _INT, _BOOL = _Scalar("string"), _Scalar("uint"), _Scalar("int"), _Scalar("bool")
_STRS = _List(_STR)
_REPOS = _List(_Scalar("repository"))
_NAME_CONTENT = _Struct({"name": _STR, "content": _STR})

SCHEMA = _Struct(
    {
        "contents": _Struct(
            {
                "build_repositories": _REPOS,
                "runtime_repositories": _REPOS,
                "repositories": _REPOS,
                "keyring": _STRS,
                "runtime_keyring": _List(_NAME_CONTENT),
                "packages": _List(_Scalar("atom")),
                "baseimage": _Struct({"image": _STR, "apkindex": _STR}),
            }
        ),
        "entrypoint": _Struct(
            {"type": _STR, "command": _STR, "shell-fragment": _STR, "services": _StrMap()}
        ),
        "cmd": _STR,
        "stop-signal": _STR,
        "work-dir": _STR,
        "accounts": _Struct(
            {
                "run-as": _STR,
                "users": _List(
                    _Struct(
                        {
                            "username": _STR,
                            "uid": _UINT,
                            "gid": _UINT,
                            "shell": _STR,
                            "homedir": _STR,
                        }
                    )
                ),
                "groups": _List(_Struct({"groupname": _STR, "gid": _UINT, "members": _STRS})),
            }
        ),
        "archs": _List(_Scalar("arch")),
        "environment": _StrMap(),
        "paths": _List(
            _Struct(
                {
                    "path": _STR,
                    "type": _STR,
                    "uid": _UINT,
                    "gid": _UINT,
                    "permissions": _UINT,
                    "source": _STR,
                    "recursive": _BOOL,
                }
            )
        ),
        "vcs-url": _STR,
        "annotations": _StrMap(),
        "include": _STR,
        "volumes": _STRS,
        "layering": _Struct({"strategy": _STR, "budget": _INT}),
        "format": _STR,
        "certificates": _Struct({"additional": _List(_NAME_CONTENT), "providers": _STRS}),
    }
)

_FORMATS = ("tar", "erofs")
_NULL = "tag:yaml.org,2002:null"
_MERGE = "tag:yaml.org,2002:merge"
_TRUE = frozenset({"true", "yes", "on", "y"})
_FALSE = frozenset({"false", "no", "off", "n"})
_OCTAL = re.compile(r"[+-]?0[0-7_]+")

# --------------------------------------------------------------------------------------------
# Records


@dataclass(frozen=True, kw_only=True)
class Repository:
    """One repository line: ``https://packages.wolfi.dev/os`` or ``@local ./packages``."""

    url: str  # path or URL without the tag, trailing "/" removed (apko's trimRepos)
    tag: str | None = None  # "local" for "@local ./packages"

    @property
    def is_remote(self) -> bool:
        return self.url.startswith(("http://", "https://"))

    def __str__(self) -> str:
        return f"@{self.tag} {self.url}" if self.tag else self.url


@dataclass(frozen=True, kw_only=True)
class Contents:
    keyring: tuple[str, ...] = ()  # key paths or URLs, as written
    repositories: tuple[Repository, ...] = ()
    build_repositories: tuple[Repository, ...] = ()
    runtime_repositories: tuple[Repository, ...] = ()
    packages: tuple[str, ...] = ()  # dependency atoms, as written


@dataclass(frozen=True, kw_only=True)
class Framework:
    """A loaded, validated, include-merged apko config."""

    name: str  # the framework's name: the config file's stem ("java17")
    config_name: str  # the config path as given; apko writes it to the lock's config.name
    path: Path  # where the config was read from
    checksum: str  # "sha256-<b64>", apko's deep config checksum
    archs: tuple[str, ...]  # apk arch names, config order (buildkit.toml's when not set)
    contents: Contents
    includes: tuple[Path, ...] = ()  # included files, in load order
    document: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def resolution_repositories(self) -> tuple[Repository, ...]:
        """Repositories packages are resolved from: build and plain ones (not runtime-only),
        de-duplicated and sorted by their text, as apko's initializeApk orders them."""
        found = self.contents.build_repositories + self.contents.repositories
        return tuple(sorted(set(found), key=str))


# --------------------------------------------------------------------------------------------
# Loading


def load_framework(
    config: str | Path,
    *,
    base_dir: Path,
    include_paths: Sequence[str | Path] = (),
    default_archs: Sequence[str] = ("x86_64", "aarch64"),
    name: str | None = None,
) -> Framework:
    """Load ``config`` as apko would from working directory ``base_dir``."""
    config_name = str(config)
    hasher = hashlib.sha256()
    path, document, includes = _load_tree(config_name, base_dir, include_paths, hasher, ())
    where = _display(path, base_dir)
    contents = _contents(document.get("contents", {}), where)
    archs = tuple(dict.fromkeys(document.get("archs") or ())) or tuple(
        dict.fromkeys(normalize_arch(arch) for arch in default_archs)
    )
    fmt = document.get("format", "")
    if fmt and fmt not in _FORMATS:
        raise ConfigError(
            f"invalid format {fmt!r}", where=where, hint=f"use one of {', '.join(_FORMATS)}"
        )
    return Framework(
        name=name or Path(config_name).name.removesuffix(".yml").removesuffix(".yaml"),
        config_name=config_name,
        path=path,
        checksum="sha256-" + base64.b64encode(hasher.digest()).decode("ascii"),
        archs=archs,
        contents=contents,
        includes=includes,
        document=MappingProxyType(document),
    )


def resolve_path(path: str, base_dir: Path, include_paths: Sequence[str | Path]) -> Path | None:
    """apko's paths.ResolvePath: ``path`` from the working directory, else each include path."""
    for prefix in (Path(), *(Path(p) for p in include_paths)):
        candidate = base_dir / prefix / path
        if candidate.exists():
            return candidate
    return None


def _load_tree(
    config: str,
    base_dir: Path,
    include_paths: Sequence[str | Path],
    hasher: Any,
    chain: tuple[Path, ...],
) -> tuple[Path, dict[str, Any], tuple[Path, ...]]:
    """Read one file and, recursively, what it includes; feed the hasher in apko's order."""
    where_from = _display(chain[-1], base_dir) if chain else None
    path = resolve_path(config, base_dir, include_paths)
    if path is None:
        raise ConfigError(
            f"config file {config} not found",
            where=where_from or str(base_dir / config),
            hint="paths are relative to the project root (then each include path)",
        )
    if path.resolve() in chain:
        raise ConfigError(f"include cycle through {config}", where=where_from)
    try:
        raw = read_input(path, "config")
    except OSError as exc:
        raise ConfigError(f"cannot read config: {exc.strerror}", where=str(path)) from None
    hasher.update(raw)
    document = parse_config(raw, where=_display(path, base_dir))
    include = document.get("include", "")
    if not include:
        return path, document, ()
    _, included, nested = _load_tree(
        include, base_dir, include_paths, hasher, (*chain, path.resolve())
    )
    merged = merge_configs(included, document)
    return path, merged, (resolve_path(include, base_dir, include_paths) or Path(include), *nested)


def _display(path: Path, base_dir: Path) -> str:
    try:
        return str(path.resolve().relative_to(base_dir.resolve()))
    except ValueError:
        return str(path)


# --------------------------------------------------------------------------------------------
# Parsing and validation: pure, bytes in, values out


def yaml_error(exc: yaml.YAMLError, where: str, data: bytes = b"") -> ConfigError:
    """One line for a YAML syntax error: the file, the line when PyYAML knows it, the problem.
    ``data``: the bytes parsed, to turn a byte offset (bad UTF-8) into a line number."""
    if isinstance(exc, yaml.reader.ReaderError):  # bad UTF-8 or a control character
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as bad:
            return ConfigError(
                f"not valid UTF-8: byte 0x{data[bad.start]:02x} ({bad.reason})",
                where=f"{where}:{_line_of(data, bad.start)}",
                hint="save the file as UTF-8",
            )
        line = f":{_line_of(data, exc.position)}" if data else ""
        return ConfigError(f"invalid YAML: {exc.reason}", where=f"{where}{line}")
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = exc.problem or exc.context or "syntax error"
        return ConfigError(f"invalid YAML: {problem}", where=f"{where}{line}")
    return ConfigError(f"invalid YAML: {exc}", where=where)


def _line_of(data: bytes, offset: int) -> int:
    return data[:offset].count(b"\n") + 1


def parse_config(data: bytes, *, where: str) -> dict[str, Any]:
    """Validate one config file's bytes against the schema; return plain Python values."""
    try:
        node = yaml.compose(data, Loader=yaml.CSafeLoader)
    except yaml.YAMLError as exc:
        raise yaml_error(exc, where, data) from None
    if node is None or _is_null(node):
        raise ConfigError("the config is empty", where=where, hint="see apko's examples/")
    if not isinstance(node, yaml.MappingNode):
        raise ConfigError("the config must be a mapping of keys", where=node_where(where, node))
    result: dict[str, Any] = _convert(node, SCHEMA, "", where)
    return result


def _is_null(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.tag == _NULL


def _convert(node: yaml.Node, spec: _Spec, path: str, where: str) -> Any:
    if isinstance(spec, _Scalar):
        return _scalar(node, spec.kind, path, where)
    if _is_null(node):
        return {} if isinstance(spec, _Struct | _StrMap) else []
    if isinstance(spec, _List):
        if not isinstance(node, yaml.SequenceNode):
            raise type_error(node, path, "a list", where)
        return [
            _convert(item, spec.item, f"{path}[{n}]", where) for n, item in enumerate(node.value)
        ]
    if not isinstance(node, yaml.MappingNode):
        raise type_error(node, path, "a mapping", where)
    if isinstance(spec, _StrMap):
        return {
            name: _scalar(value, "string", dotted(path, name), where)
            for name, _key_node, value in _pairs(node, path, where)
        }
    return _struct(node, spec, path, where)


def _struct(node: yaml.MappingNode, spec: _Struct, path: str, where: str) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, key_node, value in _pairs(node, path, where):
        field = dotted(path, key)
        if key not in spec.fields:
            close = difflib.get_close_matches(key, list(spec.fields), n=1)
            raise ConfigError(
                f"unknown key {field}",
                where=node_where(where, key_node),
                hint=(f"did you mean {close[0]}? " if close else "")
                + f"known keys{' in ' + path if path else ''}: {', '.join(spec.fields)}",
            )
        result[key] = _convert(value, spec.fields[key], field, where)
    return result


def _pairs(node: yaml.MappingNode, path: str, where: str) -> list[tuple[str, yaml.Node, yaml.Node]]:
    """(name, key node, value node), YAML merge keys (``<<: *base``) expanded; no duplicates."""
    explicit: dict[str, tuple[str, yaml.Node, yaml.Node]] = {}
    inherited: dict[str, tuple[str, yaml.Node, yaml.Node]] = {}
    for key, value in node.value:
        if key.tag == _MERGE:
            sources = value.value if isinstance(value, yaml.SequenceNode) else [value]
            for source in sources:
                if not isinstance(source, yaml.MappingNode):
                    raise type_error(source, dotted(path, "<<"), "a mapping", where)
                for pair in _pairs(source, path, where):
                    inherited.setdefault(pair[0], pair)
            continue
        name = _key(key, path, where)
        if name in explicit:
            raise ConfigError(
                f"duplicate key {dotted(path, name)}",
                where=node_where(where, key),
                hint=f"first defined on line {explicit[name][1].start_mark.line + 1}",
            )
        explicit[name] = (name, key, value)
    return [pair for name, pair in inherited.items() if name not in explicit] + list(
        explicit.values()
    )


def _key(node: yaml.Node, path: str, where: str) -> str:
    if not isinstance(node, yaml.ScalarNode):
        raise ConfigError(
            f"keys must be plain strings{' in ' + path if path else ''}",
            where=node_where(where, node),
        )
    return str(node.value)


def _scalar(node: yaml.Node, kind: ScalarKind, path: str, where: str) -> Any:
    if not isinstance(node, yaml.ScalarNode):
        raise type_error(node, path, _EXPECTED[kind], where)
    text = str(node.value)
    if node.tag == _NULL:
        if kind != "atom":
            return _ZERO[kind]
        text = ""  # an empty list entry installs nothing: apk would reject it
    try:
        return _SCALARS[kind](text)
    except BuildkitError as err:
        if kind in ("atom", "repository"):  # its parser says precisely what is wrong
            raise ConfigError(
                f"{path}: {err.message}", where=node_where(where, node), hint=err.hint
            ) from None
        raise ConfigError(
            f"{path} must be {_EXPECTED[kind]}, not {text!r}",
            where=node_where(where, node),
            hint=_HINTS.get(kind),
        ) from None
    except ValueError:
        raise ConfigError(
            f"{path} must be {_EXPECTED[kind]}, not {text!r}",
            where=node_where(where, node),
            hint=_HINTS.get(kind),
        ) from None


def _parse_uint(text: str) -> int:
    value = _parse_int(text)
    if not 0 <= value < 2**32:
        raise ValueError(text)
    return value


def _parse_int(text: str) -> int:
    # yaml.v3 reads integers with Go's strconv base 0: 0x.., 0o.., 0b.., and 0755 octal.
    if _OCTAL.fullmatch(text):
        return int(text.replace("_", ""), 8)
    return int(text, 0)


def _check_atom(text: str) -> str:
    """A package to install, kept as written once apk's atom grammar accepts it."""

    parse_atom(text)
    return text


# Repository URL schemes buildkit (and apko) can read; anything else would be taken for a path.
REPOSITORY_SCHEMES = ("http", "https", "file")
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):(//)?")


def _check_repository(text: str) -> str:
    """A repository line (``url`` or ``@tag url``), kept as written once its URL scheme, if it
    has one, is one buildkit can read."""
    words = text.split()
    location = words[-1] if words else text
    found = _SCHEME.match(location)
    if found and (found.group(2) or found.group(1).lower() == "file"):
        scheme = found.group(1).lower()
        if scheme not in REPOSITORY_SCHEMES or (scheme == "file" and not found.group(2)):
            raise ConfigError(
                f"unsupported repository URL {location!r} (scheme {found.group(1)}:)",
                hint="use an http:// or https:// URL, file:///absolute/path, or a path "
                "relative to the project root",
            )
    return text


def _parse_bool(text: str) -> bool:
    if text.lower() in _TRUE:
        return True
    if text.lower() in _FALSE:
        return False
    raise ValueError(text)


_SCALARS: Mapping[ScalarKind, Any] = {
    "string": str,
    "uint": _parse_uint,
    "int": _parse_int,
    "bool": _parse_bool,
    "arch": normalize_arch,
    "atom": _check_atom,
    "repository": _check_repository,
}
_ZERO: Mapping[ScalarKind, Any] = {
    "string": "",
    "uint": 0,
    "int": 0,
    "bool": False,
    "arch": "",
    "repository": "",
}
_EXPECTED: Mapping[ScalarKind, str] = {
    "string": "a string",
    "uint": "a non-negative integer below 2^32",
    "int": "an integer",
    "bool": "true or false",
    "arch": "an architecture",
    "atom": "a package atom",
    "repository": "a repository path or URL",
}
_HINTS: Mapping[ScalarKind, str] = {
    "arch": "use x86_64, aarch64 (or amd64, arm64), x86, armhf, armv7, ppc64le, riscv64, s390x",
}


# --------------------------------------------------------------------------------------------
# include: apko's ImageConfiguration.MergeInto (the including file wins)

_FIRST_SET = ("cmd", "stop-signal", "work-dir", "layering", "format", "certificates", "archs")
_CONCAT = ("paths", "volumes")
_CONTENT_LISTS = (
    "keyring",
    "runtime_keyring",
    "build_repositories",
    "runtime_repositories",
    "repositories",
    "packages",
)


def merge_configs(included: Mapping[str, Any], target: Mapping[str, Any]) -> dict[str, Any]:
    """Merge ``included`` into ``target`` as apko does; returns a new document."""
    merged = dict(target)
    if not any(target.get("entrypoint", {}).values()):
        _copy(included, merged, "entrypoint")
    for key in _FIRST_SET:
        if not target.get(key):
            _copy(included, merged, key)
    for key in _CONCAT:
        _concat(included, target, merged, key)
    for key in ("environment", "annotations"):
        if key in included or key in target:
            merged[key] = {**included.get(key, {}), **target.get(key, {})}
    if "accounts" in included or "accounts" in target:
        merged["accounts"] = _merge_accounts(
            included.get("accounts", {}), target.get("accounts", {})
        )
    if "contents" in included or "contents" in target:
        merged["contents"] = _merge_contents(
            included.get("contents", {}), target.get("contents", {})
        )
    return merged


def _copy(source: Mapping[str, Any], target: dict[str, Any], key: str) -> None:
    if key in source:
        target[key] = source[key]


def _concat(
    first: Mapping[str, Any], second: Mapping[str, Any], out: dict[str, Any], key: str
) -> None:
    if key in first or key in second:
        out[key] = [*first.get(key, []), *second.get(key, [])]


def _merge_accounts(included: Mapping[str, Any], target: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(target)
    if not target.get("run-as"):
        _copy(included, merged, "run-as")
    for key in ("users", "groups"):
        _concat(included, target, merged, key)
    return merged


def _merge_contents(included: Mapping[str, Any], target: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(target)
    for key in _CONTENT_LISTS:
        _concat(included, target, merged, key)
    if not target.get("baseimage"):
        _copy(included, merged, "baseimage")
    return merged


# --------------------------------------------------------------------------------------------
# contents


def parse_repository(text: str, *, where: str) -> Repository:
    """``url`` or ``@tag url`` (apko's processRepositoryURLs), trailing "/" trimmed."""
    parts = text.split()
    if len(parts) == 2 and parts[0].startswith("@") and len(parts[0]) > 1:
        return Repository(url=parts[1].rstrip("/"), tag=parts[0][1:])
    if len(parts) == 1 and not parts[0].startswith("@"):
        return Repository(url=parts[0].rstrip("/"))
    raise ConfigError(
        f"invalid repository {text!r}",
        where=where,
        hint="write a path or URL, or '@tag path-or-url' for a tagged repository",
    )


def _contents(raw: Mapping[str, Any], where: str) -> Contents:
    def repos(key: str) -> tuple[Repository, ...]:
        return tuple(parse_repository(text, where=where) for text in raw.get(key, []))

    return Contents(
        keyring=tuple(raw.get("keyring", [])),
        repositories=repos("repositories"),
        build_repositories=repos("build_repositories"),
        runtime_repositories=repos("runtime_repositories"),
        packages=tuple(raw.get("packages", [])),
    )


def key_name(keyring_entry: str) -> str:
    """The file name a keyring entry is known by (``wolfi-signing.rsa.pub``)."""
    return keyring_entry.rstrip("/").rsplit("/", 1)[-1]
