"""Caches with the real apko, melange and engine: nothing about an image depends on who filled
a cache first, and a flipped byte in a cache file is repaired or refused in one line.

- Two checkouts of the demo, each with its own fresh signing key (of different sizes, so their
  packages' signature members differ in length too), built at once on one empty shared cache,
  give each the digests of its solo build. Before apko's offline cache was made per run, the
  second checkout reused the first one's ``<control sha1>.sig.tar.gz`` (the control hash does
  not depend on the key) and its image changed.
- A byte flipped in the package cache, the index cache, the store or a record: the next lock
  and build give the same lockfile and the same image digests as before.

Every demo here has a machine cache of its own (``BUILDKIT_CACHE``), never the shared one.
amd64 only: the caches are per arch alike, and arm64 runs apko under emulation.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from buildkit.apk.keys import generate_keypair
from buildkit.lockfile import read_lockfile
from buildkit.repo import PackageCache
from tests.helpers.demo import ARCHS, Demo, check_store, docker, lock_demo, make_demo

pytestmark = pytest.mark.e2e


def image_digests(demo: Demo) -> dict[str, str]:
    record = demo.record("x86_64")
    return {
        "tarball": record["outputs"]["tarball"]["digest"],
        "manifest": record["outputs"]["image"]["manifest_digest"],
        "config": record["outputs"]["image"]["config_digest"],
    }


def start_build(demo: Demo) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "buildkit", "build", "--arch", "amd64"],
        cwd=demo.root,
        env=demo.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def fresh_checkout(base: Path, cache: Path, bits: int) -> Demo:
    demo = make_demo(base, BUILDKIT_CACHE=str(cache))
    for name in ("buildkit.rsa", "buildkit.rsa.pub"):
        (demo.root / "keys" / name).unlink()
    generate_keypair(demo.root / "keys" / "buildkit.rsa", bits=bits)
    return demo


def forget_images(*demos: Demo) -> None:
    for demo in demos:
        repository = demo.env["BUILDKIT_REPOSITORY"]
        for _arch, oci, _platform in ARCHS:
            docker("rmi", "-f", f"localhost/{repository}/demo:latest-{oci}")


def test_two_checkouts_with_own_keys_built_at_once_on_an_empty_cache_give_their_solo_digests(
    tmp_path: Path,
) -> None:
    first = fresh_checkout(tmp_path / "one", tmp_path / "cache-one", bits=2048)
    second = fresh_checkout(tmp_path / "two", tmp_path / "cache-two", bits=4096)
    solo = {}
    for demo in (first, second):  # each alone, on a cache of its own
        lock_demo(demo)
        demo.ok("build", "--arch", "amd64")
        solo[demo.root] = image_digests(demo)
    assert solo[first.root] != solo[second.root]  # the keys differ, so the images do

    shared = tmp_path / "shared-cache"
    for demo in (first, second):
        shutil.rmtree(demo.root / "dist")
        shutil.rmtree(demo.root / "packages" / "x86_64")
        demo.env["BUILDKIT_CACHE"] = str(shared)
    builds = [start_build(demo) for demo in (first, second)]
    outputs = [build.communicate(timeout=1500) for build in builds]
    for build, (_out, err) in zip(builds, outputs, strict=True):
        assert build.returncode == 0, err
    for demo in (first, second):
        assert image_digests(demo) == solo[demo.root]
        assert check_store(demo.root) == []
    assert not (shared / "apko-cache").exists()  # apko's cache is made per run
    forget_images(first, second)


# --------------------------------------------------------------------------------------------
# Byte flips with the real tools


@dataclass(frozen=True)
class Built:
    demo: Demo
    cache: Path
    lockfile: bytes
    digests: dict[str, str]
    records: dict[str, bytes]


def _records(demo: Demo) -> dict[str, bytes]:
    dist = demo.root / "dist"
    return {
        p.relative_to(dist).as_posix(): p.read_bytes()
        for pattern in ("demo/*.json", "packages/*/*.json", "actions/*.json")
        for p in sorted(dist.glob(pattern))
    }


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    base = tmp_path_factory.mktemp("flips")
    cache = base / "cache"
    demo = make_demo(base, BUILDKIT_CACHE=str(cache))
    lock_demo(demo)
    demo.ok("build", "--arch", "amd64")
    yield Built(
        demo=demo,
        cache=cache,
        lockfile=(demo.root / "lockfiles" / "demo.lock.json").read_bytes(),
        digests=image_digests(demo),
        records=_records(demo),
    )
    forget_images(demo)


def _busybox(built: Built) -> Path:
    lockfile = read_lockfile(built.demo.root / "lockfiles" / "demo.lock.json")
    entry = next(p for p in lockfile.packages if p.name == "busybox" and p.architecture == "x86_64")
    return PackageCache(built.cache / "packages").path_for(entry.checksum)


def _index_cache(built: Built) -> Path:
    return max((built.cache / "indexes").glob("*.data"), key=lambda p: p.stat().st_size)


def _tarball(built: Built) -> Path:
    return built.demo.tarball("x86_64")


def _action_record(built: Built) -> Path:
    return (
        built.demo.root / "dist" / "actions" / f"{built.demo.record('x86_64')['action_key']}.json"
    )


# kind -> (the file to damage, whether apko must run again to use it)
FLIPS: dict[str, tuple[Callable[[Built], Path], bool]] = {
    "package cache: busybox .apk": (_busybox, True),
    "index cache: the bootstrap APKINDEX": (_index_cache, True),
    "store: the image tarball": (_tarball, False),
    "action record of the image": (_action_record, False),
    "current record of the image": (lambda b: b.demo.root / "dist" / "demo" / "x86_64.json", False),
    "local repository: APKINDEX": (
        lambda b: b.demo.root / "packages" / "x86_64" / "APKINDEX.tar.gz",
        True,
    ),
}
FRACTIONS = (0.3, 0.8)


@pytest.mark.parametrize("fraction", FRACTIONS)
@pytest.mark.parametrize("kind", list(FLIPS))
def test_a_flipped_byte_in_a_cache_file_gives_the_same_lock_and_image_again(
    built: Built, kind: str, fraction: float
) -> None:
    locate, rerun_apko = FLIPS[kind]
    demo = built.demo
    target = locate(built)
    data = bytearray(target.read_bytes())
    offset = min(len(data) - 1, int(len(data) * fraction))
    data[offset] ^= 0x01
    target.chmod(0o644)
    target.write_bytes(bytes(data))
    if rerun_apko:  # the image action must miss, so that apko reads the damaged cache
        _action_record(built).unlink()
    locked = demo.buildkit("lock")
    assert locked.returncode == 0, locked.stderr
    built_out = demo.buildkit("build", "--arch", "amd64")
    assert built_out.returncode == 0, built_out.stderr
    said = locked.stdout + locked.stderr + built_out.stdout + built_out.stderr
    assert (demo.root / "lockfiles" / "demo.lock.json").read_bytes() == built.lockfile
    assert image_digests(demo) == built.digests, f"{kind} @ {offset}"
    assert _records(demo) == built.records, f"{kind} @ {offset}"
    assert check_store(demo.root) == []
    if kind != "current record of the image":
        assert str(target) in said or target.name in said, said
    print(json.dumps({"kind": kind, "offset": offset}))
