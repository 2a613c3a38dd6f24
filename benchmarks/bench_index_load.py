"""Benchmark: load + verify + parse an APKINDEX versus plain gunzip of the same bytes.

    python benchmarks/bench_index_load.py [--runs 7] [--out DIR]

Measures (a) the Alpine 3.17 main/aarch64 fixture (~5k records; its key is not shipped, so
it is loaded with allow_untrusted: no signature check) and (b) the generated Wolfi-scale
index from gen_index.py (200k records, signature verified; generated on first use), each
with the compiled record parser (where it was built) and with the pure-Python one. For
each it times --runs pairs of (zlib-decompressing every gzip member, `parse_index`), the two
calls of a pair back to back, and reports the medians and the median of the pairs' ratios
(target: <= 3x). The small Alpine index gets ten times as many pairs. It also reports the
full garbage collection that follows a load (outside its clock): the scan of the new records
that the process owes, which a load may defer but not avoid; and, in a separate untimed load,
the memory the loaded records keep (tracemalloc).
"""

from __future__ import annotations

import argparse
import gc
import multiprocessing
import statistics
import sys
import time
import tracemalloc
import zlib
from collections.abc import Callable
from pathlib import Path

from buildkit.apk import index_records
from buildkit.apk.index import ApkIndex, parse_index, write_index
from buildkit.apk.keys import Keyring

sys.path.insert(0, str(Path(__file__).resolve().parent))
import gen_index

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures"
ALPINE = FIXTURES / "alpine-3.17-main-aarch64" / "APKINDEX.tar.gz"


def gunzip_all(data: bytes) -> int:
    """Decompress every gzip member; the floor any index reader has to pay."""
    total, rest = 0, data
    while rest:
        inflater = zlib.decompressobj(31)
        total += len(inflater.decompress(rest))
        rest = inflater.unused_data
    return total


def clocked(action: Callable[[], object]) -> tuple[float, float]:
    """Wall time of one call, then of the full collection that follows it while its result
    is alive: the scan of the new objects that the process still owes. Every call starts
    from a collected heap, as a real `lock` run loading an index once does."""
    gc.collect()
    started = time.perf_counter()
    result = action()
    loaded = time.perf_counter()
    gc.collect()
    collected = time.perf_counter()
    del result
    return loaded - started, collected - loaded


def measure(label: str, data: bytes, keyring: Keyring | None, runs: int) -> None:
    """Both parsers in turn: the compiled one (the default where it was built) and the
    pure-Python one that serves without a C compiler."""
    native = index_records._NATIVE
    try:
        if native is not None:
            measure_one(f"{label} [C]", data, keyring, runs)
        index_records._NATIVE = None
        measure_one(f"{label} [Python]", data, keyring, runs)
    finally:
        index_records._NATIVE = native


def measure_one(label: str, data: bytes, keyring: Keyring | None, runs: int) -> None:
    def load() -> ApkIndex:
        return parse_index(data, where=label, keyring=keyring, allow_untrusted=keyring is None)

    records = len(load().records)
    # Pairs, back to back: on a shared machine the load changes between runs, and a ratio
    # from two calls made moments apart is far steadier than one from two separate series.
    pairs = [(clocked(lambda: gunzip_all(data))[0], clocked(load)) for _ in range(runs)]
    plain = statistics.median(p for p, _ in pairs)
    full = statistics.median(f for _, (f, _) in pairs)
    owed = statistics.median(g for _, (_, g) in pairs)
    ratio = statistics.median(f / p for p, (f, _) in pairs)
    held = retained(load)
    check = "verified" if keyring else "unverified"
    print(
        f"{label}: {records} records, {len(data) / 1e6:.1f} MB gz, "
        f"{gunzip_all(data) / 1e6:.1f} MB raw | gunzip {plain * 1e3:.1f} ms | "
        f"load+{check} {full * 1e3:.1f} ms | ratio {ratio:.2f}x | "
        f"next full GC {owed * 1e3:.1f} ms | retained {held / 1e6:.0f} MB"
    )


def retained(load: Callable[[], ApkIndex]) -> int:
    """The bytes a loaded index keeps allocated, measured with tracemalloc in a forked child:
    tracemalloc's own tables grow the C heap, and in this process that would speed up every
    later gunzip (its big output buffer would no longer need fresh pages) and skew ratios."""
    context = multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=False)

    def child() -> None:
        tracemalloc.start()
        index = load()
        gc.collect()
        send.send(tracemalloc.get_traced_memory()[0])
        del index

    process = context.Process(target=child)
    process.start()
    held = int(receive.recv())
    process.join()
    return held


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--out", type=Path, default=gen_index.DEFAULT_OUT)
    args = parser.parse_args()
    generated = args.out / "APKINDEX.tar.gz"
    if not generated.exists():
        args.out.mkdir(parents=True, exist_ok=True)
        key = gen_index.signing_key(args.out)
        records = gen_index.generate_records(200_000, seed=1)
        generated.write_bytes(write_index(records, description="benchmark", key=key))
    print(
        f"python {sys.version.split()[0]}, medians of {args.runs} pairs (Alpine: {args.runs * 10})"
    )
    measure("alpine-3.17", ALPINE.read_bytes(), None, args.runs * 10)
    keyring = Keyring.from_files([args.out / (gen_index.KEY_NAME + ".pub")])
    measure("generated", generated.read_bytes(), keyring, args.runs)


if __name__ == "__main__":
    main()
