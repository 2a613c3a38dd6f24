"""Security databases that APK distributions publish for scanners (pure: bytes in, records out).

One schema, two spellings: Wolfi's and Chainguard's ``security.json`` and Alpine's secdb
(``https://secdb.alpinelinux.org/<version>/<repo>.json``, or the YAML form of the same data)::

    {"reponame": "os", "urlprefix": "...", "archs": [...], "apkurl": "...",
     "packages": [{"pkg": {"name": "busybox", "secfixes": {"1.35.0-r3": ["CVE-2022-28391"]}}}]}

``secfixes`` maps a version to the ids fixed in it: a package older than that version is
affected by those ids. The key ``"0"`` means never affected (the distribution's statement that
the id does not apply). Ids are kept exactly as written (``CVE-``, ``GHSA-``, ``GO-``,
``RUSTSEC-``...). ``name`` is the origin (source package) in Alpine's database; Wolfi's is
keyed the same way, so a subpackage is matched through its origin.

Versions are kept as text here and compared by :mod:`buildkit.scan.match` with the exact apk
rules: loading a 100k-entry database must not pay for parsing versions nobody asks about.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import yaml

from buildkit.collector import PAUSED
from buildkit.errors import SecDbError

NEVER_AFFECTED = "0"
_STR = frozenset({str})
_HINT = (
    'expected a security database: {"packages": [{"pkg": {"name": ..., "secfixes": '
    "{VERSION: [ID, ...]}}}]} (JSON or YAML)"
)


@dataclass(frozen=True, kw_only=True, slots=True)
class SecFix:
    """The ids fixed in ``version`` (``"0"``: the package was never affected by them)."""

    version: str
    ids: tuple[str, ...]

    @property
    def never_affected(self) -> bool:
        return self.version == NEVER_AFFECTED


@dataclass(frozen=True, kw_only=True, slots=True)
class SecPackage:
    name: str  # the origin (source package) the fixes were made in
    fixes: tuple[SecFix, ...]


@dataclass(frozen=True, kw_only=True)
class SecDb:
    """One database: where it came from and its packages, in the file's order."""

    source: str  # URL or path, for messages and reports
    reponame: str = ""
    urlprefix: str = ""
    archs: tuple[str, ...] = ()
    packages: tuple[SecPackage, ...] = ()
    entries: int = field(default=0)  # (package, version, id) triples: a size for messages

    @cached_property
    def by_name(self) -> Mapping[str, tuple[SecFix, ...]]:
        """Fixes by package name; a name listed twice has its fixes joined."""
        found: dict[str, tuple[SecFix, ...]] = {}
        for package in self.packages:
            found[package.name] = found.get(package.name, ()) + package.fixes
        return found


def parse_secdb(data: bytes, *, where: str) -> SecDb:
    """Parse a database in either spelling; :class:`SecDbError` for anything else."""
    # A 100k-entry database is a few hundred thousand long-lived objects: the cyclic collector
    # would walk them all again and again while they are made (half the load time). Nothing
    # here makes cycles.
    with PAUSED:
        return _parse(data, where)


def _parse(data: bytes, where: str) -> SecDb:
    document = _decode(data, where)
    if not isinstance(document, dict) or not isinstance(document.get("packages"), list):
        raise SecDbError('unknown format: no "packages" list', where=where, hint=_HINT)
    packages = []
    entries = 0
    for index, item in enumerate(document["packages"]):
        package = _package(item, f"{where}: packages[{index}]")
        entries += sum(len(fix.ids) for fix in package.fixes)
        packages.append(package)
    archs = document.get("archs", [])
    return SecDb(
        source=where,
        reponame=_text(document.get("reponame"), where, "reponame"),
        urlprefix=_text(document.get("urlprefix"), where, "urlprefix"),
        archs=tuple(a for a in archs if isinstance(a, str)) if isinstance(archs, list) else (),
        packages=tuple(packages),
        entries=entries,
    )


def _decode(data: bytes, where: str) -> Any:
    head = data.lstrip()[:1]
    if head in (b"{", b"["):
        try:
            return json.loads(data)
        except (ValueError, RecursionError) as exc:
            raise SecDbError(f"malformed JSON: {exc}", where=where) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SecDbError(
            f"unknown format: not JSON and not UTF-8 text (byte {exc.start})",
            where=where,
            hint=_HINT,
        ) from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise SecDbError(
            f"unknown format: neither JSON nor YAML ({problem})", where=f"{where}{line}"
        ) from None


def _text(value: object, where: str, key: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise SecDbError(f"{key} must be a string", where=where)
    return value


def _package(item: object, where: str) -> SecPackage:
    pkg = item.get("pkg") if isinstance(item, dict) else None
    if not isinstance(pkg, dict):
        raise SecDbError('expected {"pkg": {...}}', where=where, hint=_HINT)
    name = pkg.get("name")
    if not isinstance(name, str) or not name:
        raise SecDbError("pkg.name must be a non-empty string", where=where)
    secfixes = pkg.get("secfixes") or {}  # YAML writes an empty mapping as null
    if not isinstance(secfixes, dict):
        raise SecDbError(f"{name}: secfixes must map versions to lists of ids", where=where)
    fixes = []
    for version, ids in secfixes.items():
        # YAML reads a bare 0 as an int, and 1.2 as a float: keep what the author meant only
        # where it is unambiguous.
        text = (
            str(version) if isinstance(version, int) and not isinstance(version, bool) else version
        )
        if not isinstance(text, str) or not text:
            raise SecDbError(
                f"{name}: secfixes key {version!r} is not a version string",
                where=where,
                hint="quote versions in YAML",
            )
        listed = [] if ids is None else ids
        # One pass in C per check: a database holds 100k ids.
        if not isinstance(listed, list) or not set(map(type, listed)) <= _STR or "" in listed:
            raise SecDbError(f"{name} {text}: expected a list of ids", where=where)
        fixes.append(SecFix(version=text, ids=tuple(listed)))
    return SecPackage(name=name, fixes=tuple(fixes))
