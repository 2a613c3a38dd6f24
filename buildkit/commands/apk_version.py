"""`buildkit apk vercmp`: compare apk versions like ``apk version -t`` and ``-c``."""

from __future__ import annotations

import argparse
from typing import Any

from buildkit import ui
from buildkit.apk.atom import Op, parse_op, version_matches
from buildkit.apk.version import is_valid_version, parse_version
from buildkit.apk.version_tokens import apk_compare, apk_match
from buildkit.errors import AtomError, VersionError

_SIGNS = {-1: "<", 0: "=", 1: ">"}


def register(sub: Any) -> None:
    """Add `vercmp` to the `buildkit apk` group."""
    parser: argparse.ArgumentParser = sub.add_parser(
        "vercmp",
        help="compare two apk versions",
        description="With two versions, print <, = or > (like apk version -t). "
        "With A OP B, exit 0 when the comparison holds and 1 when it does not; OP is one of "
        "= < > <= >= ~ <~ >~, optionally negated with ! (e.g. !~). "
        "A version apk-tools calls invalid is compared as apk-tools 3 compares it (token by "
        "token, up to where it breaks), with a warning saying why it is invalid.",
    )
    parser.add_argument("first", metavar="A", help="a version")
    parser.add_argument("second", metavar="OP|B", help="an operator, or the second version")
    parser.add_argument("third", metavar="B", nargs="?", help="the second version, after OP")
    parser.set_defaults(func=run_vercmp)


def run_vercmp(args: argparse.Namespace) -> int:
    if args.third is None:
        _warn_invalid(args.first, args.second)
        ui.out.print(_SIGNS[apk_compare(args.first, args.second)], markup=False)
        return 0
    negate = args.second.startswith("!")
    try:
        op = parse_op(args.second[1:] if negate else args.second)
    except AtomError as err:
        err.hint = (
            f"{err.hint or 'use an operator'}, or ! before one to negate it "
            "(see `buildkit apk vercmp --help`)"
        )
        raise
    if op is Op.CHECKSUM:
        raise AtomError("'><' pins a package checksum; vercmp compares versions")
    if _warn_invalid(args.first, args.third):
        holds = apk_match(args.first, op.value, args.third)
    else:
        holds = version_matches(args.first, op, args.third)
    return 0 if holds != negate else 1


def _warn_invalid(*versions: str) -> bool:
    """Say which versions apk-tools calls invalid, and why; True if any is."""
    found = False
    for text in dict.fromkeys(versions):
        if is_valid_version(text):
            continue
        found = True
        try:
            parse_version(text)
        except VersionError as err:
            reason = err.message
        else:  # pragma: no cover - is_valid_version and parse_version agree
            reason = f"invalid version {text!r}"
        ui.info(f"buildkit: warning: {reason}; compared as apk-tools 3 does, token by token")
    return found
