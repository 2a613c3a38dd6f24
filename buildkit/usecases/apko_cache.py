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

Everything written here is verified first (control SHA-1 = the locked identity, data SHA-256 =
the locked data checksum = .PKGINFO's datahash) and written atomically, so several builds can
share one cache folder.
"""

from __future__ import annotations

import base64
import hashlib
import os
import posixpath
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote_plus, urlsplit, urlunsplit

from buildkit.apk.package import ApkLayout, read_layout
from buildkit.errors import ChecksumError
from buildkit.fsutil import atomic_write_bytes
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


def split_package(
    root: Path, package: LockedPackage, data: bytes, *, where: str
) -> tuple[CachedMembers, ApkLayout]:
    """Verify ``data`` against its lock entry and cut it into apko's cache files."""
    layout = read_layout(data, where=where)
    if layout.identity != package.checksum:
        raise ChecksumError(
            f"package {package.name} has identity {layout.identity}, the lockfile says "
            f"{package.checksum}",
            where=where,
            hint="the package changed since it was locked: run `nox -s lock`",
        )
    if layout.data_checksum != package.data.checksum:
        raise ChecksumError(
            f"package {package.name}: data checksum {layout.data_checksum} differs from the "
            f"lockfile's {package.data.checksum}",
            where=where,
            hint="the package changed since it was locked: run `nox -s lock`",
        )
    if layout.pkginfo.datahash != _hex(layout.data_checksum):
        raise ChecksumError(
            f"package {package.name}: .PKGINFO datahash does not match its data", where=where
        )
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
    """Write the files that are not there yet (names are content hashes: present = done)."""
    for name, content in members.files:
        target = members.folder / name
        if not target.exists():
            atomic_write_bytes(target, content)


def write_keys(root: Path, keys: Sequence[LockKey]) -> None:
    """Cache the keys the config names by URL, with the content the lock recorded; the newest
    file wins offline, so an existing one is touched."""
    for key in keys:
        if not key.url.startswith(("http://", "https://")) or not key.content:
            continue
        pem = key.content.encode()
        target = key_file(root, key.url, pem)
        if target.exists():
            os.utime(target)
        else:
            atomic_write_bytes(target, pem)


def _slice(data: bytes, start: int, end: int) -> bytes:
    return data[start : end + 1]


def _hex(checksum: str) -> str:
    """``sha256-<b64>`` -> hex."""
    return base64.b64decode(checksum.split("-", 1)[1]).hex()
