"""apk-tools 3's token walk: the same order as buildkit's keys on valid versions, and apk's
answers (never an error) where a version is invalid."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from buildkit.apk.version import compare_versions, fuzzy_match
from buildkit.apk.version_tokens import apk_compare, apk_match

FUZZY = [
    ("3.6.9", "3.6", True),
    ("3.60", "3.6", False),
    ("3.6", "3.6", True),
    ("3.8", "3.8.1", False),
    ("1.0-r1", "1.0", True),
]

_SUFFIX = st.sampled_from(["alpha", "beta", "pre", "rc", "cvs", "svn", "git", "hg", "p"])
_GROUP = st.sampled_from(["0", "1", "2", "9", "10", "01", "00", "18446744073709551617"])
VERSIONS = st.builds(
    lambda first, groups, letter, suffixes, commit, revision: (
        first
        + "".join("." + g for g in groups)
        + letter
        + "".join("_" + s for s in suffixes)
        + commit
        + revision
    ),
    _GROUP,
    st.lists(_GROUP, max_size=3),
    st.sampled_from(["", "a", "z"]),
    st.lists(
        st.builds(lambda s, n: s + n, _SUFFIX, st.sampled_from(["", "0", "1", "12"])), max_size=2
    ),
    st.sampled_from(["", "~ab", "~0f", "~c0ffee"]),
    st.sampled_from(["", "-r0", "-r1", "-r10"]),
)


@given(VERSIONS, VERSIONS)
def test_the_token_walk_orders_valid_versions_as_the_keys_do(a: str, b: str) -> None:
    assert apk_compare(a, b) == compare_versions(a, b)


@given(VERSIONS, VERSIONS)
def test_fuzzy_walk_agrees_with_fuzzy_match(version: str, prefix: str) -> None:
    assert (apk_compare(version, prefix, fuzzy=True) == 0) == fuzzy_match(version, prefix)


@pytest.mark.parametrize(("version", "prefix", "expected"), FUZZY)
def test_fuzzy_table(version: str, prefix: str, expected: bool) -> None:
    assert apk_match(version, "~", prefix) == expected


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("1.x", "2", -1),  # the walk stops at the first difference: 1 < 2
        ("1.x", "1", -1),  # "1" ended, "1.x" broke: the broken one is lower
        ("1", "1.x", 1),
        ("1.x", "1.y", 0),  # both broke at the same point: equal, as apk says
        ("2_foo", "1", 1),
        ("1", "v2", 1),  # "v2" breaks at once
        ("", "", 0),
        ("1.2.3-r", "1.2.3", -1),
        ("1.0_rc1", "1.0.x", -1),  # a pre-release sorts lower even than a broken token
    ],
)
def test_invalid_versions_compare_as_apk_tools_3_does(a: str, b: str, expected: int) -> None:
    assert apk_compare(a, b) == expected


def test_a_fuzzy_prefix_that_ends_matches_a_broken_version() -> None:
    assert apk_match("1.0.x", "~", "1.0")
    assert not apk_match("1.1.x", "~", "1.0")
