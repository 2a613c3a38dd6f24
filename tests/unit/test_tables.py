"""Every results table fits 80 columns by wrapping cells, not rows: ``buildkit show``, the
``scan`` table, ``lock --outdated``, the lock's change table and ``doctor`` (its own test in
test_doctor.py), filled with the longest values real projects have (.NET runtime package
names, SPDX expressions, GHSA ids, long versions), on a console 80 columns wide (what
``COLUMNS=80`` gives rich)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from rich.console import Console
from rich.table import Table

from buildkit.commands.lock import changes_table, outdated_table
from buildkit.commands.scan import findings_table
from buildkit.commands.show import packages_table
from buildkit.usecases.inventory import PackageRow
from buildkit.usecases.scanning import Outdated

NAME = "dotnet-aspnet-8-runtime-composite-with-a-long-name"
VERSION = "8.0.11.20241112.123456-r1000"
LICENCE = "MIT AND Apache-2.0 AND BSD-3-Clause AND GPL-2.0-or-later WITH Classpath-exception-2.0"
IDS = ("CVE-2024-123456", "GHSA-abcd-efgh-ijkl-mnop", "GO-2024-1234")

TABLES: dict[str, tuple[Callable[[], Table], list[str]]] = {
    "show": (
        lambda: packages_table(
            "aspnet-8",
            [
                PackageRow(
                    arch="aarch64",
                    name=NAME,
                    version=VERSION,
                    license=LICENCE,
                    installed_size=123_456_789,
                ),
                PackageRow(
                    arch="x86_64",
                    name="busybox",
                    version="1.36.1-r0",
                    license="",
                    installed_size=None,
                ),
            ],
        ),
        ["aarch64", "x86_64"],
    ),
    "scan": (
        lambda: findings_table(
            [
                ("aspnet-8-framework", "aarch64", NAME, VERSION, IDS[1], f"{VERSION}0 *"),
                ("demo", "x86_64", "busybox", "1.36.1-r0", IDS[0], "1.36.1-r1"),
            ]
        ),
        ["aspnet-8-", "demo"],
    ),
    "lock --outdated": (
        lambda: outdated_table(
            [
                Outdated(
                    framework="aspnet-8-framework",
                    arch="aarch64",
                    package=NAME,
                    locked=VERSION,
                    newest=f"{VERSION}0",
                    fixes=IDS,
                ),
                Outdated(
                    framework="demo",
                    arch="x86_64",
                    package="busybox",
                    locked="1.36.1-r0",
                    newest="1.36.1-r1",
                    fixes=(),
                ),
            ]
        ),
        ["aspnet-8-", "demo"],
    ),
    "lock changes": (
        lambda: changes_table(
            [
                (
                    "aspnet-8-framework",
                    NAME,
                    "aarch64",
                    f"{VERSION} -> {VERSION}0 (upgraded)",
                    ", ".join(IDS),
                ),
                ("demo", "busybox", "x86_64", "- -> 1.36.1-r0 (added)", "-"),
            ]
        ),
        ["aspnet-8-", "demo"],
    ),
}


@pytest.mark.parametrize("name", TABLES)
def test_a_table_fits_80_columns_wrapping_cells_not_rows(name: str) -> None:
    make, first_cells = TABLES[name]
    console = Console(width=80, record=True, color_system=None)
    console.print(make())
    lines = console.export_text().splitlines()
    assert max(len(line) for line in lines) <= 80, "\n".join(lines)
    assert "…" not in "".join(lines)  # cells wrap; nothing is cut off
    # each row starts on exactly one line, its first cell in the first column
    for cell in first_cells:
        assert sum(line.startswith(cell) for line in lines) == 1, "\n".join(lines)
    # a wrapped cell keeps every character: the same ones as the table printed unwrapped
    wide = Console(width=400, record=True, color_system=None)
    wide.print(make())
    assert _characters(lines) == _characters(wide.export_text().splitlines())


def _characters(lines: list[str]) -> list[str]:
    return sorted(c for c in "".join(lines) if c not in " ─")
