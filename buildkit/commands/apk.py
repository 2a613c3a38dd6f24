"""`buildkit apk ...`: repository work (vercmp, verify, pack, index, show)."""

from __future__ import annotations

import argparse
from typing import Any

from buildkit.commands import apk_files, apk_pack, apk_version


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "apk", help="work with APK versions, packages and indexes"
    )
    apk_sub = parser.add_subparsers(dest="apk_command", metavar="APK_COMMAND", required=True)
    apk_version.register(apk_sub)
    apk_files.register(apk_sub)
    apk_pack.register(apk_sub)
