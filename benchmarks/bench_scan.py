"""Scan speed: every framework against a generated security database of 100,000 secfix entries.

Run: .venv/bin/python benchmarks/bench_scan.py [--entries 100000 --runs 7]

Writes, in a temporary folder, a Wolfi-shaped ``security.json`` with ``--entries`` ids (5 fixed
versions of 4 ids per package name, some ``"0"`` keys, CVE/GHSA/GO ids), and one lockfile per
framework in frameworks/*.yaml, for two archs (60 packages per arch, half of them named in the
database, origins unknown: the package cache is empty, as in CI). Then it times, as pairs back
to back:

- load: reading and parsing the database alone (``parse_secdb`` on the file's bytes);
- scan: the whole ``scan_project`` (ignore file, lockfiles, database, matching, report),

and prints the medians and the median of the pairs' ratios scan / load. Target: scan < 0.5 s.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import random
import statistics
import tempfile
import time
from pathlib import Path

from buildkit.lockfile import LockConfig, LockedPackage, Lockfile, LockRange, write_lockfile
from buildkit.project.config import load_project
from buildkit.secdb import parse_secdb
from buildkit.usecases.scanning import ScanOptions, scan_project

ROOT = Path(__file__).resolve().parents[1]
REPO = "https://packages.example/os"
ARCHS = ("x86_64", "aarch64")
PER_ARCH = 60


def database(entries: int, seed: int) -> tuple[dict[str, object], list[str]]:
    rng = random.Random(seed)
    packages = []
    names = []
    count = 0
    n = 0
    while count < entries:
        name = f"pkg{n}"
        names.append(name)
        secfixes: dict[str, list[str]] = {}
        if n % 10 == 0:
            secfixes["0"] = [f"CVE-2019-{n:05d}"]
            count += 1
        for v in range(5):
            ids = [
                f"CVE-202{rng.randrange(5)}-{rng.randrange(100000):05d}",
                f"GHSA-{n:04x}-{v:04x}-aaaa",
                f"GO-2023-{rng.randrange(10000):04d}",
                f"CVE-2024-{n % 100000:05d}{v}",
            ]
            secfixes[f"1.{v}.{rng.randrange(10)}-r{rng.randrange(4)}"] = ids
            count += len(ids)
        packages.append({"pkg": {"name": name, "secfixes": secfixes}})
        n += 1
    document = {"apkurl": "", "archs": list(ARCHS), "reponame": "os", "urlprefix": REPO}
    document["packages"] = packages
    return document, names


def _identity(text: str) -> str:
    return "Q1" + base64.b64encode(hashlib.sha1(text.encode()).digest()).decode()


def _range(text: str, algorithm: str) -> LockRange:
    digest = hashlib.new(algorithm, text.encode()).digest()
    return LockRange(
        range="bytes=0-99", checksum=f"{algorithm}-{base64.b64encode(digest).decode()}"
    )


def lockfile(framework: str, names: list[str], rng: random.Random) -> Lockfile:
    packages = []
    for arch in ARCHS:
        for i in range(PER_ARCH):
            name = rng.choice(names) if i % 2 == 0 else f"{framework}-only-{i}"
            version = f"1.{rng.randrange(5)}.{rng.randrange(10)}-r{rng.randrange(4)}"
            key = f"{framework}{arch}{i}"
            packages.append(
                LockedPackage(
                    name=name,
                    url=f"{REPO}/{arch}/{name}-{version}.apk",
                    version=version,
                    architecture=arch,
                    signature=_range(key + "s", "sha1"),
                    control=_range(key + "c", "sha1"),
                    data=_range(key + "d", "sha256"),
                    checksum=_identity(key),
                )
            )
    config = LockConfig(name=f"frameworks/{framework}.yaml", checksum="sha256-" + "A" * 43 + "=")
    return Lockfile(config=config, packages=tuple(packages))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    frameworks = sorted(p.stem for p in (ROOT / "frameworks").glob("*.yaml"))
    with tempfile.TemporaryDirectory(prefix="bench-scan-") as tmp:
        root = Path(tmp)
        document, names = database(args.entries, args.seed)
        db_path = root / "security.json"
        db_path.write_text(json.dumps(document, indent=2))
        rng = random.Random(args.seed)
        for name in frameworks:
            write_lockfile(root / "lockfiles" / f"{name}.lock.json", lockfile(name, names, rng))
        (root / "buildkit.toml").write_text(
            f"[project]\nframeworks = {json.dumps(frameworks)}\n"
            f'[scan.databases]\n"{REPO}" = "{db_path}"\n[paths]\ncache = "{root / "cache"}"\n'
        )
        project = load_project(root)
        loaded = parse_secdb(db_path.read_bytes(), where=str(db_path))
        print(
            f"database: {loaded.entries:,} secfix entries, {len(loaded.packages):,} packages, "
            f"{db_path.stat().st_size / 1e6:.1f} MB; {len(frameworks)} frameworks x "
            f"{len(ARCHS)} archs x {PER_ARCH} packages"
        )
        loads, scans, ratios = [], [], []
        findings = 0
        for _ in range(args.runs):
            start = time.perf_counter()
            parse_secdb(db_path.read_bytes(), where=str(db_path))
            load = time.perf_counter() - start
            start = time.perf_counter()
            report = scan_project(project, ScanOptions())
            scan = time.perf_counter() - start
            findings = len(report.findings)
            loads.append(load)
            scans.append(scan)
            ratios.append(scan / load)
        print(f"{'load database alone':<28} {statistics.median(loads) * 1000:8.1f} ms")
        print(f"{'scan every framework':<28} {statistics.median(scans) * 1000:8.1f} ms")
        print(f"{'ratio scan / load':<28} {statistics.median(ratios):8.2f}x  ({findings} findings)")
        verdict = "met" if statistics.median(scans) < 0.5 else "MISSED"
        print(f"target scan < 500 ms: {verdict}")


if __name__ == "__main__":
    main()
