"""Big images: a cold build of the Java 17 image, buildkit's share and memory, and the no-op
rebuild of every framework.

What it measures, on a copy of the project (its own key, its own dist/, its own registry
repository) with the machine's caches warm (tool images, the runtime repository's packages in
the package cache after the first lock):

- cold: ``build_project`` of java17-local for both arches from an empty dist/ (apko for both
  arches in parallel; an image of about 200 MB unpacked, 80 MB of layers). Its wall time is split
  into the time during which a tool container ran and the rest: buildkit's own overhead
  (planning, preparing apko's cache from the locked packages, hashing, storing, records).
- peak RSS of the buildkit process (``ru_maxrss`` of that process alone, not its tool
  containers) during that cold build and during the publish of that image (both arches and the
  list, unsigned) to the local registry. Each runs in a fresh interpreter.
- no-op: ``nox -s build`` of every framework in buildkit.toml (demo and the runtime frameworks)
  once all are built (a new process each time: interpreter start, nox, imports, planning,
  verifying the stored bytes).

Targets: overhead under 10% of the cold build; peak RSS under 150 MB; the no-op under 1.5 s.
Needs the machine from scripts/setup (source $BUILDKIT_CACHE/env), the runtime repository
served on 127.0.0.1:8041 included. Child processes run with bytecode caching on (an
environment with PYTHONDONTWRITEBYTECODE=1 would make every interpreter compile buildkit and
its libraries again, about a second per start, which no user's machine pays); one no-op runs
first, unmeasured, to write them.

    .venv/bin/python benchmarks/bench_runtimes.py --runs 3
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from buildkit.apk.keys import generate_keypair

PROJECT = Path(__file__).resolve().parents[1]
JAVA = "java17-local"
FILES = (
    "buildkit.toml",
    "noxfile.py",
    "frameworks/demo.yaml",
    "frameworks/python3-11-local.yaml",
    "frameworks/java17-local.yaml",
    "frameworks/password-generator-local.yaml",
    "packages/hello-buildkit.yaml",
    "packages/password-generator-local.yaml",
)
# Runs in a fresh interpreter: one buildkit verb, then its own figures as one JSON line.
CHILD = """
import json, resource, sys, time
from pathlib import Path
from buildkit import cli
from buildkit.project.config import load_project
from buildkit.usecases.building import BuildOptions, build_project
verb, root, names = sys.argv[1], sys.argv[2], tuple(sys.argv[3:])
start = time.perf_counter()
tools = 0.0
if verb == "build":
    result = build_project(load_project(Path(root)), BuildOptions(frameworks=names))
    tools = result.tool_seconds
    assert result.ran > 0, result
else:
    assert cli.main(["-C", root, verb, *names]) == 0
wall = time.perf_counter() - start
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"wall": wall, "tools": tools, "rss_mib": rss}))
"""


def make_copy(base: Path) -> Path:
    root = base / "project"
    for name in FILES:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(PROJECT / name, root / name)
    shutil.copytree(
        PROJECT / "apps" / "password-generator",
        root / "packages" / "password-generator-local",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    generate_keypair(root / "keys" / "buildkit.rsa", bits=2048)
    return root


def buildkit(root: Path, *args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "buildkit", *args], cwd=root, check=True, capture_output=True
    )


def child(root: Path, verb: str, *names: str) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, verb, str(root), *names],
        cwd=root,
        check=True,
        capture_output=True,
        text=True,
    )
    figures: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def cold_java(root: Path) -> dict[str, float]:
    shutil.rmtree(root / "dist", ignore_errors=True)
    return child(root, "build", JAVA)


def noop_nox(root: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the nox process: user + system). On a shared machine the
    CPU time is the steadier figure: the wall time also counts waiting for a core."""
    nox = shutil.which("nox") or str(Path(sys.executable).with_name("nox"))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(
        [nox, "-f", str(root / "noxfile.py"), "-s", "build"],
        cwd=root,
        check=True,
        capture_output=True,
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def image_size(root: Path) -> float:
    """MiB of the Java image's layers (both arches), as the build records list them."""
    total = 0
    for arch in ("x86_64", "aarch64"):
        record = json.loads((root / "dist" / JAVA / f"{arch}.json").read_text())
        total += sum(layer["size"] for layer in record["outputs"]["image"]["layers"])
    return total / (1 << 20)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    for name in ("DOCKER_HOST", "BUILDKIT_APKO_IMAGE", "BUILDKIT_MELANGE_IMAGE"):
        if not os.environ.get(name):
            sys.exit(f"{name} is not set: source $BUILDKIT_CACHE/env")
    os.environ["BUILDKIT_REPOSITORY"] = f"bench-runtimes-{uuid.uuid4().hex[:8]}"
    os.environ["BUILDKIT_SIGNING"] = "none"
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    with tempfile.TemporaryDirectory(prefix="bench-runtimes-") as tmp:
        root = make_copy(Path(tmp))
        buildkit(root, "lock")  # builds the local packages, fills the package cache
        cold_runs = [cold_java(root) for _ in range(args.runs)]
        size = image_size(root)
        publish = child(root, "publish", JAVA)
        buildkit(root, "build")  # every framework, so that the no-op covers them all
        noop_nox(root)  # writes the bytecode caches
        noop_runs = [noop_nox(root) for _ in range(args.runs)]
    wall = statistics.median(r["wall"] for r in cold_runs)
    tools = statistics.median(r["tools"] for r in cold_runs)
    overhead = statistics.median((r["wall"] - r["tools"]) / r["wall"] for r in cold_runs)
    print(f"runs: {args.runs} (medians); Java image layers {size:.0f} MiB (both arches)")
    print(f"cold build {JAVA}:    {wall:7.2f} s")
    print(f"  inside tools:          {tools:7.2f} s")
    print(
        f"  buildkit overhead:     {wall - tools:7.2f} s "
        f"({100 * overhead:.1f}% of the cold build; target < 10%)"
    )
    build_rss = max(r["rss_mib"] for r in cold_runs)
    print(f"peak RSS, build:         {build_rss:7.0f} MiB (target < 150 MiB)")
    print(f"peak RSS, publish:       {publish['rss_mib']:7.0f} MiB ({publish['wall']:.1f} s)")
    print(
        f"no-op `nox -s build` (all frameworks): "
        f"{statistics.median(w for w, _ in noop_runs) * 1000:.0f} ms wall, "
        f"{statistics.median(c for _, c in noop_runs) * 1000:.0f} ms CPU (target < 1500 ms)"
    )


if __name__ == "__main__":
    main()
