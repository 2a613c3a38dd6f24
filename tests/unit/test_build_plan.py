"""Build planning and the action cache, end to end with fake tools (no engine, no network).

A small project is made in tmp_path: a remote package already in the package cache (as
``lock`` leaves it), a local melange package, a framework and its lockfile. ``FakeTools``
stands in for the toolchain: its melange packs a real signed .apk, its apko checks that the
offline cache holds every locked package (as apko would read it) and writes a small
docker-archive. The tool factory counts how often it is asked for: a fully cached build must
never ask.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from buildkit.actions.plan import (
    check_lock,
    lock_digest,
    newest_build_time,
    plan_image,
    public_key_fingerprint,
)
from buildkit.actions.records import ImageRecord, PackageRecord
from buildkit.apk.arch import oci_arch
from buildkit.apk.index import parse_index
from buildkit.apk.keys import Keyring, SigningKey, fingerprint, generate_keypair
from buildkit.apk.package import pack_package, read_layout
from buildkit.apk.pkginfo import PkgInfo
from buildkit.errors import LockError, StaleLockError, StoreError, ToolFailedError
from buildkit.framework import load_framework
from buildkit.lockfile import (
    LockConfig,
    LockedPackage,
    Lockfile,
    LockKey,
    LockRange,
    LockRepo,
    write_lockfile,
)
from buildkit.melange import parse_package_config
from buildkit.project.config import ProjectConfig, load_project
from buildkit.project.records import read_image_record
from buildkit.repo import PackageCache
from buildkit.store import Store
from buildkit.toolchain import ApkoBuild, MelangeBuild
from buildkit.usecases.apko_cache import key_file, package_dir
from buildkit.usecases.build_context import BuildContext, Tools
from buildkit.usecases.building import BuildOptions, BuildResult, build_project
from buildkit.usecases.package_builds import build_packages
from buildkit.usecases.verifying import verify_project
from tests.helpers.images import make_image, write_docker_archive

REPO = "http://repo.invalid/os"
REPO_KEY_URL = f"{REPO}/repo.rsa.pub"
BASE_TIME = 1700000000
ARCHS = ("x86_64", "aarch64")

FRAMEWORK = f"""\
contents:
  keyring:
    - {REPO_KEY_URL}
    - ./keys/buildkit.rsa.pub
  repositories:
    - {REPO}
    - "@local ./packages"
  packages:
    - base
    - hello@local
entrypoint:
  command: /usr/bin/hello
archs: [x86_64, aarch64]
"""

HELLO = """\
package:
  name: hello
  version: 1.0.0
  epoch: 0
  dependencies:
    runtime: [base]
environment:
  contents:
    repositories: [http://repo.invalid/os]
    packages: [base]
pipeline:
  - runs: echo hi
"""


@pytest.fixture(scope="session")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project key and the remote repository's key (small: these are tests)."""
    folder = tmp_path_factory.mktemp("keys")
    generate_keypair(folder / "buildkit.rsa", bits=1024)
    generate_keypair(folder / "repo.rsa", bits=1024)
    return folder


# --- fakes -------------------------------------------------------------------------------------


@dataclass
class FakeTools:
    """melange packs a signed .apk; apko checks its offline cache and writes a docker-archive."""

    calls: list[tuple[str, str]] = field(default_factory=list)
    fail: str | None = None  # "apko" or "melange": that tool fails
    wrong_tag: bool = False
    salt: bytes = b""  # changes every apko output (a non-reproducible tool)

    def melange_build(
        self, job: MelangeBuild, *, log: Path, source_date_epoch: int, network: str = "none"
    ) -> None:
        self.calls.append(("melange", job.arch))
        self._log(log, "melange")
        config = parse_package_config(job.config.read_bytes(), path=job.config)
        root = job.out_dir / ".root"
        (root / "usr" / "bin").mkdir(parents=True)
        # The package's content follows its config, as a real pipeline's would.
        script = f"#!/bin/sh\n# {hashlib.sha256(job.config.read_bytes()).hexdigest()}\n"
        (root / "usr" / "bin" / config.name).write_text(script)
        info = PkgInfo(
            name=config.name,
            version=config.full_version,
            arch=job.arch,
            depends=config.runtime,
        )
        data = pack_package(
            root, info, key=SigningKey.load(job.signing_key), source_date_epoch=source_date_epoch
        )
        shutil.rmtree(root)
        target = job.out_dir / job.arch / config.filename
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)

    def apko_build(
        self, job: ApkoBuild, *, log: Path, source_date_epoch: int, network: str = "none"
    ) -> None:
        self.calls.append(("apko", job.arch))
        assert network == "none"
        assert job.offline
        self._log(log, "apko")
        assert job.cache_dir is not None
        lock = json.loads(job.lockfile.read_bytes()) if job.lockfile else {}
        for package in lock["contents"]["packages"]:
            if package["architecture"] == job.arch:  # apko reads these, and nothing else
                folder = package_dir(job.cache_dir, package["url"])
                assert any(folder.glob("*.ctl.tar.gz")), f"{package['name']} not cached"
                assert any(folder.glob("*.dat.tar.gz")), f"{package['name']} not cached"
        # As go-containerregistry names it: a first component that is a host (localhost, or
        # with "." or ":") is the registry; otherwise Docker Hub's is implied.
        first = job.tag.split("/", 1)[0]
        host = first == "localhost" or "." in first or ":" in first
        tag = f"{'' if host else 'index.docker.io/'}{job.tag}-{oci_arch(job.arch)}"
        content = f"{job.arch} {source_date_epoch}".encode() + self.salt
        write_docker_archive(
            job.output,
            ["wrong:tag" if self.wrong_tag else tag],
            make_image(oci_arch(job.arch), greeting=content),
        )
        job.sbom_dir.mkdir(parents=True, exist_ok=True)
        for name in (f"sbom-{job.arch}.spdx.json", "sbom-index.spdx.json"):
            (job.sbom_dir / name).write_bytes(b'{"spdxVersion": "SPDX-2.3"}' + content)

    def _log(self, log: Path, tool: str) -> None:
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(f"$ {tool} build\n" + "".join(f"{tool} line {n}\n" for n in range(40)))
        if self.fail == tool:
            raise ToolFailedError(
                f"{tool} build failed with exit status 1",
                where=str(log),
                returncode=1,
                log=str(log),
                tail=log.read_text()[-200:],
            )


@dataclass
class Factory:
    """The lazily called tool factory; counts calls."""

    tools: FakeTools = field(default_factory=FakeTools)
    made: int = 0

    def __call__(self) -> Tools:
        self.made += 1
        return self.tools


def no_tools() -> Tools:
    raise AssertionError("a fully cached build must not touch the engine")


# --- the project ---------------------------------------------------------------------------------


@dataclass
class Project:
    root: Path
    cache: Path
    repo_key: Path

    def config(self, **env: str) -> ProjectConfig:
        return load_project(self.root, env={"BUILDKIT_CACHE": str(self.cache), **env})

    def build(self, tools: Callable[[], Tools], **options: Any) -> BuildResult:
        return build_project(self.config(), BuildOptions(jobs=2, **options), tools=tools)

    @property
    def store(self) -> Store:
        return Store(self.root / "dist")

    def record(self, arch: str = "x86_64") -> ImageRecord:
        record = read_image_record(self.store, self.root / "dist" / "demo" / f"{arch}.json")
        assert record is not None
        return record


@pytest.fixture
def project(tmp_path: Path, keys: Path) -> Project:
    root = tmp_path / "proj"
    for folder in ("keys", "packages", "frameworks", "lockfiles"):
        (root / folder).mkdir(parents=True)
    for name in ("buildkit.rsa", "buildkit.rsa.pub"):
        shutil.copy(keys / name, root / "keys" / name)
    (root / "buildkit.toml").write_text('[project]\nframeworks = ["demo"]\n')
    (root / "frameworks" / "demo.yaml").write_text(FRAMEWORK)
    (root / "packages" / "hello.yaml").write_text(HELLO)
    cache = tmp_path / "cache"
    repo_key = keys / "repo.rsa"
    packages = PackageCache(cache / "packages")
    keyring = Keyring.from_pems({"repo.rsa.pub": (keys / "repo.rsa.pub").read_bytes()})
    for arch in ARCHS:  # what `lock` leaves in the package cache
        tree = tmp_path / f"base-{arch}"
        (tree / "etc").mkdir(parents=True)
        (tree / "etc" / "base").write_text(arch)
        info = PkgInfo(name="base", version="1-r0", arch=arch, builddate=BASE_TIME)
        data = pack_package(tree, info, key=SigningKey.load(repo_key), source_date_epoch=1)
        packages.put(read_layout(data, where="base").identity, data, keyring=keyring)
    return Project(root=root, cache=cache, repo_key=repo_key)


def _range(section: Any, checksum: str) -> LockRange:
    return LockRange(range=section.range, checksum=checksum)


def _locked(url: str, data: bytes) -> LockedPackage:
    layout = read_layout(data, where=url)
    assert layout.signature is not None
    return LockedPackage(
        name=layout.pkginfo.name,
        url=url,
        version=layout.pkginfo.version,
        architecture=layout.pkginfo.arch,
        signature=_range(layout.signature, layout.signature_checksum),
        control=_range(layout.control, layout.control_checksum),
        data=_range(layout.data, layout.data_checksum),
        checksum=layout.identity,
    )


def lock(project: Project, archs: tuple[str, ...] = ARCHS) -> Lockfile:
    """What `nox -s lock` would write, from the package cache and packages/<arch>/."""
    config = project.config()
    framework = load_framework("frameworks/demo.yaml", base_dir=project.root)
    cache = PackageCache(project.cache / "packages")
    packages = []
    for arch in archs:
        for identity in sorted(cache.root.rglob("*.apk")):
            data = identity.read_bytes()
            if read_layout(data, where="x").pkginfo.arch == arch:
                packages.append(_locked(f"{REPO}/{arch}/base-1-r0.apk", data))
        local = config.packages_dir / arch / "hello-1.0.0-r0.apk"
        packages.append(_locked(f"./packages/{arch}/hello-1.0.0-r0.apk", local.read_bytes()))
    keyring = (
        LockKey(
            name=REPO_KEY_URL.removeprefix("http://"),
            url=REPO_KEY_URL,
            content=(project.repo_key.parent / "repo.rsa.pub").read_text(),
        ),
        LockKey(
            name="./keys/buildkit.rsa.pub",
            url="./keys/buildkit.rsa.pub",
            content=(project.root / "keys" / "buildkit.rsa.pub").read_text(),
        ),
    )
    result = Lockfile(
        config=LockConfig(name="frameworks/demo.yaml", checksum=framework.checksum),
        keyring=keyring,
        repositories=tuple(
            LockRepo(name=f"{repo}/{arch}", url=f"{repo}/{arch}/APKINDEX.tar.gz", architecture=arch)
            for arch in archs
            for repo in (REPO, "./packages")
        ),
        packages=tuple(packages),
    )
    write_lockfile(project.root / "lockfiles" / "demo.lock.json", result)
    return result


def build_local(project: Project, factory: Callable[[], Tools]) -> list[PackageRecord]:
    """The melange step alone, as `lock` runs it before resolving."""
    with BuildContext(project.config(), tools=factory) as context:
        return build_packages(context, ARCHS)


def built_and_locked(project: Project) -> Factory:
    """Local packages built, then locked, then everything built: a project after
    `nox -s lock` and `nox -s build`."""
    factory = Factory()
    build_local(project, factory)
    lock(project)
    project.build(factory)
    return factory


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


def test_a_lockfile_without_the_arch_is_refused_for_that_arch_only(project: Project) -> None:
    factory = Factory()
    build_local(project, factory)
    lock(project, archs=("x86_64",))
    with pytest.raises(StaleLockError, match="has no packages for aarch64"):
        project.build(factory, archs=("aarch64",))
    result = project.build(factory, archs=("x86_64",))
    assert [r.arch for r in result.images] == ["x86_64"]


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


# --- verify --------------------------------------------------------------------------------------


def test_verify_passes_for_a_reproducible_build(project: Project) -> None:
    factory = built_and_locked(project)
    result = verify_project(project.config(), tools=factory)
    assert result.ok, result.differences
    assert sorted(result.checked) == sorted(
        [
            f"{tool} {name} {arch}"
            for tool, name in (("melange", "hello"), ("apko", "demo"))
            for arch in ARCHS
        ]
    )
    assert not any((project.root / "dist" / "tmp").iterdir())


def test_verify_lists_every_difference_of_a_non_reproducible_build(project: Project) -> None:
    built_and_locked(project)
    result = verify_project(
        project.config(), tools=Factory(FakeTools(salt=b"again")), archs=("x86_64",)
    )
    assert not result.ok
    text = "\n".join(result.differences)
    for what in ("tarball", "manifest digest", "config digest", "sbom-x86_64.spdx.json"):
        assert f"apko demo x86_64: {what}" in text


def test_verify_reports_a_missing_record(project: Project) -> None:
    built_and_locked(project)
    (project.root / "dist" / "demo" / "x86_64.json").unlink()
    result = verify_project(project.config(), tools=Factory(), archs=("x86_64",))
    assert result.differences == (
        f"apko demo x86_64: no build record at {project.root}/dist/demo/x86_64.json "
        "(run `nox -s build-amd64 -- demo` first)",
    )


# --- action keys (pure) --------------------------------------------------------------------------


def plan(project: Project, lockfile: Lockfile, **overrides: Any) -> str:
    framework = load_framework("frameworks/demo.yaml", base_dir=project.root)
    framework = overrides.pop("framework", framework)
    arguments: dict[str, Any] = {
        "lockfile": project.root / "lockfiles" / "demo.lock.json",
        "apko_image": "reg/apko@sha256:" + "1" * 64,
        "tag": "buildkit/demo:latest",
        "source_date_epoch": None,
        "signing_key": "sha256:" + "2" * 64,
        **overrides,
    }
    return plan_image(framework, lockfile, "x86_64", **arguments).key


def _other(package: LockedPackage, **change: str) -> LockedPackage:
    return replace(package, **change)


def test_image_keys_change_with_every_input_and_only_with_their_own_arch(
    project: Project,
) -> None:
    built_and_locked(project)
    lockfile = lock(project)
    base = plan(project, lockfile)
    assert plan(project, lockfile) == base  # stable
    x86 = [p for p in lockfile.packages if p.architecture == "x86_64"]
    arm = [p for p in lockfile.packages if p.architecture == "aarch64"]
    changed_x86 = replace(lockfile, packages=(_other(x86[0], checksum="Q1other="), *x86[1:], *arm))
    changed_arm = replace(lockfile, packages=(*x86, _other(arm[0], checksum="Q1other="), *arm[1:]))
    framework = load_framework("frameworks/demo.yaml", base_dir=project.root)
    variants = [
        plan(project, changed_x86),
        plan(project, lockfile, apko_image="reg/apko@sha256:" + "3" * 64),
        plan(project, lockfile, tag="buildkit/demo:v2"),
        plan(project, lockfile, source_date_epoch=1),
        plan(project, lockfile, signing_key="sha256:" + "4" * 64),
        plan(project, lockfile, framework=replace(framework, checksum="sha256-other")),
        plan(project, replace(lockfile, keyring=lockfile.keyring[:1])),
    ]
    assert len({base, *variants}) == len(variants) + 1
    assert plan(project, changed_arm) == base  # another arch's entries are not an input
    assert lock_digest(changed_arm, "x86_64") == lock_digest(lockfile, "x86_64")


def test_check_lock_passes_a_current_lock(project: Project) -> None:
    built_and_locked(project)
    lockfile = lock(project)
    framework = load_framework("frameworks/demo.yaml", base_dir=project.root)
    path = project.root / "lockfiles" / "demo.lock.json"
    assert check_lock(framework, lockfile, "aarch64", path=path) is lockfile
    with pytest.raises(StaleLockError, match="records no config checksum"):
        check_lock(framework, replace(lockfile, config=None), "x86_64", path=path)


def test_package_keys_include_the_identities_of_local_dependencies(project: Project) -> None:
    (project.root / "packages" / "app.yaml").write_text(
        "package: {name: app, version: 2, dependencies: {runtime: [hello]}}\n"
    )
    factory = Factory()
    records = {(r.name, r.arch): r for r in build_local(project, factory)}
    app = records["app", "x86_64"]
    assert app.inputs.local_deps == {"hello": records["hello", "x86_64"].identity}
    assert [c for c in factory.tools.calls if c[1] == "x86_64"] == [
        ("melange", "x86_64"),
        ("melange", "x86_64"),
    ]
    hello = project.root / "packages" / "hello.yaml"
    hello.write_text(hello.read_text().replace("epoch: 0", "epoch: 1"))
    again = {(r.name, r.arch): r for r in build_local(project, factory)}
    assert again["app", "x86_64"].action_key != app.action_key  # its dependency changed


@pytest.mark.parametrize(
    ("times", "expected"), [([1, None, 3, 2], 3), ([None], 0), ([], 0), ([5], 5)]
)
def test_newest_build_time(times: list[int | None], expected: int) -> None:
    assert newest_build_time(times) == expected


def test_public_key_fingerprint_matches_the_crypto_library(keys: Path) -> None:
    pem = (keys / "buildkit.rsa.pub").read_bytes()
    assert public_key_fingerprint(pem) == fingerprint(pem)
    assert public_key_fingerprint(pem.replace(b"\n", b"\r\n")) == fingerprint(pem)


def test_the_offline_cache_holds_keys_by_url(project: Project) -> None:
    built_and_locked(project)
    pem = (project.repo_key.parent / "repo.rsa.pub").read_bytes()
    cached = key_file(project.cache / "apko-cache", REPO_KEY_URL, pem)
    assert cached.read_bytes() == pem
    assert cached.parent.name == "repo.rsa.pub"
