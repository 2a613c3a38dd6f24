"""`buildkit build [--arch A]... [FRAMEWORK...] [--jobs N]` (`nox -s build`, `build-amd64`, ...).

Builds the local packages (melange), then each framework's image for each arch (apko, offline,
from its lockfile) into the content-addressed store ``dist/``. Actions whose inputs have not
changed are taken from the action cache: a rebuild with nothing changed runs no tool at all.
Imports are deferred to ``run`` so that every other verb starts fast.
"""

from __future__ import annotations

import argparse
from typing import Any

from buildkit import ui
from buildkit.apk.arch import normalize_arch
from buildkit.progress import RichReporter
from buildkit.project.config import load_project
from buildkit.usecases.building import BuildOptions, build_project
from buildkit.usecases.inventory import human_size, image_size, package_count


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "build",
        help="build local packages and framework images into dist/ (cached, reproducible)",
        description="Build the local packages (packages/*.yaml, with melange) and then each "
        "framework's image (apko, from its lockfile) for each arch, into the content-addressed "
        "store dist/. Frameworks: the NAMEs given, else buildkit.toml's [project].frameworks, "
        "else every frameworks/*.yaml. Unchanged actions come from the cache.",
    )
    parser.add_argument("frameworks", nargs="*", metavar="FRAMEWORK", help="framework names")
    parser.add_argument(
        "--arch",
        action="append",
        default=[],
        metavar="ARCH",
        help="build for this arch (x86_64/amd64, aarch64/arm64; repeatable); "
        "default: buildkit.toml's archs",
    )
    parser.add_argument(
        "-j",
        "--jobs",
        type=positive_int,
        default=0,  # not given: one per core
        metavar="N",
        help="image builds run in parallel, N >= 1 (default: one per core)",
    )
    parser.set_defaults(func=run)


def positive_int(text: str) -> int:
    """argparse type for a count of at least 1 (``-j 0`` and ``-j -1`` are refused)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, not {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def run(args: argparse.Namespace) -> int:

    project = load_project(args.project)
    options = BuildOptions(
        archs=tuple(dict.fromkeys(normalize_arch(a) for a in args.arch)),
        frameworks=tuple(args.frameworks),
        jobs=args.jobs,
    )
    with RichReporter(ui.err) as reporter:
        result = build_project(project, options, reporter=reporter)

    for record in result.images:
        state = "cached" if record.cached else "built"
        count = package_count(project, record.framework, record.arch)
        ui.out.print(
            f"{record.framework} {record.arch}: {record.image.tag} {record.tarball.digest}, "
            f"{human_size(image_size(record))}, {count if count is not None else '?'} packages "
            f"({state})",
            markup=False,
        )
    if not result.images:
        ui.out.print("nothing to build for the selected frameworks and archs", markup=False)
    return 0
