"""The command line imports only the verb it runs, and every verb when it is not plain."""

from __future__ import annotations

import pytest

from buildkit.cli import COMMAND_MODULES, build_parser, verbs_for


@pytest.mark.parametrize(
    ("argv", "verbs"),
    [
        (["lock", "--check"], ("lock",)),
        (["-C", "lock", "build"], ("build",)),  # "lock" is -C's folder here
        (["--project", "x", "scan"], ("scan",)),
        (["--project=x", "publish"], ("publish",)),
        (["-Cx", "verify"], ("verify",)),
        (["--help"], COMMAND_MODULES),
        (["--proj", "x", "lock"], COMMAND_MODULES),  # an abbreviation: argparse decides
        (["lokc"], COMMAND_MODULES),  # unknown: the full parser says so
        ([], COMMAND_MODULES),
        (["-C"], COMMAND_MODULES),
    ],
)
def test_verbs_for_names_the_one_plain_verb(argv: list[str], verbs: tuple[str, ...]) -> None:
    assert tuple(verbs_for(argv)) == tuple(verbs)


def test_a_one_verb_parser_parses_that_verb_as_the_full_one_does() -> None:
    argv = ["-C", "proj", "lock", "a", "--check", "--update", "x"]
    alone = build_parser(verbs=verbs_for(argv)).parse_args(argv)
    full = build_parser().parse_args(argv)
    assert vars(alone) == vars(full)
