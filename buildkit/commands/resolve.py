"""`buildkit resolve CONFIG [--arch ARCH]`: print a framework's resolution, one name=version a line.

Packages are printed in install order (dependencies first). Nothing is written.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from buildkit import ui
from buildkit.apk.arch import normalize_arch
from buildkit.apk.keys import Keyring
from buildkit.collector import PAUSED, keep_until_exit
from buildkit.framework import load_framework
from buildkit.project.config import load_project
from buildkit.repo import RepoClient, repo_sources
from buildkit.resolve import resolve
from buildkit.usecases.locking import load_keyring


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "resolve",
        help="print the packages a framework resolves to (name=version, install order)",
        description="Resolve an apko config's packages for one arch against its repositories "
        "and print name=version lines, dependencies first. Paths in the config are relative "
        "to the project root.",
    )
    parser.add_argument("config", type=Path, metavar="CONFIG", help="an apko config (YAML)")
    parser.add_argument(
        "--arch", metavar="ARCH", help="apk or OCI arch (default: the config's first arch)"
    )
    parser.add_argument(
        "--allow-untrusted",
        action="store_true",
        help="accept unsigned indexes and unknown keys",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    project = load_project(args.project)
    config = args.config
    if config.is_absolute():
        config = config.relative_to(project.root) if config.is_relative_to(project.root) else config
    framework = load_framework(str(config), base_dir=project.root, default_archs=project.archs)
    arch = normalize_arch(args.arch) if args.arch else framework.archs[0]
    client = RepoClient(
        base_dir=project.root,
        cache_dir=project.cache_dir,
        allow_untrusted=args.allow_untrusted,
        limits=project.fetch_limits,
    )
    pems = load_keyring(framework, client).pems
    keyring = Keyring.from_pems(pems)
    with PAUSED:
        sources = repo_sources(
            framework.resolution_repositories, client, arch, keyring, warn=ui.info
        )
        chosen = resolve(
            framework.contents.packages,
            sources,
            arch=arch,
            context=f"{framework.config_name} (framework {framework.name}, arch {arch})",
        )
    keep_until_exit()  # the process ends next: spare the collector a walk over the index at exit
    for item in chosen:
        ui.out.print(f"{item.record.name}={item.record.version}", markup=False)
    return 0
