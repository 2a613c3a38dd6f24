"""`buildkit show FRAMEWORK [--arch A]`: the locked packages (name, version, licence,
installed size) and, once built, the image's size and digest."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from rich.table import Table

from buildkit import ui
from buildkit.apk.arch import normalize_arch
from buildkit.project.config import load_project
from buildkit.usecases.inventory import PackageRow, human_size, inventory


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "show",
        help="list a framework's locked packages and its built image's size and digest",
        description="List the packages locked for FRAMEWORK (name, version, licence, installed "
        "size; the metadata comes from the package cache that lock filled) and, when the image "
        "is built, its size (compressed layers) and manifest digest. Reads no network.",
    )
    parser.add_argument("framework", metavar="FRAMEWORK")
    parser.add_argument(
        "--arch", action="append", default=[], metavar="ARCH", help="only this arch (repeatable)"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:

    project = load_project(args.project)
    archs = tuple(dict.fromkeys(normalize_arch(a) for a in args.arch))
    found = inventory(project, args.framework, archs)
    ui.out.print(packages_table(found.framework, found.packages))
    counts: dict[str, int] = {}
    for row in found.packages:
        counts[row.arch] = counts.get(row.arch, 0) + 1
    built = {image.arch: image for image in found.images}
    for arch, count in counts.items():
        image = built.get(arch)
        state = (
            f"image {human_size(image.size)}, {image.manifest_digest}"
            if image
            else "not built (nox -s build)"
        )
        ui.out.print(f"{found.framework} {arch}: {count} packages; {state}", markup=False)
    return 0


def packages_table(framework: str, packages: Sequence[PackageRow]) -> Table:
    """What an image holds, per arch: fits 80 columns (:func:`buildkit.ui.table`)."""
    table = ui.table(
        f"{framework}: locked packages",
        ("arch", "package", "version", "licence", "installed size"),
        right={"installed size"},
    )
    for row in packages:
        table.add_row(
            row.arch, row.name, row.version, row.license or "-", human_size(row.installed_size)
        )
    return table
