"""Golden: buildkit's lockfile for apko's own CLI test config equals the one `apko lock` wrote.

apko's test runs `apko lock apko.yaml` with include path `testdata` from a folder holding
`testdata/` (so the config is named "apko.yaml" and its paths start with "./testdata/");
this test does the same from a temporary copy of the fixture.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from buildkit.framework import load_framework
from buildkit.repo import RepoClient
from buildkit.usecases.locking import lock_framework
from tests.helpers.http_server import FakeServer


@pytest.fixture
def workdir(fixtures: Path, tmp_path: Path) -> Path:
    shutil.copytree(fixtures / "apko-cli", tmp_path / "testdata")
    return tmp_path


def _lock_bytes(workdir: Path) -> bytes:
    framework = load_framework("apko.yaml", base_dir=workdir, include_paths=["testdata"])
    client = RepoClient(base_dir=workdir, cache_dir=workdir / "cache")
    return lock_framework(framework, client).to_json()


def test_lockfile_matches_apko_field_for_field(workdir: Path) -> None:
    got = json.loads(_lock_bytes(workdir))
    want = json.loads((workdir / "testdata" / "apko.lock.json").read_bytes())
    assert got["config"] == want["config"]
    assert got["contents"]["keyring"] == want["contents"]["keyring"]
    assert got["contents"]["repositories"] == want["contents"]["repositories"]
    for mine, apkos in zip(got["contents"]["packages"], want["contents"]["packages"], strict=True):
        assert mine == apkos
    assert got == want


def test_lockfile_matches_apko_byte_for_byte(workdir: Path) -> None:
    assert _lock_bytes(workdir) == (workdir / "testdata" / "apko.lock.json").read_bytes()


def test_config_path_as_given_names_the_lock(workdir: Path) -> None:
    """Run as `apko lock testdata/apko.yaml` would: only config.name differs."""
    framework = load_framework("testdata/apko.yaml", base_dir=workdir)
    client = RepoClient(base_dir=workdir, cache_dir=workdir / "cache")
    got = json.loads(lock_framework(framework, client).to_json())
    want = json.loads((workdir / "testdata" / "apko.lock.json").read_bytes())
    assert got["config"]["name"] == "testdata/apko.yaml"
    got["config"]["name"] = want["config"]["name"]
    assert got == want


REMOTE_CONFIG = """\
contents:
  keyring:
    - {server}/melange.rsa.pub
    - ./testdata/private_packages/private_pkg_key.rsa.pub
  repositories:
    - {server}/packages/
    - "@priv ./testdata/private_packages/packages"
  runtime_repositories:
    - https://example.org/runtime
  packages:
    - replayout
    - package-x@priv
archs: [x86_64, aarch64]
"""


def test_remote_and_tagged_repositories_are_written_as_apko_writes_them(
    workdir: Path, server: FakeServer
) -> None:
    """Expected values are those real `apko lock` (v1.2.39) wrote for this config when the
    fixture was served over loopback HTTP: scheme stripped from names, tag dropped, keys
    sorted by name, repositories arch by arch."""
    server.serve_tree(workdir / "testdata")
    host = server.url.removeprefix("http://")
    (workdir / "remote.yaml").write_text(REMOTE_CONFIG.format(server=server.url))
    framework = load_framework("remote.yaml", base_dir=workdir)
    client = RepoClient(base_dir=workdir, cache_dir=workdir / "cache")
    lock = json.loads(lock_framework(framework, client).to_json())["contents"]
    assert [(k["name"], k["url"]) for k in lock["keyring"]] == [
        ("./testdata/private_packages/private_pkg_key.rsa.pub",) * 2,
        (f"{host}/melange.rsa.pub", f"{server.url}/melange.rsa.pub"),
    ]
    assert [(r["name"], r["url"]) for r in lock["repositories"]] == [
        (f"{host}/packages/x86_64", f"{server.url}/packages/x86_64/APKINDEX.tar.gz"),
        (
            "./testdata/private_packages/packages/x86_64",
            "./testdata/private_packages/packages/x86_64/APKINDEX.tar.gz",
        ),
        (f"{host}/packages/aarch64", f"{server.url}/packages/aarch64/APKINDEX.tar.gz"),
        (
            "./testdata/private_packages/packages/aarch64",
            "./testdata/private_packages/packages/aarch64/APKINDEX.tar.gz",
        ),
    ]
    assert [r["name"] for r in lock["runtime_repositories"]] == [
        "example.org/runtime/x86_64",
        "example.org/runtime/aarch64",
    ]
    assert [p["url"] for p in lock["packages"][:3]] == [
        f"{server.url}/packages/x86_64/pretend-baselayout-1.0.0-r0.apk",
        "./testdata/private_packages/packages/x86_64/package-x-1.0.0-r0.apk",
        f"{server.url}/packages/x86_64/replayout-1.0.0-r0.apk",
    ]
    golden = json.loads((workdir / "testdata" / "apko.lock.json").read_bytes())
    by_checksum = {p["checksum"]: p for p in golden["contents"]["packages"]}
    for package in lock["packages"]:
        if package["checksum"] in by_checksum:  # same bytes over HTTP: same ranges and sums
            expected = by_checksum[package["checksum"]]
            assert {k: v for k, v in package.items() if k != "url"} == {
                k: v for k, v in expected.items() if k != "url"
            }
