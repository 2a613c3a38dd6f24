"""buildkit.toolchain: image pins, the container command lines, engine detection and errors.

No engine runs here: a FakeRunner answers the engine's queries from a table.
"""

from __future__ import annotations

import os
import socket
import string
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from buildkit.errors import ConfigError, ToolchainError, ToolFailedError
from buildkit.project.config import ProjectConfig
from buildkit.toolchain import (
    ApkoBuild,
    ApkoLock,
    Completed,
    ContainerSpec,
    Engine,
    ImageRef,
    MelangeBuild,
    Owner,
    Toolchain,
    apko_spec,
    check_digest,
    container_path,
    local_name,
    manifest_annotate_argv,
    manifest_create_argv,
    manifest_push_argv,
    melange_spec,
    needs_ownership_fix,
    ownership_fix_spec,
    parse_image_ref,
    parse_tool_version,
    plan_mounts,
    push_argv,
    run_argv,
)
from buildkit.toolchain.containers import named_runs_needed, orphans

D1 = "sha256:" + "a" * 64
D2 = "sha256:" + "b" * 64
APKO = ImageRef(name="127.0.0.1:5000/buildkit-tools/apko", digest=D1, tag="v1.2.39")
MELANGE = ImageRef(name="127.0.0.1:5000/buildkit-tools/melange", digest=D2)
ROOT = Owner(uid=0, gid=0)
USER = Owner(uid=1000, gid=100)
P = Path("/src/proj")


# --- fakes -------------------------------------------------------------------------------------

Answer = Completed | Callable[[tuple[str, ...], Path | None], Completed]


class FakeRunner:
    """Answers commands by the first table prefix that matches; records every call."""

    def __init__(self, table: Sequence[tuple[tuple[str, ...], Answer]]) -> None:
        self.table = list(table)
        self.calls: list[tuple[str, ...]] = []

    def __call__(
        self, argv: Sequence[str], *, log: Path | None = None, timeout: float | None = None
    ) -> Completed:
        args = tuple(argv)
        self.calls.append(args)
        for prefix, answer in self.table:
            if args[: len(prefix)] == prefix:
                return answer(args, log) if callable(answer) else answer
        raise AssertionError(f"unexpected command {args}")


def ok(stdout: str = "") -> Completed:
    return Completed(argv=(), returncode=0, stdout=stdout)


def fail(stderr: str, code: int = 1) -> Completed:
    return Completed(argv=(), returncode=code, stderr=stderr)


DOCKER_UP = (
    (("docker", "version"), ok('{"Version":"4.3.1","Components":[{"Name":"Podman Engine"}]}')),
)
DOCKER_DOWN = (
    (
        ("docker", "version"),
        fail(
            "Cannot connect to the Docker daemon at unix:///var/run/docker.sock."
            " Is the docker daemon running?"
        ),
    ),
)
PODMAN_UP = ((("podman", "info"), ok("4.3.1\n")),)


def which_of(*present: str) -> Callable[[str], str | None]:
    return lambda name: name if name in present else None


# A finished container: its recorded exit status, then its removal.
CONTAINER_DONE: tuple[tuple[tuple[str, ...], Answer], ...] = (
    (("docker", "container", "inspect"), ok("0\n")),
    (("docker", "container", "rm"), ok()),
    (("docker", "container", "ls"), ok("")),
)


def engine_with(
    *table: tuple[tuple[str, ...], Answer], server: str = "Docker Engine"
) -> tuple[Engine, FakeRunner]:
    """A docker CLI engine; ``server="Podman Engine"`` (4.3.1) makes it use named runs."""
    runner = FakeRunner([*table, *CONTAINER_DONE])
    return Engine(
        name="docker", binary="docker", version="4.3.1", server=server, runner=runner
    ), runner


def config(engine: str = "auto", **kw: object) -> ProjectConfig:
    return ProjectConfig(root=P, engine=engine, **kw)  # type: ignore[arg-type]


# --- image references --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "name", "tag", "digest"),
    [
        (
            f"127.0.0.1:5000/buildkit-tools/apko@{D1}",
            "127.0.0.1:5000/buildkit-tools/apko",
            None,
            D1,
        ),
        (
            f"127.0.0.1:5000/buildkit-tools/apko:v1.2.39@{D1}",
            "127.0.0.1:5000/buildkit-tools/apko",
            "v1.2.39",
            D1,
        ),
        (f"cgr.dev/chainguard/melange@{D2}", "cgr.dev/chainguard/melange", None, D2),
        (f"busybox@{D1}", "busybox", None, D1),
        (f"localhost/x_y/a.b-c:1.0-r2@{D1}", "localhost/x_y/a.b-c", "1.0-r2", D1),
        (f"[::1]:5000/tools/apko@{D1}", "[::1]:5000/tools/apko", None, D1),
    ],
)
def test_pinned_references_parse_into_name_tag_and_digest(
    text: str, name: str, tag: str | None, digest: str
) -> None:
    ref = parse_image_ref(text)
    assert (ref.name, ref.tag, ref.digest) == (name, tag, digest)
    assert ref.run_ref == f"{name}@{digest}"  # the engine gets the digest, never the tag
    assert str(ref) == text


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "bad repository name"),
        ("library/Upper@" + D1, "bad repository name"),
        ("a//b@" + D1, "bad repository name"),
        ("apko:bad tag@" + D1, "bad tag"),
        ("apko@sha256:abc", "bad digest"),
        ("apko@sha256:" + "A" * 64, "bad digest"),
        ("apko@sha512:" + "a" * 128, "only sha256 digests are supported"),
    ],
)
def test_malformed_references_are_config_errors_on_one_line(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_image_ref(text, where="buildkit.toml")
    assert message in str(info.value)
    assert "\n" not in str(info.value)
    assert info.value.exit_code == 2


@pytest.mark.parametrize(
    "text",
    ["cgr.dev/chainguard/apko", "cgr.dev/chainguard/apko:latest", "127.0.0.1:5000/x/apko:v1"],
)
def test_unpinned_reference_is_refused_with_how_to_pin_it(text: str) -> None:
    with pytest.raises(ToolchainError) as info:
        parse_image_ref(text)
    line = str(info.value)
    assert "not pinned by digest" in line
    assert "@sha256:" in line
    assert "--allow-unpinned" in line
    assert "\n" not in line
    assert info.value.exit_code == 1


def test_unpinned_reference_is_accepted_when_allowed_and_runs_by_tag() -> None:
    ref = parse_image_ref("127.0.0.1:5000/x/apko:v1", allow_unpinned=True)
    assert ref.digest is None
    assert ref.run_ref == "127.0.0.1:5000/x/apko:v1"
    assert parse_image_ref("x/apko", allow_unpinned=True).run_ref == "x/apko:latest"


@pytest.mark.parametrize(
    ("name", "registry"),
    [
        ("127.0.0.1:5000/a/b", "127.0.0.1:5000"),
        ("cgr.dev/c/apko", "cgr.dev"),
        ("localhost/a", "localhost"),
        ("library/busybox", None),
        ("busybox", None),
    ],
)
def test_registry_is_the_first_component_only_when_it_looks_like_a_host(
    name: str, registry: str | None
) -> None:
    assert ImageRef(name=name, digest=D1).registry == registry


_component = st.text(string.ascii_lowercase + string.digits, min_size=1, max_size=8)


@given(
    host=st.sampled_from(["", "127.0.0.1:5000/", "cgr.dev/", "localhost/"]),
    parts=st.lists(_component, min_size=1, max_size=3),
    tag=st.none() | st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}", fullmatch=True),
    digest=st.from_regex(r"[0-9a-f]{64}", fullmatch=True),
)
def test_reference_text_round_trips(
    host: str, parts: list[str], tag: str | None, digest: str
) -> None:
    text = host + "/".join(parts) + (f":{tag}" if tag else "") + f"@sha256:{digest}"
    assert str(parse_image_ref(text)) == text


# --- docker run lines --------------------------------------------------------------------------

BASE = ["docker", "run", "--rm", "--pull", "never"]
IMG = f"127.0.0.1:5000/buildkit-tools/apko@{D1}"


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        pytest.param(
            ContainerSpec(image=APKO, args=("version",), workdir_mount=P),
            [*BASE, "--network", "none", "-v", "/src/proj:/work", "-w", "/work", IMG, "version"],
            id="minimal: no network, project at /work, by digest",
        ),
        pytest.param(
            ContainerSpec(
                image=APKO,
                args=("x",),
                workdir_mount=P,
                network="host",
                source_date_epoch=1700000000,
            ),
            [
                *BASE,
                "--network",
                "host",
                "-v",
                "/src/proj:/work",
                "-w",
                "/work",
                "-e",
                "SOURCE_DATE_EPOCH=1700000000",
                IMG,
                "x",
            ],
            id="host network and SOURCE_DATE_EPOCH",
        ),
        pytest.param(
            ContainerSpec(
                image=APKO, args=(), workdir_mount=P, privileged=True, platform="linux/arm64"
            ),
            [
                *BASE,
                "--network",
                "none",
                "--privileged",
                "--platform",
                "linux/arm64",
                "-v",
                "/src/proj:/work",
                "-w",
                "/work",
                IMG,
            ],
            id="privileged and platform only when asked",
        ),
        pytest.param(
            ContainerSpec(image=APKO, args=(), workdir_mount=P, user=USER, entrypoint="/bin/x"),
            [
                *BASE,
                "--network",
                "none",
                "--user",
                "1000:100",
                "--entrypoint",
                "/bin/x",
                "-v",
                "/src/proj:/work",
                "-w",
                "/work",
                IMG,
            ],
            id="user and entrypoint",
        ),
        pytest.param(
            ContainerSpec(
                image=APKO,
                args=(),
                workdir_mount=P,
                workdir_read_only=True,
                extra_mounts=(
                    (P / "dist", "/work/dist", False),
                    (Path("/cache/apko"), "/mnt/rw1", False),
                    (Path("/keys"), "/mnt/ro0", True),
                ),
            ),
            [
                *BASE,
                "--network",
                "none",
                "-v",
                "/src/proj:/work:ro",
                "-v",
                "/src/proj/dist:/work/dist",
                "-v",
                "/cache/apko:/mnt/rw1",
                "-v",
                "/keys:/mnt/ro0:ro",
                "-w",
                "/work",
                IMG,
            ],
            id="read-only project with writable and read-only mounts",
        ),
        pytest.param(
            ContainerSpec(
                image=APKO,
                args=(),
                workdir_mount=P,
                env={"Z": "1", "A": "x y"},
                source_date_epoch=0,
            ),
            [
                *BASE,
                "--network",
                "none",
                "-v",
                "/src/proj:/work",
                "-w",
                "/work",
                "-e",
                "A=x y",
                "-e",
                "SOURCE_DATE_EPOCH=0",
                "-e",
                "Z=1",
                IMG,
            ],
            id="environment sorted, SOURCE_DATE_EPOCH=0 kept",
        ),
    ],
)
def test_run_argv_table(spec: ContainerSpec, expected: list[str]) -> None:
    assert run_argv("docker", spec) == expected


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (ContainerSpec(image=APKO, args=(), workdir_mount=Path("rel")), "not an absolute path"),
        (ContainerSpec(image=APKO, args=(), workdir_mount=Path("/a:b")), "contains ':' or ','"),
        (
            ContainerSpec(
                image=APKO, args=(), workdir_mount=P, extra_mounts=((Path("/x"), "/work", False),)
            ),
            "would hide the project",
        ),
        (
            ContainerSpec(
                image=APKO, args=(), workdir_mount=P, extra_mounts=((Path("/x"), "rel", True),)
            ),
            "must be an absolute path",
        ),
        (
            ContainerSpec(image=APKO, args=(), workdir_mount=P, env={"BAD-NAME": "1"}),
            "invalid environment variable name",
        ),
    ],
)
def test_run_argv_refuses_unsafe_specs(spec: ContainerSpec, message: str) -> None:
    with pytest.raises(ToolchainError, match=message):
        run_argv("docker", spec)


def test_podman_gets_the_same_line_with_its_own_binary() -> None:
    spec = ContainerSpec(image=APKO, args=("version",), workdir_mount=P)
    assert run_argv("podman", spec)[1:] == run_argv("docker", spec)[1:]


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        (P, "/work"),
        (P / "a/b.yaml", "/work/a/b.yaml"),
        (Path("/cache/apko/x"), "/mnt/rw1/x"),
        (P / "dist/o.tar", "/work/dist/o.tar"),
    ],
)
def test_container_path_maps_through_the_deepest_mount(host: Path, expected: str) -> None:
    spec = ContainerSpec(
        image=APKO,
        args=(),
        workdir_mount=P,
        extra_mounts=((P / "dist", "/work/dist", False), (Path("/cache/apko"), "/mnt/rw1", False)),
    )
    assert container_path(spec, host) == expected


def test_container_path_refuses_a_path_the_container_cannot_see() -> None:
    spec = ContainerSpec(image=APKO, args=(), workdir_mount=P)
    with pytest.raises(ToolchainError, match="not inside the project"):
        container_path(spec, Path("/etc/passwd"))


# --- mounts ------------------------------------------------------------------------------------


def test_plan_mounts_makes_only_outputs_and_caches_writable() -> None:
    plan = plan_mounts(
        P,
        writable=[P / "dist/tmp", P / "dist/tmp/sbom", Path("/c/apko")],
        inputs=[P / "frameworks/a.yaml", Path("/keys/k.pub"), Path("/c/apko/x")],
    )
    assert plan.mounts == (
        (Path("/c/apko"), "/mnt/rw0", False),
        (P / "dist/tmp", "/work/dist/tmp", False),
        (Path("/keys/k.pub"), "/mnt/ro0", True),
    )
    assert not plan.project_writable
    assert plan.writable == ("/mnt/rw0", "/work/dist/tmp")
    assert plan.to_container(P / "dist/tmp/sbom") == "/work/dist/tmp/sbom"


def test_plan_mounts_with_the_project_itself_writable() -> None:
    plan = plan_mounts(P, writable=[P, P / "packages"])
    assert plan.mounts == ()
    assert plan.project_writable
    assert plan.writable == ("/work",)


# --- apko and melange lines --------------------------------------------------------------------

APKO_JOB = ApkoBuild(
    config=P / "frameworks/java.yaml",
    tag="buildkit/java:latest",
    output=P / "dist/tmp/java-x86_64.tar",
    arch="amd64",
    sbom_dir=P / "dist/tmp/sbom",
    lockfile=P / "lockfiles/java.lock.json",
    cache_dir=Path("/home/u/.cache/buildkit/apko-cache"),
)
MELANGE_JOB = MelangeBuild(
    config=P / "packages/hello.yaml",
    arch="aarch64",
    signing_key=P / "keys/buildkit.rsa",
    out_dir=P / "packages",
    keyring_append=(
        P / "keys/buildkit.rsa.pub",
        "http://127.0.0.1:8040/os/buildkit-bootstrap.rsa.pub",
    ),
    repository_append=(P / "packages", "http://127.0.0.1:8040/os"),
    cache_dir=Path("/c/melange"),
    git_commit="0" * 40,
)


def test_apko_build_line_as_root() -> None:
    spec = apko_spec(
        APKO_JOB, image=APKO, project=P, owner=ROOT, source_date_epoch=1700000000, network="none"
    )
    assert run_argv("docker", spec) == [
        *BASE, "--network", "none",
        "-v", "/src/proj:/work:ro",
        "-v", "/src/proj/dist/tmp:/work/dist/tmp",
        "-v", "/home/u/.cache/buildkit/apko-cache:/mnt/rw0",
        "-w", "/work", "-e", "SOURCE_DATE_EPOCH=1700000000", IMG,
        "build", "frameworks/java.yaml", "buildkit/java:latest",
        "/work/dist/tmp/java-x86_64.tar",
        "--arch", "x86_64", "--vcs=false", "--sbom-path", "/work/dist/tmp/sbom",
        "--lockfile", "/work/lockfiles/java.lock.json", "--cache-dir", "/mnt/rw0", "--offline",
    ]  # fmt: skip


def test_apko_runs_as_the_invoking_user_when_not_root() -> None:
    spec = apko_spec(
        APKO_JOB, image=APKO, project=P, owner=USER, source_date_epoch=1, network="none"
    )
    argv = run_argv("docker", spec)
    assert argv[argv.index("--user") + 1] == "1000:100"
    assert "HOME=/tmp" in argv
    assert "--privileged" not in argv


def test_melange_build_line_is_privileged_and_runs_as_the_image_root() -> None:
    spec = melange_spec(
        MELANGE_JOB, image=MELANGE, project=P, source_date_epoch=1700000000, network="host"
    )
    assert run_argv("docker", spec) == [
        *BASE, "--network", "host", "--privileged",
        "-v", "/src/proj:/work:ro",
        "-v", "/c/melange:/mnt/rw0",
        "-v", "/src/proj/packages:/work/packages",
        "-w", "/work", "-e", "SOURCE_DATE_EPOCH=1700000000", f"{MELANGE.name}@{D2}",
        "build", "/work/packages/hello.yaml", "--arch", "aarch64",
        "--signing-key", "/work/keys/buildkit.rsa", "--out-dir", "/work/packages",
        "--runner", "bubblewrap",
        "--keyring-append", "/work/keys/buildkit.rsa.pub",
        "--keyring-append", "http://127.0.0.1:8040/os/buildkit-bootstrap.rsa.pub",
        "--repository-append", "/work/packages", "--repository-append", "http://127.0.0.1:8040/os",
        "--cache-dir", "/mnt/rw0", "--git-commit", "0" * 40,
    ]  # fmt: skip


def test_apko_lock_line() -> None:
    job = ApkoLock(config=P / "a.yaml", output=P / "out/a.lock.json", archs=("x86_64", "arm64"))
    spec = apko_spec(job, image=APKO, project=P, owner=ROOT, source_date_epoch=None, network="host")
    argv = run_argv("docker", spec)
    assert argv[argv.index(IMG) + 1 :] == [
        "lock",
        "a.yaml",
        "--output",
        "/work/out/a.lock.json",
        "--arch",
        "x86_64",
        "--arch",
        "aarch64",
    ]
    assert not any(a.startswith("SOURCE_DATE_EPOCH") for a in argv)


@pytest.mark.parametrize(
    ("owner", "rootless", "expected"),
    [(ROOT, False, False), (ROOT, True, False), (USER, True, False), (USER, False, True)],
)
def test_ownership_fix_only_for_a_non_root_user_of_a_rootful_engine(
    owner: Owner, rootless: bool, expected: bool
) -> None:
    assert needs_ownership_fix(owner, rootless_engine=rootless) is expected


def test_ownership_fix_line_chowns_every_writable_mount_through_the_same_image() -> None:
    spec = ownership_fix_spec(
        MELANGE_JOB, image=MELANGE, project=P, owner=USER, helper=Path("/bb/busybox")
    )
    argv = run_argv("docker", spec)
    assert argv[argv.index("--entrypoint") + 1] == "/.buildkit/busybox"
    assert "/bb/busybox:/.buildkit/busybox:ro" in argv
    assert argv[argv.index(f"{MELANGE.name}@{D2}") + 1 :] == [
        "chown",
        "-R",
        "1000:100",
        "/mnt/rw0",
        "/work/packages",
    ]
    assert "--privileged" not in argv
    assert argv[argv.index("--network") + 1] == "none"


# --- engine detection --------------------------------------------------------------------------


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


# --- images: presence, pulls and digests -------------------------------------------------------

INSPECT = ("docker", "image", "inspect")


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


# --- running -----------------------------------------------------------------------------------


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


@pytest.mark.parametrize(
    ("engine", "server", "version", "named"),
    [
        ("docker", "Podman Engine", "4.3.1", True),
        ("docker", "Podman Engine", "4.5.9", True),
        ("docker", "Podman Engine", "4.6.0", False),
        ("docker", "Podman Engine", "5.2.1", False),
        ("docker", "Docker Engine - Community", "28.2.2", False),
        ("podman", "podman", "4.3.1", False),  # the podman CLI keeps the status with --rm
    ],
)
def test_named_runs_only_for_the_docker_cli_on_an_old_podman_service(
    engine: str, server: str, version: str, named: bool
) -> None:
    assert named_runs_needed(engine, server, version) is named


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


@pytest.mark.parametrize(
    ("listing", "expected"),
    [
        ("", []),
        ("buildkit-1 h:10\nbuildkit-2 h:11\n", ["buildkit-1"]),
        ("buildkit-1 h:abc\nbuildkit-2 x:10\nbuildkit-3 \n", []),
        ("buildkit-1 my:host:10\n", []),
    ],
)
def test_orphans_are_dead_processes_of_this_host(listing: str, expected: list[str]) -> None:
    assert orphans(listing, host="h", alive=lambda pid: pid != 10) == expected


def test_engine_exit_125_is_explained() -> None:
    engine, _ = engine_with((("docker", "run"), fail("Error: no such image", code=125)))
    with pytest.raises(ToolFailedError, match="could not start the container"):
        engine.capture(ContainerSpec(image=APKO, args=("version",), workdir_mount=P))


def test_run_process_writes_the_command_line_then_the_output(tmp_path: Path) -> None:
    from buildkit.toolchain import run_process

    log = tmp_path / "a.log"
    done = run_process(["sh", "-c", "echo out; echo err >&2; exit 4"], log=log)
    assert done.returncode == 4
    assert log.read_text().splitlines() == [
        "$ sh -c 'echo out; echo err >&2; exit 4'",
        "out",
        "err",
    ]


def test_run_process_missing_binary_is_a_toolchain_error() -> None:
    from buildkit.toolchain import run_process

    with pytest.raises(ToolchainError, match="not found on PATH"):
        run_process(["/nonexistent/docker", "version"])


# --- load, push, manifest ----------------------------------------------------------------------


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


def test_command_builders_for_push_and_manifests() -> None:
    assert push_argv("podman", "r:1", tls_verify=False, digest_file=Path("/t/d")) == [
        "podman",
        "push",
        "--tls-verify=false",
        "--digestfile",
        "/t/d",
        "r:1",
    ]
    assert push_argv("docker", "r:1") == ["docker", "push", "r:1"]
    assert manifest_create_argv("docker", "r:1", ["r:1-amd64", "r:1-arm64"], insecure=True) == [
        "docker", "manifest", "create", "--insecure", "r:1", "r:1-amd64", "r:1-arm64",
    ]  # fmt: skip
    annotate = manifest_annotate_argv(
        "docker", "r:1", "r:1-arm64", os_name="linux", arch="arm64", variant="v8"
    )
    assert annotate == [
        "docker", "manifest", "annotate", "r:1", "r:1-arm64",
        "--os", "linux", "--arch", "arm64", "--variant", "v8",
    ]  # fmt: skip
    assert manifest_push_argv("docker", "r:1", insecure=True) == [
        "docker",
        "manifest",
        "push",
        "--insecure",
        "--purge",
        "r:1",
    ]


# --- the Toolchain facade ----------------------------------------------------------------------


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


def test_from_config_refuses_an_unpinned_tool_before_touching_an_engine() -> None:
    cfg = config(apko_image="cgr.dev/chainguard/apko:latest")
    with pytest.raises(ToolchainError, match=r"tools\.apko"):
        Toolchain.from_config(cfg, engine=None)


def _toolchain(
    tmp_path: Path, owner: Owner, *, rootless: str = "[]", helper: Path | None = None
) -> tuple[Toolchain, FakeRunner]:
    runner = FakeRunner(
        [
            (INSPECT, ok(f'["{MELANGE.name}@{D2}"]')),
            (("docker", "info"), ok(rootless)),
            (("docker", "run"), ok()),
            *CONTAINER_DONE,
        ]
    )
    engine = Engine(name="docker", binary="docker", version="1", runner=runner)
    chain = Toolchain(
        engine=engine,
        apko_image=APKO,
        melange_image=MELANGE,
        project=tmp_path,
        owner=owner,
        chown_helper=helper,
    )
    return chain, runner


def _job(root: Path) -> MelangeBuild:
    return MelangeBuild(
        config=root / "hello.yaml",
        arch="x86_64",
        signing_key=root / "k.rsa",
        out_dir=root / "packages",
    )


def test_melange_build_as_root_runs_melange_only(tmp_path: Path) -> None:
    chain, runner = _toolchain(tmp_path, ROOT)
    chain.melange_build(_job(tmp_path), log=tmp_path / "m.log", source_date_epoch=1)
    runs = [c for c in runner.calls if c[1] == "run"]
    assert len(runs) == 1
    assert "--privileged" in runs[0]
    assert (tmp_path / "packages").is_dir()  # created before the mount, not by the engine


def test_melange_build_as_a_user_gives_the_outputs_back(tmp_path: Path) -> None:
    helper = tmp_path / "busybox"
    helper.write_bytes(b"")
    chain, runner = _toolchain(tmp_path, USER, helper=helper)
    chain.melange_build(_job(tmp_path), log=tmp_path / "m.log", source_date_epoch=1)
    runs = [c for c in runner.calls if c[1] == "run"]
    assert len(runs) == 2
    assert runs[1][-4:] == ("chown", "-R", "1000:100", "/work/packages")


def test_melange_build_as_a_user_of_rootless_engine_needs_no_fix(tmp_path: Path) -> None:
    chain, runner = _toolchain(tmp_path, USER, rootless='["name=rootless"]')
    chain.melange_build(_job(tmp_path), log=tmp_path / "m.log", source_date_epoch=1)
    assert len([c for c in runner.calls if c[1] == "run"]) == 1


def test_melange_build_as_a_user_without_a_chown_helper_says_what_to_set(tmp_path: Path) -> None:
    chain, _ = _toolchain(tmp_path, USER, helper=None)
    with pytest.raises(ToolchainError, match="BUILDKIT_BUSYBOX_"):
        chain.melange_build(_job(tmp_path), log=tmp_path / "m.log", source_date_epoch=1)


def test_images_are_checked_once_per_toolchain(tmp_path: Path) -> None:
    chain, runner = _toolchain(tmp_path, ROOT)
    for _ in range(3):
        chain.melange_build(_job(tmp_path), log=tmp_path / "m.log", source_date_epoch=1)
    assert sum(1 for c in runner.calls if c[:3] == INSPECT) == 1


@pytest.mark.parametrize(
    ("loaded", "name"),
    [
        ("localhost/buildkit/java:1-amd64", "buildkit/java:1-amd64"),
        ("docker.io/buildkit-test/apko-cli:1.0-amd64", "buildkit-test/apko-cli:1.0-amd64"),
        ("docker.io/library/busybox:1", "busybox:1"),
        ("127.0.0.1:5000/a/b:1", "127.0.0.1:5000/a/b:1"),
    ],
)
def test_local_name_drops_the_registry_engines_add_themselves(loaded: str, name: str) -> None:
    assert local_name(loaded) == name
