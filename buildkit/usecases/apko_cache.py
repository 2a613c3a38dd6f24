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
from pathlib import Path
from urllib.parse import quote_plus, urlsplit, urlunsplit

from buildkit.apk.package import ApkLayout, Section, read_layout_file
from buildkit.errors import ChecksumError
from buildkit.fsutil import atomic_write_bytes, atomic_writer
from buildkit.hints import lock_command
from buildkit.lockfile import LockedPackage, LockKey
from buildkit.toolchain import WORKDIR

_CHUNK = 1 << 20


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


def cache_package_file(
    root: Path, package: LockedPackage, path: Path, *, where: str, framework: str = "FRAMEWORK"
) -> ApkLayout:
    """Verify the package file at ``path`` against its lock entry and copy its members into
    apko's cache files, in bounded memory whatever its size: the layout is read from the
    file's head, the data member hashed as it streams (and checked against the lock entry
    before anything is written), and each missing cache file copied from its byte range in
    chunks."""

    layout = read_layout_file(path, where=where)
    _check(package, layout, where=where, framework=framework)
    folder = package_dir(root, package.url)
    with path.open("rb") as source:
        for name, section in _members(layout):
            target = folder / name
            if target.exists():
                continue
            source.seek(section.start)
            left = section.size
            with atomic_writer(target) as out:
                while left > 0:
                    block = source.read(min(left, _CHUNK))
                    if not block:
                        raise ChecksumError(f"{where} changed while it was read", where=where)
                    out.write(block)
                    left -= len(block)
    return layout


def _check(package: LockedPackage, layout: ApkLayout, *, where: str, framework: str) -> None:
    changed = f"the package changed since it was locked: run `{lock_command(framework)}`"
    if layout.identity != package.checksum:
        raise ChecksumError(
            f"package {package.name} has identity {layout.identity}, the lockfile says "
            f"{package.checksum}",
            where=where,
            hint=changed,
        )
    if layout.data_checksum != package.data.checksum:
        raise ChecksumError(
            f"package {package.name}: data checksum {layout.data_checksum} differs from the "
            f"lockfile's {package.data.checksum}",
            where=where,
            hint=changed,
        )
    if layout.pkginfo.datahash != _hex(layout.data_checksum):
        raise ChecksumError(
            f"package {package.name}: .PKGINFO datahash does not match its data", where=where
        )


def _members(layout: ApkLayout) -> list[tuple[str, Section]]:
    """apko's cache file names for the package's members, with their byte ranges."""
    control_hex = base64.b64decode(layout.identity.removeprefix("Q1")).hex()
    members = [(f"{control_hex}.ctl.tar.gz", layout.control)]
    if layout.signature is not None:
        members.append((f"{control_hex}.sig.tar.gz", layout.signature))
    members.append((f"{layout.pkginfo.datahash}.dat.tar.gz", layout.data))
    return members


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


def _hex(checksum: str) -> str:
    """``sha256-<b64>`` -> hex."""
    return base64.b64decode(checksum.split("-", 1)[1]).hex()
