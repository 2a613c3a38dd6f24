"""Bad input that needs the real engine and registry: one line, the exit code, nothing written.

A copy of the demo is locked and built once; each scenario then breaks one thing (the engine's
address, a tool image's digest, the melange pipeline, the registry, a stored tarball) and runs
``python -m buildkit`` (or ``nox``) as a user would. Every one must print exactly one
``buildkit: error:`` line, last on stderr, with no traceback, exit non-zero, and leave the
lockfile, the build records and the store as they were.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.helpers.demo import Demo, lock_demo, make_demo
from tests.helpers.paths import PROJECT_ROOT as PROJECT

pytestmark = pytest.mark.e2e

ZEROS = "sha256:" + "0" * 64


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    demo = make_demo(tmp_path_factory.mktemp("bad-input"))
    lock_demo(demo)
    demo.ok("build")
    return demo


def snapshot(root: Path) -> dict[str, bytes]:
    """Lockfiles, records and objects (not logs, locks or scratch): what must not change."""
    found: dict[str, bytes] = {}
    for folder in ("lockfiles", "dist"):
        for path in sorted((root / folder).rglob("*")):
            relative = path.relative_to(root)
            if path.is_file() and relative.parts[1:2] not in {("logs",), ("locks",), ("tmp",)}:
                found[str(relative)] = path.read_bytes()
    return found


def error_line(done: subprocess.CompletedProcess[str]) -> str:
    lines = done.stderr.rstrip("\n").splitlines()
    errors = [line for line in lines if line.startswith("buildkit: error: ")]
    assert len(errors) == 1, done.stderr
    assert lines[-1] == errors[0], done.stderr
    assert "Traceback" not in done.stderr
    return errors[0]


def fails(demo: Demo, code: int, *args: str, **env: str) -> str:
    """Run buildkit with ``env`` changed; check the rule; return the error line."""
    before = snapshot(demo.root)
    done = demo.buildkit(*args, env={**demo.env, **env})
    assert done.returncode == code, done.stderr
    line = error_line(done)
    assert snapshot(demo.root) == before
    return line


@contextmanager
def changed(path: Path, text: str) -> Iterator[None]:
    original = path.read_bytes()
    path.write_text(text)
    try:
        yield
    finally:
        path.write_bytes(original)


def test_no_engine_is_one_line(built: Demo) -> None:
    line = fails(
        built,
        1,
        "build",
        DOCKER_HOST="unix:///nonexistent",
        BUILDKIT_ENGINE="docker",
        BUILDKIT_TAG="no-engine",  # a new action key: the build must reach the engine
    )
    assert "docker does not answer at unix:///nonexistent" in line


def test_a_digest_the_registry_does_not_have_is_one_line(built: Demo) -> None:
    image = f"127.0.0.1:5000/buildkit-tools/apko@{ZEROS}"
    line = fails(built, 1, "build", "--arch", "amd64", BUILDKIT_APKO_IMAGE=image)
    assert f"cannot pull {image}: " in line
    assert "manifest unknown" in line


def test_an_image_whose_registry_is_down_is_one_line(built: Demo) -> None:
    image = f"127.0.0.1:9/buildkit-tools/apko@{ZEROS}"
    line = fails(built, 1, "build", "--arch", "amd64", BUILDKIT_APKO_IMAGE=image)
    assert f"cannot pull {image}: " in line
    assert "connection refused" in line


def test_an_uppercase_image_name_is_refused_before_the_engine(built: Demo) -> None:
    line = fails(built, 2, "build", BUILDKIT_APKO_IMAGE=f"Tools/apko@{ZEROS}")
    assert "bad repository name 'Tools/apko'" in line


def test_a_failing_pipeline_is_one_line_then_the_reason_then_the_log(built: Demo) -> None:
    config = built.root / "packages" / "hello-buildkit.yaml"
    broken = config.read_text().replace(
        '      chmod 0755 "${{targets.destdir}}/usr/bin/hello-buildkit"\n',
        '      chmod 0755 "${{targets.destdir}}/usr/bin/hello-buildkit"\n'
        '      echo "deliberate failure" >&2; exit 3\n',
    )
    assert "deliberate failure" in broken
    before = snapshot(built.root)
    with changed(config, broken):
        done = built.buildkit("build", "--arch", "amd64")
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    first = next(n for n, line in enumerate(lines) if line.startswith("buildkit: error: "))
    assert lines[first].startswith(
        "buildkit: error: melange hello-buildkit x86_64: melange build failed with exit status"
    )
    shown = lines[first + 1 :]
    assert shown[-1] == f"  log: {built.root}/dist/logs/melange-hello-buildkit-x86_64.log"
    assert all(line.startswith("  ") for line in shown)
    assert "deliberate failure" in done.stderr[done.stderr.index("buildkit: error:") :]
    assert "docker run" not in done.stderr  # the command line stays in the log
    assert snapshot(built.root) == before


def test_a_melange_typo_fails_before_melange_with_file_and_line(built: Demo) -> None:
    config = built.root / "packages" / "hello-buildkit.yaml"
    for old, new, message in (
        ("\npipeline:", "\npipelines:", "packages/hello-buildkit.yaml:28: unknown key pipelines"),
        ("      - busybox\n\npipeline", "      - busybx\n\npipeline",
         "packages/hello-buildkit.yaml:26: environment.contents.packages: nothing provides busybx"),
    ):  # fmt: skip
        assert old in config.read_text()
        log = built.root / "dist" / "logs" / "melange-hello-buildkit-x86_64.log"
        last_run = log.stat().st_mtime_ns if log.exists() else None
        with changed(config, config.read_text().replace(old, new, 1)):
            line = fails(built, 2, "build", "--arch", "amd64")
        assert message in line
        assert line.endswith("then run `nox -s lock -- demo`)"), line  # the fix, then this
        assert (log.stat().st_mtime_ns if log.exists() else None) == last_run  # melange never ran


def test_publish_to_a_registry_that_is_down_records_nothing(built: Demo) -> None:
    line = fails(built, 1, "publish", BUILDKIT_REGISTRY="127.0.0.1:9")
    assert "the registry is unreachable (connection refused)" in line
    assert "nothing was recorded as published" in line
    assert not (built.root / "dist" / "demo" / "publish.json").exists()


def test_publish_refuses_a_tarball_whose_bytes_changed(built: Demo) -> None:
    tarball = built.tarball("x86_64")
    original = tarball.read_bytes()
    os.chmod(tarball, 0o644)
    damaged = bytearray(original)
    damaged[len(damaged) // 2] ^= 1
    tarball.write_bytes(bytes(damaged))
    try:
        for args in (("publish", "--dry-run"), ("publish",)):
            line = fails(built, 1, *args)
            assert "refusing to publish demo for x86_64" in line
            assert "does not match its bytes" in line
    finally:
        tarball.write_bytes(original)
        os.chmod(tarball, 0o444)


def test_publish_without_a_record_is_one_line(built: Demo) -> None:
    record = built.root / "dist" / "demo" / "aarch64.json"
    saved = record.read_bytes()
    record.unlink()
    try:
        line = fails(built, 1, "publish")
        assert "no build record for demo on aarch64" in line
    finally:
        record.write_bytes(saved)


def test_a_nox_session_shows_the_one_line_and_fails(built: Demo) -> None:
    shutil.copy(PROJECT / "noxfile.py", built.root / "noxfile.py")
    path = f"{Path(sys.executable).parent}{os.pathsep}{built.env.get('PATH', '')}"
    for args, line in (
        (["lock", "--", "--bogus"], "buildkit lock: unrecognized arguments: --bogus"),
        (["build", "--", "--arch", "sparc"], "unknown architecture 'sparc'"),
    ):
        done = subprocess.run(
            [sys.executable, "-m", "nox", "-s", *args],
            cwd=built.root,
            env={**built.env, "PATH": path},
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode != 0
        output = done.stdout + done.stderr
        assert "Traceback" not in output
        errors = [n for n in output.splitlines() if n.startswith("buildkit: error:")]
        assert len(errors) == 1, output
        assert line in errors[0]
        assert f"Session {args[0]} aborted" in output
