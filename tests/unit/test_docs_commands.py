"""The docs are true: every ``nox -s ...`` and ``buildkit ...`` line in README.md and docs/
parses against the real argument parsers, and the reference's usage lines list every option.

Commands are taken from fenced code blocks (one per line, after ``VAR=value`` prefixes, up to a
``#`` comment) and from inline code spans. A concrete command must parse: its sessions exist,
and the arguments after ``--`` are parsed by ``buildkit``'s own parser exactly as the session
passes them on (the session functions run with a recording stand-in for ``_buildkit``). A
usage synopsis (``[--check]``, ``NAME...``) may only name options the verb has; the
reference's ``### `buildkit VERB ...``` headings must name all of them.
"""

from __future__ import annotations

import argparse
import re
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import nox
import pytest

from buildkit.cli import build_parser
from buildkit.framework import load_framework
from buildkit.melange import parse_package_config
from buildkit.melange_check import check_melange_config
from tests.helpers.commands import check_command
from tests.helpers.walkthroughs import walkthrough

ROOT = Path(__file__).resolve().parents[2]
DOCS = (ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")))
COMMAND = re.compile(r"^(?:[A-Z_]+=\S+\s+)*((?:nox|buildkit|python -m buildkit)(?=\s|$).*)$")
SYNOPSIS = re.compile(r"\[|\.\.\.|\b(?:ARGS|NAME|FRAMEWORK|CONFIG|PKG|COMMAND|DIR|ARCH|X|N)\b")


@dataclass(frozen=True)
class Example:
    where: str  # file:line
    text: str

    @property
    def synopsis(self) -> bool:
        return bool(SYNOPSIS.search(self.text))

    def __str__(self) -> str:
        return f"{self.where}: {self.text}"


def examples() -> Iterator[Example]:
    for path in DOCS:
        fenced = False
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            where = f"{path.relative_to(ROOT)}:{number}"
            if line.lstrip().startswith("```"):
                fenced = not fenced
                continue
            if fenced:
                found = COMMAND.match(line.split(" #", 1)[0].strip())
                if found:
                    yield Example(where, found.group(1).strip())
                continue
            for _ticks, span in re.findall(r"(`+)(.+?)\1", line):
                found = COMMAND.match(span.strip())
                # `buildkit lock: unrecognized arguments ...` quotes a message, not a command
                if found and " " in found.group(1) and not found.group(1).split()[1].endswith(":"):
                    yield Example(where, found.group(1).strip())


ALL = list(examples())


def test_the_docs_have_commands_to_check() -> None:
    texts = {e.text.split(" --", 1)[0] for e in ALL}
    assert {"nox -s lock", "nox -s build-amd64", "nox -s publish"} <= texts
    assert len(ALL) > 40


@pytest.mark.parametrize("example", [e for e in ALL if not e.synopsis], ids=str)
def test_a_command_in_the_docs_parses(example: Example, monkeypatch: pytest.MonkeyPatch) -> None:
    check_command(example.text, monkeypatch)


def _verb_options(verb: list[str]) -> list[frozenset[str]]:
    """Each option of the verb, as the set of its spellings (``{"-j", "--jobs"}``)."""
    parser = build_parser(raise_usage_errors=True)
    for word in verb:
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = sub.choices[word]
    return [
        frozenset(action.option_strings)
        for action in parser._actions
        if action.option_strings and "--help" not in action.option_strings
    ]


def _verb(words: list[str]) -> list[str]:
    verb = [words[1]] if words[1] not in ("-C", "[-C") else []
    if verb == ["apk"] and len(words) > 2 and words[2][:1].isalpha():
        verb.append(words[2])
    return verb


@pytest.mark.parametrize(
    "example", [e for e in ALL if e.synopsis and e.text.startswith("buildkit ")], ids=str
)
def test_a_usage_line_names_only_real_options(example: Example) -> None:
    words = example.text.replace("[", " ").replace("]", " ").replace("|", " ").split()
    verb = _verb(words)
    if not verb or verb[0] == "COMMAND":
        return
    known = {o for spellings in _verb_options(verb) for o in spellings} | {"--project"}
    named = {w.rstrip(".") for w in words if w.startswith("--")}
    assert named <= known, f"{example}: not options of buildkit {' '.join(verb)}"


HEADING = re.compile(r"^### `(buildkit [a-z]+[^`]*)`", re.M)


@pytest.mark.parametrize(
    "usage", HEADING.findall((ROOT / "docs" / "reference.md").read_text()), ids=str
)
def test_a_reference_usage_line_lists_every_option_of_its_verb(usage: str) -> None:
    words = usage.replace("[", " ").replace("]", " ").split()
    verb = _verb(words)
    named = {w.rstrip(".") for w in words if w.startswith("-")}
    missing = [max(o, key=len) for o in _verb_options(verb) if not o & named]
    assert not missing, f"`{usage}` lacks {', '.join(sorted(missing))}"


# --------------------------------------------------------------------------------------------
# The guide's walkthroughs ("Adding a local package", "Adding a framework"): their files are
# valid here; tests/e2e/test_walkthroughs.py runs their commands for real.


def test_the_walkthrough_files_are_valid_configs(tmp_path: Path) -> None:

    steps = walkthrough()
    assert set(steps.files) == {"packages/greeter.yaml", "frameworks/greeter.yaml", "buildkit.toml"}
    melange = steps.files["packages/greeter.yaml"].encode()
    check_melange_config(melange, where="packages/greeter.yaml")
    assert parse_package_config(melange, path=Path("packages/greeter.yaml")).name == "greeter"
    (tmp_path / "frameworks").mkdir()
    (tmp_path / "frameworks" / "greeter.yaml").write_text(steps.files["frameworks/greeter.yaml"])
    framework = load_framework("frameworks/greeter.yaml", base_dir=tmp_path)
    assert "greeter@local" in framework.contents.packages
    toml = tomllib.loads(steps.files["buildkit.toml"])
    assert "greeter" in toml["project"]["frameworks"]
    assert steps.commands[:2] == ["nox -s lock -- greeter", "nox -s build-amd64 -- greeter"]


def test_the_release_workflow_has_the_list_the_guide_says_to_extend() -> None:
    guide = (ROOT / "docs" / "guide.md").read_text()
    workflow = (ROOT / ".github" / "workflows" / "release.yml").read_text()
    listed = re.search(r"^  FRAMEWORKS: (.*)$", workflow, re.M)
    assert listed is not None
    assert f"`FRAMEWORKS: {listed.group(1)} greeter`" in guide


def test_every_nox_session_has_a_one_line_description_and_a_reference_row() -> None:
    """`nox -l` shows a session docstring's first line only: it must say everything."""
    reference = (ROOT / "docs" / "reference.md").read_text()
    for name, session in nox.registry.get().items():
        doc = (session.func.__doc__ or "").strip()
        assert doc, f"session {name} has no description"
        assert "\n" not in doc, f"nox -l would cut the description of {name}"
        assert f"| `{name}` |" in reference, f"docs/reference.md has no row for session {name}"
