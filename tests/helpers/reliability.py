"""The reliability suite's driver: a small project in a temporary folder, bad input applied
to it, ``buildkit.cli.main`` run on it, and the product rule checked.

The rule, for every bad input: a non-zero exit with the documented status, exactly one error
line (the last thing on stderr: ``buildkit: error: ...``, or argparse's ``buildkit VERB:
error: ...`` after its usage line), no traceback, and nothing half-written: lockfiles, keys,
the local repository and ``dist/`` (records, objects, scratch) byte for byte as they were.

The project is locked against a copy of the upstream apko-cli repository (local, signed; one
arch, so locking stays in this process). ``FakeApko`` stands in for apko where a scenario
needs a build record: it writes a real docker-archive from the lockfile it is given, so
``build`` goes through planning, the offline cache and the store as it does with the engine.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from buildkit.apk.arch import oci_arch
from buildkit.apk.keys import generate_keypair
from buildkit.cli import main
from buildkit.toolchain import ApkoBuild, MelangeBuild
from buildkit.usecases import build_context
from tests.helpers.images import make_image, write_docker_archive
from tests.helpers.paths import FIXTURES

FRAMEWORK = """\
contents:
  keyring:
    - ./repo/melange.rsa.pub
  repositories:
    - ./repo
  packages:
    - {package}
entrypoint:
  command: /usr/bin/hello
archs: [x86_64]
"""
TOML = '[project]\narchs = ["x86_64"]\nframeworks = ["app"]\n'
LOCKFILE = "lockfiles/app.lock.json"
RECORD = "dist/app/x86_64.json"
# The folders a failed command must leave alone (logs and inter-process locks aside).
GUARDED = ("lockfiles", "dist", "keys", "repo", "packages", "frameworks")
UNGUARDED = {("dist", "logs"), ("dist", "locks")}

# The one error line: ours, or argparse's after its usage line (exit 2 either way).
ERROR_LINE = re.compile(r"^buildkit(?: [a-z-]+)*: error: ")


@dataclass(frozen=True, kw_only=True)
class Outcome:
    code: int
    out: str
    err: str

    @property
    def error_line(self) -> str:
        """The one error line (its text after ``error: ``), checked to be the only error line,
        the last line on stderr, and free of any traceback."""
        assert "Traceback" not in self.err, self.err
        lines = self.err.rstrip("\n").splitlines()
        errors = [line for line in lines if ERROR_LINE.match(line)]
        assert len(errors) == 1, self.err
        assert lines[-1] == errors[0], self.err
        return ERROR_LINE.sub("", errors[0])


@dataclass
class NoContainers:
    """A toolchain that fails the test when anything would start a container."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"a container was started ({name}) before the input was checked")


@dataclass
class FakeApko:
    """apko as the engine runs it, reduced to its outputs: a docker-archive named by the
    job's tag, whose content follows the locked packages, and two SBOMs."""

    calls: list[str] = field(default_factory=list)

    def apko_build(self, job: ApkoBuild, *, log: Path, source_date_epoch: int, **_: Any) -> None:
        self.calls.append(job.arch)
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text("$ apko build\n")
        lock = job.lockfile.read_bytes() if job.lockfile else b""
        content = f"{job.arch} {source_date_epoch} ".encode() + hashlib.sha256(lock).digest()
        first = job.tag.split("/", 1)[0]
        host = first == "localhost" or "." in first or ":" in first
        tag = f"{'' if host else 'index.docker.io/'}{job.tag}-{oci_arch(job.arch)}"
        write_docker_archive(job.output, [tag], make_image(oci_arch(job.arch), greeting=content))
        job.sbom_dir.mkdir(parents=True, exist_ok=True)
        for name in (f"sbom-{job.arch}.spdx.json", "sbom-index.spdx.json"):
            (job.sbom_dir / name).write_bytes(b'{"spdxVersion": "SPDX-2.3"}' + content)

    def melange_build(self, job: MelangeBuild, *, log: Path, **_: Any) -> None:
        raise AssertionError("the reliability project has no local packages")


def isolate(patch: pytest.MonkeyPatch, cache: Path) -> None:
    """No BUILDKIT_* setting from the machine; a machine cache of the test's own."""
    for name in [n for n in os.environ if n.startswith("BUILDKIT_")]:
        patch.delenv(name)
    patch.setenv("BUILDKIT_CACHE", str(cache))


def make_template(root: Path, cache: Path) -> Path:
    """A project locked and built (with ``FakeApko``) once; tests work on copies."""
    shutil.copytree(FIXTURES / "apko-cli" / "packages", root / "repo")
    (root / "buildkit.toml").write_text(TOML)
    (root / "frameworks").mkdir()
    (root / "frameworks" / "app.yaml").write_text(FRAMEWORK.format(package="replayout"))
    generate_keypair(root / "keys" / "buildkit.rsa", bits=1024)
    with pytest.MonkeyPatch.context() as patch:
        isolate(patch, cache)
        patch.setattr(build_context, "default_tools", lambda _project: FakeApko())
        assert main(["-C", str(root), "lock"]) == 0
        assert main(["-C", str(root), "build"]) == 0
    assert (root / LOCKFILE).is_file()
    assert (root / RECORD).is_file()
    return root


@dataclass
class Project:
    """One copy of the template, the capture of its output and the test's monkeypatch."""

    root: Path
    cache: Path
    capsys: pytest.CaptureFixture[str]
    monkeypatch: pytest.MonkeyPatch

    def path(self, name: str) -> Path:
        return self.root / name

    def write(self, name: str, data: str | bytes) -> Path:
        target = self.root / name
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, bytes):
            target.write_bytes(data)
        else:
            target.write_text(data)
        return target

    def read_json(self, name: str) -> Any:
        return json.loads(self.path(name).read_text())

    def record(self) -> dict[str, Any]:
        record: dict[str, Any] = self.read_json(RECORD)
        return record

    def blob(self, digest: str) -> Path:
        return self.root / "dist" / "sha256" / digest.removeprefix("sha256:")

    def run(self, *argv: str) -> Outcome:
        self.monkeypatch.chdir(self.root)  # `apk` verbs and `-C` take paths as given
        self.capsys.readouterr()
        try:
            code = main(["-C", str(self.root), *argv] if argv[:1] != ("-C",) else list(argv))
        except SystemExit as exc:  # argparse: usage line, then its error line, exit 2
            code = exc.code if isinstance(exc.code, int) else 1
        captured = self.capsys.readouterr()
        return Outcome(code=code, out=captured.out, err=captured.err)

    def snapshot(self) -> dict[str, bytes | str]:
        """Every file a failed command must leave alone, by content (symlinks by target)."""
        found: dict[str, bytes | str] = {}
        for folder in GUARDED:
            base = self.root / folder
            if not base.is_dir() or base.is_symlink():
                continue
            for path in sorted(_walk(base)):
                relative = path.relative_to(self.root)
                if relative.parts[:2] in UNGUARDED:
                    continue
                if path.is_symlink():
                    found[str(relative)] = f"-> {os.readlink(path)}"
                elif path.is_file():
                    found[str(relative)] = path.read_bytes()
                elif path.is_dir():
                    found[str(relative)] = "<dir>"
                else:
                    found[str(relative)] = "<special>"
        return found


def _walk(base: Path) -> Iterator[Path]:
    """Everything under ``base`` without following symlinks or opening special files."""
    for folder, dirs, files in os.walk(base):
        for name in [*dirs, *files]:
            yield Path(folder) / name


@contextmanager
def writable(path: Path) -> Iterator[Path]:
    """Store objects are read-only (0444); let a scenario damage one."""
    mode = path.stat().st_mode
    path.chmod(0o644)
    try:
        yield path
    finally:
        path.chmod(mode)


Setup = Callable[[Project], None]
