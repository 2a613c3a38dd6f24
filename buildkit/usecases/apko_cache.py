"""The apko package cache, prepared so that ``apko build --offline --cache-dir`` needs nothing else.

Layout, as apko v1.2.39 reads it (pkg/apk/apk/cache.go, package_getter.go):

- a package at URL ``<scheme>://<host>/<repo>/<arch>/<name>-<version>.apk`` lives in the folder
  ``<root>/<QueryEscape("<scheme>://<host>/<repo>")>/<arch>/<name>-<version>/``
  (``cachePathFromURL`` minus ``.apk``), split into its gzip members:
  ``<control sha1 hex>.ctl.tar.gz``, ``<control sha1 hex>.sig.tar.gz`` (signed packages) and
  ``<datahash hex>.dat.tar.gz``. apko checks the control hash against the lock's checksum and
  writes the uncompressed ``<datahash>.dat.tar`` beside them itself (so the folder is writable).
  A local package (a path in the lock) is cached under its ``file://`` URL: the path made
  absolute from apko's working directory (``/work`` in the container).
- a key at URL ``.../<name>.rsa.pub`` lives in the folder ``cachePathFromURL(url)`` (a folder
  named like the key); offline, apko reads the newest file in it (``fetchOffline``).

The folder is made afresh for each apko run (a scratch folder of the build) from packages
verified against their lock entries just before: identity (control SHA-1), signature member
SHA-1, data SHA-256 (= .PKGINFO's datahash) and the three byte ranges. A shared folder could
not be trusted: apko never checks the uncompressed ``<datahash>.dat.tar`` it finds there, and
``<control sha1>.sig.tar.gz`` is named by the control hash, which does not depend on the key
that signed it, so a checkout with another key would reuse someone else's signature member.
"""

from __future__ import annotations

import base64
import hashlib
import posixpath
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote_plus, urlsplit, urlunsplit

from buildkit.apk.package import ApkLayout, read_layout
from buildkit.errors import ChecksumError
from buildkit.fsutil import atomic_write_bytes
from buildkit.hints import lock_command
from buildkit.lockfile import LockedPackage, LockKey
from buildkit.toolchain import WORKDIR


def query_escape(text: str) -> str:
    """Go's ``url.QueryEscape``: only letters, digits and ``-_.~`` stay; space becomes ``+``."""
    return quote_plus(text, safe="")


def as_url(location: str, workdir: str = WORKDIR) -> str:
    """A lock URL as apko turns it into a URL: paths become ``file://`` URLs made absolute from
    apko's working directory."""
    if location.startswith(("http://", "https://", "file://")):
        return location
    return "file://" + posixpath.normpath(posixpath.join(workdir, location))


def cache_path(root: Path, url: str) -> Path:
    """apko's ``cachePathFromURL``: the last two path levels under the escaped repository URL."""
    parts = urlsplit(url)
    filename = posixpath.basename(parts.path)
    arch_dir = posixpath.dirname(parts.path)
    repo_dir = posixpath.dirname(arch_dir)
    repo_url = urlunsplit((parts.scheme, parts.netloc, repo_dir, "", ""))
    if parts.scheme == "file" and not parts.netloc:
        repo_url = f"file://{repo_dir}"  # Go keeps the empty host: file:///work/packages
    return root / query_escape(repo_url) / posixpath.basename(arch_dir) / filename


def package_dir(root: Path, url: str) -> Path:
    return cache_path(root, as_url(url)).with_suffix("")


def key_file(root: Path, url: str, pem: bytes) -> Path:
    """Where a key fetched from ``url`` is cached: a file in the folder named like the key."""
    name = base64.b32encode(hashlib.sha256(pem).digest()).decode().rstrip("=")
    return cache_path(root, url) / f"{name}.etag"


@dataclass(frozen=True, kw_only=True)
class CachedMembers:
    """The files one package becomes in apko's cache."""

    folder: Path
    files: tuple[tuple[str, bytes], ...]  # (file name, bytes)


def check_package(
    package: LockedPackage, data: bytes, *, where: str, framework: str = "FRAMEWORK"
) -> ApkLayout:
    """Verify ``data`` against its lock entry: identity, the signature member's checksum, the
    data checksum, .PKGINFO's datahash and the byte ranges. Raises ChecksumError naming the
    first check that failed."""

    changed = f"the package changed since it was locked: run `{lock_command(framework)}`"
    layout = read_layout(data, where=where)
    found = (
        ("identity", layout.identity, package.checksum),
        ("signature checksum", layout.signature_checksum, package.signature.checksum),
        ("data checksum", layout.data_checksum, package.data.checksum),
        ("control range", layout.control.range, package.control.range),
        ("data range", layout.data.range, package.data.range),
        (
            "signature range",
            layout.signature.range if layout.signature else "",
            package.signature.range,
        ),
    )
    for what, actual, locked in found:
        if actual != locked:
            raise ChecksumError(
                f"package {package.name} has {what} {actual or 'none'}, the lockfile says "
                f"{locked or 'none'}",
                where=where,
                hint=changed,
            )
    if layout.pkginfo.datahash != _hex(layout.data_checksum):
        raise ChecksumError(
            f"package {package.name}: .PKGINFO datahash does not match its data", where=where
        )
    return layout


def split_package(
    root: Path, package: LockedPackage, data: bytes, *, where: str, framework: str = "FRAMEWORK"
) -> tuple[CachedMembers, ApkLayout]:
    """Verify ``data`` against its lock entry (:func:`check_package`) and cut it into apko's
    cache files."""

    layout = check_package(package, data, where=where, framework=framework)
    control_hex = base64.b64decode(package.checksum.removeprefix("Q1")).hex()
    files = [(f"{control_hex}.ctl.tar.gz", _slice(data, layout.control.start, layout.control.end))]
    if layout.signature is not None:
        files.append(
            (
                f"{control_hex}.sig.tar.gz",
                _slice(data, layout.signature.start, layout.signature.end),
            )
        )
    files.append(
        (
            f"{layout.pkginfo.datahash}.dat.tar.gz",
            _slice(data, layout.data.start, layout.data.end),
        )
    )
    return CachedMembers(folder=package_dir(root, package.url), files=tuple(files)), layout


def write_members(members: CachedMembers) -> None:
    """Write one package's files into a fresh cache folder."""
    for name, content in members.files:
        atomic_write_bytes(members.folder / name, content)


def write_keys(root: Path, keys: Sequence[LockKey]) -> None:
    """Cache the keys the config names by URL, with the content the lock recorded (offline,
    apko reads the newest file of the key's folder: in a fresh folder, the only one)."""
    for key in keys:
        if not key.url.startswith(("http://", "https://")) or not key.content:
            continue
        pem = key.content.encode()
        atomic_write_bytes(key_file(root, key.url, pem), pem)


def _slice(data: bytes, start: int, end: int) -> bytes:
    return data[start : end + 1]


def _hex(checksum: str) -> str:
    """``sha256-<b64>`` -> hex."""
    return base64.b64decode(checksum.split("-", 1)[1]).hex()
