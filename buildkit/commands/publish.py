"""`buildkit publish [NAME...]`: push per-arch images and the multi-arch list (`nox -s publish`)."""

from __future__ import annotations

import argparse
import os
import shlex
from typing import Any

from buildkit import ui
from buildkit.errors import PublishError
from buildkit.project.config import ProjectConfig, load_project
from buildkit.store import Store
from buildkit.toolchain import Engine, ImageRef, parse_image_ref
from buildkit.toolchain.supply import KEYLESS_ENV, Signer
from buildkit.usecases.publishing import (
    KEYLESS_HINT,
    FrameworkPlan,
    Publisher,
    Tools,
    docker_config_dir,
    make_target,
    ping,
    plan_commands,
    prepare,
)


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "publish",
        help="push the built images, a multi-arch list, signatures and attestations",
        description="For each framework (buildkit.toml's [project] frameworks, or the NAMEs "
        "given), push every arch's image exactly as apko built it (REGISTRY/REPOSITORY/<name>"
        "@<manifest digest>), the manifest list under every tag, read the list back, sign the "
        "list and each arch with cosign, attest each arch's SBOM and SLSA provenance, and "
        "record it in dist/<name>/publish.json. Refuses records that are missing, damaged or "
        "built from another config or lockfile. Log in with `docker login REGISTRY`.",
    )
    parser.add_argument("names", nargs="*", metavar="NAME", help="framework names")
    parser.add_argument("--registry", help="registry host[:port] (default: buildkit.toml)")
    parser.add_argument("--repository", help="repository path in the registry")
    parser.add_argument(
        "--tag",
        action="append",
        default=[],
        dest="tags",
        help="a tag of the manifest list; repeat for several (default: [publish] tags)",
    )
    parser.add_argument(
        "--arch-tags",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="also tag each arch <tag>-<arch> (default: [publish] arch_tags, off)",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="check the records and print the references, digests and commands; touch nothing",
    )
    parser.set_defaults(func=run)


def tool_image(value: str, name: str, project: ProjectConfig) -> ImageRef:
    env = f"BUILDKIT_{name.upper()}_IMAGE"
    return parse_image_ref(
        value, project.allow_unpinned, where=f"tools.{name} (buildkit.toml / {env})"
    )


def signer_for(project: ProjectConfig) -> Signer | None:
    """The configured cosign signer; key mode needs keys/cosign.key and its .pub."""
    if project.signing == "none":
        return None
    if project.signing == "keyless":
        return Signer(
            mode="keyless",
            identity=project.certificate_identity,
            issuer=project.certificate_oidc_issuer,
        )
    signer = Signer(mode="key", key=project.cosign_key)
    for path in (project.cosign_key, signer.public_key):
        assert path is not None
        if not path.is_file():
            raise PublishError(
                f"no cosign key {path.name}: signing needs the key pair",
                where=str(path),
                hint="run `nox -s keygen -- --cosign` (scripts/setup makes one), or set "
                '[publish] signing = "none"',
            )
    return signer


def check_identity_token(project: ProjectConfig) -> None:
    """Keyless signing in a container has no browser: it needs a token from the environment
    (passed in by name). Without one, one line before anything is pushed."""
    if project.signing == "keyless" and not any(os.environ.get(name) for name in KEYLESS_ENV):
        raise PublishError(
            "keyless signing needs an OIDC identity token, and none is set (SIGSTORE_ID_TOKEN, "
            "or GitHub Actions' ACTIONS_ID_TOKEN_REQUEST_URL and _TOKEN): nothing was pushed",
            where="[publish] signing (buildkit.toml / BUILDKIT_SIGNING)",
            hint=KEYLESS_HINT,
        )


def tools_for(project: ProjectConfig, *, signing: bool = True) -> Tools:
    crane = tool_image(project.crane_image, "crane", project)
    cosign = tool_image(project.cosign_image, "cosign", project)
    signer = signer_for(project) if signing else None
    return Tools(
        crane=crane,
        cosign=cosign if signer else None,
        signer=signer,
        project=project.root,
        docker_config=docker_config_dir(os.environ),
        tool_images={"crane": str(crane), "cosign": str(cosign)},
    )


def run(args: argparse.Namespace) -> int:
    project = load_project(args.project)
    target = make_target(
        project,
        registry=args.registry,
        repository=args.repository,
        tags=args.tags,
        arch_tags=args.arch_tags,
    )
    if not args.dry_run:  # before anything is read, loaded or pushed
        check_identity_token(project)
        ping(target.registry, insecure=target.insecure)
    plans = prepare(project, args.names, target, say=ui.info)
    tools = tools_for(project)
    if args.dry_run:
        for plan in plans:
            _print_plan(plan, tools)
        return 0
    engine = Engine.detect(project)
    publisher = Publisher(
        engine=engine,
        docker=engine.manifest_cli(),
        store=Store(project.dist_dir),
        tools=tools,
        say=ui.info,
    )
    for plan in plans:
        record = publisher.publish(plan)
        ui.out.print(f"{record.repo}@{record.digest}", markup=False)
        for tag in record.tags:
            ui.out.print(f"  tag {record.repo}:{tag}", markup=False)
        for image in record.images:
            ui.out.print(
                f"  {image.platform:<16} {image.reference} (config {image.config_digest})",
                markup=False,
            )
        ui.out.print(f"  signing: {record.signing.get('mode')}", markup=False)
    return 0


def _print_plan(plan: FrameworkPlan, tools: Tools) -> None:
    ui.out.print(f"{plan.reference} (dry run: nothing is pushed)", markup=False)
    for reference in plan.references[1:]:
        ui.out.print(f"  also {reference}", markup=False)
    for image in plan.images:
        ui.out.print(
            f"  {image.platform:<16} {image.reference} config {image.config_digest} "
            f"tarball {image.record.tarball.digest}",
            markup=False,
        )
    for argv in plan_commands(plan, crane=tools.crane, project=tools.project):
        ui.out.print(f"  $ {shlex.join(argv)}", markup=False)
    if tools.signer:
        ui.out.print(
            f"  then cosign ({tools.signer.mode}) signs the list and each arch, and attests "
            "each arch's SBOM and provenance",
            markup=False,
        )
