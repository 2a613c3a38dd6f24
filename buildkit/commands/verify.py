"""`buildkit verify [--arch A]... [FRAMEWORK...]` (`nox -s verify`): rebuild and compare.
With ``--published``: check the registry against the records instead (digests, cosign
signatures and attestations; see buildkit.usecases.verifying_published).

Rebuilds the local packages and images into a temporary store (no cache) and compares .apk,
tarball, manifest and config digests and SBOMs with the build records in ``dist/``. Exits 1
listing every difference.
"""

from __future__ import annotations

import argparse
from typing import Any

from buildkit import ui
from buildkit.apk.arch import normalize_arch
from buildkit.commands.publish import tools_for
from buildkit.progress import RichReporter
from buildkit.project.config import ProjectConfig, load_project
from buildkit.store import Store
from buildkit.toolchain import Engine
from buildkit.usecases.verifying import verify_project
from buildkit.usecases.verifying_published import PublishedVerifier


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "verify",
        help="rebuild into a temporary store and compare digests with the build records",
        description="Rebuild the local packages and each framework image without the cache "
        "and compare the results with the records in dist/: exit 1 listing any difference.",
    )
    parser.add_argument("frameworks", nargs="*", metavar="FRAMEWORK", help="framework names")
    parser.add_argument(
        "--arch",
        action="append",
        default=[],
        metavar="ARCH",
        help="verify this arch (repeatable); default: buildkit.toml's archs",
    )
    parser.add_argument(
        "--published",
        action="store_true",
        help="verify what is published instead: the registry's list and digests against the "
        "records, cosign signatures and SBOM + provenance attestations",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:

    project = load_project(args.project)
    if args.published:
        return _published(args, project)
    with RichReporter(ui.err) as reporter:
        result = verify_project(
            project,
            frameworks=tuple(args.frameworks),
            archs=tuple(dict.fromkeys(normalize_arch(a) for a in args.arch)),
            reporter=reporter,
        )
    for line in result.differences:
        ui.out.print(line, markup=False)
    if result.differences:
        ui.out.print(
            f"verify: {len(result.differences)} difference(s) in {len(result.checked)} "
            "rebuilt action(s)",
            markup=False,
        )
        return 1
    ui.out.print(f"verify: {len(result.checked)} action(s) rebuilt identically", markup=False)
    return 0


def _published(args: argparse.Namespace, project: ProjectConfig) -> int:
    tools = tools_for(project)
    engine = Engine.detect(project)
    verifier = PublishedVerifier(
        engine=engine, docker=engine.manifest_cli(), store=Store(project.dist_dir), tools=tools
    )
    for checked in verifier.verify(project, args.frameworks):
        ui.out.print(
            f"verify: {checked.framework}: {', '.join(checked.references)} match the records; "
            f"{checked.signatures} signature(s) and {checked.attestations} attestation(s) verify",
            markup=False,
        )
    return 0
