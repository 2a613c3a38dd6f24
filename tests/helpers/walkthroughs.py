"""The guide's walkthroughs ("Adding a local package", "Adding a framework"): their files and
commands, read from docs/guide.md. tests/unit/test_docs_commands.py checks the files are valid
configs; tests/e2e/test_walkthroughs.py runs the commands for real."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from tests.helpers.paths import PROJECT_ROOT

WALKTHROUGHS = ("Adding a local package", "Adding a framework")


@dataclass(frozen=True)
class Walkthrough:
    files: dict[str, str]  # path -> text, from blocks whose first line is "# <path>"
    commands: list[str]  # the sh block's lines, comments stripped


def walkthrough(guide: Path = PROJECT_ROOT / "docs" / "guide.md") -> Walkthrough:
    text = guide.read_text()
    files: dict[str, str] = {}
    commands: list[str] = []
    for title in WALKTHROUGHS:
        section = text.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]
        for lang, body in re.findall(r"```(\w+)\n(.*?)```", section, re.S):
            lines = [line.removeprefix("   ") for line in body.rstrip().splitlines()]
            if lang == "sh":
                commands += [line.split(" #", 1)[0].strip() for line in lines if line.strip()]
            elif lines and lines[0].startswith("# "):
                files[lines[0][2:].strip()] = "\n".join(lines[1:]) + "\n"
    return Walkthrough(files=files, commands=commands)
