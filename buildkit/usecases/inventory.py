"""What is in an image: the locked packages with their metadata, and the built image's size and
digest (``buildkit show``, the build summary). Reads files only: lockfiles, the package
cache, dist/ records; never the network."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from buildkit.actions.records import ImageRecord
from buildkit.errors import BuildkitError
from buildkit.project.config import ProjectConfig
from buildkit.store import Store
from buildkit.usecases.scan_sources import PackageInfos
from buildkit.usecases.scanning import read_lock


@dataclass(frozen=True, kw_only=True)
class PackageRow:
    arch: str
    name: str
    version: str
    license: str  # "" when the package is in no local cache
    installed_size: int | None


@dataclass(frozen=True, kw_only=True)
class BuiltImage:
    arch: str
    size: int  # compressed layers, as a registry stores them
    manifest_digest: str
    tag: str


@dataclass(frozen=True, kw_only=True)
class Inventory:
    framework: str
    packages: tuple[PackageRow, ...]
    images: tuple[BuiltImage, ...]


def image_size(record: ImageRecord) -> int:
    return sum(layer.size for layer in record.image.layers)


def package_count(project: ProjectConfig, framework: str, arch: str) -> int | None:
    try:
        _path, lock = read_lock(project, framework)
    except BuildkitError:
        return None
    return len(lock.packages_for(arch))


def inventory(project: ProjectConfig, framework: str, archs: Sequence[str] = ()) -> Inventory:
    _path, lock = read_lock(project, framework)
    chosen = [a for a in lock.archs() if not archs or a in archs]
    infos = PackageInfos(project)
    rows = []
    for arch in chosen:
        for package in sorted(lock.packages_for(arch), key=lambda p: p.name):
            info = infos.get(package)
            rows.append(
                PackageRow(
                    arch=arch,
                    name=package.name,
                    version=package.version,
                    license=info.license if info else "",
                    installed_size=info.size if info else None,
                )
            )
    store = Store(project.dist_dir)
    images = []
    for arch in chosen:
        path = store.record_path(framework, f"{arch}.json")
        try:
            data = store.read_record(path)
            record = None if data is None else ImageRecord.from_dict(data, str(path))
        except BuildkitError:
            record = None
        if record is not None:
            images.append(
                BuiltImage(
                    arch=arch,
                    size=image_size(record),
                    manifest_digest=record.image.manifest_digest,
                    tag=record.image.tag,
                )
            )
    return Inventory(framework=framework, packages=tuple(rows), images=tuple(images))


def human_size(size: int | None) -> str:
    if size is None:
        return "-"
    value = float(size)
    for unit in ("B", "KiB", "MiB"):
        if value < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"
