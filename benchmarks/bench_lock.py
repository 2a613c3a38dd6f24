"""Benchmark: `buildkit lock` versus the real `apko lock` on a Wolfi-scale local repository.

    python benchmarks/bench_lock.py [--records 200000] [--runs 3] [--out DIR] [--apko PATH]

Builds (once, cached in DIR) a project whose local repository has, for each of x86_64 and
aarch64, an APKINDEX of --records records: the generated Wolfi-shaped records of gen_index.py
plus a small closure of real, signed .apk files (a libc, zlib, openssl, python, fifteen
libraries and an app, with older index-only versions to choose from). The framework requests
the app; both tools must resolve it, read every chosen .apk and write a lockfile.

Both tools run as processes on the same inputs, one after the other, --runs times; the report
gives the median wall time of each and whether the two lockfiles are identical. apko is found
at ${BUILDKIT_CACHE:-~/.cache/buildkit}/tools/apko-*/apko unless --apko is given.

buildkit's bytecode is compiled first (compileall), as any install has it: where
PYTHONDONTWRITEBYTECODE is set (these machines set it), an editable install would otherwise
compile every module from source on every run, which is not what a user's runs cost. The
machine's load average is printed before and after, since on a shared machine wall times
follow it.
"""

from __future__ import annotations

import argparse
import base64
import compileall
import hashlib
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import buildkit as buildkit_package
from buildkit.apk.index import IndexRecord, record_from_package, write_index
from buildkit.apk.keys import SigningKey
from buildkit.apk.package import pack_package
from buildkit.apk.pkginfo import PkgInfo
from buildkit.project.config import default_cache_dir

sys.path.insert(0, str(Path(__file__).resolve().parent))
import gen_index

ARCHS = ("x86_64", "aarch64")
EPOCH = 1_700_000_000
DEFAULT_OUT = Path(tempfile.gettempdir()) / "buildkit-bench-lock"
FRAMEWORK = """\
contents:
  keyring:
    - ./keys/bench.rsa.pub
  repositories:
    - ./repo
  packages:
    - bk-baselayout
    - bk-app
entrypoint:
  command: /usr/bin/bk-app
archs:
  - x86_64
  - aarch64
"""


def closure() -> list[tuple[str, str, tuple[str, ...], tuple[str, ...]]]:
    """(name, version, depends, provides) of the packages that exist as real .apk files."""
    libc = ("so:libc.so.6",)
    packages = [
        ("bk-baselayout", "20230201-r15", (), ()),
        ("bk-libc", "2.40-r3", ("bk-baselayout",), ("so:libc.so.6=6", "so:libm.so.6=6")),
        ("bk-zlib", "1.3.1-r4", libc, ("so:libz.so.1=1.3.1",)),
        ("bk-ca-certificates", "20240705-r0", (), ()),
        (
            "bk-openssl",
            "3.3.2-r1",
            (*libc, "so:libz.so.1", "bk-ca-certificates"),
            ("so:libssl.so.3=3", "so:libcrypto.so.3=3"),
        ),
        (
            "bk-python",
            "3.12.7-r0",
            (*libc, "so:libssl.so.3", "so:libcrypto.so.3", "so:libz.so.1"),
            ("cmd:python3=3.12.7-r0", "so:libpython3.12.so.1.0=1.0"),
        ),
    ]
    libs = []
    for n in range(15):
        deps = (*libc, *(f"so:libbk{m}.so.1" for m in range(max(0, n - 2), n)))
        packages.append((f"bk-lib{n}", f"1.{n}.0-r0", deps, (f"so:libbk{n}.so.1=1",)))
        libs.append(f"so:libbk{n}.so.1")
    packages.append(("bk-app", "4.2.0-r1", (*libs, "cmd:python3"), ("cmd:bk-app=4.2.0-r1",)))
    return packages


def _fake_older(record: IndexRecord) -> IndexRecord:
    """An older release of ``record`` that exists only in the index (never chosen)."""
    older = "0.1-r0"
    digest = hashlib.sha1(f"{record.name}-{older}".encode()).digest()
    return IndexRecord(
        checksum="Q1" + base64.b64encode(digest).decode(),
        name=record.name,
        version=older,
        arch=record.arch,
        size=record.size,
        installed_size=record.installed_size,
        depends=record.depends,
        provides=tuple(p.split("=")[0] + "=0" if "=" in p else p for p in record.provides),
    )


def _real_packages(repo: Path, arch: str, key: SigningKey) -> list[IndexRecord]:
    folder = repo / arch
    folder.mkdir(parents=True, exist_ok=True)
    records = []
    with tempfile.TemporaryDirectory() as work:
        for name, version, depends, provides in closure():
            tree = Path(work) / f"{name}-{arch}"
            (tree / "usr/share" / name).mkdir(parents=True)
            # A little weight: real packages carry files, and their data is hashed on lock.
            (tree / "usr/share" / name / "data.bin").write_bytes(
                hashlib.sha256(f"{name}{arch}".encode()).digest() * 4096
            )
            info = PkgInfo(
                name=name,
                version=version,
                arch=arch,
                depends=depends,
                provides=provides,
                license="MIT",
                description=f"benchmark package {name}",
            )
            data = pack_package(tree, info, key=key, source_date_epoch=EPOCH)
            record = record_from_package(data, where=name)
            (folder / record.filename).write_bytes(data)
            records.extend([record, _fake_older(record)])
    return records


def prepare(out: Path, count: int, seed: int) -> Path:
    """The benchmark project under ``out`` (reused when the parameters are unchanged)."""
    project = out / "project"
    stamp = project / "params.json"
    params = {"records": count, "seed": seed, "closure": len(closure())}
    if stamp.exists() and json.loads(stamp.read_text()) == params:
        return project
    shutil.rmtree(project, ignore_errors=True)
    key = gen_index.signing_key(out)
    (project / "keys").mkdir(parents=True)
    (project / "keys" / "bench.rsa.pub").write_bytes(key.public_pem)
    (project / "frameworks").mkdir()
    (project / "frameworks" / "bench.yaml").write_text(FRAMEWORK)
    for arch in ARCHS:
        started = time.perf_counter()
        real = _real_packages(project / "repo", arch, key)
        records = gen_index.generate_records(count - len(real), seed, arch) + real
        index = write_index(records, description="benchmark", key=key)
        (project / "repo" / arch / "APKINDEX.tar.gz").write_bytes(index)
        elapsed = time.perf_counter() - started
        print(
            f"generated {arch}: {len(records)} records, {len(index) / 1e6:.1f} MB ({elapsed:.0f}s)"
        )
    stamp.write_text(json.dumps(params))
    return project


def find_apko(explicit: Path | None) -> Path | None:
    if explicit is not None:
        return explicit
    found = sorted((default_cache_dir() / "tools").glob("apko-*/apko"))
    return found[-1] if found else None


CPU: list[float] = []  # CPU seconds (user + system) of each timed run, in order


def timed(argv: list[str], cwd: Path, env: dict[str, str], label: str) -> float:
    """Wall time of one run; its CPU time goes to CPU. The CPU time counts the process and
    the children it waited for: all of a warm buildkit run and of apko (threads), but not
    a cold buildkit lock's per-arch workers (forkserver children, never its own)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    if done.returncode != 0:
        tail = "\n".join((done.stderr or done.stdout).splitlines()[-15:])
        raise SystemExit(f"{label} failed (exit {done.returncode}):\n{tail}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=200_000, help="index records per arch")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--apko", type=Path, help="the apko binary (default: the built one)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    project = prepare(args.out, args.records, args.seed)
    compileall.compile_dir(Path(buildkit_package.__file__).parent, quiet=1)
    print(f"load average before: {_load()}")
    env = {**os.environ, "BUILDKIT_CACHE": str(args.out / "cache-buildkit")}
    ours = project / "lockfiles" / "bench.lock.json"
    buildkit = [sys.executable, "-m", "buildkit", "-C", str(project), "lock"]
    apko = find_apko(args.apko)
    theirs = args.out / "apko.lock.json"
    apko_argv = [
        str(apko),
        "lock",
        "frameworks/bench.yaml",
        "--output",
        str(theirs),
        "--cache-dir",
        str(args.out / "cache-apko"),
    ]
    resolutions = args.out / "cache-buildkit" / "resolutions"
    times: dict[str, list[float]] = {"buildkit": [], "apko": []}
    warm: dict[str, list[float]] = {"lock --check": [], "re-lock": []}
    cpu: dict[str, list[float]] = {"apko lock": [], "lock --check": [], "re-lock": []}
    for _ in range(args.runs):  # alternate, so both see the same machine load
        ours.unlink(missing_ok=True)
        shutil.rmtree(resolutions, ignore_errors=True)  # cold: nothing resolved before
        times["buildkit"].append(timed(buildkit, project, env, "buildkit lock"))
        if apko is not None:
            times["apko"].append(timed(apko_argv, project, env, "apko lock"))
            cpu["apko lock"].append(CPU[-1])
        # Warm: nothing changed since the lock above. --check resolves keeping the pins
        # (its own cache entry, made by the first --check); a re-lock reuses the lock's.
        timed([*buildkit, "--check"], project, env, "buildkit lock --check (priming)")
        warm["lock --check"].append(timed([*buildkit, "--check"], project, env, "lock --check"))
        cpu["lock --check"].append(CPU[-1])
        warm["re-lock"].append(timed(buildkit, project, env, "buildkit re-lock"))
        cpu["re-lock"].append(CPU[-1])
    print(f"load average after:  {_load()}")
    print(f"{args.records} records x {len(ARCHS)} archs, {len(closure())} packages resolved")
    median = {name: statistics.median(runs) for name, runs in times.items() if runs}
    for name, seconds in median.items():
        print(
            f"{name + ' lock':14} median {seconds:6.2f}s  best {min(times[name]):6.2f}s  "
            f"(runs: {_runs(times[name])})"
        )
    for name, runs in warm.items():
        seconds = statistics.median(runs)
        print(
            f"warm {name:12} median {seconds:6.2f}s  best {min(runs):6.2f}s  "
            f"(runs: {_runs(runs)}); cold lock / warm: {median['buildkit'] / seconds:.1f}x; "
            f"under 0.5 s: {'yes' if seconds < 0.5 else 'NO'}"
        )
    for name, runs in cpu.items():
        if runs:
            print(f"CPU time (user + sys) {name:12} median {statistics.median(runs):6.2f}s")
    if apko is None:
        print("apko lock: binary not found (build it with scripts/setup, or pass --apko)")
        return
    print(f"apko / buildkit (median): {median['apko'] / median['buildkit']:.2f}x")
    same = ours.read_bytes() == theirs.read_bytes()
    print(f"lockfiles identical: {'yes' if same else 'no'}")
    if not same:
        _explain(ours, theirs)


def _load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg()) + " (1, 5, 15 min)"


def _runs(values: list[float]) -> str:
    return " ".join(f"{v:.2f}" for v in values)


def _explain(ours: Path, theirs: Path) -> None:
    mine, apkos = json.loads(ours.read_bytes()), json.loads(theirs.read_bytes())
    for key in ("config", "contents"):
        if mine.get(key) != apkos.get(key):
            print(f"  differs in {key}")
    order = [(p["architecture"], p["name"], p["version"]) for p in mine["contents"]["packages"]]
    other = [(p["architecture"], p["name"], p["version"]) for p in apkos["contents"]["packages"]]
    if sorted(order) == sorted(other):
        print("  same packages and versions; install order differs")
    else:
        print(f"  only buildkit: {sorted(set(order) - set(other))[:5]}")
        print(f"  only apko:     {sorted(set(other) - set(order))[:5]}")


if __name__ == "__main__":
    main()
