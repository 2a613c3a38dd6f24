"""`buildkit scan [FRAMEWORK...] [SBOM.spdx.json...]` (`nox -s scan`): known vulnerabilities
in the locked packages (or an SBOM's), from the APK security databases."""

from __future__ import annotations

import argparse
import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.table import Table

from buildkit import ui
from buildkit.apk.arch import normalize_arch
from buildkit.errors import UsageError
from buildkit.fsutil import atomic_write_bytes
from buildkit.progress import LineReporter
from buildkit.project.config import load_project
from buildkit.scan.ignore import openvex
from buildkit.scan.report import summary_rows, to_json, to_sarif
from buildkit.usecases.scanning import ScanOptions, load_ignores, scan_project

FORMATS = ("table", "json", "sarif")
FAIL_ON = ("none", "fixable", "any")


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "scan",
        help="match locked packages (or an SPDX SBOM) against APK security databases",
        description="Match every locked package of the selected frameworks, per arch, against "
        "the security databases of their repositories (buildkit.toml [scan.databases]; Wolfi "
        "and Alpine are known). Arguments ending in .json are SPDX SBOMs, the rest framework "
        "names (default: buildkit.toml's [project].frameworks, else every lockfile).",
    )
    parser.add_argument(
        "targets", nargs="*", metavar="FRAMEWORK|SBOM", help="framework names or SBOM files"
    )
    parser.add_argument(
        "--arch", action="append", default=[], metavar="ARCH", help="only this arch (repeatable)"
    )
    parser.add_argument("--format", choices=FORMATS, default="table", help="default: table")
    parser.add_argument(
        "-o", "--output", type=Path, metavar="FILE", help="write the report here (atomically)"
    )
    parser.add_argument(
        "--fail-on",
        choices=FAIL_ON,
        default="none",
        help="exit 1 when findings of this kind remain: fixable = the repositories offer the "
        "fixed version (lock --update would fix it); any = every finding (default: none)",
    )
    parser.add_argument(
        "--db",
        action="append",
        default=[],
        metavar="URL|PATH",
        help="use this security database for every package (repeatable)",
    )
    parser.add_argument(
        "--ignore-file",
        type=Path,
        metavar="FILE",
        help="ignore file (default: buildkit.toml [scan].ignore, .buildkit-scan-ignore.toml)",
    )
    parser.add_argument(
        "--vex", type=Path, metavar="FILE", help="also export the live ignores as OpenVEX"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:

    project = load_project(args.project)
    sboms = tuple(Path(t) for t in args.targets if t.endswith(".json"))
    names = tuple(t for t in args.targets if not t.endswith(".json"))
    if sboms and names:
        raise UsageError("give framework names or SBOM files, not both", where="buildkit scan")
    options = ScanOptions(
        frameworks=names,
        archs=tuple(dict.fromkeys(normalize_arch(a) for a in args.arch)),
        sboms=sboms,
        databases=tuple(args.db),
        ignore_file=args.ignore_file,
        check_repositories=args.fail_on == "fixable",
    )
    report = scan_project(project, options, reporter=LineReporter(ui.err))
    if args.vex:
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        rules = [r for r in load_ignores(project, args.ignore_file) if not r.expired(now.date())]
        atomic_write_bytes(
            args.vex, openvex(rules, author="buildkit scan", timestamp=now.isoformat())
        )
    for problem in report.problems:
        ui.info(f"warning: {problem}")
    if args.format == "table":
        _print_table(report)
    else:
        data = to_json(report) if args.format == "json" else to_sarif(report, fail_on=args.fail_on)
        if args.output:
            atomic_write_bytes(args.output, data)
        else:
            ui.out.file.write(data.decode("utf-8"))
    failing = report.failing(args.fail_on)
    if failing:
        ui.info(f"{len(failing)} finding(s) at or above --fail-on {args.fail_on}")
        return 1
    return 0


def _print_table(report: Any) -> None:

    for db in report.databases:
        stale = ", served from cache: source unreachable" if db.stale else ""
        ui.out.print(
            f"database {db.source}: {db.entries} secfix id(s), last modified {db.age} ago{stale}",
            markup=False,
        )
    if report.findings:
        ui.out.print(findings_table(summary_rows(report.findings)))
        if any(f.fix_available is False for f in report.findings):
            ui.out.print("* the repositories do not offer the fixed version yet", markup=False)
    ignored = f", {len(report.ignored)} ignored" if report.ignored else ""
    ui.out.print(
        f"{len(report.findings)} finding(s) in {report.scanned} package(s){ignored}",
        markup=False,
    )


def findings_table(rows: Sequence[Sequence[str]]) -> Table:
    """The findings, one row each: fits 80 columns (:func:`buildkit.ui.table`)."""
    table = ui.table(
        "vulnerabilities", ("framework", "arch", "package", "installed", "id", "fixed in")
    )
    for row in rows:
        table.add_row(*row)
    return table
