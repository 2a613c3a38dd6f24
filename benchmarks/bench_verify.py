"""What verifying cache entries on every use costs: a 100 MB store object, and a no-op demo build.

- blob: ``Store.verify`` (size check, then SHA-256 streamed in 1 MiB blocks) against a plain
  read of the same file in the same blocks, N pairs back to back, median of the pairs'
  ratios; and the peak of Python allocations during one verify (tracemalloc): bounded by the
  block size, whatever the object's size.
- demo: a no-op ``build_project`` of a built copy of the demo (both archs: planning, the
  melange step's checks of ``packages/<arch>/``, every action record's seal and every object
  it names re-hashed) against the same build with the re-hash replaced by trusting the object's
  name, N pairs back to back. The difference is what re-hashing costs a no-op build.

    source ~/.cache/buildkit/env      # the demo part runs melange and apko once
    .venv/bin/python benchmarks/bench_verify.py --runs 7
    .venv/bin/python benchmarks/bench_verify.py --runs 7 --blob-only   # no engine needed
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import buildkit.store
from buildkit.digest import Blob
from buildkit.project.config import load_project
from buildkit.store import Store
from buildkit.usecases.building import BuildOptions, build_project

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_build import lock, make_copy  # a sibling script (benchmarks/ is no package)

BLOB_MB = 100
_CHUNK = 1 << 20


def plain_read(path: Path) -> int:
    total = 0
    with path.open("rb") as handle:
        while block := handle.read(_CHUNK):
            total += len(block)
    return total


def pairs(first: Callable[[], object], second: Callable[[], object], runs: int) -> list[float]:
    """Seconds of each call, as (first, second) pairs back to back, flattened."""
    times: list[float] = []
    for _ in range(runs):
        for call in (first, second):
            start = time.perf_counter()
            call()
            times.append(time.perf_counter() - start)
    return times


def bench_blob(runs: int) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-verify-") as tmp:
        store = Store(Path(tmp) / "dist")
        source = Path(tmp) / "blob"
        with source.open("wb") as handle:
            for _ in range(BLOB_MB):
                handle.write(os.urandom(_CHUNK))
        blob = store.put_file(source)
        path = store.path(blob)
        times = pairs(lambda: plain_read(path), lambda: store.verify(blob), runs)
        tracemalloc.start()
        store.verify(blob)
        _now, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    read, verify = times[0::2], times[1::2]
    ratios = [v / r for r, v in zip(read, verify, strict=True)]
    print(f"blob {BLOB_MB} MB, {runs} pairs (medians)")
    print(f"  plain read:        {statistics.median(read) * 1000:7.0f} ms")
    print(
        f"  Store.verify:      {statistics.median(verify) * 1000:7.0f} ms "
        f"({statistics.median(ratios):.2f}x the read)"
    )
    print(f"  peak Python allocations during verify: {peak / 2**20:.1f} MiB")


@contextmanager
def trusting_names() -> Iterator[None]:
    """Store.verify without the re-hash: the object's name taken for its digest."""
    original = buildkit.store.hash_file

    def named(path: Path) -> Blob:
        return Blob(digest=f"sha256:{path.name}", size=path.stat().st_size)

    buildkit.store.hash_file = named
    try:
        yield
    finally:
        buildkit.store.hash_file = original


def bench_demo(runs: int) -> None:
    for name in ("DOCKER_HOST", "BUILDKIT_APKO_IMAGE", "BUILDKIT_MELANGE_IMAGE"):
        if not os.environ.get(name):
            sys.exit(f"{name} is not set: source $BUILDKIT_CACHE/env")
    with tempfile.TemporaryDirectory(prefix="bench-verify-demo-") as tmp:
        root = make_copy(Path(tmp))
        lock(root)
        build_project(load_project(root), BuildOptions())  # cold, once
        blobs = sorted((root / "dist" / "sha256").iterdir())
        size = sum(p.stat().st_size for p in blobs)

        def noop() -> None:
            assert build_project(load_project(root), BuildOptions()).ran == 0

        def noop_trusting() -> None:
            with trusting_names():
                noop()

        noop()  # warm the imports and the page cache
        times = pairs(noop, noop_trusting, runs)
    full, trusting = times[0::2], times[1::2]
    print(f"demo no-op build, {runs} pairs (medians); {len(blobs)} objects, {size / 2**20:.1f} MiB")
    print(f"  verifying (re-hash): {statistics.median(full) * 1000:7.0f} ms")
    print(f"  trusting names:      {statistics.median(trusting) * 1000:7.0f} ms")
    diffs = [f - t for f, t in zip(full, trusting, strict=True)]
    print(f"  cost of re-hashing:  {statistics.median(diffs) * 1000:7.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--blob-only", action="store_true")
    args = parser.parse_args()
    bench_blob(args.runs)
    if not args.blob_only:
        bench_demo(args.runs)


if __name__ == "__main__":
    main()
