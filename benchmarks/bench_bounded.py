"""Benchmark: peak memory and time of `buildkit lock` against a hostile repository server.

    python benchmarks/bench_bounded.py [--cases endless-index,stalled-index,...] [--small 16M]

Serves a small signed repository (x86_64 and aarch64) from the hostile server of
tests/helpers/hostile_server.py on a free loopback port and runs the real command line,
``python -m buildkit lock --no-cache --skip-packages`` (so each arch's worker process does its
own fetching), once per case and limit:

- ``endless-index``: every APKINDEX.tar.gz is an endless body;
- ``endless-package``: the indexes are honest, every .apk is an endless body;
- ``stalled-index``: every APKINDEX.tar.gz trickles one byte every 5 s;
- ``honest``: nothing hostile, the baseline (interpreter start, worker processes, a lock).

Each endless case runs with a small size limit (``--small``) and with the default limits; the
stalled case with a short deadline (``--deadline``). The peak RSS is the largest sum, over
the lock process and all its descendants (the arch workers), of their resident sets, sampled
every 20 ms from /proc (a short spike between two samples can be missed). Prints a Markdown
table.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from buildkit.apk.keys import SigningKey, generate_keypair
from buildkit.fsutil import human_size, parse_size
from buildkit.repo import FetchLimits
from tests.helpers.hostile_server import Hostile, Mode, serving_hostile
from tests.helpers.repos import Pkg, make_repo

ARCHS = ("x86_64", "aarch64")
PACKAGES = [Pkg("app", "1.0-r0", depends=("lib",)), Pkg("lib", "1.0-r0")]
PAGE = os.sysconf("SC_PAGE_SIZE")
SIZE_VARIABLES = ("BUILDKIT_MAX_INDEX_SIZE", "BUILDKIT_MAX_PACKAGE_SIZE")


def _rss(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
    except (OSError, IndexError, ValueError):
        return 0


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for task in tasks:
        try:
            text = Path(f"/proc/{pid}/task/{task}/children").read_text()
        except OSError:
            continue
        found += [int(child) for child in text.split()]
    return found


def _tree_rss(root: int) -> int:
    total, todo, seen = 0, [root], set()
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        total += _rss(pid)
        todo += _children(pid)
    return total


def _run(project: Path, env: dict[str, str]) -> tuple[int, float, int, str]:
    """(exit status, seconds, peak tree RSS, last stderr line) of one lock."""
    argv = [sys.executable, "-m", "buildkit", "-C", str(project), "lock"]
    argv += ["--no-cache", "--skip-packages"]
    start = time.monotonic()
    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=errors)
        peak = 0
        while proc.poll() is None:
            peak = max(peak, _tree_rss(proc.pid))
            time.sleep(0.02)
        seconds = time.monotonic() - start
        errors.seek(0)
        lines = errors.read().decode("utf-8", "replace").strip().splitlines()
    return proc.returncode, seconds, peak, lines[-1] if lines else ""


def _project(root: Path, url: str) -> Path:
    project = root / "project"
    (project / "frameworks").mkdir(parents=True, exist_ok=True)
    (project / "buildkit.toml").write_text('[project]\narchs = ["x86_64", "aarch64"]\n')
    (project / "frameworks" / "demo.yaml").write_text(
        f"contents:\n  keyring:\n    - {url}/keys/bench.rsa.pub\n  repositories:\n"
        f"    - {url}/os\n  packages:\n    - app\nentrypoint:\n  command: /bin/sh\n"
    )
    return project


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", default="honest,endless-index,endless-package,stalled-index")
    parser.add_argument("--small", default="16M", help="the small size limit (default 16M)")
    parser.add_argument("--deadline", type=float, default=10.0, help="stalled case, seconds")
    args = parser.parse_args()
    small = parse_size(args.small)
    defaults = FetchLimits()

    with tempfile.TemporaryDirectory(prefix="bench-bounded-") as tmp:
        root = Path(tmp)
        private, public = generate_keypair(root / "keys" / "bench.rsa", bits=2048)
        key = SigningKey.load(private)
        served = root / "srv"
        for arch in ARCHS:
            make_repo(served / "os", arch, PACKAGES, key)
        (served / "keys").mkdir(parents=True)
        (served / "keys" / "bench.rsa.pub").write_bytes(public.read_bytes())
        base_env = {
            **os.environ,
            "PYTHONPATH": str(Path(__file__).resolve().parent.parent),
        }
        for name in (*SIZE_VARIABLES, "BUILDKIT_FETCH_TIMEOUT"):
            base_env.pop(name, None)

        print("| case | limit | exit | time | peak RSS, lock + workers | message |")
        print("|---|---|---|---|---|---|")
        for case in args.cases.split(","):
            kind = case.split("-")[-1]
            mode: Mode = "endless" if case.startswith("endless") else "stalled"
            runs: list[tuple[str, dict[str, str]]]
            if case == "honest":
                runs = [("defaults", {})]
            elif mode == "endless":
                default = defaults.index if kind == "index" else defaults.package
                runs = [
                    (human_size(small), {name: str(small) for name in SIZE_VARIABLES}),
                    (f"{human_size(default)} (default)", {}),
                ]
            else:
                runs = [
                    (
                        f"{args.deadline:g} s deadline",
                        {"BUILDKIT_FETCH_TIMEOUT": str(args.deadline)},
                    )
                ]
            for label, extra in runs:
                with serving_hostile(served) as server:
                    for arch in ARCHS if case != "honest" else ():
                        path = (
                            f"/os/{arch}/APKINDEX.tar.gz"
                            if kind == "index"
                            else f"/os/{arch}/app-1.0-r0.apk"
                        )
                        server.routes[path] = Hostile(mode)
                        if kind == "package":
                            server.routes[f"/os/{arch}/lib-1.0-r0.apk"] = Hostile(mode)
                    work = root / case / label.split()[0]
                    project = _project(work, server.url)
                    cache = {"BUILDKIT_CACHE": str(work / "cache")}  # nothing cached yet
                    code, seconds, peak, line = _run(project, {**base_env, **extra, **cache})
                message = line.replace(server.url, "URL").replace("|", "/")
                print(
                    f"| {case} | {label} | {code} | {seconds:.1f} s | "
                    f"{peak / (1 << 20):.0f} MiB | {message[:160]} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
