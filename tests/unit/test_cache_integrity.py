"""A flipped byte in any cache file: the next build restores the original bytes (the same
records, the same image) or fails with one clear line; never a different image under the
same action key.

Build side: the small project of tests/helpers/build_project.py (fake melange and apko; the
fake apko's image holds a digest of every file of the offline cache it is given, as the real
apko's image holds what it installs from it), built once, then copied for each case. Each case
flips one byte (XOR 0x01: a digit stays a digit, so JSON stays valid) at one of several offsets
of one cache file, runs ``build`` and then ``verify`` (which rebuilds everything from the
caches), and checks the records, the repaired file and the warning naming it.

Lock side: RepoClient against a loopback server, flips in the index cache, the key cache and
the package cache.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import buildkit.usecases.image_builds
from buildkit.apk.keys import SigningKey, generate_keypair
from buildkit.apk.package import pack_package
from buildkit.apk.pkginfo import PkgInfo
from buildkit.errors import BuildkitError
from buildkit.events import BaseReporter
from buildkit.lockfile import read_lockfile
from buildkit.project.records import read_package_record
from buildkit.repo import HttpFetcher, PackageCache, RepoClient, RetryPolicy
from buildkit.usecases.apko_cache import copy_package, package_dir
from buildkit.usecases.building import BuildOptions, build_project
from buildkit.usecases.package_builds import index_state, signing_public_key_path
from buildkit.usecases.scan_sources import PackageInfos
from buildkit.usecases.verifying import verify_project
from tests.helpers.build_project import (
    Factory,
    Project,
    build_local,
    lock,
    locked_entry,
    make_project,
)
from tests.helpers.http_server import FakeServer
from tests.helpers.repos import Pkg, keyring_of, make_repo

# Where in the file the byte is flipped, as fractions of its length (0 = first byte, 1 = last).
OFFSETS = (0.0, 0.03, 0.2, 0.45, 0.7, 0.93, 1.0)


class Lines(BaseReporter):
    def __init__(self) -> None:
        self.lines: list[str] = []

    def info(self, message: str) -> None:
        self.lines.append(message)


@dataclass(frozen=True)
class Built:
    """The pristine project after lock and build, and what its records say."""

    project: Project
    base: Path
    records: dict[str, Any]  # file under dist/ -> its JSON


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    keys = tmp_path_factory.mktemp("keys")
    generate_keypair(keys / "buildkit.rsa", bits=1024)
    generate_keypair(keys / "repo.rsa", bits=1024)
    base = tmp_path_factory.mktemp("pristine")
    project = make_project(base, keys)
    factory = Factory()
    build_local(project, factory)
    lock(project)
    project.build(factory)
    return Built(project=project, base=base, records=_records(project))


def _records(project: Project) -> dict[str, Any]:
    dist = project.root / "dist"
    return {
        path.relative_to(dist).as_posix(): path.read_bytes()
        for pattern in ("*/*.json", "packages/*/*.json", "actions/*.json")
        for path in sorted(dist.glob(pattern))
        if not path.relative_to(dist).as_posix().startswith(("tmp/", "logs/"))
    }


def _copy(built: Built, where: Path) -> Project:
    shutil.copytree(built.base, where, symlinks=True)
    return Project(root=where / "proj", cache=where / "cache", repo_key=built.project.repo_key)


def _package_record(project: Project) -> Any:
    record = read_package_record(
        project.store, project.root / "dist" / "packages" / "hello" / "x86_64.json"
    )
    assert record is not None
    return record


def _remote_apk(project: Project) -> Path:
    lockfile = read_lockfile(project.root / "lockfiles" / "demo.lock.json")
    entry = next(p for p in lockfile.packages if p.name == "base" and p.architecture == "x86_64")
    return PackageCache(project.cache / "packages").path_for(entry.checksum)


# kind -> (the file, whether the repair says so in a warning naming it)
KINDS: dict[str, tuple[Callable[[Project], Path], bool]] = {
    "package cache (.apk)": (_remote_apk, True),
    "store object: image tarball": (lambda p: p.store.path(p.record().tarball), True),
    "store object: SBOM": (
        lambda p: p.store.path(p.record().sboms["sbom-x86_64.spdx.json"]),
        True,
    ),
    "store object: built .apk": (lambda p: p.store.path(_package_record(p).apks[0].blob), True),
    "action record: image": (
        lambda p: p.root / "dist" / "actions" / f"{p.record().action_key}.json",
        True,
    ),
    "action record: package": (
        lambda p: p.root / "dist" / "actions" / f"{_package_record(p).action_key}.json",
        True,
    ),
    "current record: image": (lambda p: p.root / "dist" / "demo" / "x86_64.json", False),
    "local repository: .apk": (
        lambda p: p.root / "packages" / "x86_64" / "hello-1.0.0-r0.apk",
        True,
    ),
    "local repository: APKINDEX": (
        lambda p: p.root / "packages" / "x86_64" / "APKINDEX.tar.gz",
        True,
    ),
}


def flip(path: Path, fraction: float) -> int:
    """XOR 0x01 into the byte at ``fraction`` of the file; returns its offset."""
    data = bytearray(path.read_bytes())
    offset = min(len(data) - 1, int(len(data) * fraction))
    data[offset] ^= 0x01
    path.chmod(0o644)
    path.write_bytes(bytes(data))
    return offset


@pytest.fixture
def fetched(built: Built, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Remote packages "fetched" from the repository: the bytes the lock was made from."""
    originals = {
        path.name: path.read_bytes() for path in (built.project.cache / "packages").rglob("*.apk")
    }
    lockfile = read_lockfile(built.project.root / "lockfiles" / "demo.lock.json")
    cache = PackageCache(built.project.cache / "packages")
    by_url = {
        p.url: originals[cache.path_for(p.checksum).name]
        for p in lockfile.packages
        if p.url.startswith("http")
    }
    urls: list[str] = []

    @dataclass(frozen=True)
    class Body:
        body: bytes

    class Fetcher:
        def __init__(self, *, limits: object = None) -> None:
            pass

        def get(self, url: str, headers: object = None, *, what: str = "file") -> Body:
            urls.append(url)
            return Body(by_url[url])

    monkeypatch.setattr(buildkit.usecases.image_builds, "HttpFetcher", Fetcher)
    return urls


@pytest.mark.parametrize("fraction", OFFSETS)
@pytest.mark.parametrize("kind", list(KINDS))
def test_a_flipped_byte_in_a_cache_file_is_repaired_and_the_image_is_the_same(
    built: Built, tmp_path: Path, fetched: list[str], kind: str, fraction: float
) -> None:
    locate, warns = KINDS[kind]
    case = _copy(built, tmp_path / "case")
    target = locate(case)
    original = target.read_bytes()
    offset = flip(target, fraction)
    said = Lines()
    try:
        build_project(case.config(), BuildOptions(jobs=1), tools=Factory(), reporter=said)
        verified = verify_project(case.config(), tools=Factory(), reporter=said)
    except BuildkitError as err:  # every case here can be repaired
        pytest.fail(f"{kind} @ {offset}: failed instead of repairing: {err}")
    assert verified.ok, verified.differences  # the rebuild from the caches is identical
    assert _records(case) == built.records, f"{kind} @ {offset}: records differ"
    assert target.read_bytes() == original, f"{kind} @ {offset}: not restored"
    named = [line for line in said.lines if str(target) in line]
    if warns:
        assert named, f"{kind} @ {offset}: no warning names {target}: {said.lines}"
        assert all(line.startswith("warning: ") and "\n" not in line for line in named)


@pytest.mark.parametrize("offset", [4, 9], ids=["gzip-mtime", "gzip-os"])
def test_damage_that_leaves_the_local_index_meaning_intact_is_still_written_again(
    built: Built, tmp_path: Path, fetched: list[str], offset: int
) -> None:
    """A bit flipped in the signature member's gzip header, or in the padding after its
    deflate stream's last block (a CI run hit one at byte 218 of 0.45), leaves an index that
    verifies and lists the same packages. Every byte is checked all the same: the index is
    written again, with a warning, because it is not the file buildkit wrote."""
    case = _copy(built, tmp_path / "case")
    repo = case.root / "packages" / "x86_64"
    target = repo / "APKINDEX.tar.gz"
    original = target.read_bytes()
    data = bytearray(original)
    data[offset] ^= 0x01
    target.write_bytes(bytes(data))
    # The premise: judged by meaning alone, nothing is wrong with it.
    assert index_state(repo, signing_public_key_path(case.config())) == (False, None)
    said = Lines()
    build_project(case.config(), BuildOptions(jobs=1), tools=Factory(), reporter=said)
    assert target.read_bytes() == original
    named = [line for line in said.lines if str(target) in line]
    assert len(named) == 1, said.lines
    assert named[0].startswith("warning: ")
    assert "its bytes are not the index of its packages" in named[0]


def test_packages_restored_from_the_action_cache_need_no_private_key(
    built: Built, tmp_path: Path, fetched: list[str]
) -> None:
    """The byte check of the local index signs it, which needs the private key; a build whose
    packages all come from the action cache never needed it, and still does not."""
    case = _copy(built, tmp_path / "case")
    (case.root / "keys" / "buildkit.rsa").unlink()
    index = case.root / "packages" / "x86_64" / "APKINDEX.tar.gz"
    original = index.read_bytes()
    said = Lines()
    build_project(case.config(), BuildOptions(jobs=1), tools=Factory(), reporter=said)
    assert _records(case) == built.records
    assert index.read_bytes() == original
    assert not [line for line in said.lines if line.startswith("warning: ")], said.lines


def test_a_package_whose_repository_copy_changed_too_fails_in_one_line(
    built: Built, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cached copy is damaged and the repository now serves other bytes: no repair is
    possible, and the build says which package and file in one line."""
    case = _copy(built, tmp_path / "case")
    target = _remote_apk(case)
    flip(target, 0.5)
    damaged = target.read_bytes()
    shutil.rmtree(case.root / "dist" / "actions")  # apko must run

    @dataclass(frozen=True)
    class Body:
        body: bytes

    class Fetcher:
        def __init__(self, *, limits: object = None) -> None:
            pass

        def get(self, url: str, headers: object = None, *, what: str = "file") -> Body:
            return Body(damaged)  # the damaged bytes, from "upstream" too

    monkeypatch.setattr(buildkit.usecases.image_builds, "HttpFetcher", Fetcher)
    said = Lines()
    with pytest.raises(BuildkitError) as info:
        build_project(case.config(), BuildOptions(jobs=1), tools=Factory(), reporter=said)
    assert "\n" not in str(info.value)
    assert "package base has data checksum" in str(info.value) or "identity" in str(info.value)
    assert any(str(target) in line for line in said.lines)


def test_a_private_key_that_does_not_match_its_public_key_is_refused_before_signing(
    built: Built, tmp_path: Path
) -> None:
    case = _copy(built, tmp_path / "case")
    other = tmp_path / "other"
    other.mkdir()
    generate_keypair(other / "x.rsa", bits=1024)
    private = case.root / "keys" / "buildkit.rsa"
    shutil.copy(other / "x.rsa", private)
    shutil.rmtree(case.root / "dist")
    shutil.rmtree(case.root / "packages" / "x86_64")
    with pytest.raises(BuildkitError) as info:
        build_project(case.config(), BuildOptions(jobs=1), tools=Factory())
    line = str(info.value)
    assert "\n" not in line
    assert str(private) in line
    assert str(private) + ".pub" in line
    assert "does not match" in line
    assert not (case.root / "packages" / "x86_64").exists()  # nothing was signed


# --------------------------------------------------------------------------------------------
# The lock side: index, key and package caches of RepoClient


@pytest.fixture
def remote(tmp_path: Path, server: FakeServer, signing_key: SigningKey) -> str:
    make_repo(
        tmp_path / "srv" / "os", "x86_64", [Pkg("a", "1.0-r0"), Pkg("b", "2.0-r0")], signing_key
    )
    server.serve_tree(tmp_path / "srv")
    return f"{server.url}/os"


def _client(tmp_path: Path, lines: list[str]) -> RepoClient:
    fetcher = HttpFetcher(RetryPolicy(attempts=1, timeout=5))
    return RepoClient(
        base_dir=tmp_path, cache_dir=tmp_path / "cache", fetcher=fetcher, warn=lines.append
    )


LOCK_KINDS: dict[str, str] = {
    "index cache data": "indexes/*.data",
    "index cache metadata": "indexes/*.json",
    "package cache (.apk)": "packages/*/*.apk",
}


@pytest.mark.parametrize("fraction", OFFSETS)
@pytest.mark.parametrize("kind", list(LOCK_KINDS))
def test_a_flipped_byte_in_a_lock_cache_file_is_fetched_again_with_a_warning(
    tmp_path: Path, remote: str, signing_key: SigningKey, kind: str, fraction: float
) -> None:
    keyring = keyring_of(signing_key)
    first = _client(tmp_path, [])
    index = first.index(remote, "x86_64", keyring=keyring)
    record = index.records[0]
    layout = first.layout(record, remote, "x86_64", keyring=keyring)
    (target,) = sorted((tmp_path / "cache").glob(LOCK_KINDS[kind]))
    original = target.read_bytes()
    offset = flip(target, fraction)

    lines: list[str] = []
    again = _client(tmp_path, lines)  # the next run
    assert again.index(remote, "x86_64", keyring=keyring).records == index.records
    assert again.layout(record, remote, "x86_64", keyring=keyring) == layout
    if kind == "index cache metadata":  # written anew: the same entry, a new fetch time
        fields = ("url", "sha256", "etag")
        now, then = json.loads(target.read_bytes()), json.loads(original)
        assert [now[f] for f in fields] == [then[f] for f in fields]
    else:
        assert target.read_bytes() == original, f"{kind} @ {offset}: not restored"
    shown = target.with_suffix(".data") if kind == "index cache metadata" else target
    assert any(str(shown) in line and line.startswith("warning: ") for line in lines), lines


def test_a_worker_hands_its_warnings_back(tmp_path: Path) -> None:
    client = RepoClient(base_dir=tmp_path, cache_dir=tmp_path / "cache")
    client.warn("warning: one")
    assert client.take_warnings() == ("warning: one",)
    assert client.take_warnings() == ()


def test_scan_reads_a_cached_control_member_only_when_it_hashes_to_the_identity(
    built: Built, tmp_path: Path
) -> None:
    case = _copy(built, tmp_path / "case")
    lockfile = read_lockfile(case.root / "lockfiles" / "demo.lock.json")
    entry = next(p for p in lockfile.packages if p.name == "base" and p.architecture == "x86_64")
    assert PackageInfos(case.config()).get(entry) is not None
    bounds = entry.control.bounds()
    assert bounds is not None
    target = _remote_apk(case)
    flip(target, (bounds[0] + bounds[1]) / 2 / target.stat().st_size)
    assert PackageInfos(case.config()).get(entry) is None


def test_copying_a_package_into_apkos_cache_streams_its_data_member(tmp_path: Path) -> None:
    """A 24 MiB (incompressible) data member is verified and copied with about one read
    block of memory, and the files are apko's: control, signature and data members."""
    generate_keypair(tmp_path / "k.rsa", bits=1024)
    tree = tmp_path / "tree"
    (tree / "opt").mkdir(parents=True)
    (tree / "opt" / "blob").write_bytes(os.urandom(24 << 20))
    info = PkgInfo(name="big", version="1-r0", arch="x86_64", builddate=1)
    data = pack_package(tree, info, key=SigningKey.load(tmp_path / "k.rsa"), source_date_epoch=1)
    source = tmp_path / "big-1-r0.apk"
    source.write_bytes(data)
    entry = locked_entry("http://repo.invalid/os/x86_64/big-1-r0.apk", data)
    del data
    tracemalloc.start()
    try:
        copied = copy_package(tmp_path / "cache", entry, source, where=str(source))
        _now, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert copied.name == "big"
    assert peak < 4 << 20, f"{peak / 2**20:.1f} MiB"
    folder = package_dir(tmp_path / "cache", entry.url)
    control = base64.b64decode(entry.checksum.removeprefix("Q1")).hex()
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [f"{control}.ctl.tar.gz", f"{control}.sig.tar.gz", f"{copied.datahash}.dat.tar.gz"]
    )
    assert sum(p.stat().st_size for p in folder.iterdir()) == source.stat().st_size


def test_an_action_record_from_before_sealing_is_a_quiet_miss(built: Built, tmp_path: Path) -> None:
    case = _copy(built, tmp_path / "case")
    path = case.root / "dist" / "actions" / f"{case.record().action_key}.json"
    data = json.loads(path.read_bytes())
    del data["record_digest"]
    path.write_text(json.dumps(data))
    said = Lines()
    factory = Factory()
    build_project(case.config(), BuildOptions(jobs=1), tools=factory, reporter=said)
    assert factory.tools.calls == [("apko", "x86_64")]
    assert said.lines == []
    assert _records(case) == built.records
