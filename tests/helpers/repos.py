"""Small signed APK repositories built on the fly: packages, their index, the signing key."""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import cast

from buildkit.apk.index import IndexRecord, record_from_package, write_index
from buildkit.apk.keys import Keyring, SigningKey
from buildkit.apk.package import pack_package
from buildkit.apk.pkginfo import PkgInfo
from buildkit.repo import HttpFetcher, RevalidatingCache

EPOCH = 1_700_000_000


def keyring_of(key: SigningKey) -> Keyring:
    return Keyring.from_pems({key.key_name: key.public_pem})


@dataclass(frozen=True)
class Pkg:
    name: str
    version: str
    depends: tuple[str, ...] = ()
    provides: tuple[str, ...] = ()


def make_apk(work: Path, pkg: Pkg, arch: str, key: SigningKey) -> bytes:
    root = work / f"tree-{pkg.name}-{pkg.version}-{arch}"
    (root / "usr/share" / pkg.name).mkdir(parents=True, exist_ok=True)
    (root / "usr/share" / pkg.name / "VERSION").write_text(f"{pkg.version} {arch}\n")
    info = PkgInfo(
        name=pkg.name,
        version=pkg.version,
        arch=arch,
        depends=pkg.depends,
        provides=pkg.provides,
        license="MIT",
    )
    return pack_package(root, info, key=key, source_date_epoch=EPOCH)


def make_repo(repo: Path, arch: str, packages: Sequence[Pkg], key: SigningKey) -> list[IndexRecord]:
    """Write ``repo/<arch>/*.apk`` and their APKINDEX.tar.gz, all signed by ``key``."""
    folder = repo / arch
    folder.mkdir(parents=True, exist_ok=True)
    records = []
    with tempfile.TemporaryDirectory() as trees:
        for pkg in packages:
            data = make_apk(Path(trees), pkg, arch, key)
            record = record_from_package(data, where=pkg.name)
            (folder / record.filename).write_bytes(data)
            records.append(record)
    (folder / "APKINDEX.tar.gz").write_bytes(write_index(records, description="test", key=key))
    return records


@dataclass(frozen=True)
class _Served:
    """Stands in for the HTTP fetcher: answers every URL with fixed bytes."""

    body: bytes

    def get(
        self, url: str, headers: dict[str, str] | None = None, **options: object
    ) -> SimpleNamespace:
        return SimpleNamespace(status=200, body=self.body, etag=None, last_modified=None)


def seed_remote_cache(cache_dir: Path, kind: str, url: str, data: bytes) -> None:
    """Put ``data`` into the machine cache as ``lock`` leaves a fetched remote file there:
    ``kind`` is "indexes" (an APKINDEX.tar.gz) or "keys" (a public key). Written through
    :class:`buildkit.repo.RevalidatingCache` itself, so the format is the real one."""
    RevalidatingCache(cache_dir / kind, cast(HttpFetcher, _Served(data))).get(url)
