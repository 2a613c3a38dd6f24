"""Resolution speed on a real index and on a synthetic Wolfi-sized one (200k records).

Run: .venv/bin/python benchmarks/bench_resolve.py [--names 2000 --versions 100]
Prints the time to build the index maps (once per lock run) and to resolve, cold and warm.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from buildkit.apk.index import ApkIndex, IndexRecord, parse_index
from buildkit.resolve import RepoSource, resolve
from buildkit.resolve.universe import universe_for

ALPINE = (
    Path(__file__).resolve().parents[1] / "tests/fixtures/alpine-3.17-main-aarch64/APKINDEX.tar.gz"
)


def timed(label: str, func: Callable[[], object], repeat: int = 1) -> object:
    times = []
    result: object = None
    for _ in range(repeat):
        start = time.perf_counter()
        result = func()
        times.append(time.perf_counter() - start)
    print(f"{label:<48} {statistics.median(times) * 1000:9.2f} ms")
    return result


def synthetic_index(names: int, versions: int, seed: int = 0) -> ApkIndex:
    """Wolfi-shaped: many versions per name, so: and cmd: provides, so: dependencies."""
    rng = random.Random(seed)
    deps_of = {i: sorted(rng.sample(range(i), min(i, 4))) for i in range(1, names)}
    deps_of[0] = []
    records = []
    for i in range(names):
        for v in range(versions):
            version = f"1.{v}.{rng.randrange(10)}-r{rng.randrange(3)}"
            depends = ["so:libc.so.6", *(f"so:libpkg{d}.so.1" for d in deps_of[i])] if i else []
            provides = [
                f"so:libpkg{i}.so.1=1",
                *(f"cmd:pkg{i}-tool{t}={version}" for t in range(8)),
            ]
            if i == 0:
                provides.append("so:libc.so.6=6")
            records.append(
                IndexRecord(
                    checksum=f"Q1{i:06d}{v:04d}=",
                    name=f"pkg{i}",
                    version=version,
                    arch="x86_64",
                    size=1000,
                    installed_size=4000,
                    depends=tuple(depends),
                    provides=tuple(provides),
                )
            )
    return ApkIndex(records=tuple(records), description="synthetic", signers=())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--names", type=int, default=2000)
    parser.add_argument("--versions", type=int, default=100)
    args = parser.parse_args()

    index = parse_index(ALPINE.read_bytes(), where="alpine", keyring=None, allow_untrusted=True)
    alpine = [RepoSource(name="alpine", arch="aarch64", tag=None, index=index)]
    print(f"Alpine 3.17 main aarch64: {len(index.records)} records")
    timed("  index maps", lambda: universe_for(alpine, "aarch64"))
    for request in (["python3"], ["alpine-base"], ["alpine-base", "build-base", "git", "python3"]):
        timed(
            f"  resolve {' '.join(request)}",
            lambda r=request: resolve(r, alpine, arch="aarch64"),
            20,
        )

    synthetic = synthetic_index(args.names, args.versions)
    wolfi = [RepoSource(name="synthetic", arch="x86_64", tag=None, index=synthetic)]
    print(f"synthetic: {len(synthetic.records)} records")
    timed("  index maps (once per lock run)", lambda: universe_for(wolfi, "x86_64"))
    top = f"pkg{args.names - 1}"
    result = timed(f"  resolve {top} (first)", lambda: resolve([top], wolfi, arch="x86_64"))
    assert isinstance(result, tuple)
    print(f"  ({len(result)} packages selected)")
    timed(f"  resolve {top} (again)", lambda: resolve([top], wolfi, arch="x86_64"), 5)
    wide = [f"pkg{i}" for i in range(args.names - 40, args.names)]
    result = timed(
        "  resolve 40 top-level packages", lambda: resolve(wide, wolfi, arch="x86_64"), 3
    )
    assert isinstance(result, tuple)
    print(f"  ({len(result)} packages selected)")


if __name__ == "__main__":
    main()
