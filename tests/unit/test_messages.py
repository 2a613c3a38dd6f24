"""Hints name the command that fixes this case; default frameworks without a lockfile are
skipped with a note; a failed tool's log is cut to its meaningful lines."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from buildkit.errors import (
    BuildkitError,
    ConfigError,
    MissingLockfileError,
    ResolveError,
    ToolFailedError,
)
from buildkit.hints import (
    add_command,
    build_command,
    lock_command,
    missing_lockfile,
    publish_command,
    rerun,
)
from buildkit.project.config import load_project
from buildkit.project.unlocked import skip_unlocked
from buildkit.toolchain.failure import meaningful_lines


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        (lock_command("myapp"), "nox -s lock -- myapp"),
        (lock_command("a", "b", "a"), "nox -s lock -- a b"),
        (lock_command(), "nox -s lock"),
        (build_command("myapp", arch="aarch64"), "nox -s build-arm64 -- myapp"),
        (build_command("myapp", arch="x86_64"), "nox -s build-amd64 -- myapp"),
        (build_command("myapp", arch="ppc64le"), "nox -s build -- --arch ppc64le myapp"),
        (build_command("myapp"), "nox -s build -- myapp"),
        (publish_command("myapp"), "nox -s publish -- myapp"),
    ],
)
def test_a_hint_command_names_the_framework_and_the_arch(command: str, expected: str) -> None:
    assert command == expected


def test_a_missing_lockfile_is_one_message_and_exit_1() -> None:
    err = missing_lockfile("myapp", "lockfiles/myapp.lock.json")
    assert err.exit_code == 1
    assert str(err) == (
        "lockfiles/myapp.lock.json: framework myapp has no lockfile "
        "(run `nox -s lock -- myapp` and commit the lockfile)"
    )


def _project(tmp_path: Path, locked: tuple[str, ...]) -> list[Path]:
    (tmp_path / "buildkit.toml").write_text('[project]\nframeworks = ["a", "b", "c"]\n')
    (tmp_path / "frameworks").mkdir()
    (tmp_path / "lockfiles").mkdir()
    for name in "abc":
        (tmp_path / "frameworks" / f"{name}.yaml").write_text("archs: [x86_64]\n")
    for name in locked:
        (tmp_path / "lockfiles" / f"{name}.lock.json").write_text("{}")
    return [tmp_path / "frameworks" / f"{name}.yaml" for name in "abc"]


def test_default_frameworks_without_a_lockfile_are_skipped_with_a_note(tmp_path: Path) -> None:
    paths = _project(tmp_path, locked=("b",))
    notes: list[str] = []
    kept = skip_unlocked(load_project(tmp_path), paths, say=notes.append)
    assert [p.stem for p in kept] == ["b"]
    assert notes == [
        "note: skipping a, c: no lockfile yet (run `nox -s lock -- a c` to include them)"
    ]


def test_no_default_framework_with_a_lockfile_is_the_missing_lockfile_error(
    tmp_path: Path,
) -> None:
    paths = _project(tmp_path, locked=())
    with pytest.raises(MissingLockfileError, match=r"frameworks a, b, c have no lockfile") as err:
        skip_unlocked(load_project(tmp_path), paths, say=print)
    assert "`nox -s lock -- a b c`" in str(err.value)


LOG = """\
$ docker run --rm --privileged -v /work/p:/work -e SOURCE_DATE_EPOCH=0 melange@sha256:ab build x
2026/12/04 20:01:02 INFO melange v0.59.2 is building:
2026/12/04 20:01:02 INFO   configuration file: /work/packages/hello.yaml
2026/12/04 20:01:03 INFO running step "install"
\x1b[31m2026/12/04 20:01:04 ERRO failed to build package: unable to run pipeline: exit status 2
\x1b[0m
2026/12/04 20:01:04 ERRO failed to build package: unable to run pipeline: exit status 2

"""


def test_a_tool_log_is_cut_to_its_meaningful_lines() -> None:
    assert meaningful_lines(LOG) == [
        "ERRO failed to build package: unable to run pipeline: exit status 2"
    ]


def test_without_error_lines_the_last_lines_are_kept_and_never_the_command_line() -> None:
    text = "$ docker run " + "-v a:b " * 200 + "\n" + "".join(f"line {n}\n" for n in range(20))
    assert meaningful_lines(text, count=3) == ["line 17", "line 18", "line 19"]
    assert all(len(line) <= 160 for line in meaningful_lines("x" * 1000))


ROOT = Path(__file__).resolve().parents[2]


def test_nox_says_nothing_about_uv() -> None:

    done = subprocess.run(
        [sys.executable, "-m", "nox", "-s", "keygen", "--", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "usage: buildkit keygen" in done.stdout
    assert "uv binary not found" not in done.stdout + done.stderr


def test_the_machine_env_file_names_no_checkout(tmp_path: Path) -> None:

    script = (
        f"source {ROOT}/scripts/lib/bootstrap.sh; busybox_dir() {{ echo /cache/busybox/$1; }}; "
        "BUILDKIT_CACHE=/cache PODMAN_SOCK=/run/p.sock APKO_IMAGE=a MELANGE_IMAGE=m "
        f"BOOTSTRAP_URL=http://h/os BOOTSTRAP_KEY_NAME=k.rsa.pub VENV={tmp_path}/.venv env_file"
    )
    text = subprocess.run(
        ["bash", "-c", script], capture_output=True, text=True, check=True, timeout=30
    ).stdout
    assert "export DOCKER_HOST=unix:///run/p.sock" in text
    assert "PATH" not in text.replace("put a checkout's .venv/bin on PATH", "")
    assert str(tmp_path) not in text


# --------------------------------------------------------------------------------------------
# add_command and rerun: every error line ends with the command that fixes it


@pytest.mark.parametrize(
    ("error", "hint"),
    [
        (ConfigError("bad", where="frameworks/a.yaml:3"), "edit frameworks/a.yaml:3, then run `X`"),
        (ConfigError("bad", where="buildkit.toml"), "edit buildkit.toml, then run `X`"),
        (
            ConfigError("bad", where="a.yaml:3", hint="did you mean b?"),
            "did you mean b?; then run `X`",
        ),
        (ConfigError("bad", where="environment (BUILDKIT_X)"), "run `X`"),
        (ResolveError("nothing provides a", where="f.yaml (framework f, arch x86_64)"), "run `X`"),
        (ConfigError("bad", hint="see `buildkit lock --help`"), "see `buildkit lock --help`"),
    ],
)
def test_an_error_gets_the_command_once_after_its_own_hint(error: BuildkitError, hint: str) -> None:
    assert add_command(error, "X").hint == hint
    assert add_command(error, "Y").hint == hint  # a hint that names a command keeps it


def _corrected(wrong: str, right: str) -> ConfigError:
    err = ConfigError("typo")
    err.correction = (wrong, right)
    return err


@pytest.mark.parametrize(
    ("error", "program", "argv", "command"),
    [
        (ConfigError("x"), ["buildkit"], ["-C", "p", "lock"], "buildkit -C p lock"),
        (_corrected("ap", "app"), ["buildkit"], ["build", "ap"], "buildkit build app"),
        (ConfigError("x", where="--tag"), ["buildkit"], ["-C", "p", "publish", "--tag", "a b"],
         "buildkit -C p publish --help"),
        (ConfigError("x", where="--tag"), ["nox", "-s", "publish"], ["--", "--tag", "a b"],
         "nox -s publish -- --help"),
        (ConfigError("unknown architecture 'sparc'"), ["buildkit"], ["build", "--arch", "sparc"],
         "buildkit build --help"),
        (_corrected("replayot", "replayout"), ["nox", "-s", "lock"],
         ["--", "--update", "replayot"], "nox -s lock -- --update replayout"),
    ],
)  # fmt: skip
def test_the_last_resort_is_the_command_as_run_with_the_typo_fixed(
    error: BuildkitError, program: list[str], argv: list[str], command: str
) -> None:
    assert rerun(error, program, argv).hint == f"run `{command}`"


def test_a_tool_failure_keeps_its_own_form() -> None:
    err = ToolFailedError("apko build failed with exit status 1", log="l")
    assert rerun(err, ["buildkit"], ["build"]).hint is None
