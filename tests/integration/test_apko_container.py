"""Real apko, through buildkit's container path, on apko's own CLI test data."""

from __future__ import annotations

import json
import shutil
import urllib.request
from pathlib import Path

import pytest

from buildkit.apk.arch import oci_arch
from buildkit.errors import ToolFailedError
from buildkit.toolchain import ApkoBuild, ApkoLock, Owner, local_name
from tests.helpers.machine import (
    SOURCE_DATE_EPOCH,
    Machine,
    other_owner,
    run_tool,
)

pytestmark = pytest.mark.integration

TAG = "buildkit-test/apko-cli:1.0"
REGISTRY = "127.0.0.1:5000"  # scripts/setup's registry
MANIFEST_TYPES = (
    "application/vnd.oci.image.manifest.v1+json,"
    "application/vnd.docker.distribution.manifest.v2+json"
)


@pytest.fixture
def apko_project(fixtures: Path, tmp_path: Path) -> Path:
    """apko-cli's paths start with ./testdata/: copy it there and run from the copy's parent."""
    project = tmp_path / "proj"
    shutil.copytree(fixtures / "apko-cli", project / "testdata")
    return project


def fixture_job(project: Path, *, arch: str = "x86_64", sbom: str = "out") -> ApkoBuild:
    """A locked build of apko-cli's fixture config into ``project/out/image.tar``."""
    return ApkoBuild(
        config=project / "testdata/apko.yaml",
        tag=TAG,
        output=project / "out/image.tar",
        arch=arch,
        sbom_dir=project / sbom,
        lockfile=project / "testdata/apko.lock.json",
    )


def build_fixture(
    machine: Machine, project: Path, job: ApkoBuild, owner: Owner | None = None
) -> None:
    """Run the real apko on ``job`` through the container path (as ``owner`` when given)."""
    chain = machine.toolchain(project, owner)
    log = project / "logs/apko.log"
    run_tool(lambda: chain.apko_build(job, log=log, source_date_epoch=SOURCE_DATE_EPOCH))


@pytest.mark.parametrize("arch", ["x86_64", "aarch64"])
def test_locked_apko_build_gives_a_loadable_tarball_and_sboms(
    machine: Machine, apko_project: Path, arch: str
) -> None:
    out = apko_project / "out"
    job = ApkoBuild(
        config=apko_project / "testdata/apko.yaml",
        tag=TAG,
        output=out / f"image-{arch}.tar",
        arch=arch,
        sbom_dir=out / "sbom",
        lockfile=apko_project / "testdata/apko.lock.json",
        offline=True,
    )
    chain = machine.toolchain(apko_project)
    log = apko_project / "logs" / f"apko-{arch}.log"
    run_tool(lambda: chain.apko_build(job, log=log, source_date_epoch=SOURCE_DATE_EPOCH))

    assert job.output.is_file()
    sbom = out / "sbom" / f"sbom-{arch}.spdx.json"
    assert json.loads(sbom.read_text())["spdxVersion"] == "SPDX-2.3"
    assert (out / "sbom" / "sbom-index.spdx.json").is_file()
    loaded = machine.engine.load(job.output)
    try:
        suffix = f"{TAG}-{oci_arch(arch)}"
        assert [local_name(name) for name in loaded] == [suffix]
    finally:
        for name in loaded:
            machine.engine.check([machine.engine.binary, "rmi", name], what=f"removing {name}")


def test_apko_cannot_write_into_the_checkout_outside_its_outputs(
    machine: Machine, apko_project: Path
) -> None:
    """The project is mounted read-only: only declared outputs are writable."""
    before = sorted(p.relative_to(apko_project) for p in apko_project.rglob("*"))
    job = fixture_job(apko_project)
    build_fixture(machine, apko_project, job)
    after = sorted(p.relative_to(apko_project) for p in apko_project.rglob("*"))
    new = {str(p) for p in set(after) - set(before)}
    assert all(p == "out" or p.startswith(("out/", "logs")) for p in new), new


def test_apko_as_an_unprivileged_user_leaves_files_owned_by_that_user(
    machine: Machine, apko_project: Path
) -> None:
    (apko_project / "out/sbom").mkdir(parents=True)  # as the user's own buildkit would
    owner = other_owner(apko_project)
    job = fixture_job(apko_project, arch="aarch64", sbom="out/sbom")
    build_fixture(machine, apko_project, job, owner)
    outputs = [apko_project / "out", *(apko_project / "out").rglob("*")]
    assert {(p.stat().st_uid, p.stat().st_gid) for p in outputs} == {(owner.uid, owner.gid)}
    assert job.output.is_file()


def test_tool_versions_come_through_the_same_container_path(
    machine: Machine, tmp_path: Path
) -> None:
    chain = machine.toolchain(tmp_path)
    assert chain.apko_version().startswith("v")
    assert chain.melange_version().startswith("v")


def test_a_failing_apko_is_a_failure_with_the_log_tail(
    machine: Machine, apko_project: Path
) -> None:
    """The real engine's exit status reaches buildkit (docker CLI + podman < 4.6 loses it
    with `run --rm`; buildkit's named runs keep it)."""
    (apko_project / "broken.yaml").write_text("contents: {packages: [does-not-exist]}\n")
    job = ApkoBuild(
        config=apko_project / "broken.yaml",
        tag=TAG,
        output=apko_project / "out/image.tar",
        arch="x86_64",
        sbom_dir=apko_project / "out",
    )
    chain = machine.toolchain(apko_project)
    log = apko_project / "logs/broken.log"
    with pytest.raises(ToolFailedError) as info:
        chain.apko_build(job, log=log, source_date_epoch=SOURCE_DATE_EPOCH)
    assert info.value.returncode == 1
    assert info.value.log == str(log)
    assert "must provide at least one repository" in info.value.tail
    assert str(info.value) == f"{log}: apko build failed with exit status 1"


def test_apko_lock_through_the_container_reproduces_the_upstream_lockfile(
    machine: Machine, apko_project: Path
) -> None:
    """Everything but config.name, which apko takes from the path it was given."""
    job = ApkoLock(
        config=apko_project / "testdata/apko.yaml",
        output=apko_project / "out/apko.lock.json",
        archs=("x86_64", "aarch64"),
    )
    chain = machine.toolchain(apko_project)
    run_tool(lambda: chain.apko_lock(job, log=apko_project / "logs/lock.log", network="none"))
    mine = json.loads(job.output.read_text())
    upstream = json.loads((apko_project / "testdata/apko.lock.json").read_text())
    assert mine["config"]["name"] == "testdata/apko.yaml"
    upstream["config"]["name"] = "testdata/apko.yaml"
    assert mine == upstream


def test_built_image_loads_tags_and_pushes_with_the_registry_digest(
    machine: Machine, apko_project: Path
) -> None:
    job = fixture_job(apko_project)
    build_fixture(machine, apko_project, job)
    engine = machine.engine
    (loaded,) = engine.load(job.output)
    target = f"{REGISTRY}/buildkit-test/toolchain:{engine.name}-amd64"
    try:
        engine.tag(loaded, target)
        digest = engine.push(target, insecure=True)
    finally:
        engine.check([engine.binary, "rmi", target, loaded], what="removing the test images")
    url = f"http://{REGISTRY}/v2/buildkit-test/toolchain/manifests/{engine.name}-amd64"
    request = urllib.request.Request(url, method="HEAD", headers={"Accept": MANIFEST_TYPES})
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.headers["Docker-Content-Digest"] == digest
