"""A small buildkit project with fake tools, for the build use cases' tests (no engine, no
network).

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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from buildkit.actions.lock_check import lock_repositories
from buildkit.actions.records import ImageRecord, PackageRecord
from buildkit.apk.arch import oci_arch
from buildkit.apk.index import record_from_package, write_index
from buildkit.apk.keys import Keyring, SigningKey, generate_keypair
from buildkit.apk.package import pack_package, read_layout
from buildkit.apk.pkginfo import PkgInfo
from buildkit.errors import ToolFailedError
from buildkit.framework import load_framework
from buildkit.lockfile import (
    LockConfig,
    LockedPackage,
    Lockfile,
    LockKey,
    LockRange,
    write_lockfile,
)
from buildkit.melange import parse_package_config
from buildkit.project.config import ProjectConfig, load_project
from buildkit.project.records import read_image_record
from buildkit.repo import PackageCache
from buildkit.store import Store
from buildkit.toolchain import ApkoBuild, MelangeBuild
from buildkit.usecases.apko_cache import package_dir
from buildkit.usecases.build_context import BuildContext, Tools
from buildkit.usecases.building import BuildOptions, BuildResult, build_project
from buildkit.usecases.package_builds import build_packages
from tests.helpers.images import make_image, write_docker_archive
from tests.helpers.repos import seed_remote_cache

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


def make_keys(folder: Path) -> Path:
    """The project key and the remote repository's key (small: these are tests)."""
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
    # Each apko run's offline cache as apko saw it: path relative to the cache -> bytes.
    caches: list[dict[str, bytes]] = field(default_factory=list)

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
        seen = {
            path.relative_to(job.cache_dir).as_posix(): path.read_bytes()
            for path in sorted(job.cache_dir.rglob("*"))
            if path.is_file()
        }
        self.caches.append(seen)
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
        # What goes into the image is what apko finds in its cache, as with the real apko.
        installed = hashlib.sha256(json.dumps({k: v.hex() for k, v in seen.items()}).encode())
        content = f"{job.arch} {source_date_epoch} {installed.hexdigest()}".encode() + self.salt
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


def make_project(tmp_path: Path, keys: Path) -> Project:
    """The small project in ``tmp_path``, its remote packages in the package cache."""
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
    # What `lock` leaves in the machine cache: the repository's key, its indexes, the packages.
    seed_remote_cache(cache, "keys", REPO_KEY_URL, (keys / "repo.rsa.pub").read_bytes())
    for arch in ARCHS:
        tree = tmp_path / f"base-{arch}"
        (tree / "etc").mkdir(parents=True)
        (tree / "etc" / "base").write_text(arch)
        info = PkgInfo(name="base", version="1-r0", arch=arch, builddate=BASE_TIME)
        data = pack_package(tree, info, key=SigningKey.load(repo_key), source_date_epoch=1)
        packages.put(read_layout(data, where="base").identity, data, keyring=keyring)
        index = write_index(
            [record_from_package(data, where="base")],
            description="os",
            key=SigningKey.load(repo_key),
        )
        seed_remote_cache(cache, "indexes", f"{REPO}/{arch}/APKINDEX.tar.gz", index)
    return Project(root=root, cache=cache, repo_key=repo_key)


def _range(section: Any, checksum: str) -> LockRange:
    return LockRange(range=section.range, checksum=checksum)


def locked_entry(url: str, data: bytes) -> LockedPackage:
    """The lock entry of a signed .apk at ``url``."""
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
                packages.append(locked_entry(f"{REPO}/{arch}/base-1-r0.apk", data))
        local = config.packages_dir / arch / "hello-1.0.0-r0.apk"
        packages.append(locked_entry(f"./packages/{arch}/hello-1.0.0-r0.apk", local.read_bytes()))
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
        repositories=lock_repositories(framework.contents.repositories, archs),
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
