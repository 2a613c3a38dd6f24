"""apko's lock format, version "v1": model, canonical JSON, atomic read/write, diff.

The JSON is what ``apko lock`` writes (pkg/lock in apko: Go's ``json.MarshalIndent`` with two
spaces plus a trailing newline), byte for byte: keys in struct order, ``<``, ``>`` and ``&``
escaped as Go escapes them, non-ASCII left as UTF-8. ``apko build --lockfile`` and rules_apko
consume it. Packages are listed arch by arch, each arch in install order.

The model is pure (``from_dict`` / ``to_dict`` / ``to_json``); only :func:`read_lockfile` and
:func:`write_lockfile` touch the disk.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

from buildkit.apk.arch import APK_ARCHES
from buildkit.apk.version import compare_versions
from buildkit.errors import BuildkitError, LockError
from buildkit.fsutil import InputRejectedError, atomic_write_bytes, read_input
from buildkit.hints import lock_command, missing_lockfile

LOCK_VERSION = "v1"
_T = TypeVar("_T")
_RANGE = re.compile(r"bytes=(\d+)-(\d+)")


def _hint(where: str) -> str:
    """Regenerate the lockfile of the framework it belongs to (``lockfiles/<name>.lock.json``)."""

    name = Path(where.split(":", 1)[0]).name
    framework = name.removesuffix(".lock.json")
    return (
        f"regenerate it with `{lock_command(framework) if framework != name else lock_command()}`"
    )


# Go's encoding/json escapes these inside strings (HTML safety); Python's json does not.
_GO_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028"}
_GO_ESCAPES["\u2029"] = "\\u2029"
_GO_ESCAPE_RE = re.compile("[<>&\u2028\u2029]")


# --------------------------------------------------------------------------------------------
# Model


@dataclass(frozen=True, kw_only=True)
class LockRange:
    """One member of an .apk: ``bytes=a-b`` (inclusive) and its checksum."""

    range: str  # "" for the signature of an unsigned package
    checksum: str  # "sha1-<b64>" (signature, control) or "sha256-<b64>" (data)

    def bounds(self) -> tuple[int, int] | None:
        """(start, end) inclusive, or None when empty."""
        match = _RANGE.fullmatch(self.range)
        return (int(match[1]), int(match[2])) if match else None


UNSIGNED = LockRange(range="", checksum="")


@dataclass(frozen=True, kw_only=True)
class LockedPackage:
    name: str
    url: str  # "<repo>/<arch>/<name>-<version>.apk" (repo as written, tag removed)
    version: str
    architecture: str  # apk arch
    signature: LockRange
    control: LockRange
    data: LockRange
    checksum: str  # "Q1<b64 sha1 of the control member>" == index C:


@dataclass(frozen=True, kw_only=True)
class LockKey:
    name: str  # the keyring entry without its URL scheme
    url: str  # the keyring entry as written in the config
    content: str = ""  # the PEM


@dataclass(frozen=True, kw_only=True)
class LockRepo:
    name: str  # "<repo>/<arch>" without URL scheme or tag
    url: str  # "<repo>/<arch>/APKINDEX.tar.gz"
    architecture: str


@dataclass(frozen=True, kw_only=True)
class LockConfig:
    name: str  # the config path as given to the locker
    checksum: str  # "sha256-<b64>" over the config and its includes


@dataclass(frozen=True, kw_only=True)
class Lockfile:
    version: str = LOCK_VERSION
    config: LockConfig | None = None
    keyring: tuple[LockKey, ...] = ()
    build_repositories: tuple[LockRepo, ...] = ()
    runtime_repositories: tuple[LockRepo, ...] = ()
    repositories: tuple[LockRepo, ...] = ()
    packages: tuple[LockedPackage, ...] = ()

    def packages_for(self, arch: str) -> tuple[LockedPackage, ...]:
        """The packages for one apk arch, in install order."""
        return tuple(p for p in self.packages if p.architecture == arch)

    def archs(self) -> tuple[str, ...]:
        """The archs the lock covers, in file order (repositories first, then packages)."""
        found = [r.architecture for r in self.repositories + self.build_repositories]
        found += [p.architecture for p in self.packages]
        return tuple(dict.fromkeys(found))

    def pins(self, arch: str) -> dict[str, str]:
        """name -> version for one arch."""
        return {p.name: p.version for p in self.packages_for(arch)}

    def to_dict(self) -> dict[str, Any]:
        result: dict[str, Any] = {"version": self.version}
        if self.config is not None:
            config = {"name": self.config.name, "checksum": self.config.checksum}
            result["config"] = {k: v for k, v in config.items() if v}  # Go's omitempty
        result["contents"] = {
            "keyring": [_key_dict(key) for key in self.keyring],
            "build_repositories": [_repo_dict(r) for r in self.build_repositories],
            "runtime_repositories": [_repo_dict(r) for r in self.runtime_repositories],
            "repositories": [_repo_dict(r) for r in self.repositories],
            "packages": [_package_dict(p) for p in self.packages],
        }
        return result

    def to_json(self) -> bytes:
        """The canonical bytes, identical to what ``apko lock`` writes for the same lock."""
        text = json.dumps(self.to_dict(), indent=2, ensure_ascii=False)
        text = _GO_ESCAPE_RE.sub(lambda m: _GO_ESCAPES[m[0]], text)
        return (text + "\n").encode("utf-8")

    @classmethod
    def from_dict(cls, data: object, *, where: str = "lockfile") -> Lockfile:
        """Validate a decoded lockfile; errors name the dotted location of the bad value."""
        return _Reader(where).lockfile(data)

    @classmethod
    def from_json(cls, data: bytes, *, where: str = "lockfile") -> Lockfile:
        try:
            decoded = json.loads(data)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            line = f":{exc.lineno}" if isinstance(exc, json.JSONDecodeError) else ""
            raise LockError(
                f"invalid JSON: {exc}", where=f"{where}{line}", hint=_hint(where)
            ) from None
        except RecursionError:  # ``[[[[...]]]]``: Python's parser gives up, not a lockfile
            raise LockError(
                "not a lockfile: nested too deeply (a lockfile is 5 levels deep)",
                where=where,
                hint=_hint(where),
            ) from None
        return cls.from_dict(decoded, where=where)


def _key_dict(key: LockKey) -> dict[str, str]:
    result = {"name": key.name, "url": key.url}
    if key.content:
        result["content"] = key.content
    return result


def _repo_dict(repo: LockRepo) -> dict[str, str]:
    return {"name": repo.name, "url": repo.url, "architecture": repo.architecture}


def _range_dict(value: LockRange) -> dict[str, str]:
    return {"range": value.range, "checksum": value.checksum}


def _package_dict(pkg: LockedPackage) -> dict[str, Any]:
    return {
        "name": pkg.name,
        "url": pkg.url,
        "version": pkg.version,
        "architecture": pkg.architecture,
        "signature": _range_dict(pkg.signature),
        "control": _range_dict(pkg.control),
        "data": _range_dict(pkg.data),
        "checksum": pkg.checksum,
    }


# --------------------------------------------------------------------------------------------
# Reading: one small validator per type, each error naming e.g. contents.packages[3].data.range


class _Reader:
    def __init__(self, where: str) -> None:
        self.where = where

    def fail(self, loc: str, message: str) -> LockError:
        return LockError(f"{loc}: {message}", where=self.where, hint=_hint(self.where))

    def mapping(
        self, value: object, loc: str, keys: Sequence[str], optional: Sequence[str] = ()
    ) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(loc, f"expected an object, found {_kind(value)}")
        unknown = [k for k in value if k not in keys]
        if unknown:
            raise self.fail(_join(loc, unknown[0]), f"unknown key (known: {', '.join(keys)})")
        missing = [k for k in keys if k not in value and k not in optional]
        if missing:
            raise self.fail(_join(loc, missing[0]), "missing")
        return value

    def string(
        self,
        value: object,
        loc: str,
        check: Callable[[str], bool] | None = None,
        expected: str = "",
    ) -> str:
        if not isinstance(value, str):
            raise self.fail(loc, f"expected a string, found {_kind(value)}")
        if check is not None and not check(value):
            raise self.fail(loc, f"expected {expected}, found {value!r}")
        return value

    def items(self, value: object, loc: str) -> list[Any]:
        if not isinstance(value, list):
            raise self.fail(loc, f"expected a list, found {_kind(value)}")
        return value

    def lockfile(self, data: object) -> Lockfile:
        top = self.mapping(data, "", ("version", "config", "contents"), optional=("config",))
        version = self.string(top["version"], "version")
        if version != LOCK_VERSION:
            raise self.fail("version", f"unsupported lockfile version {version!r} (expected v1)")
        config = None
        if "config" in top:
            raw = self.mapping(top["config"], "config", ("name", "checksum"), ("name", "checksum"))
            config = LockConfig(
                name=self.string(raw.get("name", ""), "config.name"),
                checksum=self.string(raw.get("checksum", ""), "config.checksum"),
            )
        names = ("keyring", "build_repositories", "runtime_repositories", "repositories")
        contents = self.mapping(top["contents"], "contents", (*names, "packages"))
        return Lockfile(
            version=version,
            config=config,
            keyring=self.each(contents, "keyring", self.key),
            build_repositories=self.each(contents, "build_repositories", self.repo),
            runtime_repositories=self.each(contents, "runtime_repositories", self.repo),
            repositories=self.each(contents, "repositories", self.repo),
            packages=self.each(contents, "packages", self.package),
        )

    def each(
        self, contents: Mapping[str, Any], name: str, read: Callable[[object, str], _T]
    ) -> tuple[_T, ...]:
        loc = f"contents.{name}"
        # Go marshals a nil slice as null; apko never writes one, but tolerate it on read.
        raw = [] if contents[name] is None else self.items(contents[name], loc)
        return tuple(read(item, f"{loc}[{n}]") for n, item in enumerate(raw))

    def key(self, value: object, loc: str) -> LockKey:
        raw = self.mapping(value, loc, ("name", "url", "content"), optional=("content",))
        return LockKey(
            name=self.string(raw["name"], f"{loc}.name", bool, "a key name"),
            url=self.string(raw["url"], f"{loc}.url", bool, "a key path or URL"),
            content=self.string(raw.get("content", ""), f"{loc}.content"),
        )

    def repo(self, value: object, loc: str) -> LockRepo:
        raw = self.mapping(value, loc, ("name", "url", "architecture"))
        return LockRepo(
            name=self.string(raw["name"], f"{loc}.name", bool, "a repository"),
            url=self.string(raw["url"], f"{loc}.url", _is_index_url, ".../APKINDEX.tar.gz"),
            architecture=self.arch(raw["architecture"], f"{loc}.architecture"),
        )

    def package(self, value: object, loc: str) -> LockedPackage:
        keys = ("name", "url", "version", "architecture", "signature", "control", "data")
        raw = self.mapping(value, loc, (*keys, "checksum"))
        return LockedPackage(
            name=self.string(raw["name"], f"{loc}.name", bool, "a package name"),
            url=self.string(raw["url"], f"{loc}.url", _is_apk_url, "a URL ending in .apk"),
            version=self.string(raw["version"], f"{loc}.version", bool, "a version"),
            architecture=self.arch(raw["architecture"], f"{loc}.architecture"),
            signature=self.range(raw["signature"], f"{loc}.signature", "sha1-", optional=True),
            control=self.range(raw["control"], f"{loc}.control", "sha1-"),
            data=self.range(raw["data"], f"{loc}.data", "sha256-"),
            checksum=self.string(
                raw["checksum"], f"{loc}.checksum", _is_identity, "an apk identity 'Q1...'"
            ),
        )

    def range(self, value: object, loc: str, prefix: str, *, optional: bool = False) -> LockRange:
        raw = self.mapping(value, loc, ("range", "checksum"))
        empty = optional and raw["range"] == "" and raw["checksum"] == ""
        if empty:
            return UNSIGNED
        return LockRange(
            range=self.string(raw["range"], f"{loc}.range", _is_range, "'bytes=<start>-<end>'"),
            checksum=self.string(
                raw["checksum"], f"{loc}.checksum", _checksum_check(prefix), f"'{prefix}<base64>'"
            ),
        )

    def arch(self, value: object, loc: str) -> str:
        return self.string(
            value, loc, APK_ARCHES.__contains__, f"an apk arch ({', '.join(APK_ARCHES)})"
        )


def _kind(value: object) -> str:
    kinds: Mapping[type, str] = {
        dict: "an object",
        list: "a list",
        str: "a string",
        bool: "a boolean",
    }
    if value is None:
        return "null"
    return kinds.get(type(value), "a number")


def _join(loc: str, key: str) -> str:
    return f"{loc}.{key}" if loc else key


def _is_range(text: str) -> bool:
    match = _RANGE.fullmatch(text)
    return match is not None and int(match[1]) <= int(match[2])


def _checksum_check(prefix: str) -> Callable[[str], bool]:
    return lambda text: text.startswith(prefix) and len(text) > len(prefix)


def _is_identity(text: str) -> bool:
    return text.startswith("Q1") and len(text) == 30


def _is_index_url(text: str) -> bool:
    return text.endswith("/APKINDEX.tar.gz")


def _is_apk_url(text: str) -> bool:
    return text.endswith(".apk")


# --------------------------------------------------------------------------------------------
# Files


def read_lockfile(path: Path) -> Lockfile:
    """Read and validate ``path``; LockError (missing, unreadable, malformed) names it."""
    try:
        data = read_input(path, "lockfile")
    except FileNotFoundError:
        raise missing_lockfile(path.name.removesuffix(".lock.json"), path) from None
    except InputRejectedError as exc:
        raise too_large(path, exc) if exc.reason else _cannot_read(path, exc) from None
    except OSError as exc:
        raise _cannot_read(path, exc) from None
    return Lockfile.from_json(data, where=str(path))


def _cannot_read(path: Path, exc: OSError) -> LockError:
    return LockError(f"cannot read lockfile: {exc.strerror}", where=str(path))


def too_large(path: Path, exc: InputRejectedError) -> LockError:
    """A lockfile over its size limit (``BUILDKIT_MAX_LOCKFILE_SIZE``): lock it again, or raise
    the limit when it is genuine."""
    return LockError(
        f"cannot read lockfile: {exc.reason}",
        where=str(path),
        hint=f"{_hint(str(path))}, or raise {exc.variable} if it is genuine",
    )


def write_lockfile(path: Path, lock: Lockfile) -> None:
    """Replace ``path`` atomically with the canonical bytes of ``lock``."""
    atomic_write_bytes(path, lock.to_json())


# --------------------------------------------------------------------------------------------
# Diff

ChangeKind = Literal["added", "removed", "upgraded", "downgraded", "changed", "rebuilt"]


@dataclass(frozen=True, kw_only=True)
class PackageChange:
    """One package on one arch whose lock entry differs between two lockfiles."""

    package: str
    arch: str
    old: str | None  # version; None when added
    new: str | None  # version; None when removed
    old_checksum: str = ""
    new_checksum: str = ""

    @property
    def kind(self) -> ChangeKind:
        if self.old is None:
            return "added"
        if self.new is None:
            return "removed"
        if self.old == self.new:
            return "rebuilt"  # same version, different bytes (or different ranges)
        return _direction(self.old, self.new)

    def __str__(self) -> str:
        return f"{self.package} ({self.arch}): {self.old or '-'} -> {self.new or '-'}"


def _direction(old: str, new: str) -> ChangeKind:
    try:
        order = compare_versions(old, new)
    except BuildkitError:  # an invalid version: still a change, just not an ordered one
        return "changed"
    return "upgraded" if order < 0 else "downgraded" if order > 0 else "changed"


def diff(old: Lockfile | None, new: Lockfile) -> list[PackageChange]:
    """Package changes from ``old`` to ``new`` (None = no lockfile yet), arch by arch."""
    before = _by_key(old.packages if old else ())
    after = _by_key(new.packages)
    changes: list[PackageChange] = []
    for key in dict.fromkeys([*after, *before]):
        was, now = before.get(key), after.get(key)
        if was == now:
            continue
        changes.append(
            PackageChange(
                package=key[1],
                arch=key[0],
                old=was.version if was else None,
                new=now.version if now else None,
                old_checksum=was.checksum if was else "",
                new_checksum=now.checksum if now else "",
            )
        )
    return changes


def _by_key(packages: Sequence[LockedPackage]) -> dict[tuple[str, str], LockedPackage]:
    return {(p.architecture, p.name): p for p in packages}


def describe_differences(old: Lockfile, new: Lockfile) -> list[str]:
    """What differs outside the package entries (config, keyring, repositories, order)."""
    notes: list[str] = []
    if old.version != new.version:
        notes.append(f"version: {old.version} -> {new.version}")
    if old.config != new.config:
        notes.append(_config_note(old.config, new.config))
    if old.keyring != new.keyring:
        notes.append("keyring: " + _list_change(_keys(old.keyring), _keys(new.keyring)))
    for label in ("repositories", "build_repositories", "runtime_repositories"):
        was, now = getattr(old, label), getattr(new, label)
        if was != now:
            notes.append(f"{label}: " + _list_change(_repos(was), _repos(now)))
    if not diff(old, new) and old.packages != new.packages:
        notes.append("packages: same entries, different install order")
    return notes


def _keys(keys: Sequence[LockKey]) -> dict[str, str]:
    return {key.url: f"{key.name} {key.content}" for key in keys}


def _repos(repos: Sequence[LockRepo]) -> dict[str, str]:
    return {f"{repo.name} ({repo.architecture})": repo.url for repo in repos}


def _config_note(old: LockConfig | None, new: LockConfig | None) -> str:
    if old is None or new is None:
        return "config: checksum missing"
    if old.name != new.name:
        return f"config: name {old.name} -> {new.name}"
    return f"config: checksum {old.checksum} -> {new.checksum} (the config or an include changed)"


def _list_change(old: Mapping[str, str], new: Mapping[str, str]) -> str:
    parts = [f"+{name}" for name in new if name not in old]
    parts += [f"-{name}" for name in old if name not in new]
    parts += [f"~{name} changed" for name in new if name in old and old[name] != new[name]]
    return ", ".join(parts) or "order changed"
