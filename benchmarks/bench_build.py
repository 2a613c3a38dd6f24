"""Cold build versus no-op rebuild of the demo, and buildkit's own share of a cold build.

What it measures, on a copy of the demo project (its own key, its own dist/) with the
machine's caches warm (tool images pulled, bootstrap packages in the package cache):

- cold: ``build_project`` from an empty dist/ and packages/<arch>/ (melange for both archs,
  then apko for both archs in parallel). Its wall time is split into the time during which a
  tool container ran (the union of the ``docker run`` spans) and the rest: buildkit's own
  overhead (planning, engine detection, preparing apko's cache, hashing, storing, records).
- no-op: the same build again with nothing changed, in-process and as ``nox -s build`` (a new
  process each time: interpreter start, nox, imports, planning, verifying the stored bytes).

Targets: buildkit's overhead within 10% of a cold build; the no-op ``nox -s build`` under
1.5 s. Needs the machine from scripts/setup (source $BUILDKIT_CACHE/env).

    .venv/bin/python benchmarks/bench_build.py --runs 5
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from buildkit.apk.keys import generate_keypair
from buildkit.project.config import load_project
from buildkit.usecases.building import BuildOptions, build_project
from buildkit.usecases.package_builds import build_local_packages

PROJECT = Path(__file__).resolve().parents[1]
FILES = ("buildkit.toml", "noxfile.py", "frameworks/demo.yaml", "packages/hello-buildkit.yaml")


def make_copy(base: Path) -> Path:
    root = base / "demo"
    for name in FILES:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(PROJECT / name, root / name)
    # The project's list also names the runtime frameworks (bench_runtimes.py measures them).
    toml = root / "buildkit.toml"
    toml.write_text(
        re.sub(r"^frameworks = .*$", 'frameworks = ["demo"]', toml.read_text(), count=1, flags=re.M)
    )
    generate_keypair(root / "keys" / "buildkit.rsa", bits=2048)
    return root


def lock(root: Path) -> None:
    build_local_packages(load_project(root), ("x86_64", "aarch64"))
    subprocess.run(
        [sys.executable, "-m", "buildkit", "lock"], cwd=root, check=True, capture_output=True
    )


def clean(root: Path) -> None:
    shutil.rmtree(root / "dist", ignore_errors=True)
    for arch in ("x86_64", "aarch64"):
        shutil.rmtree(root / "packages" / arch, ignore_errors=True)


def cold(root: Path) -> tuple[float, float]:
    """(wall seconds, seconds during which a tool container ran)."""
    clean(root)
    start = time.perf_counter()
    result = build_project(load_project(root), BuildOptions())
    wall = time.perf_counter() - start
    assert result.ran == 4, result
    return wall, result.tool_seconds


def noop_in_process(root: Path) -> float:
    start = time.perf_counter()
    result = build_project(load_project(root), BuildOptions())
    wall = time.perf_counter() - start
    assert result.ran == 0
    return wall


def noop_nox(root: Path) -> float:
    nox = shutil.which("nox") or str(Path(sys.executable).with_name("nox"))
    start = time.perf_counter()
    subprocess.run(
        [nox, "-f", str(root / "noxfile.py"), "-s", "build"],
        cwd=root,
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    for name in ("DOCKER_HOST", "BUILDKIT_APKO_IMAGE", "BUILDKIT_MELANGE_IMAGE"):
        if not os.environ.get(name):
            sys.exit(f"{name} is not set: source $BUILDKIT_CACHE/env")
    with tempfile.TemporaryDirectory(prefix="bench-build-") as tmp:
        root = make_copy(Path(tmp))
        lock(root)
        cold_runs = [cold(root) for _ in range(args.runs)]
        noop_runs = [noop_in_process(root) for _ in range(args.runs)]
        nox_runs = [noop_nox(root) for _ in range(args.runs)]
    wall = statistics.median(w for w, _ in cold_runs)
    tools = statistics.median(t for _, t in cold_runs)
    overheads = [(w - t) / w for w, t in cold_runs]
    noop = statistics.median(noop_runs)
    nox_wall = statistics.median(nox_runs)
    print(f"runs: {args.runs} (medians)")
    print(f"cold build:           {wall:7.2f} s")
    print(f"  inside tools:       {tools:7.2f} s")
    print(
        f"  buildkit overhead:  {wall - tools:7.2f} s "
        f"({100 * statistics.median(overheads):.1f}% of the cold build; target <= 10%)"
    )
    print(f"no-op (in process):   {noop * 1000:7.0f} ms  (cold/no-op = {wall / noop:.0f}x)")
    print(f"no-op `nox -s build`: {nox_wall * 1000:7.0f} ms  (target < 1500 ms)")


if __name__ == "__main__":
    main()
