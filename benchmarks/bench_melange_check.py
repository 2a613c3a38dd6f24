"""Melange config mistakes: how long `buildkit lock` takes to refuse them (target < 1 s).

Run: .venv/bin/python benchmarks/bench_melange_check.py [--runs 7]

In a temporary project (the apko-cli fixture repository as ``./repo``, one framework asking
for ``hello@local``, ``packages/hello.yaml`` with one mistake each time) it times, as pairs
back to back:

- start: ``python -m buildkit --version`` (the interpreter and the command line starting);
- refuse: ``python -m buildkit lock`` failing on the mistake (exit 2, one ``file:line``
  line), which includes that same start;

and, in this process (imports done), ``buildkit.cli.main(["-C", project, "lock"])`` alone:
the work between the command and its line. It prints, per mistake, the medians of the wall
times, of the CPU time (user + system) of the ``lock`` process, of the in-process call, and
the median of the pairs' ratios refuse / start (wall). CPU times hold steady on a busy
machine where wall times do not. The
refusal happens before any container starts (tests/unit/test_bad_input_cli.py proves it with
a toolchain and a subprocess module that fail the test when called); this measures that the
user gets the line at once. Each run uses a fresh cache folder, so nothing is remembered.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from buildkit.cli import main as cli_main

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "apko-cli" / "packages"

FRAMEWORK = """\
contents:
  keyring:
    - ./repo/melange.rsa.pub
  repositories:
    - ./repo
    - '@local ./packages'
  packages:
    - replayout
    - hello@local
archs: [x86_64]
"""
MELANGE = """\
package:
  name: hello
  version: 1.0.0
  epoch: 0
environment:
  contents:
    keyring:
      - ./repo/melange.rsa.pub
    repositories:
      - ./repo
    packages:
      - replayout
pipeline:
  - runs: echo hi
"""
# name -> (text replaced, replacement): the rows "melange-*" of the bad-input table.
MISTAKES = {
    "unknown key": ("pipeline:", "pipelines:"),
    "unknown environment key": ("    packages:\n", "    package:\n"),
    "wrong type": ("  - runs: echo hi", "  runs: echo hi"),
    "unknown pipeline": ("  - runs: echo hi", "  - uses: git-chekout"),
    "fetch without checksum": (
        "  - runs: echo hi",
        "  - uses: fetch\n    with:\n      uri: http://x/a.tgz",
    ),
    "environment package typo": ("      - replayout\n", "      - replayot\n"),
    "YAML syntax": ("  - runs: echo hi", "  - runs: [echo"),
}


def make_project(folder: Path, mistake: tuple[str, str]) -> Path:
    root = folder / "project"
    shutil.copytree(FIXTURE, root / "repo")
    (root / "buildkit.toml").write_text('[project]\narchs = ["x86_64"]\n')
    (root / "frameworks").mkdir()
    (root / "frameworks" / "app.yaml").write_text(FRAMEWORK)
    (root / "packages").mkdir()
    old, new = mistake
    (root / "packages" / "hello.yaml").write_text(MELANGE.replace(old, new, 1))
    return root


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(argv: list[str], env: dict[str, str], expect: int) -> tuple[float, float, str]:
    """(wall seconds, CPU seconds, the last stderr line) of one run of ``argv``."""
    cpu = _children_cpu()
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    cpu = _children_cpu() - cpu
    if done.returncode != expect:
        raise SystemExit(
            f"{' '.join(argv)}: exit {done.returncode}, expected {expect}\n{done.stderr}"
        )
    return seconds, cpu, done.stderr.strip().splitlines()[-1] if done.stderr.strip() else ""


def in_process(root: Path, cache: Path) -> float:
    """Seconds of ``main(["-C", root, "lock"])`` here, which must exit 2."""
    os.environ["BUILDKIT_CACHE"] = str(cache)
    with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
        start = time.perf_counter()
        code = cli_main(["-C", str(root), "lock"])
        seconds = time.perf_counter() - start
    if code != 2:
        raise SystemExit(f"in-process lock: exit {code}, expected 2")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    for name in [n for n in os.environ if n.startswith("BUILDKIT_")]:
        del os.environ[name]
    python = [sys.executable, "-m", "buildkit"]
    print(f"{'mistake':25} {'start':>7} {'refuse':>7} {'ratio':>5} {'cpu':>6} {'in-proc':>7}  line")
    worst = 0.0
    for name, mistake in MISTAKES.items():
        starts: list[float] = []
        refusals: list[float] = []
        cpus: list[float] = []
        inner: list[float] = []
        ratios: list[float] = []
        line = ""
        with tempfile.TemporaryDirectory() as tmp:
            root = make_project(Path(tmp), mistake)
            for run in range(args.runs):
                env = dict(os.environ, BUILDKIT_CACHE=str(Path(tmp) / f"cache{run}"))
                start, _cpu, _ = timed([*python, "--version"], env, 0)
                refuse, cpu, line = timed([*python, "-C", str(root), "lock"], env, 2)
                inner.append(in_process(root, Path(tmp) / f"inner{run}"))
                starts.append(start)
                refusals.append(refuse)
                cpus.append(cpu)
                ratios.append(refuse / start)
        worst = max(worst, statistics.median(inner))
        shown = line.replace(str(root), "ROOT").removeprefix("buildkit: error: ")
        print(
            f"{name:25} {statistics.median(starts):6.3f}s {statistics.median(refusals):6.3f}s "
            f"{statistics.median(ratios):5.2f} {statistics.median(cpus):5.3f}s "
            f"{statistics.median(inner):6.3f}s  {shown[:60]}"
        )
    print(f"slowest refusal in process (median): {worst:.3f} s (target < 1 s)")


if __name__ == "__main__":
    main()
