"""A hand-edited demo lockfile makes ``build`` fail before any container starts.

A copy of the demo is locked for real (melange builds its local package, the bootstrap
repository over HTTP); then each row edits the lockfile as a user might, by hand, and runs
``python -m buildkit build`` as a user would. It must exit 2 with one line naming the
lockfile, the entry and `nox -s lock -- demo`, leave the lockfile and dist/ as they were, and
start no tool: no action is reported started and no tool log is written.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from buildkit.apk.keys import generate_keypair
from tests.helpers.demo import Demo, lock_demo, make_demo

pytestmark = pytest.mark.e2e

Lock = dict[str, Any]


@pytest.fixture(scope="module")
def locked(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    demo = make_demo(tmp_path_factory.mktemp("lockcheck"))
    lock_demo(demo)
    return demo


def _remote(lock: Lock) -> dict[str, Any]:
    """The first package from the bootstrap repository."""
    return next(p for p in lock["contents"]["packages"] if p["url"].startswith("http"))


def _other_key(lock: Lock, tmp: Path) -> None:
    _private, public = generate_keypair(tmp / "other.rsa", bits=1024)
    lock["contents"]["keyring"][0]["content"] = public.read_text()


def _version(lock: Lock, tmp: Path) -> None:
    _remote(lock)["version"] = "9.9.9-r0"


def _host(lock: Lock, tmp: Path) -> None:
    package = _remote(lock)
    package["url"] = package["url"].replace("127.0.0.1:8040", "evil.example")


def _duplicate(lock: Lock, tmp: Path) -> None:
    lock["contents"]["packages"].append(dict(_remote(lock)))


def _missing_arch(lock: Lock, tmp: Path) -> None:
    contents = lock["contents"]
    contents["packages"] = [p for p in contents["packages"] if p["architecture"] != "aarch64"]


EDITS: list[tuple[str, Callable[[Lock, Path], None], str]] = [
    ("keyring-content-replaced", _other_key, r"contents\.keyring\[0\] \(\S+\): its content is not"),
    ("version-changed", _version, r"contents\.packages\[\d+\] \(\S+ 9\.9\.9-r0, \w+\): \S+ lists"),
    ("url-on-another-host", _host, r"URL http://evil\.example/\S+ is not in a repository of"),
    ("duplicated-entry", _duplicate, r"duplicate of contents\.packages\[\d+\]"),
    ("missing-arch", _missing_arch, r"contents\.packages: no packages for aarch64"),
]


@pytest.mark.parametrize(("edit", "message"), [e[1:] for e in EDITS], ids=[e[0] for e in EDITS])
def test_a_hand_edited_lockfile_fails_build_before_any_container_starts(
    locked: Demo, tmp_path: Path, edit: Callable[[Lock, Path], None], message: str
) -> None:
    path = locked.root / "lockfiles" / "demo.lock.json"
    original = path.read_bytes()
    lock = json.loads(original)
    edit(lock, tmp_path)
    shutil.rmtree(locked.root / "dist" / "logs", ignore_errors=True)
    before = _snapshot(locked.root)
    path.write_text(json.dumps(lock, indent=2) + "\n")
    try:
        edited = path.read_bytes()
        done = locked.buildkit("build")
        assert path.read_bytes() == edited
    finally:
        path.write_bytes(original)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.rstrip("\n").splitlines()
    assert "Traceback" not in done.stderr
    line = lines[-1]
    assert line.startswith(f"buildkit: error: {path}: "), done.stderr
    assert re.search(message, line), line
    assert line.endswith("(run `nox -s lock -- demo` to lock it again from its sources, and "
                         "commit the lockfile)"), line  # fmt: skip
    actions = [
        entry for entry in lines if re.search(r"\b(apko|melange) \S+ (x86_64|aarch64)", entry)
    ]
    assert not actions, done.stderr  # not even a cached melange step: refused while planning
    logs = locked.root / "dist" / "logs"
    assert not (logs.is_dir() and any(logs.rglob("*.log"))), "a tool ran"
    assert _snapshot(locked.root) == before


def _snapshot(root: Path) -> dict[str, bytes]:
    found: dict[str, bytes] = {}
    for folder in ("dist", "packages"):
        for path in sorted((root / folder).rglob("*")):
            relative = path.relative_to(root)
            if path.is_file() and relative.parts[1:2] not in {("logs",), ("locks",), ("tmp",)}:
                found[str(relative)] = path.read_bytes()
    return found
