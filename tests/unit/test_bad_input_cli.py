"""Bad input through the real command line: one clear line, the right exit code, nothing written.

Every scenario runs ``buildkit.cli.main`` on a small project in a temporary folder: a
framework locked against a copy of the upstream apko-cli repository (local, signed), one arch
so that locking stays in this process. Each asserts the product rule: exactly one
``buildkit: error:`` line (the last one on stderr, naming what, where and what to do), no
traceback, the documented exit code, and lockfiles and ``dist/`` byte-for-byte as they were.
The engine is never needed: where a scenario reaches a tool, a fake stands in for it.
"""

from __future__ import annotations

import gzip
import io
import os
import shutil
import subprocess
import tarfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from buildkit import repo as repo_module
from buildkit import sessions
from buildkit.apk.gzmembers import iter_members
from buildkit.apk.keys import generate_keypair
from buildkit.apk.package import read_layout
from buildkit.cli import main
from buildkit.errors import ConfigError, ToolchainError, ToolFailedError
from buildkit.toolchain import ApkoBuild, Engine, MelangeBuild, parse_image_ref
from buildkit.toolchain.process import Completed, tail
from buildkit.usecases import build_context
from tests.helpers.commands import check_command

FRAMEWORK = """\
contents:
  keyring:
    - ./repo/melange.rsa.pub
  repositories:
    - ./repo
  packages:
    - {package}
archs: [x86_64]
"""
APK = "replayout-1.0.0-r0.apk"


@dataclass(frozen=True, kw_only=True)
class Outcome:
    code: int
    out: str
    err: str

    @property
    def error_line(self) -> str:
        """The one error line, checked to be the only one and the last thing on stderr."""
        lines = self.err.rstrip("\n").splitlines()
        errors = [line for line in lines if line.startswith("buildkit: error: ")]
        assert len(errors) == 1, self.err
        assert lines[-1] == errors[0], self.err
        assert "Traceback" not in self.err
        return errors[0].removeprefix("buildkit: error: ")


@dataclass
class Project:
    root: Path
    capsys: pytest.CaptureFixture[str]
    monkeypatch: pytest.MonkeyPatch

    def path(self, name: str) -> Path:
        return self.root / name

    def write(self, name: str, text: str | bytes) -> Path:
        target = self.root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            target.write_bytes(text)
        else:
            target.write_text(text)
        return target

    def run(self, *argv: str) -> Outcome:
        self.monkeypatch.chdir(self.root)  # `apk` verbs take paths as given
        self.capsys.readouterr()
        code = main(["-C", str(self.root), *argv])
        captured = self.capsys.readouterr()
        return Outcome(code=code, out=captured.out, err=captured.err)

    def snapshot(self) -> dict[str, bytes]:
        """Every file a failed command must leave alone (logs and lock files aside)."""
        found: dict[str, bytes] = {}
        for folder in ("lockfiles", "dist", "keys"):
            for path in sorted((self.root / folder).rglob("*")):
                relative = path.relative_to(self.root)
                if path.is_file() and relative.parts[:2] not in {
                    ("dist", "logs"),
                    ("dist", "locks"),
                }:
                    found[str(relative)] = path.read_bytes()
        return found


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory, fixtures: Path) -> Path:
    """A locked project; each test works on its own copy."""
    root = tmp_path_factory.mktemp("template")
    shutil.copytree(fixtures / "apko-cli" / "packages", root / "repo")
    (root / "buildkit.toml").write_text('[project]\narchs = ["x86_64"]\n')
    (root / "frameworks").mkdir()
    (root / "frameworks" / "app.yaml").write_text(FRAMEWORK.format(package="replayout"))
    with pytest.MonkeyPatch.context() as patch:
        _isolate(patch, tmp_path_factory.mktemp("cache"))
        assert main(["-C", str(root), "lock"]) == 0
    assert (root / "lockfiles" / "app.lock.json").is_file()
    return root


def _isolate(patch: pytest.MonkeyPatch, cache: Path) -> None:
    """No BUILDKIT_* setting from the machine; a cache of the test's own."""
    for name in [n for n in os.environ if n.startswith("BUILDKIT_")]:
        patch.delenv(name)
    patch.setenv("BUILDKIT_CACHE", str(cache))


@pytest.fixture
def project(
    template: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> Project:
    root = tmp_path / "project"
    shutil.copytree(template, root)
    _isolate(monkeypatch, tmp_path / "cache")
    # Unreachable hosts are retried; the waits between tries are not what is tested here.
    fast = repo_module.RetryPolicy(attempts=4, backoff=0.0, timeout=5.0)
    monkeypatch.setattr(repo_module, "RetryPolicy", lambda: fast)
    return Project(root=root, capsys=capsys, monkeypatch=monkeypatch)


# --------------------------------------------------------------------------------------------
# Tampering helpers: bytes in, bytes out


def _tar_gz(files: dict[str, bytes]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), mtime=0)


def _index_parts(path: Path) -> tuple[bytes, dict[str, bytes]]:
    """(the signature member as stored, the index member's files)."""
    data = path.read_bytes()
    signature, body = list(iter_members(data, where=str(path)))[:2]
    with tarfile.open(fileobj=io.BytesIO(body.data)) as archive:
        files = {m.name: archive.extractfile(m).read() for m in archive if m.isfile()}  # type: ignore[union-attr]
    return signature.compressed(data), files


def _tamper_index(project: Project) -> None:
    path = project.path("repo/x86_64/APKINDEX.tar.gz")
    signature, files = _index_parts(path)
    files["APKINDEX"] = files["APKINDEX"].replace(b"\nS:", b"\nS:1", 1)
    path.write_bytes(signature + _tar_gz(files))


def _unsign_index(project: Project) -> None:
    path = project.path("repo/x86_64/APKINDEX.tar.gz")
    _signature, files = _index_parts(path)
    path.write_bytes(_tar_gz(files))


def _truncate_apk(project: Project) -> Path:
    path = project.path(f"repo/x86_64/{APK}")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 100])
    return path


def _framework(package: str) -> Callable[[Project], None]:
    def setup(project: Project) -> None:
        project.write("frameworks/app.yaml", FRAMEWORK.format(package=package))

    return setup


def _write(name: str, text: str | bytes) -> Callable[[Project], None]:
    def setup(project: Project) -> None:
        project.write(name, text)

    return setup


def _env(**values: str) -> Callable[[Project], None]:
    def setup(project: Project) -> None:
        for name, value in values.items():
            project.monkeypatch.setenv(name, value)

    return setup


def _nothing(project: Project) -> None:
    pass


# --------------------------------------------------------------------------------------------
# The table


AREAS = ("cli", "framework", "package", "keys", "registry", "lockfile", "project", "repository")


@dataclass(frozen=True, kw_only=True)
class Case:
    area: str  # one of AREAS
    name: str
    argv: tuple[str, ...]
    code: int  # the exact exit status
    names: str  # the file, framework or option the line names
    command: str  # the command the line says to run, in backticks
    fragments: tuple[str, ...]  # the rest of what the line must say
    setup: Callable[[Project], None] = _nothing
    absent: tuple[str, ...] = field(default=())  # files that must not exist afterwards


def _mkdir(name: str) -> Callable[[Project], None]:
    def setup(project: Project) -> None:
        project.path(name).unlink(missing_ok=True)
        project.path(name).mkdir(parents=True)

    return setup


def _stale(project: Project) -> None:
    path = project.path("frameworks/app.yaml")
    path.write_text(path.read_text() + "# edited after locking\n")


def _unlock(project: Project) -> None:
    project.path("lockfiles/app.lock.json").unlink()


def _hand_edited_version(project: Project) -> None:
    path = project.path("lockfiles/app.lock.json")
    text = path.read_text()
    assert '"version": "1.0.0-r0"' in text
    path.write_text(text.replace('"version": "1.0.0-r0"', '"version": "9.9-r0"', 1))


def _keys_file(project: Project) -> None:
    project.write("keys", b"not a folder")


def _existing_key(project: Project) -> None:
    project.write("keys/buildkit.rsa", b"old private key")
    project.write("keys/buildkit.rsa.pub", b"old public key")


def _malformed_index(project: Project) -> None:
    text = b"C:Q1abc=\nP:a\nV:1-r0\nthis line has no colon\n\n"
    project.write("bad/APKINDEX.tar.gz", _tar_gz({"APKINDEX": text}))


def _index_folder_with_truncated_apk(project: Project) -> None:
    generate_keypair(project.path("keys/index.rsa"), bits=1024)
    _truncate_apk(project)
    folder = project.path("incoming")
    folder.mkdir()
    shutil.copy(project.path(f"repo/x86_64/{APK}"), folder / APK)


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
WITH_LOCAL = FRAMEWORK.replace(
    "    - ./repo\n", "    - ./repo\n    - '@local ./packages'\n"
).replace("    - {package}\n", "    - {package}\n    - hello@local\n")


def _melange(old: str, new: str) -> Callable[[Project], None]:
    """A local package config with one mistake, requested by the framework; any container
    start fails the test (the mistake must be found before melange runs)."""

    def setup(project: Project) -> None:
        assert old in MELANGE
        project.write("packages/hello.yaml", MELANGE.replace(old, new, 1))
        project.write("frameworks/app.yaml", WITH_LOCAL.format(package="replayout"))
        project.monkeypatch.setattr(build_context, "default_tools", lambda _p: NoContainers())
        for name in ("run", "Popen"):  # nor any other process (an engine probe, a tool)
            project.monkeypatch.setattr(subprocess, name, _no_process)

    return setup


# Each row: the area (framework, package config, keys, CLI, registry; and the project file,
# lockfiles and repositories they lead to), the command, its exact exit code, what the line
# must name (the file, framework or option: `names`) and the command it says to run
# (`command`, in backticks; "{root}" stands for the project folder).
LOCK = "nox -s lock -- app"


def _no_process(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError(f"a process was started before the config was checked: {args}")


CASES = [
    # CLI: the verbs and their arguments
    Case(area="cli", name="vercmp-unknown-operator", argv=("apk", "vercmp", "1", "=!", "2"),
         code=2, names="'=!'", fragments=("is not an operator", "use one of"),
         command="buildkit apk vercmp --help"),
    Case(area="cli", name="unrecognized-option-names-the-verb", argv=("lock", "--bogus"), code=2,
         names="buildkit lock", fragments=("unrecognized arguments: --bogus",),
         command="buildkit lock --help"),
    Case(area="cli", name="lock-update-unknown-name", argv=("lock", "--update", "replayot"),
         code=2, names="frameworks/app.yaml", fragments=("--update replayot",
                                                          "did you mean: replayout"),
         command="buildkit -C {root} lock --update replayout"),
    Case(area="cli", name="build-unknown-framework", argv=("build", "ap"), code=2,
         names="{root}/frameworks", fragments=("unknown framework 'ap'", "known: app"),
         command="buildkit -C {root} build app"),
    Case(area="cli", name="build-unknown-arch", argv=("build", "--arch", "sparc"), code=2,
         names="'sparc'", fragments=("unknown architecture", "use one of x86_64, aarch64"),
         command="buildkit -C {root} build --help"),
    Case(area="cli", name="build-framework-not-built-for-arch", code=2,
         argv=("build", "--arch", "arm64", "app"), names="frameworks/app.yaml",
         fragments=("framework app is not built for aarch64",),
         command="nox -s build-amd64 -- app"),
    Case(area="cli", name="env-source-date-epoch", setup=_env(BUILDKIT_SOURCE_DATE_EPOCH="soon"),
         argv=("lock",), code=2, names="BUILDKIT_SOURCE_DATE_EPOCH", fragments=("not 'soon'",),
         command="unset BUILDKIT_SOURCE_DATE_EPOCH"),
    Case(area="cli", name="env-engine", setup=_env(BUILDKIT_ENGINE="rkt"), argv=("build",),
         code=2, names="BUILDKIT_ENGINE", fragments=("tools.engine must be",),
         command="unset BUILDKIT_ENGINE"),
    Case(area="cli", name="build-unpinned-image", setup=_env(BUILDKIT_APKO_IMAGE="foo:latest"),
         argv=("build",), code=1, names="BUILDKIT_APKO_IMAGE",
         fragments=("image foo:latest is not pinned by digest", "tools.allow_unpinned = true"),
         command="nox -s doctor"),
    # framework configs (apko): file:line, then lock that framework again
    Case(area="framework", name="framework-atom-bad-operator", setup=_framework("replayout=!1"),
         argv=("lock",), code=2, names="frameworks/app.yaml:7",
         fragments=("contents.packages[0]: invalid dependency 'replayout=!1': invalid version "
                    "'!1'",), command=LOCK),
    Case(area="framework", name="framework-atom-invalid-version",
         setup=_framework("replayout>=1..2"), argv=("lock",), code=2,
         names="frameworks/app.yaml:7", fragments=("invalid version '1..2'",), command=LOCK),
    Case(area="framework", name="framework-empty-package-entry",
         setup=_framework("replayout\n    -"), argv=("lock",), code=2,
         names="frameworks/app.yaml:8", fragments=("contents.packages[1]", "the name is empty"),
         command=LOCK),
    Case(area="framework", name="lock-unknown-package", setup=_framework("replayot"),
         argv=("lock",), code=2, names="frameworks/app.yaml (framework app, arch x86_64)",
         fragments=("nothing provides replayot", "did you mean: replayout"), command=LOCK),
    Case(area="framework", name="lock-unsatisfiable", setup=_framework("replayout>2"),
         argv=("lock",), code=2, names="frameworks/app.yaml (framework app, arch x86_64)",
         fragments=("nothing provides replayout>2", "available: replayout 1.0.0-r0",
                    "edit frameworks/app.yaml, then"), command=LOCK),
    Case(area="framework", name="lock-malformed-yaml", argv=("lock",), code=2,
         setup=_write("frameworks/app.yaml", "contents:\n  x: [a\n"),
         names="frameworks/app.yaml:3", fragments=("invalid YAML", "edit frameworks/app.yaml:3"),
         command=LOCK),
    Case(area="framework", name="lock-unknown-config-key", argv=("lock",), code=2,
         setup=_write("frameworks/app.yaml", "contents:\n  repository: [./repo]\n"),
         names="frameworks/app.yaml:2",
         fragments=("unknown key contents.repository", "did you mean repositories?"),
         command=LOCK),
    Case(area="framework", name="build-default-frameworks-none-locked", setup=_unlock,
         argv=("build",), code=1, names="lockfiles/app.lock.json",
         fragments=("framework app has no lockfile",), command=LOCK),
    # package configs (melange): refused before melange runs (NoContainers fails the test)
    Case(area="package", name="melange-unknown-top-level-key", argv=("lock",), code=2,
         setup=_melange("pipeline:", "pipelines:"), names="packages/hello.yaml:13",
         fragments=("unknown key pipelines", "did you mean pipeline?"), command=LOCK),
    Case(area="package", name="melange-unknown-environment-key", argv=("lock",), code=2,
         setup=_melange("    packages:\n", "    package:\n"), names="packages/hello.yaml:11",
         fragments=("unknown key environment.contents.package", "did you mean packages?"),
         command=LOCK),
    Case(area="package", name="melange-wrong-type", argv=("lock",), code=2,
         setup=_melange("  - runs: echo hi", "  runs: echo hi"), names="packages/hello.yaml:14",
         fragments=("pipeline must be a list, not a mapping", "edit packages/hello.yaml:14"),
         command=LOCK),
    Case(area="package", name="melange-unknown-pipeline", argv=("lock",), code=2,
         setup=_melange("  - runs: echo hi", "  - uses: git-chekout"),
         names="packages/hello.yaml:14",
         fragments=("pipeline[0].uses: melange v0.59.2 has no pipeline 'git-chekout'",
                    "did you mean git-checkout"), command=LOCK),
    Case(area="package", name="melange-fetch-without-checksum", argv=("lock",), code=2,
         setup=_melange("  - runs: echo hi", "  - uses: fetch\n    with:\n      uri: http://x/a.tgz"),
         names="packages/hello.yaml:14",
         fragments=("pipeline[0]: fetch without an expected checksum", "expected-sha256"),
         command=LOCK),
    Case(area="package", name="melange-environment-package-typo", argv=("lock",), code=2,
         setup=_melange("      - replayout\n", "      - replayot\n"),
         names="packages/hello.yaml:12",
         fragments=("environment.contents.packages: nothing provides replayot",
                    "did you mean: replayout"), command=LOCK),
    Case(area="package", name="melange-yaml-syntax", argv=("lock",), code=2,
         setup=_melange("  - runs: echo hi", "  - runs: [echo"), names="packages/hello.yaml:15",
         fragments=("invalid YAML", "edit packages/hello.yaml:15, then"), command=LOCK),
    # keys: signing keys, keyrings
    Case(area="keys", name="keygen-existing-key", setup=_existing_key, argv=("keygen",), code=2,
         names="keys/buildkit.rsa", fragments=("key file already exists",),
         command="nox -s keygen -- buildkit-2"),
    Case(area="keys", name="keygen-keys-is-a-file", setup=_keys_file, argv=("keygen",), code=1,
         names="keys/buildkit.rsa",
         fragments=("cannot write", "is a file where a folder is needed"),
         command="buildkit -C {root} keygen"),
    Case(area="keys", name="keygen-invalid-name", argv=("keygen", "../evil"), code=2,
         names="'../evil'", fragments=("invalid key name",),
         command="buildkit -C {root} keygen evil"),
    Case(area="keys", name="lock-local-package-without-signing-key", argv=("lock",), code=2,
         setup=_melange("epoch: 0", "epoch: 0"), names="keys/buildkit.rsa",
         fragments=("the project signing key is missing",), command="nox -s keygen"),
    Case(area="keys", name="lock-binary-keyring-file", argv=("lock",), code=2,
         setup=_write("repo/melange.rsa.pub", b"\x30\x82\xff\xfe"), names="repo/melange.rsa.pub",
         fragments=("not a PEM public key",), command=LOCK),
    Case(area="keys", name="lock-missing-keyring-file", argv=("lock",), code=2,
         setup=_write("frameworks/app.yaml", FRAMEWORK.format(package="replayout").replace(
             "melange.rsa.pub", "nobody.rsa.pub")), names="repo/nobody.rsa.pub",
         fragments=("cannot read",), command=LOCK),
    Case(area="keys", name="lock-tampered-index", setup=_tamper_index, argv=("lock",), code=2,
         names="repo/x86_64/APKINDEX.tar.gz",
         fragments=("signature check failed", "does not match the signed bytes"), command=LOCK),
    Case(area="keys", name="lock-unsigned-index", setup=_unsign_index, argv=("lock",), code=2,
         names="repo/x86_64/APKINDEX.tar.gz",
         fragments=("signature check failed: the index is not signed",), command=LOCK),
    # registry: publishing to it
    Case(area="registry", name="publish-registry-is-not-a-host", code=2,
         argv=("publish", "--registry", "myreg"), names="--registry",
         fragments=("invalid image reference", "Docker Hub namespace"),
         command="buildkit -C {root} publish --registry 127.0.0.1:5000"),
    Case(area="registry", name="publish-bad-repository", code=2,
         argv=("publish", "--dry-run", "--repository", "Team/App"), names="--repository",
         fragments=("invalid image reference",), command="buildkit -C {root} publish --help"),
    Case(area="registry", name="publish-bad-tag", code=2,
         argv=("publish", "--dry-run", "--tag", "no spaces"), names="--tag",
         fragments=("invalid image reference",), command="buildkit -C {root} publish --help"),
    Case(area="registry", name="publish-missing-record", argv=("publish", "--dry-run"), code=1,
         names="dist/app/x86_64.json", fragments=("no build record for app on x86_64",),
         command="nox -s build-amd64 -- app"),
    Case(area="registry", name="publish-missing-lockfile", setup=_unlock,
         argv=("publish", "--dry-run", "app"), code=1, names="lockfiles/app.lock.json",
         fragments=("framework app has no lockfile",), command=LOCK),
    Case(area="registry", name="publish-stale-lockfile", setup=_stale, code=1,
         argv=("publish", "--dry-run"), names="lockfiles/app.lock.json",
         fragments=("the lockfile is stale",), command=LOCK),
    # lockfiles
    Case(area="lockfile", name="build-missing-lockfile", setup=_unlock, argv=("build", "app"),
         code=1, names="lockfiles/app.lock.json", fragments=("framework app has no lockfile",),
         command=LOCK),
    Case(area="lockfile", name="verify-missing-lockfile", setup=_unlock, argv=("verify", "app"),
         code=1, names="lockfiles/app.lock.json", fragments=("framework app has no lockfile",),
         command=LOCK),
    Case(area="lockfile", name="lock-check-missing-lockfile", setup=_unlock,
         argv=("lock", "--check"), code=1, names="lockfiles/app.lock.json",
         fragments=("framework app has no lockfile",), command=LOCK),
    Case(area="lockfile", name="lock-check-stale-lockfile", argv=("lock", "--check"),
         setup=_framework("pretend-baselayout"), code=1, names="app.lock.json",
         fragments=("1 lockfile(s) out of date",), command=LOCK),
    Case(area="lockfile", name="build-malformed-lockfile", argv=("build",), code=2,
         setup=_write("lockfiles/app.lock.json", "{\n"), names="lockfiles/app.lock.json:2",
         fragments=("invalid JSON",), command=LOCK),
    Case(area="lockfile", name="build-hand-edited-lockfile", setup=_hand_edited_version,
         argv=("build",), code=2, names="lockfiles/app.lock.json",
         fragments=("contents.packages[0] (pretend-baselayout 9.9-r0, x86_64)",
                    "lists checksum"), command=LOCK),
    Case(area="lockfile", name="build-stale-lockfile", setup=_stale, argv=("build",), code=1,
         names="lockfiles/app.lock.json",
         fragments=("the lockfile is stale: frameworks/app.yaml changed",), command=LOCK),
    # buildkit.toml
    Case(area="project", name="toml-syntax-error-names-the-line", argv=("lock",), code=2,
         setup=_write("buildkit.toml", '[project]\narchs = ["x86_64"\n'),
         names="{root}/buildkit.toml:2", fragments=("invalid TOML",),
         command="buildkit -C {root} lock"),
    Case(area="project", name="toml-not-utf8", argv=("lock",), code=2,
         setup=_write("buildkit.toml", b"\xff\xfe[project]\n"), names="{root}/buildkit.toml",
         fragments=("not UTF-8 text",),
         command="buildkit -C {root} lock"),
    Case(area="project", name="toml-unknown-key", argv=("lock",), code=2,
         setup=_write("buildkit.toml", '[project]\narch = ["x86_64"]\n'),
         names="{root}/buildkit.toml",
         fragments=("unknown key project.arch", "did you mean archs?"),
         command="buildkit -C {root} lock"),
    Case(area="project", name="toml-negative-source-date-epoch", argv=("lock",), code=2,
         setup=_write("buildkit.toml", "[project]\nsource_date_epoch = -5\n"),
         names="{root}/buildkit.toml", fragments=("project.source_date_epoch must be whole "
                                                  "seconds",),
         command="buildkit -C {root} lock"),
    Case(area="project", name="toml-boolean-source-date-epoch", argv=("lock",), code=2,
         setup=_write("buildkit.toml", "[project]\nsource_date_epoch = true\n"),
         names="{root}/buildkit.toml", fragments=("not True",),
         command="buildkit -C {root} lock"),
    Case(area="project", name="toml-is-a-folder", setup=_mkdir("buildkit.toml"), argv=("lock",),
         code=2, names="{root}/buildkit.toml", fragments=("cannot read",),
         command="buildkit -C {root} lock"),
    Case(area="project", name="build-dist-is-a-file", setup=_write("dist", "not a folder"),
         argv=("build",), code=1, names="{root}/dist/tmp", fragments=("Not a directory",),
         command="buildkit -C {root} build"),
    # repositories and their files
    Case(area="repository", name="index-malformed-line", setup=_malformed_index, code=2,
         argv=("apk", "show", "--allow-untrusted", "bad/APKINDEX.tar.gz"),
         names="bad/APKINDEX.tar.gz:APKINDEX:4", fragments=("is not 'X:value'",),
         command="buildkit apk index bad --signing-key keys/buildkit.rsa"),
    Case(area="repository", name="index-refuses-a-truncated-apk", code=2,
         setup=_index_folder_with_truncated_apk,
         argv=("apk", "index", "incoming", "--signing-key", "keys/index.rsa"),
         names=f"incoming/{APK}", fragments=("truncated",), absent=("incoming/APKINDEX.tar.gz",),
         command="buildkit -C {root} apk index incoming --signing-key keys/index.rsa"),
    Case(area="repository", name="lock-unreachable-repository", argv=("lock",), code=1,
         setup=_write("frameworks/app.yaml", FRAMEWORK.format(package="replayout").replace(
             "./repo\n  packages", "http://127.0.0.1:9/os\n  packages")),
         names="http://127.0.0.1:9/os/x86_64/APKINDEX.tar.gz",
         fragments=("cannot fetch", "gave up after 4 attempts"), command=LOCK),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_bad_input_is_one_line_a_nonzero_exit_and_nothing_written(
    project: Project, case: Case
) -> None:
    case.setup(project)
    before = project.snapshot()
    done = project.run(*case.argv)
    assert done.code == case.code, done.err
    line = done.error_line
    root = str(project.root)
    command = f"`{case.command.replace('{root}', root)}`"
    names = case.names.replace("{root}", root)
    assert names in line, line
    assert command in line, line
    assert line.index(names) < line.index(command), line  # what and where, then what to do
    for fragment in case.fragments:
        assert fragment.replace("{root}", root) in line, line
    assert project.snapshot() == before
    for name in case.absent:
        assert not project.path(name).exists()


def test_the_table_has_30_distinct_mistakes_in_every_area() -> None:
    assert len(CASES) >= 30
    assert {case.area for case in CASES} == set(AREAS)
    assert {"framework", "package", "keys", "cli", "registry"} <= set(AREAS)
    assert len({case.name for case in CASES}) == len(CASES)
    assert len({(case.argv, case.names, case.fragments) for case in CASES}) == len(CASES)


# --------------------------------------------------------------------------------------------
# docs/reference.md lists this table once, as generated here

REFERENCE = Path(__file__).resolve().parents[2] / "docs" / "reference.md"
BEGIN = "<!-- messages: generated by `python -m tests.unit.test_bad_input_cli` -->"
END = "<!-- end of messages -->"


def _span(text: str) -> str:
    return "`" + text.replace("{root}", "<project>").replace("|", "\\|") + "`"


def reference_table() -> str:
    """The reference's messages table: area, case, exit status, then what the one line says
    in order (what it names, the rest, the command), from this module's CASES."""
    lines = [
        BEGIN,
        "",
        "| area | case | exit | the line says, in this order |",
        "|---|---|---|---|",
    ]
    for case in sorted(CASES, key=lambda c: (AREAS.index(c.area), c.name)):
        said = " … ".join(_span(part) for part in (case.names, *case.fragments))
        lines.append(
            f"| {case.area} | {case.name} | {case.code} | {said} … run {_span(case.command)} |"
        )
    return "\n".join([*lines, "", END])


def test_the_reference_lists_every_row_of_this_table() -> None:
    text = REFERENCE.read_text()
    assert BEGIN in text, f"docs/reference.md lacks {BEGIN}"
    found = text[text.index(BEGIN) : text.index(END) + len(END)]
    assert found == reference_table(), (
        "docs/reference.md's messages table is out of date: replace it with the output of "
        "`python -m tests.unit.test_bad_input_cli`"
    )


@pytest.mark.parametrize(
    "command",
    sorted({c.command for c in CASES if c.command.startswith(("nox ", "buildkit "))}),
)
def test_a_command_a_message_names_parses(command: str, monkeypatch: pytest.MonkeyPatch) -> None:
    check_command(command.replace("{root}", "."), monkeypatch)


def test_the_melange_rows_guard_would_catch_a_container_start(project: Project) -> None:
    """The package rows pass because their configs are refused first: the same project with
    a valid config goes on to melange, which the guard turns into a failure."""
    _melange("epoch: 0", "epoch: 0")(project)
    generate_keypair(project.path("keys/buildkit.rsa"), bits=1024)
    with pytest.raises(AssertionError, match=r"started.* before the config was checked"):
        project.run("lock")


def test_a_project_folder_that_does_not_exist_is_one_line(project: Project, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    project.capsys.readouterr()
    code = main(["-C", str(missing), "lock"])
    err = project.capsys.readouterr().err
    assert code == 2
    assert err == (
        f"buildkit: error: {missing}: the project folder does not exist (run `buildkit` in the "
        "folder with buildkit.toml, or name it with `-C DIR`)\n"
    )


def test_a_truncated_apk_names_the_byte_its_data_member_starts_at(project: Project) -> None:
    whole = project.path(f"repo/x86_64/{APK}").read_bytes()
    start = read_layout(whole, where=APK).data.start
    _truncate_apk(project)
    done = project.run("apk", "verify", "--keyring", "repo", f"repo/x86_64/{APK}")
    assert done.code == 2
    assert f"truncated gzip member starting at byte {start}" in done.error_line


# --------------------------------------------------------------------------------------------
# A pull that fails: the engine's reason, not its quoting of the reference

ZEROS = "sha256:" + "0" * 64
# What podman 4.3 prints; {ref} is the reference pulled. The first is over 300 characters.
PODMAN_QUOTING = (
    'Error response from daemon: normalizing image: normalizing name "{ref}" (orig: "{ref}") '
    "for compat API: invalid reference format: repository name must be lowercase"
)
PODMAN_UNKNOWN = (
    "initializing source docker://{ref}: reading manifest sha256:... in 127.0.0.1:5000/t/apko: "
    "manifest unknown: manifest unknown"
)


@pytest.mark.parametrize(
    ("stderr", "reason"),
    [
        (
            PODMAN_QUOTING,
            "for compat API: invalid reference format: repository name must be lowercase",
        ),
        (PODMAN_UNKNOWN, "manifest unknown: manifest unknown"),
        ("x" * 400 + ": connection refused", "x: connection refused"),
    ],
)
def test_a_failed_pull_keeps_the_engines_reason(stderr: str, reason: str) -> None:
    ref = f"127.0.0.1:5000/t/apko@{ZEROS}"

    def runner(argv: Sequence[str], **_: Any) -> Completed:
        return Completed(argv=tuple(argv), returncode=125, stderr=stderr.format(ref=ref) + "\n")

    engine = Engine(name="podman", binary="podman", version="4.3.1", runner=runner)
    with pytest.raises(ToolchainError) as caught:
        engine.ensure_image(parse_image_ref(ref))
    message = caught.value.message
    assert message.startswith(f"cannot pull {ref}: ")
    assert message.endswith(reason)
    assert len(message) <= len(f"cannot pull {ref}: ") + 300  # the reason is kept short


def test_an_uppercase_path_component_is_refused_before_the_engine_sees_it() -> None:
    with pytest.raises(ConfigError, match="bad repository name 'Team/x'"):
        parse_image_ref(f"Team/x@{ZEROS}")


# --------------------------------------------------------------------------------------------
# A failing tool: the log's tail, then the one line naming the action


@dataclass
class FailingApko:
    """Stands in for the toolchain: apko writes a log and exits 1, as Engine.run reports it."""

    calls: list[str] = field(default_factory=list)

    def apko_build(self, job: ApkoBuild, *, log: Path, source_date_epoch: int, **_: Any) -> None:
        self.calls.append(job.arch)
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(
            "$ docker run --rm -v /very/long:/mounts " + "-e X=1 " * 100 + "apko build\n"
            + "".join(f"apko line {n}\n" for n in range(40))
            + "Error: bad path\n"
        )  # fmt: skip
        raise ToolFailedError(
            "apko build failed with exit status 1",
            where=str(log),
            returncode=1,
            log=str(log),
            tail=tail(log),
        )

    def melange_build(self, job: MelangeBuild, *, log: Path, **_: Any) -> None:
        raise AssertionError("no local packages in this project")


class NoContainers:
    """A toolchain that fails the test if anything would start a container."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"a container was started ({name}) before the config was checked")


def test_a_failing_tool_is_one_line_then_its_last_meaningful_lines_then_the_log(
    project: Project,
) -> None:
    fake = FailingApko()
    project.monkeypatch.setattr(build_context, "default_tools", lambda _project: fake)
    before = project.snapshot()
    done = project.run("build")
    assert done.code == 1
    assert fake.calls == ["x86_64"]
    log = project.path("dist/logs/apko-app-x86_64.log")
    assert done.err.splitlines()[-3:] == [  # after the progress line "FAIL apko app x86_64"
        "buildkit: error: apko app x86_64: apko build failed with exit status 1",
        "  Error: bad path",
        f"  log: {log}",
    ]
    assert "docker run" not in done.err  # the command line stays in the log
    assert log.read_text().startswith("$ docker run")
    assert project.snapshot() == before


# --------------------------------------------------------------------------------------------
# nox sessions: the same one line, then the session fails (no traceback, no abrupt exit)


@dataclass
class FakeSession:
    posargs: list[str]
    name: str = "lock"
    errors: list[str] = field(default_factory=list)

    def error(self, message: str) -> None:
        self.errors.append(message)
        raise _SessionFailedError(message)


class _SessionFailedError(Exception):
    pass


@pytest.mark.parametrize(
    ("posargs", "line"),
    [
        (
            ["--bogus"],
            "buildkit lock: unrecognized arguments: --bogus (see `buildkit lock --help`)",
        ),
        (["--update"], "buildkit lock: argument --update: expected at least one argument"),
        (["--update", "replayot"], "--update replayot: no locked or requested package"),
    ],
)
def test_a_nox_session_shows_one_line_and_fails(
    project: Project, posargs: list[str], line: str
) -> None:
    project.monkeypatch.chdir(project.root)
    session = FakeSession(posargs=posargs)
    project.capsys.readouterr()
    with pytest.raises(_SessionFailedError):
        sessions.lock.func(session)
    err = project.capsys.readouterr().err
    assert [n for n in err.splitlines() if n.startswith("buildkit: error:")] == [
        next(n for n in err.splitlines() if line in n)
    ]
    assert "Traceback" not in err
    assert session.errors == ["buildkit lock failed (exit 2)"]


def test_nox_session_help_is_not_a_failure(project: Project) -> None:
    project.monkeypatch.chdir(project.root)
    session = FakeSession(posargs=["--help"])
    sessions.lock.func(session)
    assert session.errors == []
    assert "--update" in project.capsys.readouterr().out


if __name__ == "__main__":
    print(reference_table())
