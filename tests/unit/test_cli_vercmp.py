"""`buildkit apk vercmp` through the real command line: like `apk version -t`, plus A OP B."""

from __future__ import annotations

import pytest

from buildkit.cli import main


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["apk", "vercmp", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize(
    ("a", "b", "sign"),
    [
        ("1.2", "1.2.1", "<"),
        ("1.2.1", "1.2", ">"),
        ("1.0", "1.0", "="),
        ("01", "1", "="),
        ("1.0_rc1", "1.0", "<"),
        ("1.0-r1", "1.0~ab", "<"),
        ("1.09", "1.1", "<"),
        ("2.12-r1", "2.12-r0", ">"),
    ],
)
def test_two_versions_print_how_they_compare(
    capsys: pytest.CaptureFixture[str], a: str, b: str, sign: str
) -> None:
    assert run(capsys, a, b) == (0, f"{sign}\n", "")


@pytest.mark.parametrize(
    ("a", "op", "b", "code"),
    [
        ("1.0", "<", "1.1", 0),
        ("1.0", "<", "1.0", 1),
        ("1.0", "<=", "1.0", 0),
        ("1.0", "=", "1.0-r0", 1),
        ("1.0-r0", ">", "1.0", 0),
        ("1.0", ">=", "1.0_p1", 1),
        ("3.6.9", "~", "3.6", 0),
        ("3.8", "~", "3.8.1", 1),
        ("3.8", "!~", "3.8.1", 0),
        ("3.6.9", "!~", "3.6", 1),
        ("3.6.9", "<~", "3.6", 0),
        ("3.6_rc1", ">~", "3.6", 0),
        ("1", "=<", "2", 0),  # apk accepts the characters in any order
        ("1", "!=", "2", 0),
    ],
)
def test_a_comparison_sets_the_exit_code(
    capsys: pytest.CaptureFixture[str], a: str, op: str, b: str, code: int
) -> None:
    assert run(capsys, a, op, b) == (code, "", "")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("1", "=>>x", "2"), "'=>>x' is not an operator"),
        (("1", "<>=", "2"), "'<>=' allows every version"),
        (("1", "><", "2"), "'><' pins a package checksum; vercmp compares versions"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], argv: tuple[str, ...], message: str
) -> None:
    code, out, err = run(capsys, *argv)
    assert (code, out) == (2, "")
    assert err.startswith(f"buildkit: error: {message}")
    assert err.count("\n") == 1
    assert "Traceback" not in err


def test_one_version_alone_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["apk", "vercmp", "1.0"])
    assert caught.value.code == 2
    assert "usage:" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "code", "out", "why"),
    [
        (("1.x", "2"), 0, "<\n", "invalid version '1.x' at '.x': '.' must be followed by digits"),
        (("1.x", "1"), 0, "<\n", "invalid version '1.x' at '.x'"),  # the broken one sorts low
        (("2_foo", "1"), 0, ">\n", "invalid version '2_foo' at '_foo': unknown suffix"),
        (("1", "v2"), 0, ">\n", "invalid version 'v2': it must start with a digit, not 'v'"),
        (("1.2.3-r", "1.2.3"), 0, "<\n", "invalid version '1.2.3-r'"),
        (("1", "<", "2_foo"), 0, "", "invalid version '2_foo' at '_foo': unknown suffix '_foo'"),
        (("1.x", "~", "1"), 0, "", "invalid version '1.x'"),  # the prefix ended first
        (("1.0.x", "~", "1.0"), 0, "", "invalid version '1.0.x'"),
    ],
)
def test_invalid_versions_get_apk_tools_answer_and_a_warning_saying_why(
    capsys: pytest.CaptureFixture[str], argv: tuple[str, ...], code: int, out: str, why: str
) -> None:
    got_code, got_out, err = run(capsys, *argv)
    assert (got_code, got_out) == (code, out)
    [line] = err.splitlines()
    assert line.startswith(f"buildkit: warning: {why}")
    assert "compared as apk-tools 3 does" in line
