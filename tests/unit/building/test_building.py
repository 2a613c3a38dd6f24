"""buildkit.usecases.building: stale and missing lockfiles refused, the action cache
(fake tools: tests/helpers/build_project.py)."""

from __future__ import annotations

import shutil
from collections.abc import Callable

import pytest

from buildkit.apk.arch import oci_arch
from buildkit.apk.index import parse_index
from buildkit.apk.keys import Keyring
from buildkit.apk.package import read_layout
from buildkit.errors import LockError, StaleLockError, StoreError, ToolFailedError
from buildkit.project.records import read_image_record
from buildkit.usecases.building import BuildOptions, build_project
from buildkit.usecases.verifying import verify_project
from tests.helpers.build_project import (
    ARCHS,
    BASE_TIME,
    Factory,
    FakeTools,
    Project,
    build_local,
    built_and_locked,
    lock,
    no_tools,
)

# --- refusing stale or missing lockfiles --------------------------------------------------------


def test_a_missing_lockfile_is_refused_before_any_tool_runs(project: Project) -> None:
    factory = Factory()
    with pytest.raises(LockError, match="framework demo has no lockfile") as info:
        project.build(factory)
    assert "`nox -s lock -- demo`" in str(info.value)
    assert info.value.exit_code == 1  # as a stale lockfile, and as in lock --check
    assert factory.made == 0


def test_a_lockfile_from_another_version_of_the_config_is_refused(project: Project) -> None:
    built_and_locked(project)
    config = project.root / "frameworks" / "demo.yaml"
    config.write_text(config.read_text().replace("/usr/bin/hello", "/usr/bin/hi"))
    factory = Factory()
    with pytest.raises(
        StaleLockError, match=r"the lockfile is stale: frameworks/demo\.yaml"
    ) as err:
        project.build(factory)
    assert err.value.exit_code == 1
    assert "nox -s lock" in str(err.value)
    assert factory.made == 0


def test_a_lockfile_without_an_arch_of_the_config_is_refused_for_every_arch(
    project: Project,
) -> None:
    factory = Factory()
    build_local(project, factory)
    lock(project, archs=("x86_64",))
    with pytest.raises(StaleLockError, match="has no packages for aarch64"):
        project.build(factory, archs=("aarch64",))
    with pytest.raises(LockError, match="contents: nothing locked for aarch64, which frame"):
        project.build(factory, archs=("x86_64",))
    assert ("apko", "x86_64") not in factory.tools.calls


@pytest.mark.parametrize("command", ["build", "verify"])
def test_a_hand_edited_lockfile_is_refused_before_any_tool_runs(
    project: Project, command: str
) -> None:
    built_and_locked(project)
    path = project.root / "lockfiles" / "demo.lock.json"
    path.write_text(path.read_text().replace('"version": "1-r0"', '"version": "2-r0"', 1))
    factory = Factory()
    run: Callable[[], object] = (
        (lambda: project.build(factory))
        if command == "build"
        else (lambda: verify_project(project.config(), tools=factory))
    )
    with pytest.raises(LockError, match=r"contents\.packages\[0\] \(base 2-r0, x86_64\): "):
        run()
    assert factory.made == 0


def test_a_local_package_rebuilt_after_the_lock_makes_the_lock_stale(project: Project) -> None:
    built_and_locked(project)
    config = project.root / "packages" / "hello.yaml"
    config.write_text(config.read_text().replace("echo hi", "echo hello"))
    (project.root / "packages" / "hello").mkdir()
    (project.root / "packages" / "hello" / "greeting.txt").write_text("changed\n")
    with pytest.raises(
        StaleLockError,
        match=r"local package hello changed since the lock of demo: its config or source",
    ):
        project.build(Factory())


# --- the action cache ----------------------------------------------------------------------------


def test_a_first_build_runs_each_tool_once_per_arch(project: Project) -> None:
    factory = built_and_locked(project)
    assert sorted(factory.tools.calls) == sorted(
        [("melange", "x86_64"), ("melange", "aarch64"), ("apko", "x86_64"), ("apko", "aarch64")]
    )
    for arch in ARCHS:
        record = project.record(arch)
        project.store.verify(record.tarball)
        assert record.image.tag == f"localhost/buildkit/demo:latest-{oci_arch(arch)}"
        assert record.source_date_epoch == BASE_TIME  # the newest locked package
        assert set(record.sboms) == {f"sbom-{arch}.spdx.json", "sbom-index.spdx.json"}
        assert record.inputs.source_date_epoch is None  # keyed as the newest locked package
        assert (project.root / "dist" / "actions" / f"{record.action_key}.json").is_file()


def test_the_local_repository_gets_the_packages_and_a_signed_index(project: Project) -> None:
    built_and_locked(project)
    public = (project.root / "keys" / "buildkit.rsa.pub").read_bytes()
    keyring = Keyring.from_pems({"buildkit.rsa.pub": public})
    for arch in ARCHS:
        repo = project.root / "packages" / arch
        index = parse_index((repo / "APKINDEX.tar.gz").read_bytes(), where=arch, keyring=keyring)
        (record,) = index.records
        assert (record.name, record.version, record.arch) == ("hello", "1.0.0-r0", arch)
        layout = read_layout((repo / "hello-1.0.0-r0.apk").read_bytes(), where=arch)
        assert record.checksum == layout.identity


def test_a_rebuild_with_nothing_changed_runs_nothing(project: Project) -> None:
    built_and_locked(project)
    before = {arch: project.record(arch) for arch in ARCHS}
    result = project.build(no_tools)
    assert result.ran == 0
    assert all(r.cached for r in (*result.images, *result.packages))
    assert {r.arch: r for r in result.images} == before


def test_a_cached_package_missing_from_the_local_repository_is_copied_back(
    project: Project,
) -> None:
    built_and_locked(project)
    apk = project.root / "packages" / "x86_64" / "hello-1.0.0-r0.apk"
    index = apk.with_name("APKINDEX.tar.gz")
    data = apk.read_bytes()
    apk.unlink()
    index.unlink()
    project.build(no_tools)
    assert apk.read_bytes() == data
    assert index.is_file()


def test_a_damaged_output_is_rebuilt_and_only_that_action_runs(project: Project) -> None:
    built_and_locked(project)
    record = project.record("aarch64")
    path = project.store.path(record.tarball)
    path.chmod(0o644)
    path.write_bytes(b"damaged")
    factory = Factory()
    result = project.build(factory)
    assert factory.tools.calls == [("apko", "aarch64")]
    assert result.ran == 1
    assert project.store.verify(record.tarball)  # the same bytes again


@pytest.mark.parametrize(
    ("change", "reruns"),
    [
        ({"BUILDKIT_SOURCE_DATE_EPOCH": "1710000000"}, {"melange", "apko"}),
        ({"BUILDKIT_TAG": "v2"}, {"apko"}),
        ({"BUILDKIT_APKO_IMAGE": "reg.invalid/apko@sha256:" + "e" * 64}, {"apko"}),
        ({"BUILDKIT_MELANGE_IMAGE": "reg.invalid/melange@sha256:" + "e" * 64}, {"melange"}),
    ],
)
def test_changing_an_input_reruns_the_actions_that_read_it(
    project: Project, change: dict[str, str], reruns: set[str]
) -> None:
    built_and_locked(project)
    factory = Factory()
    try:
        build_project(project.config(**change), BuildOptions(), tools=factory)
    except StaleLockError:
        # A rebuilt local package (new SOURCE_DATE_EPOCH) must be locked again first.
        assert "melange" in reruns
        lock(project)
        build_project(project.config(**change), BuildOptions(), tools=factory)
    assert {tool for tool, _arch in factory.tools.calls} == reruns


def test_a_configured_source_date_epoch_is_what_apko_gets(project: Project) -> None:
    built_and_locked(project)
    factory = Factory()
    config = project.config(BUILDKIT_SOURCE_DATE_EPOCH="1710000000")
    with pytest.raises(StaleLockError):  # the local package changed with the new date
        build_project(config, BuildOptions(), tools=factory)
    lock(project)
    build_project(config, BuildOptions(), tools=factory)
    record = project.record()
    assert record.source_date_epoch == 1710000000
    assert record.inputs.source_date_epoch == 1710000000


def test_a_failing_tool_names_the_action_and_keeps_the_log_tail(project: Project) -> None:
    built_and_locked(project)
    shutil.rmtree(project.root / "dist")
    failing = Factory(FakeTools(fail="apko"))
    with pytest.raises(ToolFailedError) as info:
        project.build(failing)
    assert info.value.message.startswith("apko demo ")
    assert info.value.where is not None
    assert info.value.where.endswith(".log")
    assert "apko line 39" in info.value.tail
    assert not (project.root / "dist" / "demo").exists()  # no record without outputs
    assert not any((project.root / "dist" / "tmp").iterdir())  # scratch cleaned up


def test_a_failing_melange_names_its_action(project: Project) -> None:
    with pytest.raises(ToolFailedError) as info:
        build_local(project, Factory(FakeTools(fail="melange")))
    assert info.value.message == "melange hello x86_64: melange build failed with exit status 1"


def test_an_image_with_an_unexpected_tag_is_refused(project: Project) -> None:
    built_and_locked(project)
    shutil.rmtree(project.root / "dist" / "actions")
    with pytest.raises(ToolFailedError, match="expected localhost/buildkit/demo:latest-amd64"):
        project.build(Factory(FakeTools(wrong_tag=True)), archs=("x86_64",))


def test_a_malformed_action_record_is_a_cache_miss(project: Project) -> None:
    built_and_locked(project)
    record = project.record()
    action = project.root / "dist" / "actions" / f"{record.action_key}.json"
    action.write_text("{broken")
    factory = Factory()
    project.build(factory, archs=("x86_64",))
    assert factory.tools.calls == [("apko", "x86_64")]


def test_a_malformed_current_record_is_reported(project: Project) -> None:
    built_and_locked(project)
    path = project.root / "dist" / "demo" / "x86_64.json"
    path.write_text('{"kind": "image"}')
    with pytest.raises(StoreError, match="malformed build record"):
        read_image_record(project.store, path)
