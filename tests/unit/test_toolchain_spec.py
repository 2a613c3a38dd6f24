"""buildkit.toolchain.spec: ContainerSpec -> ``docker run`` argv, container paths, and the
push and manifest lines.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from buildkit.errors import ToolchainError
from buildkit.toolchain import (
    ContainerSpec,
    container_path,
    manifest_annotate_argv,
    manifest_create_argv,
    manifest_push_argv,
    push_argv,
    run_argv,
)
from tests.helpers.toolchain import (
    APKO,
    BASE,
    IMG,
    USER,
    P,
)


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
