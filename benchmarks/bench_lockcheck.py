"""What checking a lockfile against its sources costs a build, with and without the memo.

    python benchmarks/bench_lockcheck.py [--runs 5] [--packages 40] [--out DIR]

A framework on one Wolfi-sized remote repository (gen_index.py's 200,000 generated records,
RSA-signed; in the machine cache as ``lock`` leaves it, so nothing goes to the network) and a
lockfile of --packages of its records. Each run is a fresh process-level start (a new
``SourceCheck`` and ``RepoClient``: nothing parsed yet), as a new ``buildkit build`` is:

- cold: the check with an empty memo: the index is read, verified and parsed;
- memo: the same check once the memo holds the result: the index is read and hashed only;
- floor: reading the cached index and hashing it alone (what the memo cannot avoid).

Prints the medians and the ratio memo / cold. Target: the memo makes the check of a no-op
build cost no more than reading its index (memo within 1.5x of the floor).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import cast

from buildkit.actions.lock_check import control_checksum, keyring_entries, lock_repositories
from buildkit.apk.index import write_index
from buildkit.framework import load_framework
from buildkit.lockfile import LockConfig, LockedPackage, Lockfile, LockRange
from buildkit.repo import HttpFetcher, RepoClient, RevalidatingCache
from buildkit.usecases.source_check import SourceCheck

sys.path.insert(0, str(Path(__file__).resolve().parent))
import gen_index

REPO = "http://bench.invalid/os"
FRAMEWORK = f"""\
contents:
  keyring:
    - {REPO}/{gen_index.KEY_NAME}.pub
  repositories:
    - {REPO}
  packages:
    - bench
archs: [x86_64]
"""


class _Served:
    """Stands in for the network once, to put bytes into the machine cache."""

    def __init__(self, body: bytes) -> None:
        self.body = body

    def get(
        self, url: str, headers: dict[str, str] | None = None, **options: object
    ) -> SimpleNamespace:
        return SimpleNamespace(status=200, body=self.body, etag=None, last_modified=None)


def seed(cache: Path, kind: str, url: str, data: bytes) -> None:
    RevalidatingCache(cache / kind, cast(HttpFetcher, _Served(data))).get(url)


def setup(out: Path, work: Path, count: int) -> tuple[Path, Path]:
    """(project root, cache) with the index and key cached and a lockfile of ``count``."""
    out.mkdir(parents=True, exist_ok=True)
    key = gen_index.signing_key(out)
    records = gen_index.generate_records(200_000, seed=1)
    index = out / "APKINDEX.tar.gz"
    if not index.exists():
        index.write_bytes(write_index(records, description="benchmark", key=key))
    root, cache = work / "project", work / "cache"
    (root / "frameworks").mkdir(parents=True)
    (root / "frameworks" / "bench.yaml").write_text(FRAMEWORK)
    seed(cache, "keys", f"{REPO}/{key.key_name}", key.public_pem)
    seed(cache, "indexes", f"{REPO}/x86_64/APKINDEX.tar.gz", index.read_bytes())
    framework = load_framework("frameworks/bench.yaml", base_dir=root)
    _keys, keyring = keyring_entries(framework, {f"{REPO}/{key.key_name}": key.public_pem})
    step = len(records) // count
    signature = LockRange(range="bytes=0-1", checksum="sha1-AA==")
    data = LockRange(range="bytes=4-5", checksum="sha256-AA==")
    lock = Lockfile(
        config=LockConfig(name=framework.config_name, checksum=framework.checksum),
        keyring=keyring,
        repositories=lock_repositories(framework.contents.repositories, framework.archs),
        packages=tuple(
            LockedPackage(
                name=record.name,
                url=f"{REPO}/x86_64/{record.filename}",
                version=record.version,
                architecture="x86_64",
                signature=signature,
                control=LockRange(range="bytes=2-3", checksum=control_checksum(record.checksum)),
                data=data,
                checksum=record.checksum,
            )
            for record in records[::step][:count]
        ),
    )
    (root / "lockfiles").mkdir()
    (root / "lockfiles" / "bench.lock.json").write_bytes(lock.to_json())
    return root, cache


def check(root: Path, cache: Path, memo: Path | None) -> float:
    framework = load_framework("frameworks/bench.yaml", base_dir=root)
    path = root / "lockfiles" / "bench.lock.json"
    lock = Lockfile.from_json(path.read_bytes())
    client = RepoClient(base_dir=root, cache_dir=cache, prefer_cached=True)
    started = time.perf_counter()
    SourceCheck(client, memo=memo).check_entries(framework, lock, path)
    return time.perf_counter() - started


def floor(root: Path, cache: Path) -> float:
    client = RepoClient(base_dir=root, cache_dir=cache, prefer_cached=True)
    started = time.perf_counter()
    client.index_digest(REPO, "x86_64")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--packages", type=int, default=40)
    parser.add_argument("--out", type=Path, default=gen_index.DEFAULT_OUT)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temp:
        work = Path(temp)
        root, cache = setup(args.out, work, args.packages)
        memo = work / "memo"
        cold, warm, bare = [], [], []
        for _ in range(args.runs):
            shutil.rmtree(memo, ignore_errors=True)
            cold.append(check(root, cache, memo))
            warm.append(check(root, cache, memo))
            bare.append(floor(root, cache))
    c, w, f = (statistics.median(x) for x in (cold, warm, bare))
    print(f"lockfile check, {args.packages} packages against 200,000 records, {args.runs} runs")
    print(f"  cold (parse):   {c * 1000:8.1f} ms")
    print(f"  memo:           {w * 1000:8.1f} ms   ({w / c:.3f}x cold)")
    print(f"  floor (read):   {f * 1000:8.1f} ms   (memo {w / f:.2f}x the floor)")


if __name__ == "__main__":
    main()
