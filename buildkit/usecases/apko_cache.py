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
verified against their lock entries as they are copied in (:func:`copy_package`, streaming):
identity (control SHA-1), signature member SHA-1, data SHA-256 (= .PKGINFO's datahash), cut
at the lock's byte ranges. A shared folder could
not be trusted: apko never checks the uncompressed ``<datahash>.dat.tar`` it finds there, and
``<control sha1>.sig.tar.gz`` is named by the control hash, which does not depend on the key
that signed it, so a checkout with another key would reuse someone else's signature member.
"""

from __future__ import annotations

import base64
import hashlib
import os
import posixpath
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import quote_plus, urlsplit, urlunsplit

from buildkit.apk.gzmembers import iter_members, parse_tar
from buildkit.apk.package import ApkLayout, read_layout
from buildkit.apk.pkginfo import PkgInfo, parse_pkginfo
from buildkit.errors import ApkFormatError, ChecksumError, LockError
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


def check_package(
    package: LockedPackage, data: bytes, *, where: str, framework: str = "FRAMEWORK"
) -> ApkLayout:
    """Verify ``data`` (a whole .apk in memory) against its lock entry: identity, the signature
    member's checksum, the data checksum, .PKGINFO's datahash and the byte ranges. Raises
    ChecksumError naming the first check that failed."""

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
            raise _differs(package, what, actual, locked, where=where, framework=framework)
    if layout.pkginfo.datahash != _hex(layout.data_checksum):
        raise ChecksumError(
            f"package {package.name}: .PKGINFO datahash does not match its data", where=where
        )
    return layout


def copy_package(
    root: Path, package: LockedPackage, source: Path, *, where: str, framework: str = "FRAMEWORK"
) -> PkgInfo:
    """Cut the .apk at ``source`` into apko's cache files under ``root``, verifying every byte
    against the lock entry on the way; return its .PKGINFO.

    The lock's ranges say where the members are; the signature and control members (small)
    are read whole and must hash to the lock's checksums (the control one also to the
    identity); the data member is streamed in 1 MiB blocks into its file while its SHA-256 is
    taken, so memory stays bounded whatever the package's size. Its file gets its name only
    once the hash matches both the lock and .PKGINFO's datahash. Raises ChecksumError (or
    ApkFormatError) naming the file; what was written for this package is then unusable, so
    callers write it again or stop.
    """
    signature, control, data = _ranges(package, where, framework)
    folder = package_dir(root, package.url)
    folder.mkdir(parents=True, exist_ok=True)
    with source.open("rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        if size != data[1] + 1:
            raise _differs(
                package, "size", f"{size} bytes", f"{data[1] + 1}", where=where, framework=framework
            )
        sig_bytes = handle.read(signature[1] - signature[0] + 1) if signature else b""
        control_bytes = handle.read(control[1] - control[0] + 1)
        found = (
            ("signature checksum", _sha1_b64(sig_bytes) if signature else "", package.signature),
            ("control checksum", _sha1_b64(control_bytes), package.control),
        )
        for what, actual, locked in found:
            if actual != locked.checksum:
                raise _differs(
                    package, what, actual, locked.checksum, where=where, framework=framework
                )
        identity = "Q1" + _sha1_b64(control_bytes).removeprefix("sha1-")
        if identity != package.checksum:
            raise _differs(
                package, "identity", identity, package.checksum, where=where, framework=framework
            )
        info = _pkginfo(control_bytes, where)
        digest = hashlib.sha256()
        partial = folder / f".{os.getpid()}.dat.partial"
        with partial.open("wb") as out:
            while block := handle.read(_BLOCK):
                digest.update(block)
                out.write(block)
    checksum = "sha256-" + base64.b64encode(digest.digest()).decode()
    if checksum != package.data.checksum or info.datahash != digest.hexdigest():
        partial.unlink(missing_ok=True)
        if checksum != package.data.checksum:
            raise _differs(
                package,
                "data checksum",
                checksum,
                package.data.checksum,
                where=where,
                framework=framework,
            )
        raise ChecksumError(
            f"package {package.name}: .PKGINFO datahash does not match its data", where=where
        )
    control_hex = base64.b64decode(package.checksum.removeprefix("Q1")).hex()
    atomic_write_bytes(folder / f"{control_hex}.ctl.tar.gz", control_bytes)
    if signature:
        atomic_write_bytes(folder / f"{control_hex}.sig.tar.gz", sig_bytes)
    os.replace(partial, folder / f"{info.datahash}.dat.tar.gz")
    return info


_BLOCK = 1 << 20


def _ranges(
    package: LockedPackage, where: str, framework: str
) -> tuple[tuple[int, int] | None, tuple[int, int], tuple[int, int]]:
    """(signature, control, data) from the lock entry: contiguous, from byte 0 to the end."""
    signature = package.signature.bounds()
    control = package.control.bounds()
    data = package.data.bounds()
    control_start = signature[1] + 1 if signature else 0
    if (
        control is None
        or data is None
        or (signature is not None and signature[0] != 0)
        or control[0] != control_start
        or data[0] != control[1] + 1
        or not (control[0] <= control[1] < data[0] <= data[1])
    ):
        raise LockError(
            f"package {package.name}: the lockfile's byte ranges do not cover the .apk in order",
            where=where,
            hint=f"run `{lock_command(framework)}`",
        )
    return signature, control, data


def _pkginfo(control: bytes, where: str) -> PkgInfo:
    member = next(iter_members(control, where=f"{where} (control member)"))
    for entry in parse_tar(member.data, where=f"{where} (control member)"):
        if entry.name.removeprefix("./") == ".PKGINFO" and entry.is_file:
            return parse_pkginfo(entry.content, where=f"{where}:.PKGINFO")
    raise ApkFormatError("the control member has no .PKGINFO", where=where)


def _sha1_b64(data: bytes) -> str:
    return "sha1-" + base64.b64encode(hashlib.sha1(data, usedforsecurity=False).digest()).decode()


def _differs(
    package: LockedPackage, what: str, actual: str, locked: str, *, where: str, framework: str
) -> ChecksumError:
    return ChecksumError(
        f"package {package.name} has {what} {actual or 'none'}, the lockfile says "
        f"{locked or 'none'}",
        where=where,
        hint=f"the package changed since it was locked: run `{lock_command(framework)}`",
    )


def write_keys(root: Path, keys: Sequence[LockKey]) -> None:
    """Cache the keys the config names by URL, with the content the lock recorded (offline,
    apko reads the newest file of the key's folder: in a fresh folder, the only one)."""
    for key in keys:
        if not key.url.startswith(("http://", "https://")) or not key.content:
            continue
        pem = key.content.encode()
        atomic_write_bytes(key_file(root, key.url, pem), pem)


def _hex(checksum: str) -> str:
    """``sha256-<b64>`` -> hex."""
    return base64.b64decode(checksum.split("-", 1)[1]).hex()
