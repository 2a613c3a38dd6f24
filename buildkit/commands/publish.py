"""`buildkit publish [NAME...]`: push per-arch images and the multi-arch list (`nox -s publish`)."""

from __future__ import annotations

import argparse
import shlex
from typing import Any

from buildkit import ui
from buildkit.project.config import load_project
from buildkit.store import Store
from buildkit.toolchain import Engine
from buildkit.usecases.publishing import (
    FrameworkPlan,
    Publisher,
    make_target,
    plan_commands,
    prepare,
)


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "publish",
        help="push the built images and a multi-arch manifest list to the registry",
        description="For each framework (buildkit.toml's [project] frameworks, or the NAMEs "
        "given), push every arch's image as REGISTRY/REPOSITORY/<name>:<tag>-<arch> and the "
        "manifest list REGISTRY/REPOSITORY/<name>:<tag> over them, read the list back, and "
        "record it in dist/<name>/publish.json. Refuses records that are missing, damaged or "
        "built from another config or lockfile. Log in with `docker login REGISTRY`.",
    )
    parser.add_argument("names", nargs="*", metavar="NAME", help="framework names")
    parser.add_argument("--registry", help="registry host[:port] (default: buildkit.toml)")
    parser.add_argument("--repository", help="repository path in the registry")
    parser.add_argument("--tag", help="tag of the manifest list (per-arch tags add -<arch>)")
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="check the records and print the references, digests and commands; touch nothing",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    project = load_project(args.project)
    target = make_target(project, registry=args.registry, repository=args.repository, tag=args.tag)
    plans = prepare(project, args.names, target, say=ui.info)
    if args.dry_run:
        for plan in plans:
            _print_plan(plan)
        return 0
    engine = Engine.detect(project)
    publisher = Publisher(
        engine=engine,
        docker=engine.manifest_cli(),
        store=Store(project.dist_dir),
        say=ui.info,
    )
    for plan in plans:
        record = publisher.publish(plan)
        ui.out.print(f"{record.reference}@{record.digest}", markup=False)
        for image in record.images:
            ui.out.print(
                f"  {image.platform:<16} {image.reference}@{image.manifest_digest} "
                f"(config {image.config_digest})",
                markup=False,
            )
    return 0


def _print_plan(plan: FrameworkPlan) -> None:
    ui.out.print(f"{plan.reference} (dry run: nothing is pushed)", markup=False)
    for image in plan.images:
        ui.out.print(
            f"  {image.platform:<16} {image.reference} config {image.config_digest} "
            f"tarball {image.record.tarball.digest}",
            markup=False,
        )
    for argv in plan_commands(plan):
        ui.out.print(f"  $ {shlex.join(argv)}", markup=False)
