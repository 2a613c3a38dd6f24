"""`buildkit apk vercmp`: compare apk versions like ``apk version -t`` and ``-c``."""

from __future__ import annotations

import argparse
from typing import Any

from buildkit import ui
from buildkit.apk.atom import Op, parse_op, version_matches
from buildkit.apk.version import compare_versions
from buildkit.errors import AtomError

_SIGNS = {-1: "<", 0: "=", 1: ">"}


def register(sub: Any) -> None:
    """Add `vercmp` to the `buildkit apk` group."""
    parser: argparse.ArgumentParser = sub.add_parser(
        "vercmp",
        help="compare two apk versions",
        description="With two versions, print <, = or > (like apk version -t). "
        "With A OP B, exit 0 when the comparison holds and 1 when it does not; OP is one of "
        "= < > <= >= ~ <~ >~, optionally negated with ! (e.g. !~). "
        "An invalid version is an error (exit 2).",
    )
    parser.add_argument("first", metavar="A", help="a version")
    parser.add_argument("second", metavar="OP|B", help="an operator, or the second version")
    parser.add_argument("third", metavar="B", nargs="?", help="the second version, after OP")
    parser.set_defaults(func=run_vercmp)


def run_vercmp(args: argparse.Namespace) -> int:
    if args.third is None:
        ui.out.print(_SIGNS[compare_versions(args.first, args.second)], markup=False)
        return 0
    negate = args.second.startswith("!")
    op = parse_op(args.second[1:] if negate else args.second)
    if op is Op.CHECKSUM:
        raise AtomError("'><' pins a package checksum; vercmp compares versions")
    holds = version_matches(args.first, op, args.third)
    return 0 if holds != negate else 1
