"""buildkit.toolchain.facade: the apko and melange container lines, the ownership fix, and the
Toolchain that runs them.

No engine runs here: a FakeRunner (tests/helpers/toolchain.py) answers from a table.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from buildkit.errors import ToolchainError
from buildkit.toolchain import (
    ApkoBuild,
    ApkoLock,
    Engine,
    MelangeBuild,
    Owner,
    Toolchain,
    apko_spec,
    melange_spec,
    needs_ownership_fix,
    ownership_fix_spec,
    run_argv,
)
from tests.helpers.toolchain import (
    APKO,
    BASE,
    CONTAINER_DONE,
    D2,
    IMG,
    INSPECT,
    MELANGE,
    ROOT,
    USER,
    FakeRunner,
    P,
    config,
    ok,
)

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
