"""Faults and concurrency with the real tools: SIGKILL at any moment, two builds at once, a
tool that fails.

After a SIGKILL the store must hold no partial object and no record naming missing bytes, and
the next build must succeed; two builds started together on one tree both succeed with the
same records; a failing apko names its action and shows the tail of its log.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time

import pytest

from tests.helpers.demo import ARCHS, Demo, check_store, lock_demo, make_demo

pytestmark = pytest.mark.e2e

# Seconds after the start of a cold build: planning, melange (x86_64, then arm64 under
# emulation), apko, storing outputs. Each run starts from an empty dist/ and packages/<arch>/.
KILL_AFTER = (0.3, 1.2, 2.5, 4.0, 6.0)


@pytest.fixture(scope="module")
def locked(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    demo = make_demo(tmp_path_factory.mktemp("faults"))
    lock_demo(demo)
    return demo


def clean(demo: Demo) -> None:
    shutil.rmtree(demo.root / "dist", ignore_errors=True)
    for arch, _oci, _platform in ARCHS:
        shutil.rmtree(demo.root / "packages" / arch, ignore_errors=True)


def start_build(demo: Demo) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "buildkit", "build"],
        cwd=demo.root,
        env=demo.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def records(demo: Demo) -> dict[str, object]:
    return {
        arch: json.loads((demo.root / "dist" / "demo" / f"{arch}.json").read_text())["outputs"]
        for arch, _oci, _platform in ARCHS
    }


@pytest.mark.parametrize("delay", KILL_AFTER)
def test_sigkill_at_any_moment_leaves_a_sound_store_and_the_next_build_succeeds(
    locked: Demo, delay: float
) -> None:
    clean(locked)
    build = start_build(locked)
    time.sleep(delay)
    build.send_signal(signal.SIGKILL)
    build.wait(timeout=60)
    assert check_store(locked.root) == []
    incoming = [p for p in (locked.root / "dist" / "sha256").glob("*") if len(p.name) != 64]
    assert incoming == []
    locked.ok("build")
    assert check_store(locked.root) == []
    assert not any((locked.root / "dist" / "tmp").iterdir())  # the killed build's scratch


def test_two_builds_started_together_both_succeed_with_the_same_records(locked: Demo) -> None:
    clean(locked)
    first, second = start_build(locked), start_build(locked)
    outputs = [p.communicate(timeout=900) for p in (first, second)]
    assert first.returncode == 0, outputs[0][1]
    assert second.returncode == 0, outputs[1][1]
    built = records(locked)
    assert check_store(locked.root) == []
    locked.ok("build")
    assert records(locked) == built


def test_a_failing_apko_names_the_action_and_shows_the_log_tail(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    demo = make_demo(tmp_path_factory.mktemp("failing"))
    config = demo.root / "frameworks" / "demo.yaml"
    # apko accepts this config when locking and rejects it when building the filesystem.
    config.write_text(config.read_text() + "paths:\n  - path: /srv\n    type: bogus\n")
    lock_demo(demo)
    done = demo.buildkit("build", "--arch", "amd64")
    assert done.returncode == 1
    assert "buildkit: error:" in done.stderr
    assert "apko demo x86_64: apko build failed with exit status" in done.stderr
    assert "--- last lines of" in done.stderr
    assert 'unsupported path mutation type "bogus"' in done.stderr
    assert (demo.root / "dist" / "logs" / "apko-demo-x86_64.log").is_file()
    assert not (demo.root / "dist" / "demo").exists()
