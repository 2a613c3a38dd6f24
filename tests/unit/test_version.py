"""apk-tools 3 versions: validity, ordering, fuzzy matching and error messages.

The tables follow apk-tools' ``src/version.c`` rules and are the specification: ASCENDING is a
sorted list, and every pair of it must compare in order (as packaging's version tests do).
"""

from __future__ import annotations

import itertools
import re
from functools import cmp_to_key

import pytest
from hypothesis import given
from hypothesis import strategies as st

from buildkit.apk.version import (
    Version,
    compare_versions,
    fuzzy_match,
    is_valid_version,
    parse_version,
)
from buildkit.errors import VersionError
from tests.helpers.apk_versions import ALPINE_INDEX, WOLFI_INDEX, index_records, versions

# --- tables -------------------------------------------------------------------------------

# Strictly ascending: every pair (i < j) must compare as "<".
ASCENDING = [
    "0",
    "0.0",
    "0.00",  # "0" vs "00": a leading zero makes it a string comparison
    "0.01",
    "0.09",
    "0.1_alpha_pre2",  # a further pre-release suffix sorts below the end
    "0.1_alpha",
    "0.1_alpha1",
    "0.1_alpha2",
    "0.1_alpha10",
    "0.1_alpha_p",
    "0.1_beta",
    "0.1_beta3",
    "0.1_pre",
    "0.1_pre20240101",
    "0.1_rc",
    "0.1_rc0",  # a suffix number, even 0, beats none
    "0.1_rc1",
    "0.1_rc1-r1",
    "0.1_rc2",
    "0.1",
    "0.1-r0",  # -r0 is not the same as no revision
    "0.1-r1",
    "0.1-r2",
    "0.1-r10",
    "0.1~0a",  # a commit hash beats a revision
    "0.1~0a-r1",
    "0.1~1",
    "0.1~abc",
    "0.1~abd",
    "0.1_cvs",  # a post-release suffix beats a hash
    "0.1_svn",
    "0.1_git",
    "0.1_git20240101",
    "0.1_hg",
    "0.1_p",
    "0.1_p1_pre2",
    "0.1_p1",
    "0.1_p1-r1",
    "0.1_p2",
    "0.1_p10",
    "0.1a_rc1",  # a letter beats any suffix
    "0.1a",
    "0.1a-r1",
    "0.1b",
    "0.1z",
    "0.1.0",  # another group beats a letter
    "0.1.00",
    "0.1.01",
    "0.1.1_rc1",
    "0.1.1",
    "0.1.2",
    "0.1.10",
    "0.2",
    "0.10",
    "1_alpha",
    "1",
    "1-r1",
    "1.0",
    "1.0.0",
    "1.0.0.0",
    "1.00",
    "1.01",
    "1.09",
    "1.1",  # "09" < "1" as strings
    "1.2_rc1",
    "1.2",
    "1.2-r100",
    "1.2.3",
    "1.9",
    "1.10",
    "1.10a",
    "1.10.1",
    "1.11",
    "2.0_rc1-r5",
    "2.0",
    "2.0-r0",
    "9",
    "10",
    "20240101",
    "18446744073709551615",  # the largest uint64
]

PAIRS = list(itertools.combinations(ASCENDING, 2))

# Different spellings apk compares as equal.
EQUAL_SPELLINGS = [
    ("01", "1"),  # the first group is always a number
    ("001.2", "1.2"),
    ("1_rc01", "1_rc1"),  # suffix numbers too
    ("1-r01", "1-r1"),  # and revisions
    ("18446744073709551616", "0"),  # apk's uint64 wraps around
    ("1.18446744073709551617", "1.1"),
    ("1" * 5000, str(sum(pow(10, i, 2**64) for i in range(5000)) % 2**64)),  # 5000 digits
]

LEADING_ZEROS = [
    ("1.09", "1.1", -1),
    ("1.10", "1.09", 1),
    ("1.0", "1.00", -1),
    ("1.02", "1.2", -1),
    ("1.020", "1.02", 1),
    ("1.050", "1.5", -1),
    ("8.2.0", "8.2.001", -1),  # apk's own test data
    ("8.2.0015", "8.2.002", -1),
    ("01.5", "1.5", 0),
    ("1.0.0", "1.0.0", 0),
]

REAL_WORLD = [  # (lower, higher) seen in Alpine and Wolfi
    ("3.0.8-r3", "3.0.10-r0"),
    ("1.36.1-r5", "1.36.1-r15"),
    ("2.12-r0", "2.12-r1"),
    ("1.0.0_pre20191002222144-r0", "1.0.0_pre20210530193627-r0"),
    ("4.2.52_p2-r1", "4.2.52_p4-r2"),
    ("6.0_pre1", "6.0"),
    ("6.0", "6.0_p1"),
    ("2.5.1-r8", "2.5.1a-r1"),
    ("1.3_pre1-r1", "1.3.2"),
    ("1.0~1234-r1", "1.0~2345-r0"),
    ("1.0~1234-r0", "1.0~1234-r1"),
    ("2.59", "20050718-r1"),
]

FUZZY = [
    ("3.6.9", "3.6", True),
    ("3.6.0", "3.6", True),
    ("3.6", "3.6", True),
    ("3.6_pre1", "3.6", True),
    ("3.6.0_pre1", "3.6", True),
    ("3.6a", "3.6", True),
    ("3.6-r1", "3.6", True),
    ("3.6~abc", "3.6", True),
    ("01.2", "1", True),  # tokens, not characters: the first group is a number
    ("1.0.6", "1.0", True),
    ("1.2.3_rc1", "1.2.3_rc", True),
    ("1.2.3-r1", "1.2.3-r1", True),
    ("3.60", "3.6", False),  # tokens, not characters
    ("3.8", "3.8.1", False),
    ("3.8.0", "3.8.1", False),
    ("3.8.0.1", "3.8.1", False),
    ("3.6.9", "3.8", False),
    ("3.6_pre1", "3.8", False),
    ("1.06", "1.0", False),  # "06" is not "0"
    ("1.2.3_rc10", "1.2.3_rc1", False),
    ("1.2.3-r10", "1.2.3-r1", False),
    ("1.2~abcd", "1.2~abc", False),
]

VALID = [
    "0",
    "1.2",
    "2.12-r1",
    "0.1_pre2",
    "0.1_pre2~1234abcd",
    "0.1_p1_pre2",
    "0.1_alpha1_pre2",
    "0.1_git20240101_pre1",
    "1.0a_rc1~c0ffee-r12",
    "20240101",
    "99999999999999999999999",
]

INVALID = [
    ("", "invalid version '': it is empty"),
    ("a", "invalid version 'a': it must start with a digit, not 'a'"),
    (".1", "must start with a digit, not '.'"),
    ("v2.4", "must start with a digit, not 'v'"),
    ("-r1", "must start with a digit, not '-'"),
    ("\u0661.2", "must start with a digit"),  # an Arabic-Indic digit is not a digit here
    ("1.", "at '.': '.' must be followed by digits"),
    ("1..2", "at '..2': '.' must be followed by digits"),
    ("0.99f7-r1", "at '7-r1': a digit cannot follow the letter"),
    ("0.1bc", "at 'c': a letter cannot follow the letter"),
    ("0.1a.1", "at '.1': a '.' group cannot follow the letter"),
    ("1.2a_p1.3", "at '.3': a '.' group cannot follow a suffix"),
    ("0.1_foobar1", "at '_foobar1': unknown suffix '_foobar': use one of alpha, beta, pre"),
    ("1_RC1", "unknown suffix '_RC'"),
    ("5.3.0_", "at '_': '_' must start a suffix"),
    ("0.1__alpha", "'_' must start a suffix"),
    ("0.1_1_alpha", "'_' must start a suffix"),
    ("1~", "at '~': '~' must be followed by lowercase hex"),
    ("1~ABC", "'~' must be followed by lowercase hex"),
    ("0.1_pre2~1234xbcd", "at 'xbcd': a letter cannot follow the ~hash"),
    ("1~ab~cd", "a ~hash cannot follow the ~hash"),
    ("1~ab_p1", "a suffix cannot follow the ~hash"),
    ("1-r", "at '-r': '-r' must be followed by digits"),
    ("1-1", "'-' must start a revision like -r0"),
    ("0.1-pre1.1", "'-' must start a revision"),
    ("1-r1-r2", "at '-r2': there can be only one -r revision"),
    ("1-r1_p1", "a suffix cannot follow the -r revision"),
    ("1-r1~ab", "a ~hash cannot follow the -r revision"),
    ("1-r1.2", "a '.' group cannot follow the -r revision"),
    ("1-r1a", "a letter cannot follow the -r revision"),
    ("1.2 ", "at ' ': unexpected character ' '"),
    ("1,2", "unexpected character ','"),
    ("1.2\n", "unexpected character '\\n'"),
]


# --- ordering -----------------------------------------------------------------------------


@pytest.mark.parametrize(("lower", "higher"), PAIRS)
def test_every_pair_of_the_ascending_table_compares_in_order(lower: str, higher: str) -> None:
    assert compare_versions(lower, higher) == -1
    assert compare_versions(higher, lower) == 1
    assert parse_version(lower) < parse_version(higher)
    assert parse_version(higher) > parse_version(lower)
    assert parse_version(lower) != parse_version(higher)


@pytest.mark.parametrize("version", ASCENDING)
def test_a_version_equals_itself(version: str) -> None:
    assert compare_versions(version, version) == 0
    assert parse_version(version) == Version(version)
    assert parse_version(version) <= parse_version(version) >= parse_version(version)


def test_sorting_a_shuffled_table_restores_it() -> None:
    shuffled = sorted(ASCENDING, key=lambda text: hash(text) % 97)
    assert [str(v) for v in sorted(map(parse_version, shuffled))] == ASCENDING
    assert sorted(shuffled, key=cmp_to_key(compare_versions)) == ASCENDING


@pytest.mark.parametrize(("a", "b"), EQUAL_SPELLINGS)
def test_different_spellings_apk_treats_as_equal(a: str, b: str) -> None:
    assert compare_versions(a, b) == 0
    assert parse_version(a) == parse_version(b)
    assert hash(parse_version(a)) == hash(parse_version(b))
    assert str(parse_version(a)) == a  # the spelling is kept


@pytest.mark.parametrize(("a", "b", "expected"), LEADING_ZEROS)
def test_groups_with_a_leading_zero_compare_as_strings(a: str, b: str, expected: int) -> None:
    assert compare_versions(a, b) == expected
    assert compare_versions(b, a) == -expected


@pytest.mark.parametrize(("lower", "higher"), REAL_WORLD)
def test_real_world_versions_order(lower: str, higher: str) -> None:
    assert compare_versions(lower, higher) == -1
    assert compare_versions(higher, lower) == 1


def test_versions_do_not_compare_with_other_types() -> None:
    version = parse_version("1.0")
    assert version != "1.0"
    with pytest.raises(TypeError):
        assert version < "1.1"  # type: ignore[operator]


# --- fuzzy matching -----------------------------------------------------------------------


@pytest.mark.parametrize(("version", "prefix", "expected"), FUZZY)
def test_fuzzy_match_compares_tokens(version: str, prefix: str, expected: bool) -> None:
    assert fuzzy_match(version, prefix) is expected


# --- validity and messages ----------------------------------------------------------------


@pytest.mark.parametrize("version", VALID + ASCENDING)
def test_valid_versions_parse_and_keep_their_text(version: str) -> None:
    assert is_valid_version(version)
    assert str(parse_version(version)) == version
    assert parse_version(version).text == version


@pytest.mark.parametrize(("text", "fragment"), INVALID)
def test_invalid_versions_name_the_string_and_the_place(text: str, fragment: str) -> None:
    assert not is_valid_version(text)
    with pytest.raises(VersionError) as caught:
        parse_version(text)
    message = str(caught.value)
    assert message.startswith(f"invalid version {text!r}")
    assert fragment in message
    assert "\n" not in message
    assert "1.2.3[a][_rc1][~c0ffee][-r0]" in message  # the hint shows the grammar


@pytest.mark.parametrize(("text", "_fragment"), INVALID)
def test_every_entry_point_refuses_invalid_versions(text: str, _fragment: str) -> None:
    for call in (
        lambda: Version(text),
        lambda: compare_versions(text, "1"),
        lambda: compare_versions("1", text),
        lambda: fuzzy_match(text, "1"),
        lambda: fuzzy_match("1", text),
    ):
        with pytest.raises(VersionError):
            call()


def test_parsing_is_cached() -> None:
    assert parse_version("1.2.3-r4") is parse_version("1.2.3-r4")


# --- real indexes -------------------------------------------------------------------------


def test_alpine_index_versions_are_valid_but_one() -> None:
    records = index_records(ALPINE_INDEX)
    assert len(records) == 5004
    invalid = {r["V"] for r in records if not is_valid_version(r["V"])}
    # aspell-ru 0.99f7-r1: a digit after the letter, which apk-tools 3 rejects.
    assert invalid == {"0.99f7-r1"}


def test_index_versions_sort_the_same_by_key_and_by_comparison() -> None:
    versions = {r["V"] for path in (ALPINE_INDEX, WOLFI_INDEX) for r in index_records(path)}
    valid = sorted(filter(is_valid_version, versions))  # a fixed start: sorts are stable
    by_key = sorted(valid, key=parse_version)
    assert len(by_key) > 1300
    assert by_key == sorted(valid, key=cmp_to_key(compare_versions))
    for lower, higher in itertools.pairwise(by_key):
        assert compare_versions(lower, higher) <= 0, (lower, higher)
        assert parse_version(lower) <= parse_version(higher)


# --- properties ---------------------------------------------------------------------------


@given(versions())
def test_generated_versions_round_trip(text: str) -> None:
    assert is_valid_version(text)
    assert str(parse_version(text)) == text


@given(versions(), versions())
def test_comparison_is_antisymmetric_and_matches_version_objects(a: str, b: str) -> None:
    result = compare_versions(a, b)
    assert compare_versions(b, a) == -result
    va, vb = parse_version(a), parse_version(b)
    assert (va < vb, va == vb, va > vb) == (result < 0, result == 0, result > 0)
    if va == vb:
        assert hash(va) == hash(vb)


@given(versions(), versions(), versions())
def test_comparison_is_transitive(a: str, b: str, c: str) -> None:
    low, mid, high = sorted((a, b, c), key=parse_version)
    assert compare_versions(low, mid) <= 0
    assert compare_versions(mid, high) <= 0
    assert compare_versions(low, high) <= 0


@given(st.lists(versions(), max_size=12))
def test_sorting_agrees_with_pairwise_comparison(texts: list[str]) -> None:
    by_key = sorted(texts, key=parse_version)
    by_cmp = sorted(texts, key=cmp_to_key(compare_versions))
    assert [parse_version(t) for t in by_key] == [parse_version(t) for t in by_cmp]
    for lower, higher in itertools.pairwise(by_key):
        assert compare_versions(lower, higher) <= 0


@given(versions())
def test_a_version_fuzzy_matches_itself_and_its_first_group(text: str) -> None:
    assert fuzzy_match(text, text)
    first = re.match(r"[0-9]+", text)
    assert first is not None
    assert fuzzy_match(text, first.group())


@given(st.text(alphabet="0123456789.abcfgprz_~-R ", max_size=14))
def test_arbitrary_text_either_parses_or_raises_one_line(text: str) -> None:
    if is_valid_version(text):
        assert parse_version(text).text == text
        return
    with pytest.raises(VersionError) as caught:
        parse_version(text)
    assert str(caught.value).startswith(f"invalid version {text!r}")
    assert "\n" not in str(caught.value)
