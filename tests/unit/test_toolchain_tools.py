"""buildkit.toolchain.tools: tool versions as apko and melange print them."""

from __future__ import annotations

import pytest

from buildkit.toolchain import (
    parse_tool_version,
)


@pytest.mark.parametrize(
    ("output", "version"),
    [
        ("  ___\napko\n\nGitVersion:    v1.2.39\nGitCommit:     unknown\n", "v1.2.39"),
        ("GitVersion:    v0.59.1\n", "v0.59.1"),
        ("1.0.0\n", "1.0.0"),
        ("", "unknown"),
    ],
)
def test_parse_tool_version(output: str, version: str) -> None:
    assert parse_tool_version(output) == version
