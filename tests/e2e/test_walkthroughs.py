"""The guide's "Adding a local package" and "Adding a framework", run as written.

The files come from the guide's blocks, the commands from its sh block: each ``nox -s`` line
runs the ``buildkit`` argv its session passes on (recorded from the session functions, so a
session's meaning cannot drift from what is tested), then the image runs. Real melange, apko,
engine, registry and emulation; a copy of the demo project with a fresh key.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import nox
import pytest

from buildkit import sessions
from tests.helpers.commands import RecordingSession
from tests.helpers.demo import docker, make_demo
from tests.helpers.walkthroughs import walkthrough

pytestmark = pytest.mark.e2e


def _session_argv(line: str, monkeypatch: pytest.MonkeyPatch) -> list[str]:

    words = shlex.split(line)
    dashes = words.index("--") if "--" in words else len(words)
    (name,) = words[words.index("-s") + 1 : dashes]
    seen: list[list[str]] = []
    monkeypatch.setattr(sessions, "_buildkit", lambda _session, argv: seen.append(list(argv)))
    nox.registry.get()[name].func(RecordingSession(words[dashes + 1 :]))
    return seen[0]


def test_adding_a_local_package_and_a_framework_as_the_guide_says(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Signing is test_publish.py's subject; the walkthrough publishes unsigned.
    demo = make_demo(tmp_path_factory.mktemp("walkthrough"), BUILDKIT_SIGNING="none")
    steps = walkthrough()
    for name, block in steps.files.items():
        path = demo.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        text = block
        if name == "buildkit.toml":  # the block shows the [project] line to change
            old = path.read_text()
            text = re.sub(r"^frameworks = .*$", block.splitlines()[-1], old, count=1, flags=re.M)
            assert text != old
        path.write_text(text)
    repository = demo.env["BUILDKIT_REPOSITORY"]
    ran = []
    for command in steps.commands:
        if command.startswith("nox "):
            argv = _session_argv(command, monkeypatch)
            demo.ok(*argv)
            ran.append(argv[0])
            continue
        assert command.startswith("docker run "), command
        done = docker(*shlex.split(command.replace("/buildkit/", f"/{repository}/"))[1:])
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "hello from greeter"
        ran.append("run")
    assert ran == ["lock", "build", "build", "publish", "run"]
    assert (demo.root / "lockfiles" / "greeter.lock.json").is_file()
    assert sorted(Path(p).name for p in (demo.root / "packages").glob("*/greeter-*.apk")) == [
        "greeter-1.0.0-r0.apk",
        "greeter-1.0.0-r0.apk",
    ]
