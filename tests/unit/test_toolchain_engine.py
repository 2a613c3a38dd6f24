"""buildkit.toolchain.engine: detection, image presence and digests, runs with a log per
action, load and push.

No engine runs here: a FakeRunner (tests/helpers/toolchain.py) answers from a table.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from buildkit.errors import ToolchainError, ToolFailedError
from buildkit.toolchain import (
    Completed,
    ContainerSpec,
    Engine,
    ImageRef,
    check_digest,
)
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
    assert inspect == ("docker", "container", "inspect", "--format", "{{.State.ExitCode}}", name)
    assert remove == ("docker", "container", "rm", "--force", name)


def test_a_failed_container_fails_even_when_the_cli_says_0(tmp_path: Path) -> None:
    """docker CLI + podman < 4.6 Docker API: `run --rm` exits 0 whatever the container did."""
    engine, runner = engine_with(
        (("docker", "run"), ok()),
        (("docker", "container", "inspect"), ok("1\n")),
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


def test_engine_exit_125_is_explained() -> None:
    engine, _ = engine_with((("docker", "run"), fail("Error: no such image", code=125)))
    with pytest.raises(ToolFailedError, match="could not start the container"):
        engine.capture(ContainerSpec(image=APKO, args=("version",), workdir_mount=P))


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
