"""buildkit.toolchain.engine: detection, image presence and digests, runs with a log per
action, load and push.

No engine runs here: a FakeRunner (tests/helpers/toolchain.py) answers from a table.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from buildkit.errors import ToolchainError, ToolFailedError
from buildkit.toolchain import (
    Completed,
    ContainerSpec,
    Engine,
    ImageRef,
    check_digest,
)
from buildkit.toolchain.containers import RUNNING, STATE_FORMAT, ContainerState, parse_state
from tests.helpers.toolchain import (
    APKO,
    D1,
    D2,
    DOCKER_DOWN,
    DOCKER_UP,
    INSPECT,
    PODMAN_UP,
    Answer,
    FakeRunner,
    P,
    config,
    engine_with,
    fail,
    ok,
    state,
    which_of,
)


def test_detect_prefers_a_docker_cli_whose_daemon_answers() -> None:
    runner = FakeRunner([*DOCKER_UP, *PODMAN_UP])
    engine = Engine.detect(config(), runner=runner, which=which_of("docker", "podman"), env={})
    assert (engine.name, engine.server, engine.version()) == ("docker", "Podman Engine", "4.3.1")


def test_detect_falls_back_to_podman_when_docker_does_not_answer() -> None:
    runner = FakeRunner([*DOCKER_DOWN, *PODMAN_UP])
    engine = Engine.detect(config(), runner=runner, which=which_of("docker", "podman"), env={})
    assert engine.name == "podman"
    assert engine.version() == "4.3.1"


def test_detect_honours_the_configured_engine() -> None:
    runner = FakeRunner([*DOCKER_UP, *PODMAN_UP])
    engine = Engine.detect(
        config("podman"), runner=runner, which=which_of("docker", "podman"), env={}
    )
    assert engine.name == "podman"
    assert all(call[0] == "podman" for call in runner.calls)


@pytest.mark.parametrize(
    ("engine", "present", "table", "env", "message"),
    [
        (
            "auto",
            (),
            (),
            {},
            "no container engine: docker and podman are not on PATH (install podman or docker",
        ),
        ("podman", ("docker",), DOCKER_UP, {}, "no container engine: podman is not on PATH"),
        (
            "auto",
            ("docker",),
            DOCKER_DOWN,
            {"DOCKER_HOST": "unix:///run/buildkit/podman.sock"},
            "docker does not answer at unix:///run/buildkit/podman.sock: Cannot connect to the"
            " Docker daemon",
        ),
        (
            "docker",
            ("docker",),
            DOCKER_DOWN,
            {},
            "docker does not answer at unix:///var/run/docker.sock",
        ),
        (
            "auto",
            ("podman",),
            ((("podman", "info"), fail("Error: cannot open storage")),),
            {},
            "podman does not answer: Error: cannot open storage",
        ),
    ],
)
def test_detect_errors_are_one_line_with_a_fix(
    engine: str,
    present: tuple[str, ...],
    table: tuple[tuple[tuple[str, ...], Answer], ...],
    env: dict[str, str],
    message: str,
) -> None:
    with pytest.raises(ToolchainError) as info:
        Engine.detect(config(engine), runner=FakeRunner(table), which=which_of(*present), env=env)
    line = str(info.value)
    assert message in line
    assert "\n" not in line
    assert info.value.exit_code == 1
    if "does not answer" in message:
        assert "scripts/setup" in line
        assert "DOCKER_HOST" in line


@pytest.mark.parametrize(
    ("answer", "rootless"),
    [
        ('["name=seccomp,profile=default"]', False),
        ('["name=seccomp,profile=default","name=rootless"]', True),
    ],
)
def test_rootless_docker_is_read_from_security_options(answer: str, rootless: bool) -> None:
    engine, _ = engine_with((("docker", "info"), ok(answer)))
    assert engine.rootless() is rootless


def test_present_image_with_its_pinned_digest_is_not_pulled() -> None:
    engine, runner = engine_with((INSPECT, ok(f'["{APKO.name}@{D1}"]')))
    engine.ensure_image(APKO)
    assert runner.calls == [
        ("docker", "image", "inspect", "--format", "{{json .RepoDigests}}", APKO.run_ref)
    ]


def test_missing_image_is_pulled_by_digest_then_checked() -> None:
    state = {"pulled": False}

    def inspect(args: tuple[str, ...], log: Path | None) -> Completed:
        return ok(f'["{APKO.name}@{D1}"]') if state["pulled"] else fail("No such image")

    def pull(args: tuple[str, ...], log: Path | None) -> Completed:
        state["pulled"] = True
        return ok()

    engine, runner = engine_with((INSPECT, inspect), (("docker", "pull"), pull))
    engine.ensure_image(APKO)
    assert ("docker", "pull", APKO.run_ref) in runner.calls


def test_image_missing_while_offline_is_one_line_error() -> None:
    engine, runner = engine_with((INSPECT, fail("No such image")))
    with pytest.raises(ToolchainError) as info:
        engine.ensure_image(APKO, offline=True)
    assert str(info.value).startswith(
        f"image {APKO} is not present and offline mode forbids pulling it (pull it"
    )
    assert "\n" not in str(info.value)
    assert not any(call[1] == "pull" for call in runner.calls)


def test_pull_failure_says_why_without_repeating_the_reference() -> None:
    error = (
        f"Error: initializing source docker://{APKO.run_ref}: "
        "pinging container registry 127.0.0.1:5000: connection refused"
    )
    engine, _ = engine_with((INSPECT, fail("No such image")), (("docker", "pull"), fail(error)))
    with pytest.raises(ToolchainError) as info:
        engine.ensure_image(APKO)
    line = str(info.value)
    assert line.startswith(
        f"cannot pull {APKO}: pinging container registry 127.0.0.1:5000: connection refused ("
    )
    assert "scripts/setup" in line


def test_present_image_with_another_digest_is_refused() -> None:
    engine, _ = engine_with((INSPECT, ok(f'["{APKO.name}@{D2}"]')))
    with pytest.raises(ToolchainError) as info:
        engine.ensure_image(APKO)
    assert str(info.value).startswith(
        f"image {APKO.name} is present with digest {D2}, not the pinned {D1} ("
    )


@pytest.mark.parametrize(
    ("digests", "fine"),
    [
        ((f"a/b@{D1}",), True),
        ((f"localhost/a/b@{D2}", f"a/b@{D1}"), True),
        ((), False),
        ((f"a/b@{D2}",), False),
    ],
)
def test_check_digest_accepts_any_repo_digest_naming_the_pin(
    digests: tuple[str, ...], fine: bool
) -> None:
    if fine:
        check_digest(APKO, digests)
    else:
        with pytest.raises(ToolchainError, match="not the pinned"):
            check_digest(APKO, digests)


def test_unpinned_image_skips_the_digest_check() -> None:
    check_digest(ImageRef(name="a/b", digest=None, tag="v1"), ())


def test_failed_run_raises_with_return_code_log_and_tail(tmp_path: Path) -> None:
    def write_log(args: tuple[str, ...], log: Path | None) -> Completed:
        assert log is not None
        log.parent.mkdir(parents=True)
        log.write_text("\n".join(f"line {i}" for i in range(100)) + "\n")
        return fail("", code=3)

    engine, _ = engine_with((("docker", "run"), write_log))
    log = tmp_path / "logs/apko.log"
    with pytest.raises(ToolFailedError) as info:
        engine.run(ContainerSpec(image=APKO, args=("build",), workdir_mount=P), log=log)
    err = info.value
    assert (err.returncode, err.log) == (3, str(log))
    assert err.tail.splitlines() == [f"line {i}" for i in range(70, 100)]
    assert str(err) == f"{log}: apko build failed with exit status 3"


def test_run_uses_rm_when_the_engine_reports_statuses_reliably(tmp_path: Path) -> None:
    engine, runner = engine_with((("docker", "run"), ok()))
    engine.run(ContainerSpec(image=APKO, args=("build",), workdir_mount=P), log=tmp_path / "l")
    assert len(runner.calls) == 1
    assert runner.calls[0][:3] == ("docker", "run", "--rm")


def test_named_run_reads_the_status_then_removes_the_container(tmp_path: Path) -> None:
    engine, runner = engine_with((("docker", "run"), ok()), server="Podman Engine")
    engine.run(ContainerSpec(image=APKO, args=("build",), workdir_mount=P), log=tmp_path / "l")
    listing, run, inspect, remove = runner.calls
    assert listing[:3] == ("docker", "container", "ls")
    name = run[run.index("--name") + 1]
    assert name.startswith("buildkit-")
    assert "--rm" not in run
    assert run[run.index("--label") + 1] == f"io.buildkit.run={socket.gethostname()}:{os.getpid()}"
    assert inspect == ("docker", "container", "inspect", "--format", STATE_FORMAT, name)
    assert remove == ("docker", "container", "rm", "--force", name)


def test_a_failed_container_fails_even_when_the_cli_says_0(tmp_path: Path) -> None:
    """docker CLI + podman < 4.6 Docker API: `run --rm` exits 0 whatever the container did."""
    engine, runner = engine_with(
        (("docker", "run"), ok()),
        (("docker", "container", "inspect"), state("exited", 1)),
        server="Podman Engine",
    )
    with pytest.raises(ToolFailedError) as info:
        engine.run(ContainerSpec(image=APKO, args=("build",), workdir_mount=P), log=tmp_path / "l")
    assert info.value.returncode == 1
    assert runner.calls[-1][:3] == ("docker", "container", "rm")


def test_the_container_is_removed_when_the_run_fails(tmp_path: Path) -> None:
    engine, runner = engine_with(
        (("docker", "run"), fail("boom", code=125)), server="Podman Engine"
    )
    with pytest.raises(ToolFailedError):
        engine.run(ContainerSpec(image=APKO, args=("build",), workdir_mount=P), log=tmp_path / "l")
    assert runner.calls[-1][:3] == ("docker", "container", "rm")


def test_containers_of_dead_buildkit_processes_are_removed_once(tmp_path: Path) -> None:
    host = socket.gethostname()
    listing = (
        f"buildkit-a {host}:{2**22 + 7}\nbuildkit-b {host}:{os.getpid()}\nbuildkit-c other:1\n"
    )
    engine, runner = engine_with(
        (("docker", "container", "ls"), ok(listing)),
        (("docker", "run"), ok()),
        server="Podman Engine",
    )
    for _ in range(2):
        engine.run(ContainerSpec(image=APKO, args=(), workdir_mount=P), log=tmp_path / "l")
    removed = [c[-1] for c in runner.calls if c[:3] == ("docker", "container", "rm")]
    assert removed[0] == "buildkit-a"  # dead pid on this host; live and foreign ones stay
    assert "buildkit-b" not in removed
    assert "buildkit-c" not in removed
    assert sum(1 for c in runner.calls if c[:3] == ("docker", "container", "ls")) == 1


def test_engine_exit_125_is_explained_with_the_engines_own_reason() -> None:
    engine, runner = engine_with(
        (("docker", "run"), fail("docker: Error response from daemon: no such image", code=125))
    )
    with pytest.raises(ToolFailedError, match="could not start the container") as info:
        engine.capture(ContainerSpec(image=APKO, args=("version",), workdir_mount=P))
    assert str(info.value).startswith("apko version failed with exit status 125: no such image (")
    assert sum(1 for c in runner.calls if c[1] == "run") == 1  # --rm runs: no second attempt


def _writes(text: str, code: int = 125) -> Answer:
    """A ``run`` answer: the CLI wrote ``text`` to the tool's log and exited ``code``."""

    def answer(args: tuple[str, ...], log: Path | None) -> Completed:
        assert log is not None
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(text)
        return fail("", code=code)

    return answer


def test_the_reason_skips_the_clis_help_footer(tmp_path: Path) -> None:
    footer = _writes(
        "docker: invalid reference format\nRun 'docker run --help' for more information\n"
    )
    engine, _ = engine_with((("docker", "run"), footer))
    with pytest.raises(ToolFailedError) as info:
        engine.run(ContainerSpec(image=APKO, args=("build",), workdir_mount=P), log=tmp_path / "l")
    assert "apko build failed with exit status 125: invalid reference format (" in str(info.value)


def _podman(*table: tuple[tuple[str, ...], Answer]) -> tuple[Engine, FakeRunner]:
    return engine_with(*table, server="Podman Engine")


def _runs(runner: FakeRunner) -> list[tuple[str, ...]]:
    return [c for c in runner.calls if c[1] == "run"]


def test_a_container_the_engine_never_started_is_run_once_more(tmp_path: Path) -> None:
    """The CLI failed and the engine's record says the container never started: the tool did
    not run, so a second attempt is safe (podman's create/start can fail under load)."""
    answers = iter([fail("Error: creating container: resource busy", 125), ok("hello\n")])
    states = iter([state("created", 0, started=False), state("exited", 0)])
    engine, runner = _podman(
        (("docker", "run"), lambda args, log: next(answers)),
        (("docker", "container", "inspect"), lambda args, log: next(states)),
    )
    out = engine.capture(ContainerSpec(image=APKO, args=("version",), workdir_mount=P))
    assert out == "hello\n"
    first, second = _runs(runner)
    assert first[first.index("--name") + 1] != second[second.index("--name") + 1]
    removed = [c[-1] for c in runner.calls if c[:3] == ("docker", "container", "rm")]
    assert len(removed) == 2  # both containers are removed


def test_a_second_start_failure_is_reported_with_both_attempts_in_the_log(tmp_path: Path) -> None:
    refuse = _writes("Error: mounting /x: permission denied\n")
    engine, runner = _podman(
        (("docker", "run"), refuse),
        (("docker", "container", "inspect"), fail("Error: no such container", 125)),
    )
    log = tmp_path / "logs" / "apko.log"
    with pytest.raises(ToolFailedError) as info:
        engine.run(ContainerSpec(image=APKO, args=("build",), workdir_mount=P), log=log)
    assert len(_runs(runner)) == 2  # never a third
    assert str(info.value).startswith(
        f"{log}: apko build failed with exit status 125: mounting /x: permission denied ("
    )
    text = log.read_text()
    assert text.count("permission denied") == 2
    assert "# buildkit: the engine never started the container (exit status 125)" in text


@pytest.mark.parametrize(
    ("recorded", "expected"),
    [(0, None), (3, 3)],
    ids=["the-tool-succeeded", "the-tool-failed"],
)
def test_a_cli_that_lost_a_finished_container_takes_the_engines_record(
    recorded: int, expected: int | None
) -> None:
    """The CLI failed after the tool ran (a lost attach or wait): the recorded status and the
    output the engine kept are the tool's, and nothing runs twice."""
    engine, runner = _podman(
        (("docker", "run"), fail("Error waiting for container: EOF", 125)),
        (("docker", "container", "inspect"), state("exited", recorded)),
        (("docker", "container", "logs"), ok("v1.2.39\n")),
    )
    spec = ContainerSpec(image=APKO, args=("version",), workdir_mount=P)
    if expected is None:
        assert engine.capture(spec) == "v1.2.39\n"
    else:
        with pytest.raises(ToolFailedError) as info:
            engine.capture(spec)
        assert info.value.returncode == expected
    assert len(_runs(runner)) == 1


def test_a_container_never_started_twice_is_reported_as_the_engines_refusal() -> None:
    """podman's CLI status for a container it could not start is 1 ("received 409"); the
    record says it never started, so the report is the engines' 125 with its hint."""
    engine, runner = _podman(
        (("docker", "run"), fail("unable to upgrade to tcp, received 409", 1)),
        (("docker", "container", "inspect"), state("created", 0, started=False)),
    )
    with pytest.raises(ToolFailedError, match="could not start the container") as info:
        engine.capture(ContainerSpec(image=APKO, args=("version",), workdir_mount=P))
    assert info.value.returncode == 125
    assert str(info.value).startswith(
        "apko version failed with exit status 125: unable to upgrade to tcp, received 409 ("
    )
    assert len(_runs(runner)) == 2


def test_a_lost_container_s_output_is_appended_to_the_log(tmp_path: Path) -> None:
    partial = _writes("$ docker run ...\nError waiting for container: EOF\n")
    engine, _ = _podman(
        (("docker", "run"), partial),
        (("docker", "container", "inspect"), state("exited", 0)),
        (("docker", "container", "logs"), ok("built the image\n")),
    )
    log = tmp_path / "logs" / "apko.log"
    engine.run(ContainerSpec(image=APKO, args=("build",), workdir_mount=P), log=log)
    assert log.read_text().endswith("its output, from the engine:\nbuilt the image\n")


def test_a_timed_out_container_is_not_run_again(tmp_path: Path) -> None:
    engine, runner = _podman(
        (("docker", "run"), Completed(argv=(), returncode=124, timed_out=2.0)),
    )
    with pytest.raises(ToolFailedError, match="time"):
        engine.run(
            ContainerSpec(image=APKO, args=("build",), workdir_mount=P),
            log=tmp_path / "l",
            timeout=2,
        )
    assert len(_runs(runner)) == 1
    assert not any(c[:3] == ("docker", "container", "inspect") for c in runner.calls)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("exited 0 2026-12-05T18:24:02.28Z\n", ContainerState("exited", 0, started=True)),
        ("exited 137 2026-12-05T18:24:02Z", ContainerState("exited", 137, started=True)),
        ("created 0 0001-01-01T00:00:00Z", ContainerState("created", 0, started=False)),
        ("Running 0 2026-12-05T18:24:02Z", ContainerState("running", 0, started=True)),
        ("exited -1 2026-12-05T18:24:02Z", ContainerState("exited", -1, started=True)),
        ("0\n", None),  # the old one-field format
        ("", None),
        ("exited zero 2026-12-05T18:24:02Z", None),
    ],
)
def test_container_state_lines_parse(text: str, expected: ContainerState | None) -> None:
    assert parse_state(text) == expected


@given(st.text())
def test_container_state_parsing_never_raises(text: str) -> None:
    found = parse_state(text)
    assert found is None or isinstance(found.exit_code, int)


@pytest.mark.parametrize(
    ("found", "ran", "never_started"),
    [
        (ContainerState("exited", 0, started=True), True, False),
        (ContainerState("stopped", 1, started=True), True, False),
        (ContainerState("created", 0, started=False), False, True),
        (ContainerState("configured", 0, started=False), False, True),
        (ContainerState("running", 0, started=True), False, False),
        (ContainerState("exited", 127, started=False), False, False),  # start failed: unknown
    ],
)
def test_what_a_recorded_state_says_of_the_tool(
    found: ContainerState, ran: bool, never_started: bool
) -> None:
    assert (found.ran, found.never_started) == (ran, never_started)


@pytest.mark.parametrize(
    ("output", "names"),
    [
        ("Loaded image: buildkit/java:latest-amd64\n", ["buildkit/java:latest-amd64"]),
        (
            "Loaded image: localhost/a:1-amd64\nLoaded image: localhost/a:1-arm64\n",
            ["localhost/a:1-amd64", "localhost/a:1-arm64"],
        ),
        (
            "Getting image source signatures\nLoaded image(s): localhost/a:1-amd64,localhost/b:2\n",
            ["localhost/a:1-amd64", "localhost/b:2"],
        ),
    ],
)
def test_load_reports_the_loaded_names(output: str, names: list[str]) -> None:
    engine, runner = engine_with((("docker", "load"), ok(output)))
    assert engine.load(Path("/x/i.tar")) == names
    assert runner.calls == [("docker", "load", "-i", "/x/i.tar")]


def test_docker_push_returns_the_printed_digest() -> None:
    engine, _ = engine_with((("docker", "push"), ok(f"latest: digest: {D2} size: 528\n")))
    assert engine.push("127.0.0.1:5000/a:1") == D2


def test_push_without_a_digest_is_an_error() -> None:
    engine, _ = engine_with((("docker", "push"), ok("pushed\n")))
    with pytest.raises(ToolchainError, match="did not report a digest"):
        engine.push("127.0.0.1:5000/a:1")


def test_a_stopping_buildkit_does_not_run_a_failed_container_again() -> None:
    def signalled(args: tuple[str, ...], log: Path | None) -> Completed:
        RUNNING.close()  # what the signal handler does while the CLI runs
        return fail("Error: container killed", 125)

    engine, runner = _podman(
        (("docker", "run"), signalled),
        (("docker", "container", "inspect"), fail("Error: no such container", 125)),
    )
    try:
        with pytest.raises(ToolFailedError, match="container killed"):
            engine.capture(ContainerSpec(image=APKO, args=("version",), workdir_mount=P))
    finally:
        RUNNING.reopen()
    assert len(_runs(runner)) == 1
