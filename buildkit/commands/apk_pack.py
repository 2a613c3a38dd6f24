"""`buildkit apk pack DIR`: pack a folder into a signed, reproducible .apk.

The same folder, metadata, key and SOURCE_DATE_EPOCH always give the same bytes, so a
package can be rebuilt and compared, or cached by content.
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from buildkit import ui
from buildkit.apk.arch import normalize_arch
from buildkit.apk.atom import parse_atom
from buildkit.apk.keys import SigningKey
from buildkit.apk.package import pack_package, read_layout
from buildkit.apk.pkginfo import PkgInfo
from buildkit.apk.version import parse_version
from buildkit.errors import ConfigError
from buildkit.fsutil import atomic_write_bytes

# apk package names: letters, digits and + . _ - (libstdc++, py3.11-pip), not starting with
# a separator, so a name can never be mistaken for an option, a path or an atom operator.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9+._-]*")


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "pack",
        help="pack a folder into a signed .apk (same inputs, same bytes)",
        description="Pack DIR into <name>-<version>.apk, signed RSA/SHA-256. Entry mtimes and "
        "builddate come from SOURCE_DATE_EPOCH (default 0).",
    )
    parser.add_argument("directory", type=Path, metavar="DIR", help="the package's root folder")
    parser.add_argument("--name", required=True, help="package name (pkgname)")
    parser.add_argument("--version", required=True, help="apk version, e.g. 1.2.3-r0")
    parser.add_argument("--arch", required=True, help="x86_64, aarch64, ... (or amd64, arm64)")
    parser.add_argument(
        "--signing-key", required=True, type=Path, metavar="KEY", help="RSA private key (PEM)"
    )
    parser.add_argument(
        "--depend", action="append", default=[], metavar="ATOM", help="runtime dependency"
    )
    parser.add_argument(
        "--provide", action="append", default=[], metavar="ATOM", help="virtual it provides"
    )
    parser.add_argument("--description", default="", metavar="TEXT")
    parser.add_argument("--license", default="", metavar="SPDX")
    parser.add_argument("--url", default="", metavar="URL")
    parser.add_argument("--origin", default="", metavar="NAME", help="default: --name")
    parser.add_argument(
        "--no-sbom",
        dest="sbom",
        action="store_false",
        help="do not add var/lib/db/sbom/<name>-<version>.spdx.json (apko lists a package in "
        "an image's SBOM only when it carries one; a tree that has one keeps its own)",
    )
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--output", type=Path, metavar="PATH", help="write the .apk here")
    output.add_argument(
        "--output-dir", type=Path, metavar="DIR", help="write <name>-<version>.apk in DIR"
    )
    parser.set_defaults(func=run)


def source_date_epoch(environ: Mapping[str, str]) -> int:
    """SOURCE_DATE_EPOCH as whole seconds; 0 when unset, as melange defaults."""
    raw = environ.get("SOURCE_DATE_EPOCH", "").strip()
    if not raw:
        return 0
    if not raw.isascii() or not raw.isdigit():
        raise ConfigError(
            f"SOURCE_DATE_EPOCH must be whole seconds since 1970, not {raw!r}",
            where="environment",
        )
    return int(raw)


def _check_atoms(flag: str, atoms: list[str]) -> tuple[str, ...]:

    for text in atoms:
        parse_atom(text)  # raises AtomError naming the bad atom
        if text.startswith("!") and flag == "--provide":
            raise ConfigError(f"--provide cannot be a conflict: {text}")
    return tuple(atoms)


def package_info(args: argparse.Namespace) -> PkgInfo:
    """The .PKGINFO fields from the command line, validated."""

    if not _NAME.fullmatch(args.name):
        raise ConfigError(
            f"invalid package name {args.name!r}",
            hint="use letters, digits and + . _ - (not at the start)",
        )
    parse_version(args.version)  # raises VersionError with the bad span
    return PkgInfo(
        name=args.name,
        version=args.version,
        arch=normalize_arch(args.arch),
        description=args.description,
        url=args.url,
        license=args.license,
        origin=args.origin or args.name,
        depends=_check_atoms("--depend", args.depend),
        provides=_check_atoms("--provide", args.provide),
    )


def run(args: argparse.Namespace) -> int:
    info = package_info(args)
    epoch = source_date_epoch(os.environ)
    key = SigningKey.load(args.signing_key)
    data = pack_package(args.directory, info, key=key, source_date_epoch=epoch, sbom=args.sbom)
    filename = f"{info.name}-{info.version}.apk"
    target: Path = args.output or (args.output_dir or Path()) / filename
    atomic_write_bytes(target, data)
    identity = read_layout(data, where=str(target)).identity
    ui.out.print(str(target), markup=False)
    ui.info(f"packed {info.name} {info.version} ({info.arch}, {len(data)} bytes, {identity})")
    return 0
