"""Lockfiles checked against their sources before a build (buildkit.actions.lock_check and
buildkit.usecases.source_check).

Two real lockfiles are hand-edited, one edit per row:

- "golden": the lockfile real ``apko lock`` wrote for apko's CLI test config
  (tests/fixtures/apko-cli), whose repository is local;
- "demo": the lockfile buildkit's locker writes for the project's own frameworks/demo.yaml,
  against a bootstrap-like remote repository (in the machine cache, as ``lock`` leaves it) and
  the local repository ``@local ./packages``.

Every edit must fail with one line naming the lockfile, the entry and the command that locks
again; the unedited lockfiles pass. No check touches the network: the fetcher raises.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from buildkit.actions.lock_check import (
    control_checksum,
    package_repository,
    packages_by_index,
)
from buildkit.apk.index import ApkIndex
from buildkit.apk.keys import SigningKey, generate_keypair
from buildkit.apk.package import read_layout
from buildkit.errors import LockError
from buildkit.framework import Framework, load_framework
from buildkit.lockfile import LockConfig, LockedPackage, Lockfile, LockKey, LockRange, read_lockfile
from buildkit.repo import HttpFetcher, PackageCache, RepoClient
from buildkit.usecases.locking import lock_framework
from buildkit.usecases.source_check import SourceCheck
from tests.helpers.paths import PROJECT_ROOT
from tests.helpers.repos import Pkg, make_repo, seed_remote_cache

BOOTSTRAP = "http://127.0.0.1:8040/os"  # as frameworks/demo.yaml names it
ARCHS = ("x86_64", "aarch64")


class NoNetwork(HttpFetcher):
    def get(  # type: ignore[override]
        self, url: str, headers: dict[str, str] | None = None, **options: object
    ) -> object:
        raise AssertionError(f"the check went to the network for {url}")


@dataclass(frozen=True)
class Case:
    """A lockfile with what it is checked against."""

    name: str  # the framework's name
    root: Path  # the project root (the locker's working directory)
    cache: Path
    framework: Framework
    path: Path  # where the lockfile is
    lock: Lockfile
    remote: bool  # whether its packages come from a remote repository
    other_pem: str  # a key the config does not name

    def client(self) -> RepoClient:
        return RepoClient(
            base_dir=self.root, cache_dir=self.cache, prefer_cached=True, fetcher=NoNetwork()
        )

    def check(self, lock: Lockfile, *, memo: Path | None = None) -> None:
        """Both passes, as ``build`` runs them (local identities after the melange step)."""
        sources = SourceCheck(self.client(), memo=memo)
        sources.check_entries(self.framework, lock, self.path)
        sources.check_local(self.framework, lock, self.path)

    def target(self) -> int:
        """The package an edit changes: the first from a remote repository, if any."""
        for n, package in enumerate(self.lock.packages):
            repo = package_repository(self.framework, package)
            if repo is not None and repo.is_remote == self.remote:
                return n
        raise AssertionError("no package to edit")


@pytest.fixture(scope="session")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("keys")
    for name in ("buildkit.rsa", "buildkit-bootstrap.rsa", "other.rsa"):
        generate_keypair(folder / name, bits=1024)
    return folder


def golden(tmp_path: Path, fixtures: Path, keys: Path) -> Case:
    shutil.copytree(fixtures / "apko-cli", tmp_path / "testdata")
    framework = load_framework("apko.yaml", base_dir=tmp_path, include_paths=["testdata"])
    path = tmp_path / "testdata" / "apko.lock.json"
    lock = read_lockfile(path)
    other = (keys / "other.rsa.pub").read_text()
    return Case("apko", tmp_path, tmp_path / "cache", framework, path, lock, False, other)


def demo(tmp_path: Path, keys: Path) -> Case:
    """frameworks/demo.yaml locked by buildkit's own locker, offline from the machine cache."""
    root, cache = tmp_path / "demo", tmp_path / "cache"
    for name in ("frameworks/demo.yaml", "buildkit.toml"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(PROJECT_ROOT / name, root / name)
    (root / "keys").mkdir()
    shutil.copy(keys / "buildkit.rsa.pub", root / "keys")
    bootstrap = SigningKey.load(keys / "buildkit-bootstrap.rsa")
    project = SigningKey.load(keys / "buildkit.rsa")
    seed_remote_cache(cache, "keys", f"{BOOTSTRAP}/{bootstrap.key_name}", bootstrap.public_pem)
    remote = [Pkg("buildkit-baselayout", "1-r0"), Pkg("busybox", "1.36.1-r0")]
    for arch in ARCHS:
        make_repo(tmp_path / "os", arch, remote, bootstrap)
        folder = tmp_path / "os" / arch
        index = (folder / "APKINDEX.tar.gz").read_bytes()
        seed_remote_cache(cache, "indexes", f"{BOOTSTRAP}/{arch}/APKINDEX.tar.gz", index)
        for apk in folder.glob("*.apk"):
            data = apk.read_bytes()
            PackageCache(cache / "packages").put(
                record_identity(data), data, keyring=None, allow_untrusted=True
            )
        make_repo(root / "packages", arch, [Pkg("hello-buildkit", "1.0.0-r0")], project)
    framework = load_framework("frameworks/demo.yaml", base_dir=root)
    client = RepoClient(base_dir=root, cache_dir=cache, prefer_cached=True, fetcher=NoNetwork())
    lock = lock_framework(framework, client)
    other = (keys / "other.rsa.pub").read_text()
    path = root / "lockfiles" / "demo.lock.json"
    return Case("demo", root, cache, framework, path, lock, True, other)


def record_identity(data: bytes) -> str:
    return read_layout(data, where="apk").identity


@pytest.fixture(params=["golden", "demo"])
def case(request: pytest.FixtureRequest, tmp_path: Path, fixtures: Path, keys: Path) -> Case:
    return golden(tmp_path, fixtures, keys) if request.param == "golden" else demo(tmp_path, keys)


# --- the edits ---------------------------------------------------------------------------------

Edit = Callable[[Case, Lockfile], Lockfile]


def package(change: Callable[[Case, LockedPackage], LockedPackage]) -> Edit:
    def edit(case: Case, lock: Lockfile) -> Lockfile:
        n = case.target()
        packages = list(lock.packages)
        packages[n] = change(case, packages[n])
        return replace(lock, packages=tuple(packages))

    return edit


def other_key(case: Case, lock: Lockfile) -> Lockfile:
    first = replace(lock.keyring[0], content=case.other_pem)
    return replace(lock, keyring=(first, *lock.keyring[1:]))


def duplicate(case: Case, lock: Lockfile) -> Lockfile:
    n = case.target()
    packages = list(lock.packages)
    packages.insert(n + 1, packages[n])
    return replace(lock, packages=tuple(packages))


def without_arch(arch: str, *, repositories: bool) -> Edit:
    def edit(case: Case, lock: Lockfile) -> Lockfile:
        kept = tuple(r for r in lock.repositories if r.architecture != arch or not repositories)
        packages = tuple(p for p in lock.packages if p.architecture != arch)
        return replace(lock, repositories=kept, packages=packages)

    return edit


def other_identity(case: Case, lock: Lockfile) -> Lockfile:
    """The checksum (and control checksum) of another package in the same repository."""
    n = case.target()
    mine = lock.packages[n]
    other = next(
        p
        for p in lock.packages
        if p.architecture == mine.architecture
        and p.name != mine.name
        and p.url.rsplit("/", 1)[0] == mine.url.rsplit("/", 1)[0]
    )
    changed = replace(mine, checksum=other.checksum, control=other.control)
    return replace(lock, packages=(*lock.packages[:n], changed, *lock.packages[n + 1 :]))


UNKNOWN = "Q1" + "A" * 27 + "="

EDITS: list[tuple[str, Edit, str]] = [
    (
        "keyring content replaced by another key",
        other_key,
        r"contents\.keyring\[0\] \(\S+\): its content is not the key \S+ names at ",
    ),
    (
        "version changed",
        package(lambda c, p: replace(p, version="9.9-r0")),
        r"contents\.packages\[\d+\] \(\S+ 9\.9-r0, \w+\): \S+/APKINDEX\.tar\.gz lists "
        r"checksum Q1\S+ as \S+ (?!9\.9)\S+",
    ),
    (
        "URL pointed at another host",
        package(lambda c, p: replace(p, url="https://evil.example/os/" + p.url.split("/", 3)[-1])),
        r"contents\.packages\[\d+\] \(.*\): URL https://evil\.example/\S+ is not in a "
        r"repository of \S+ \(.*\) for \w+",
    ),
    (
        "duplicated entry",
        duplicate,
        r"contents\.packages\[(\d+)\] \(.*\): duplicate of contents\.packages\[\d+\]",
    ),
    (
        "missing arch (packages and repositories)",
        without_arch("aarch64", repositories=True),
        r"contents: nothing locked for aarch64, which \S+ builds",
    ),
    (
        "missing arch (packages only)",
        without_arch("aarch64", repositories=False),
        r"contents\.packages: no packages for aarch64, which \S+ builds",
    ),
    (
        "name changed",
        package(lambda c, p: replace(p, name="evil")),
        r"contents\.packages\[\d+\] \(evil .*\): \S+ lists checksum Q1\S+ as (?!evil)",
    ),
    (
        "checksum of another package",
        other_identity,
        r"contents\.packages\[\d+\] \(.*\): \S+ lists checksum Q1\S+ as ",
    ),
    (
        "checksum nobody lists",
        package(
            lambda c, p: replace(
                p, checksum=UNKNOWN, control=replace(p.control, checksum=control_checksum(UNKNOWN))
            )
        ),
        r"contents\.packages\[\d+\] \(.*\): \S+/APKINDEX\.tar\.gz lists no package with its "
        r"checksum Q1A+= \(it lists (\S+) [^,]+\)",
    ),
    (
        "control checksum changed",
        package(
            lambda c, p: replace(
                p, control=LockRange(range=p.control.range, checksum=("sha1-" + "B" * 27 + "="))
            )
        ),
        r"contents\.packages\[\d+\] \(.*\): control checksum does not match the package's "
        r"identity",
    ),
    (
        "file name changed within its repository",
        package(lambda c, p: replace(p, url=p.url.rsplit("/", 1)[0] + "/evil-1.0-r0.apk")),
        r"contents\.packages\[\d+\] \(.*\): URL \S+/evil-1\.0-r0\.apk does not name \S+\.apk",
    ),
    (
        "arch the config does not build",
        package(lambda c, p: replace(p, architecture="s390x")),
        r"contents\.packages\[\d+\] \(.* s390x\): arch s390x is not one \S+ builds",
    ),
    (
        "keyring entry removed",
        lambda c, lock: replace(lock, keyring=lock.keyring[1:]),
        r"contents\.keyring: no entry for \S+, which \S+ names",
    ),
    (
        "keyring entry added",
        lambda c, lock: replace(
            lock, keyring=(*lock.keyring, LockKey(name="x.rsa.pub", url="x.rsa.pub", content="x"))
        ),
        r"contents\.keyring\[\d\] \(x\.rsa\.pub\): not a key \S+ names",
    ),
    (
        "repository pointed at another host",
        lambda c, lock: replace(
            lock,
            repositories=(
                replace(lock.repositories[0], url="https://evil.example/os/x86_64/APKINDEX.tar.gz"),
                *lock.repositories[1:],
            ),
        ),
        r"contents\.repositories\[0\] \(https://evil\.example/\S+\): not a repository \S+ "
        r"names for x86_64",
    ),
    (
        "repository duplicated",
        lambda c, lock: replace(lock, repositories=(*lock.repositories, lock.repositories[0])),
        r"contents\.repositories\[\d+\] \(\S+\): duplicate of contents\.repositories\[0\]",
    ),
    (
        "config checksum changed",
        lambda c, lock: replace(
            lock,
            config=LockConfig(name=c.framework.config_name, checksum="sha256-" + "A" * 43 + "="),
        ),
        r"config\.checksum: not the checksum of \S+ and its includes",
    ),
]


def test_the_unedited_lockfiles_pass_without_the_network(case: Case) -> None:
    case.check(case.lock)


@pytest.mark.parametrize(("edit", "message"), [row[1:] for row in EDITS], ids=[r[0] for r in EDITS])
def test_a_hand_edited_lockfile_fails_naming_the_lockfile_the_entry_and_the_command(
    case: Case, edit: Edit, message: str
) -> None:
    with pytest.raises(LockError) as info:
        case.check(edit(case, case.lock))
    line = str(info.value)
    assert "\n" not in line
    assert line.startswith(f"{case.path}: ")
    assert re.search(message, line), line
    assert line.endswith(
        f"(run `nox -s lock -- {case.name}` to lock it again from its sources, "
        "and commit the lockfile)"
    )
    assert info.value.exit_code == 2


def test_a_local_package_edit_is_caught_once_the_local_repository_is_built(
    tmp_path: Path, keys: Path
) -> None:
    """The demo's own package (``@local ./packages``) is checked after the melange step: the
    planning pass leaves it alone, the second pass names it."""
    case = demo(tmp_path, keys)
    n = next(i for i, p in enumerate(case.lock.packages) if p.name == "hello-buildkit")
    packages = list(case.lock.packages)
    packages[n] = replace(packages[n], version="2.0.0-r0")
    edited = replace(case.lock, packages=tuple(packages))
    sources = SourceCheck(case.client())
    sources.check_entries(case.framework, edited, case.path)  # remote identities only
    with pytest.raises(LockError, match=r"\(hello-buildkit 2\.0\.0-r0, x86_64\): \S+/packages/"):
        sources.check_local(case.framework, edited, case.path)


def test_a_remote_index_missing_from_the_cache_is_fetched(tmp_path: Path, keys: Path) -> None:
    case = demo(tmp_path, keys)
    shutil.rmtree(case.cache / "indexes")
    with pytest.raises(
        AssertionError, match=r"went to the network for http://127\.0\.0\.1:8040/os/"
    ):
        case.check(case.lock)


def test_control_checksum_is_the_identity_s_sha1() -> None:
    assert control_checksum("Q1" + "A" * 27 + "=") == "sha1-" + "A" * 27 + "="
    assert control_checksum("Q1short") == ""
    assert control_checksum("sha1-" + "A" * 27 + "=") == ""


# --- the memo of passed identity checks ------------------------------------------------------


def _parses(case: Case, memo: Path, monkeypatch: pytest.MonkeyPatch) -> int:
    """Run both passes with a memo; how many indexes were parsed."""
    parsed: list[str] = []
    client = case.client()
    real = client.index

    def counting(repo: str, arch: str, **kwargs: Any) -> ApkIndex:
        parsed.append(f"{repo}/{arch}")
        return real(repo, arch, **kwargs)

    monkeypatch.setattr(client, "index", counting)
    sources = SourceCheck(client, memo=memo)
    sources.check_entries(case.framework, case.lock, case.path)
    sources.check_local(case.framework, case.lock, case.path)
    return len(parsed)


def test_a_passed_check_is_remembered_and_an_index_is_not_parsed_again(
    case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    memo = tmp_path / "memo"
    indexes = len(packages_by_index(case.framework, case.lock))  # each repository and arch
    assert indexes == (4 if case.remote else 2)
    assert _parses(case, memo, monkeypatch) == indexes
    assert len(list(memo.glob("*.json"))) == indexes
    assert _parses(case, memo, monkeypatch) == 0


def test_a_damaged_memo_entry_is_not_believed(
    case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    memo = tmp_path / "memo"
    _parses(case, memo, monkeypatch)
    for entry in memo.glob("*.json"):
        entry.write_bytes(entry.read_bytes().replace(b"Q1", b"Q2", 1))
    assert _parses(case, memo, monkeypatch) == len(packages_by_index(case.framework, case.lock))


@pytest.mark.parametrize(("edit", "message"), [row[1:] for row in EDITS], ids=[r[0] for r in EDITS])
def test_a_remembered_check_does_not_excuse_an_edit(
    case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, edit: Edit, message: str
) -> None:
    memo = tmp_path / "memo"
    _parses(case, memo, monkeypatch)
    edited = edit(case, case.lock)
    with pytest.raises(LockError, match=message):
        case.check(edited, memo=memo)
