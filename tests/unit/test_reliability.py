"""The reliability audit as a table: every bad input, its command, its exit code, its message.

Each row applies one bad input to a copy of a small locked and built project (see
tests/helpers/reliability.py) and runs the real command line on it. The rule for every row:
the documented exit status, exactly one error line matching the row's pattern (the last
line on stderr, no traceback), and nothing half-written: lockfiles, keys, configs, the local
repository and every record, object and scratch file in ``dist/`` as they were. No row may
start a container (``NoContainers`` fails it), except the rows that build with ``FakeApko``.

Areas: the command line, buildkit.toml, environment variables, framework (apko) configs,
lockfiles, keys, package (melange) configs, caches and the store, registry settings, and the
``apk`` verbs. Issue 17's table (tests/unit/test_bad_input_cli.py) is not repeated here.
"""

from __future__ import annotations

import copy
import gzip
import json
import os
import re
import shutil
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from buildkit import repo as repo_module
from buildkit.apk.keys import generate_keypair
from buildkit.usecases import build_context
from tests.helpers.reliability import (
    FRAMEWORK,
    LOCKFILE,
    RECORD,
    TOML,
    FakeApko,
    NoContainers,
    Project,
    Setup,
    isolate,
    make_template,
    writable,
)

ZEROS = "0" * 64
APK = "repo/x86_64/replayout-1.0.0-r0.apk"
APP = "frameworks/app.yaml"
LOCAL = FRAMEWORK.replace("    - ./repo\n", "    - ./repo\n    - '@local ./packages'\n").replace(
    "    - {package}\n", "    - {package}\n    - hello@local\n"
)
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


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_template(tmp_path_factory.mktemp("template"), tmp_path_factory.mktemp("cache"))


@pytest.fixture
def project(
    template: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> Project:
    root = tmp_path / "project"
    shutil.copytree(template, root, symlinks=True)
    isolate(monkeypatch, tmp_path / "cache")
    # Unreachable hosts are retried; the waits between tries are not what is tested here.
    fast = repo_module.RetryPolicy(attempts=2, backoff=0.0, timeout=5.0)
    monkeypatch.setattr(repo_module, "RetryPolicy", lambda: fast)
    return Project(root=root, cache=tmp_path / "cache", capsys=capsys, monkeypatch=monkeypatch)


# --------------------------------------------------------------------------------------------
# Bad inputs, as setups: small functions of the project


def _nothing(project: Project) -> None:
    pass


def write(name: str, data: str | bytes) -> Setup:
    def setup(project: Project) -> None:
        project.write(name, data)

    return setup


def toml(text: str) -> Setup:
    """buildkit.toml with the template's [project] table, then ``text``."""
    return write("buildkit.toml", '[project]\narchs = ["x86_64"]\nframeworks = ["app"]\n' + text)


def framework(text: str) -> Setup:
    return write(APP, text)


def app(package: str = "replayout", old: str = "", new: str = "") -> Setup:
    """The framework requesting ``package``, with ``old`` replaced by ``new``."""
    return write(APP, app_text(package, old, new))


def env(**values: str) -> Setup:
    def setup(project: Project) -> None:
        for name, value in values.items():
            project.monkeypatch.setenv(name, value)

    return setup


def remove(name: str) -> Setup:
    def setup(project: Project) -> None:
        path = project.path(name)
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()

    return setup


def mkdir(name: str) -> Setup:
    def setup(project: Project) -> None:
        path = project.path(name)
        if path.is_file():
            path.unlink()
        path.mkdir(parents=True, exist_ok=True)

    return setup


def chain(*setups: Setup) -> Setup:
    def setup(project: Project) -> None:
        for each in setups:
            each(project)

    return setup


def edit_lock(change: Callable[[dict[str, Any]], None]) -> Setup:
    """The lockfile as JSON, changed by hand."""

    def setup(project: Project) -> None:
        lock = copy.deepcopy(project.read_json(LOCKFILE))
        change(lock)
        project.write(LOCKFILE, json.dumps(lock, indent=2) + "\n")

    return setup


def at(*path: str | int, value: Any) -> Callable[[dict[str, Any]], None]:
    """Set (or, with ``value=DELETE``, remove) the item at ``path``."""

    def change(data: dict[str, Any]) -> None:
        node: Any = data
        for key in path[:-1]:
            node = node[key]
        if value is DELETE:
            del node[path[-1]]
        else:
            node[path[-1]] = value

    return change


DELETE = object()


def package(index: int, key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    return at("contents", "packages", index, key, value=value)


def edit_record(change: Callable[[dict[str, Any]], None], name: str = RECORD) -> Setup:
    def setup(project: Project) -> None:
        record = project.read_json(name)
        change(record)
        project.write(name, json.dumps(record, indent=2) + "\n")

    return setup


def damage_output(which: str, how: str = "flip") -> Setup:
    """Damage a store object the build record names: flip a byte, truncate or remove it."""

    def setup(project: Project) -> None:
        outputs = project.record()["outputs"]
        named = outputs["tarball"] if which == "tarball" else outputs["sboms"][which]
        digest = named["digest"]
        path = project.blob(digest)
        if how == "remove":
            path.unlink()
            return
        with writable(path):
            data = path.read_bytes()
            if how == "flip":
                middle = len(data) // 2
                data = data[:middle] + bytes([data[middle] ^ 1]) + data[middle + 1 :]
            else:
                data = data[: len(data) // 2]
            path.write_bytes(data)

    return setup


def melange(old: str = "", new: str = "", *, name: str = "packages/hello.yaml") -> Setup:
    """A local package config (with one mistake), requested by the framework."""

    def setup(project: Project) -> None:
        assert old in MELANGE
        project.write(name, MELANGE.replace(old, new, 1) if old else MELANGE)
        project.write(APP, LOCAL.format(package="replayout"))

    return setup


def cycle(project: Project) -> None:
    """Two local packages that need each other to build."""
    for this, other in (("a", "b"), ("b", "a")):
        text = MELANGE.replace("name: hello", f"name: {this}").replace(
            "      - replayout\n", f"      - replayout\n      - {other}\n"
        )
        text = text.replace("      - ./repo\n", "      - ./repo\n      - '@local ./packages'\n")
        project.write(f"packages/{this}.yaml", text)
    project.write(APP, LOCAL.format(package="replayout").replace("hello@local", "a@local"))


def other_key(name: str) -> Setup:
    """A fresh key pair's public half written to ``name``."""

    def setup(project: Project) -> None:
        _private, public = generate_keypair(project.cache / "other" / "other.rsa", bits=1024)
        project.write(name, public.read_bytes())

    return setup


def public_key_as_private(project: Project) -> None:
    project.write("keys/buildkit.rsa", project.path("keys/buildkit.rsa.pub").read_bytes())


def flip(name: str, offset: int) -> Setup:
    def setup(project: Project) -> None:
        path = project.path(name)
        data = path.read_bytes()
        path.write_bytes(data[:offset] + bytes([data[offset] ^ 1]) + data[offset + 1 :])

    return setup


def copy_file(source: str, target: str) -> Setup:
    def setup(project: Project) -> None:
        project.write(target, project.path(source).read_bytes())

    return setup


def symlink(name: str, target: str) -> Setup:
    def setup(project: Project) -> None:
        path = project.path(name)
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.symlink_to(target)

    return setup


def swap_identities(lock: dict[str, Any]) -> None:
    """The first package claims the second one's identity."""
    packages = lock["contents"]["packages"]
    packages[0]["checksum"] = packages[1]["checksum"]


def app_text(package: str = "replayout", old: str = "", new: str = "") -> str:
    text = FRAMEWORK.format(package=package)
    assert old in text
    return text.replace(old, new, 1) if old else text


def pack(folder: str, name: str, version: str, arch: str) -> tuple[str, ...]:
    return ("apk", "pack", folder, "--name", name, "--version", version, "--arch", arch,
            "--signing-key", "keys/buildkit.rsa")  # fmt: skip


def cache_at(name: str) -> Setup:
    def setup(project: Project) -> None:
        project.monkeypatch.setenv("BUILDKIT_CACHE", str(project.path(name)))

    return setup


def outside(name: str, text: str) -> Setup:
    """A file beside the project folder, not in it."""

    def setup(project: Project) -> None:
        (project.root.parent / name).write_text(text)

    return setup


def duplicate_first(lock: dict[str, Any]) -> None:
    lock["contents"]["packages"].append(lock["contents"]["packages"][0])


def move_to_aarch64(lock: dict[str, Any]) -> None:
    for entry in lock["contents"]["packages"]:
        entry["architecture"] = "aarch64"


def other_key_in_lock(project: Project) -> None:
    """The lockfile's keyring entry holds another key than the file the config names."""
    _private, public = generate_keypair(project.cache / "other" / "other.rsa", bits=1024)
    lock = project.read_json(LOCKFILE)
    lock["contents"]["keyring"][0]["content"] = public.read_text()
    project.write(LOCKFILE, json.dumps(lock, indent=2) + "\n")


def fifo(name: str) -> Setup:
    """A named pipe where a file should be: nothing ever writes to it."""

    def setup(project: Project) -> None:
        path = project.path(name)
        path.unlink(missing_ok=True)
        os.mkfifo(path)

    return setup


def pad(name: str, size: int) -> Setup:
    """The file as it is, then ``size`` bytes of trailing spaces (still valid JSON/YAML)."""

    def setup(project: Project) -> None:
        with project.path(name).open("ab") as file:
            file.write(b" " * size)

    return setup


def nested(depth: int, opening: str, closing: str, middle: str = "") -> str:
    """``[[[...]]]`` or ``{"a":{"a":...}}``: JSON nested ``depth`` levels deep."""
    return opening * depth + middle + closing * depth


# A framework and a package config whose one bad byte (Latin-1 'é') sits past the first line.
LATIN1_FRAMEWORK = FRAMEWORK.format(package="replayout").replace("archs", "# café\narchs")
LATIN1_MELANGE = MELANGE.replace("  epoch: 0\n", "  epoch: 0\n  description: café\n")
INCLUDE_OUTSIDE = "include: ../outside.yaml\n" + FRAMEWORK.format(package="replayout")
EDITED = app(old="archs", new="# edited\narchs")  # a new config checksum: lock reads it all
INDEX = "repo/x86_64/APKINDEX.tar.gz"
GARBAGE_PEM = "-----BEGIN PUBLIC KEY-----\nabc\n-----END PUBLIC KEY-----\n"
# Each level repeats the one before nine times: 9**5 nodes if anything expanded it.
ALIAS_BOMB = "a: &a [x,x,x,x,x,x,x,x,x]\n" + "".join(
    f"{this}: &{this} [{', '.join([f'*{before}'] * 9)}]\n"
    for before, this in zip("abcd", "bcde", strict=True)
)
AREAS = (
    "cli",
    "toml",
    "env",
    "framework",
    "lockfile",
    "keys",
    "packages",
    "cache",
    "registry",
    "apk",
)


# --------------------------------------------------------------------------------------------
# The table


@dataclass(frozen=True, kw_only=True)
class Row:
    name: str
    area: str
    argv: tuple[str, ...]
    code: int
    message: str  # a regular expression searched in the error line; {root}: the project
    setup: Setup = _nothing
    fake_apko: bool = False  # build with FakeApko; otherwise no container may start


def row(
    area: str,
    name: str,
    argv: tuple[str, ...],
    code: int,
    message: str,
    setup: Setup = _nothing,
    *,
    fake_apko: bool = False,
) -> Row:
    return Row(
        name=name,
        area=area,
        argv=argv,
        code=code,
        message=message,
        setup=setup,
        fake_apko=fake_apko,
    )


LOCK = ("lock",)
BUILD = ("build",)
DRY = ("publish", "--dry-run")
SIGNED_APK = f"{APK}"
BAD_YAML_BYTES = b"contents:\n  packages: [\xff\xfe]\n"

ROWS = [
    # ---- the command line: argparse's usage errors (exit 2) and checked values
    row("cli", "unknown-verb", ("frobnicate",), 2, r"invalid choice: 'frobnicate'"),
    row("cli", "lock-semantics-unknown", ("lock", "--semantics", "bogus"), 2,
        r"--semantics: invalid choice: 'bogus'"),
    row("cli", "build-jobs-not-a-number", ("build", "-j", "abc"), 2,
        r"-j/--jobs: (invalid int value|expected a whole number, not)"),
    row("cli", "build-unknown-arch", ("build", "--arch", "sparc"), 2,
        r"unknown architecture 'sparc' \(use one of x86_64, aarch64"),
    row("cli", "verify-unknown-arch", ("verify", "--arch", "mips"), 2,
        r"unknown architecture 'mips'"),
    row("cli", "show-unknown-arch", ("show", "--arch", "sparc", "app"), 2,
        r"unknown architecture 'sparc'"),
    row("cli", "resolve-unknown-arch", ("resolve", "--arch", "sparc", APP), 2,
        r"unknown architecture 'sparc'"),
    row("cli", "scan-unknown-format", ("scan", "--format", "xml"), 2,
        r"--format: invalid choice: 'xml'"),
    row("cli", "scan-unknown-fail-on", ("scan", "--fail-on", "sometimes"), 2,
        r"--fail-on: invalid choice: 'sometimes'"),
    row("cli", "show-without-framework", ("show",), 2,
        r"the following arguments are required: FRAMEWORK"),
    row("cli", "show-unknown-framework", ("show", "nope"), 2,
        r"lockfiles/nope\.lock\.json: no lockfile for framework 'nope' \(run `nox -s lock -- nope`"
        r" first\)"),
    row("cli", "lock-update-without-names", ("lock", "--update"), 2,
        r"--update: expected at least one argument"),
    row("cli", "resolve-missing-config", ("resolve", "nope.yaml"), 2,
        r"{root}/nope\.yaml: config file nope\.yaml not found"),
    row("cli", "resolve-broken-yaml", ("resolve", "r.yaml"), 2, r"^r\.yaml:2: invalid YAML",
        write("r.yaml", "a: [b\n")),
    row("cli", "resolve-unknown-package", ("resolve", "r.yaml"), 2,
        r"r\.yaml \(framework r, arch x86_64\): nothing provides nopkg",
        write("r.yaml", FRAMEWORK.format(package="nopkg"))),
    row("cli", "keygen-name-with-path", ("keygen", "../../evil"), 2,
        r"invalid key name '\.\./\.\./evil' \(use a plain file name"),
    row("cli", "keygen-absolute-name", ("keygen", "/tmp/evil-key"), 2,
        r"invalid key name '/tmp/evil-key'"),
    row("cli", "scan-db-missing", ("scan", "--db", "nope.json"), 2,
        r"{root}/nope\.json: cannot read security database: No such file"),
    row("cli", "scan-ignore-file-missing", ("scan", "--ignore-file", "nope.toml"), 2,
        r"^nope\.toml: cannot read ignore file: No such file"),
    row("cli", "scan-ignore-file-broken", ("scan", "--ignore-file", "ig.toml"), 2,
        r"^ig\.toml: invalid ignore file: Expected ']]'", write("ig.toml", "[[x\n")),
    row("cli", "scan-sbom-missing", ("scan", "nope.json"), 2,
        r"^nope\.json: cannot read SBOM: No such file"),
    row("cli", "scan-sbom-not-spdx", ("scan", "s.json"), 2,
        r"^s\.json: not an SPDX JSON document \(no spdxVersion\)", write("s.json", "{}")),
    # ---- buildkit.toml
    row("toml", "unknown-table", LOCK, 2,
        r"{root}/buildkit\.toml: unknown table \[projekt\] \(did you mean project\?",
        write("buildkit.toml", "[projekt]\n")),
    row("toml", "project-not-a-table", LOCK, 2, r"buildkit\.toml: \[project\] must be a table",
        write("buildkit.toml", "project = 1\n")),
    row("toml", "publish-not-a-table", LOCK, 2, r"buildkit\.toml: \[publish\] must be a table",
        write("buildkit.toml", 'publish = "x"\n')),
    row("toml", "archs-a-string", LOCK, 2,
        r"buildkit\.toml: project\.archs must be a list of strings",
        write("buildkit.toml", '[project]\narchs = "x86_64"\n')),
    row("toml", "archs-a-number", LOCK, 2,
        r"buildkit\.toml: project\.archs must be a list of strings",
        write("buildkit.toml", "[project]\narchs = [1]\n")),
    row("toml", "archs-unknown", LOCK, 2, r"buildkit\.toml: unknown architecture 'sparc'",
        write("buildkit.toml", '[project]\narchs = ["sparc"]\n')),
    row("toml", "frameworks-a-string", LOCK, 2, r"project\.frameworks must be a list of strings",
        write("buildkit.toml", '[project]\nframeworks = "app"\n')),
    row("toml", "frameworks-unknown", BUILD, 2,
        r"{root}/frameworks: unknown framework 'nope' \(known: app",
        write("buildkit.toml", '[project]\narchs = ["x86_64"]\nframeworks = ["nope"]\n')),
    row("toml", "signing-key-empty", LOCK, 2, r"project\.signing_key must be a non-empty string",
        write("buildkit.toml", '[project]\nsigning_key = ""\n')),
    row("toml", "source-date-epoch-float", LOCK, 2,
        r"project\.source_date_epoch must be whole seconds since 1970 .*not 1\.5",
        write("buildkit.toml", "[project]\nsource_date_epoch = 1.5\n")),
    row("toml", "source-date-epoch-text", LOCK, 2,
        r"project\.source_date_epoch must be whole seconds .*not 'abc'",
        write("buildkit.toml", '[project]\nsource_date_epoch = "abc"\n')),
    row("toml", "duplicate-key", LOCK, 2,
        r"buildkit\.toml:3: invalid TOML: Cannot overwrite a value",
        write("buildkit.toml", '[project]\narchs=["x86_64"]\narchs=["aarch64"]\n')),
    row("toml", "binary-bytes", LOCK, 2, r"buildkit\.toml:1: invalid TOML",
        write("buildkit.toml", b"\x00\x01\x02")),
    row("toml", "engine-unknown", LOCK, 2,
        r"tools\.engine must be auto, docker or podman, not 'rkt'",
        toml('[tools]\nengine = "rkt"\n')),
    row("toml", "engine-a-number", LOCK, 2, r"tools\.engine must be a non-empty string",
        toml("[tools]\nengine = 3\n")),
    row("toml", "allow-unpinned-a-string", LOCK, 2, r"tools\.allow_unpinned must be true or false",
        toml('[tools]\nallow_unpinned = "yes"\n')),
    row("toml", "apko-a-number", LOCK, 2, r"tools\.apko must be a non-empty string",
        toml("[tools]\napko = 5\n")),
    row("toml", "apko-unpinned", BUILD, 1,
        r"image foo:latest is not pinned by digest \(pin it as foo@sha256:<digest>",
        chain(toml('[tools]\napko = "foo:latest"\n'), env(BUILDKIT_TAG="new"))),
    row("toml", "melange-uppercase-name", LOCK, 2, r"tools\.melange .*bad repository name 'Foo/m'",
        chain(toml(f'[tools]\nmelange = "Foo/m@sha256:{ZEROS}"\n'), melange())),
    row("toml", "tools-unknown-key", LOCK, 2, r"unknown key tools\.apk \(did you mean apko\?",
        toml('[tools]\napk = "x"\n')),
    row("toml", "tag-and-tags", LOCK, 2,
        r"\[publish\] has both tag and tags \(keep tags = \[\.\.\.\] only",
        toml('[publish]\ntag = "a"\ntags = ["b"]\n')),
    row("toml", "tags-empty", LOCK, 2, r"publish\.tags must be a non-empty list of tags",
        toml("[publish]\ntags = []\n")),
    row("toml", "arch-tags-a-string", LOCK, 2, r"publish\.arch_tags must be true or false",
        toml('[publish]\narch_tags = "no"\n')),
    row("toml", "signing-unknown", LOCK, 2,
        r"publish\.signing must be one of key, keyless, none, not 'gpg'",
        toml('[publish]\nsigning = "gpg"\n')),
    row("toml", "insecure-a-string", LOCK, 2, r"publish\.insecure must be a list of strings",
        toml('[publish]\ninsecure = "host"\n')),
    row("toml", "oidc-issuer-a-number", LOCK, 2,
        r"publish\.certificate_oidc_issuer must be a non-empty string",
        toml("[publish]\ncertificate_oidc_issuer = 1\n")),
    row("toml", "paths-a-number", LOCK, 2, r"paths\.dist must be a non-empty string",
        toml("[paths]\ndist = 3\n")),
    row("toml", "paths-empty", LOCK, 2, r"paths\.dist must be a non-empty string",
        toml('[paths]\ndist = ""\n')),
    row("toml", "paths-unknown-key", LOCK, 2, r"unknown key paths\.out \(known keys in \[paths\]",
        toml('[paths]\nout = "x"\n')),
    row("toml", "scan-databases-a-list", LOCK, 2, r"scan\.databases must be a table of strings",
        toml('[scan]\ndatabases = ["x"]\n')),
    row("toml", "scan-unknown-key", LOCK, 2, r"unknown key scan\.db", toml('[scan]\ndb = "x"\n')),
    row("toml", "scan-ignore-a-number", LOCK, 2, r"scan\.ignore must be a non-empty string",
        toml("[scan]\nignore = 1\n")),
    # ---- environment variables
    row("env", "signing", LOCK, 2,
        r"^environment \(BUILDKIT_SIGNING\): publish\.signing must be one of key, keyless, none, n"
        r"ot 'maybe'", env(BUILDKIT_SIGNING="maybe")),
    row("env", "source-date-epoch-negative", LOCK, 2,
        r"^environment \(BUILDKIT_SOURCE_DATE_EPOCH\): .*not '-1'",
        env(BUILDKIT_SOURCE_DATE_EPOCH="-1")),
    row("env", "source-date-epoch-fraction", LOCK, 2,
        r"^environment \(BUILDKIT_SOURCE_DATE_EPOCH\): .*not '1\.5'",
        env(BUILDKIT_SOURCE_DATE_EPOCH="1.5")),
    row("env", "engine-capitalised", LOCK, 2,
        r"^environment \(BUILDKIT_ENGINE\): tools\.engine must be auto, docker or podman, not 'Doc"
        r"ker'", env(BUILDKIT_ENGINE="Docker")),
    row("env", "melange-image-unpinned", LOCK, 1,
        r"tools\.melange .*image m:latest is not pinned by digest",
        chain(env(BUILDKIT_MELANGE_IMAGE="m:latest"), melange())),
    row("env", "apko-image-short-digest", BUILD, 2,
        r"BUILDKIT_APKO_IMAGE: invalid image reference 'r/apko@sha256:abc': bad digest 'sha256:abc"
        r"'", env(BUILDKIT_APKO_IMAGE="r/apko@sha256:abc")),
    row("env", "apko-image-empty-digest", BUILD, 2,
        r"BUILDKIT_APKO_IMAGE: invalid image reference 'r/apko@': bad digest ''",
        env(BUILDKIT_APKO_IMAGE="r/apko@")),
    # ---- registry settings (publish refuses them before reading any record)
    row("registry", "registry-with-scheme",
        ("publish", "--dry-run", "--registry", "http://127.0.0.1:5000"), 2,
        r"^--registry: invalid image reference: bad registry 'http://127\.0\.0\.1:5000' \(use host"
        r"\[:port\]"),
    row("registry", "registry-port-not-a-number",
        ("publish", "--dry-run", "--registry", "127.0.0.1:notaport"), 2,
        r"bad registry '127\.0\.0\.1:notaport'"),
    row("registry", "tag-with-space", ("publish", "--dry-run", "--tag", "a b"), 2,
        r"^--tag: invalid image reference: bad tag 'a b' \(use letters, digits"),
    row("registry", "tag-empty", ("publish", "--dry-run", "--tag", ""), 2, r"bad tag ''"),
    row("registry", "tag-too-long", ("publish", "--dry-run", "--tag", "x" * 200), 2,
        r"^--tag: invalid image reference: bad tag 'x+' \(.*up to 120 characters"),
    row("registry", "tag-leading-dot", ("publish", "--dry-run", "--tag", ".x"), 2,
        r"bad tag '\.x'"),
    row("registry", "repository-uppercase", ("publish", "--dry-run", "--repository", "Team"), 2,
        r"^--repository: invalid image reference: bad repository 'Team' \(use lowercase"),
    row("registry", "repository-empty-component", ("publish", "--dry-run", "--repository", "a//b"),
        2, r"bad repository 'a//b'"),
    row("registry", "repository-leading-slash", ("publish", "--repository", "/team"), 2,
        r"^--repository: invalid image reference: bad repository '/team' \(use lowercase path"),
    row("registry", "repository-dot-dot", ("publish", "--repository", "team/../x"), 2,
        r"^--repository: invalid image reference: bad repository 'team/\.\./x'"),
    row("registry", "repository-with-space", ("publish", "--repository", "my team"), 2,
        r"^--repository: invalid image reference: bad repository 'my team'"),
    row("registry", "env-repository-leading-slash", ("publish",), 2,
        r"^\[publish\] repository \(buildkit\.toml / BUILDKIT_REPOSITORY\): invalid image refer"
        r"ence: bad repository '/team'", env(BUILDKIT_REPOSITORY="/team")),
    row("registry", "toml-registry-not-a-host", DRY, 2,
        r"\[publish\] registry \(buildkit\.toml / BUILDKIT_REGISTRY\): .*'myreg' as a Docker Hub n"
        r"amespace", toml('[publish]\nregistry = "myreg"\n')),
    row("registry", "toml-repository-uppercase", DRY, 2,
        r"\[publish\] repository .*bad repository 'Team'",
        toml('[publish]\nrepository = "Team"\n')),
    row("registry", "toml-tags-with-space", DRY, 2, r"\[publish\] tags .*bad tag 'a b'",
        toml('[publish]\ntags = ["a b"]\n')),
    row("registry", "env-registry-not-a-host", DRY, 2, r"'myreg' as a Docker Hub namespace",
        env(BUILDKIT_REGISTRY="myreg")),
    row("registry", "env-repository-uppercase", DRY, 2, r"bad repository 'UP/x'",
        env(BUILDKIT_REPOSITORY="UP/x")),
    row("registry", "env-tag-with-space", DRY, 2,
        r"\[publish\] tags \(buildkit\.toml / BUILDKIT_TAG\): .*bad tag 'bad tag'",
        env(BUILDKIT_TAG="bad tag")),

    # ---- framework (apko) configs
    row("framework", "top-level-list", LOCK, 2,
        r"^frameworks/app\.yaml:1: the config must be a mapping of keys", framework("- a\n- b\n")),
    row("framework", "empty-file", LOCK, 2, r"^frameworks/app\.yaml: the config is empty",
        framework("")),
    row("framework", "contents-a-list", LOCK, 2,
        r"^frameworks/app\.yaml:1: contents must be a mapping, not a list",
        framework("contents: [1]\n")),
    row("framework", "packages-a-string", LOCK, 2,
        r"^frameworks/app\.yaml:6: contents\.packages must be a list, not 'replayout'",
        app(old="  packages:\n    - replayout\n", new="  packages: replayout\n")),
    row("framework", "package-a-mapping", LOCK, 2,
        r"^frameworks/app\.yaml:7: contents\.packages\[0\] must be a package atom, not a mapping",
        app(package="{a: b}")),
    row("framework", "package-name-with-path", LOCK, 2,
        r"frameworks/app\.yaml \(framework app, arch x86_64\): nothing provides \.\./evil",
        app(package="../evil")),
    row("framework", "package-tag-unknown", LOCK, 2,
        r"no repository is tagged @nope \(requested replayout@nope\) \(add '@nope <path or url>'",
        app(package="replayout@nope")),
    row("framework", "keyring-file-missing", LOCK, 2,
        r"{root}/repo/nope\.rsa\.pub: cannot read public key: No such file",
        app(old="./repo/melange.rsa.pub", new="./repo/nope.rsa.pub")),
    row("framework", "keyring-a-folder", LOCK, 2,
        r"{root}/repo: cannot read public key: (Is a directory|a folder, not a regular file)",
        app(old="./repo/melange.rsa.pub", new="./repo")),
    row("framework", "keyring-unreachable-url", LOCK, 1,
        r"^http://127\.0\.0\.1:9/key\.rsa\.pub: cannot fetch: Connection refused \(gave up after 2"
        r" attempts\)", app(old="./repo/melange.rsa.pub", new="http://127.0.0.1:9/key.rsa.pub")),
    row("framework", "repository-host-unresolved-with-password", LOCK, 1,
        r"^https://\*\*\*@nohost\.invalid/os/x86_64/APKINDEX\.tar\.gz: cannot fetch: the host nohos"
        r"t\.invalid cannot be resolved \(DNS: .*\) \(check the host name in the repository URL",
        app(old="    - ./repo\n", new="    - https://user:secret@nohost.invalid/os\n")),
    row("framework", "repository-unsupported-scheme", LOCK, 2,
        r"^frameworks/app\.yaml:5: contents\.repositories\[0\]: unsupported repository URL 'ftp://"
        r"example\.com/os' \(scheme ftp:\) \(use an http:// or https:// URL, file:///absolute/path",
        app(old="    - ./repo\n", new="    - ftp://example.com/os\n")),
    row("framework", "archs-unknown", LOCK, 2,
        r"^frameworks/app\.yaml:10: archs\[0\] must be an architecture, not 'sparc'",
        app(old="[x86_64]", new="[sparc]")),
    row("framework", "archs-a-string", LOCK, 2,
        r"^frameworks/app\.yaml:10: archs must be a list, not 'x86_64'",
        app(old="[x86_64]", new="x86_64")),
    row("framework", "include-missing", LOCK, 2,
        r"^frameworks/app\.yaml: config file \./nope\.yaml not found",
        framework("include: ./nope.yaml\n" + FRAMEWORK.format(package="replayout"))),
    row("framework", "include-itself", LOCK, 2,
        r"^frameworks/app\.yaml: include cycle through \./frameworks/app\.yaml",
        framework("include: ./frameworks/app.yaml\n" + FRAMEWORK.format(package="replayout"))),
    row("framework", "entrypoint-a-list", LOCK, 2,
        r"^frameworks/app\.yaml:8: entrypoint must be a mapping, not a list",
        app(old="entrypoint:\n  command: /usr/bin/hello\n", new="entrypoint: [a]\n")),
    row("framework", "accounts-a-string", LOCK, 2,
        r"^frameworks/app\.yaml:11: accounts must be a mapping, not 'x'",
        framework(FRAMEWORK.format(package="replayout") + "accounts: x\n")),
    row("framework", "unknown-top-level-key", LOCK, 2,
        r"^frameworks/app\.yaml:11: unknown key entrypont \(did you mean entrypoint\?",
        framework(FRAMEWORK.format(package="replayout") + "entrypont:\n  command: x\n")),
    row("framework", "tab-indentation", LOCK, 2,
        r"^frameworks/app\.yaml:2: invalid YAML: found character that cannot start any token",
        framework("contents:\n\tkeyring: []\n")),
    row("framework", "duplicate-key", LOCK, 2,
        r"^frameworks/app\.yaml:11: duplicate key archs \(first defined on line 10",
        framework(FRAMEWORK.format(package="replayout") + "archs: [aarch64]\n")),
    row("framework", "config-is-a-folder", LOCK, 2,
        r"{root}/frameworks/app\.yaml: cannot read config: (Is a directory|a folder, not a regular"
        r" file)", mkdir(APP)),
    row("framework", "yaml-alias-bomb", LOCK, 2, r"^frameworks/app\.yaml:1: unknown key a",
        framework(ALIAS_BOMB)),
    row("framework", "unknown-framework-to-lock", ("lock", "nope"), 2,
        r"unknown framework 'nope' \(known: app"),
    row("framework", "repository-index-flipped-byte", LOCK, 2,
        r"repo/x86_64/APKINDEX\.tar\.gz: signature check failed: .* does not match the signed byte"
        r"s", chain(flip("repo/x86_64/APKINDEX.tar.gz", 700), app(package="pretend-baselayout"))),
    row("framework", "repository-index-truncated", LOCK, 2,
        r"repo/x86_64/APKINDEX\.tar\.gz: truncated gzip member 1 starting at byte 0",
        chain(write(INDEX, b"\x1f\x8b\x08\x00"), app(package="pretend-baselayout"))),
    row("framework", "repository-index-empty", LOCK, 2,
        r"repo/x86_64/APKINDEX\.tar\.gz: no index after the signatures \(truncated file",
        chain(write("repo/x86_64/APKINDEX.tar.gz", b""), app(package="pretend-baselayout"))),
    row("framework", "repository-package-flipped-byte", LOCK, 2,
        r"replayout-1\.0\.0-r0\.apk: datahash check failed: the data member is truncated or corrup"
        r"t", chain(flip(APK, 2000), app(old="archs", new="# edited\narchs"))),
    # ---- lockfiles, as build and the other readers see them
    row("lockfile", "empty", BUILD, 2,
        r"{root}/lockfiles/app\.lock\.json:1: invalid JSON: Expecting value.*\(regenerate it with "
        r"`nox -s lock -- app`\)", write(LOCKFILE, "")),
    row("lockfile", "not-utf8", BUILD, 2, r"lockfiles/app\.lock\.json:1: invalid JSON",
        write(LOCKFILE, b"\xff\xfe{}")),
    row("lockfile", "a-list", BUILD, 2,
        r"lockfiles/app\.lock\.json: : expected an object, found a list", write(LOCKFILE, "[]")),
    row("lockfile", "nan", BUILD, 2, r"lockfiles/app\.lock\.json: contents: missing",
        write(LOCKFILE, '{"version": NaN}')),
    row("lockfile", "a-folder", BUILD, 1,
        r"lockfiles/app\.lock\.json: framework app has no lockfile", mkdir(LOCKFILE)),
    row("lockfile", "nested-100000-lists", BUILD, 2,
        r"^{root}/lockfiles/app\.lock\.json: not a lockfile: nested too deeply \(a lockfile is 5 le"
        r"vels deep\) \(regenerate it with `nox -s lock -- app`\)$",
        write(LOCKFILE, nested(100_000, "[", "]"))),
    row("lockfile", "show-reads-100000-nested-objects", ("show", "app"), 2,
        r"lockfiles/app\.lock\.json: not a lockfile: nested too deeply .*`nox -s lock -- app`",
        write(LOCKFILE, nested(100_000, '{"a":', "}", "1"))),
    row("lockfile", "check-reads-100000-nested-lists", ("lock", "--check"), 1,
        r"1 lockfile\(s\) out of date: app\.lock\.json",
        write(LOCKFILE, nested(100_000, "[", "]"))),
    row("lockfile", "over-the-size-limit", BUILD, 2,
        r"^{root}/lockfiles/app\.lock\.json: cannot read lockfile: 60\.0 MiB, more than the 16 MiB "
        r"limit for a lockfile \(regenerate it with `nox -s lock -- app`, or raise BUILDKIT_MAX_LOC"
        r"KFILE_SIZE if it is genuine\)$", pad(LOCKFILE, 60 * 1024 * 1024)),
    row("lockfile", "config-name-of-another-framework", BUILD, 1,
        r"^{root}/lockfiles/app\.lock\.json: config\.name 'frameworks/other\.yaml' does not match f"
        r"rameworks/app\.yaml \(run `nox -s lock -- app`",
        edit_lock(at("config", "name", value="frameworks/other.yaml"))),
    row("lockfile", "verify-reads-a-config-name-of-another-framework", ("verify",), 1,
        r"lockfiles/app\.lock\.json: config\.name 'frameworks/other\.yaml' does not match framewo"
        r"rks/app\.yaml", edit_lock(at("config", "name", value="frameworks/other.yaml"))),
    row("lockfile", "check-reads-a-config-name-of-another-framework", ("lock", "--check"), 1,
        r"1 lockfile\(s\) out of date: app\.lock\.json",
        edit_lock(at("config", "name", value="frameworks/other.yaml"))),
    row("lockfile", "unknown-version", BUILD, 2,
        r"version: unsupported lockfile version 'v9' \(expected v1\)",
        edit_lock(at("version", value="v9"))),
    row("lockfile", "contents-missing", BUILD, 2, r"lockfiles/app\.lock\.json: contents: missing",
        edit_lock(at("contents", value=DELETE))),
    row("lockfile", "packages-a-string", BUILD, 2,
        r"contents\.packages: expected a list, found a string",
        edit_lock(at("contents", "packages", value="x"))),
    row("lockfile", "package-checksum-missing", BUILD, 2,
        r"contents\.packages\[0\]\.checksum: missing", edit_lock(package(0, "checksum", DELETE))),
    row("lockfile", "package-checksum-malformed", BUILD, 2,
        r"contents\.packages\[0\]\.checksum: expected an apk identity 'Q1\.\.\.', found 'Q1zzz'",
        edit_lock(package(0, "checksum", "Q1zzz"))),
    row("lockfile", "package-checksum-of-another", BUILD, 2,
        r"(pretend-baselayout-1\.0\.0-r0\.apk: package pretend-baselayout has identity Q1.*, the l"
        r"ockfile says Q1|app\.lock\.json: contents\.packages\[0\] \(pretend-baselayout 1\.0\.0-r0"
        r", x86_64\): control checksum does not match the package's identity)",
        edit_lock(swap_identities)),
    row("lockfile", "package-data-checksum", BUILD, 2,
        r"package pretend-baselayout.* data checksum sha256-\S+,? (differs from the lockfile's|the"
        r" lockfile says) sha256-A+=",
        edit_lock(at("contents", "packages", 0, "data", "checksum", value=f"sha256-{'A' * 43}="))),
    row("lockfile", "package-range-backwards", BUILD, 2,
        r"contents\.packages\[0\]\.data\.range: expected 'bytes=<start>-<end>', found 'bytes=9-1'",
        edit_lock(at("contents", "packages", 0, "data", "range", value="bytes=9-1"))),
    row("lockfile", "package-url-not-an-apk", BUILD, 2,
        r"contents\.packages\[0\]\.url: expected a URL ending in \.apk, found '\.\./\.\./\.\./etc/"
        r"passwd'", edit_lock(package(0, "url", "../../../etc/passwd"))),
    row("lockfile", "config-checksum-malformed", BUILD, 1,
        r"the lockfile is stale: frameworks/app\.yaml changed since it was locked",
        edit_lock(at("config", "checksum", value="md5-xx"))),
    row("lockfile", "verify-reads-an-empty-lockfile", ("verify",), 2,
        r"lockfiles/app\.lock\.json:1: invalid JSON", write(LOCKFILE, "")),
    row("lockfile", "show-reads-a-truncated-lockfile", ("show", "app"), 2,
        r"lockfiles/app\.lock\.json:1: invalid JSON", write(LOCKFILE, "{")),
    row("lockfile", "scan-reads-a-truncated-lockfile", ("scan", "app"), 2,
        r"lockfiles/app\.lock\.json:1: invalid JSON", write(LOCKFILE, "{")),
    row("lockfile", "check-reads-a-truncated-lockfile", ("lock", "--check"), 1,
        r"1 lockfile\(s\) out of date: app\.lock\.json", write(LOCKFILE, "{")),
    row("lockfile", "outdated-reads-a-truncated-lockfile", ("lock", "--outdated"), 2,
        r"lockfiles/app\.lock\.json:1: invalid JSON", write(LOCKFILE, "{")),
    row("lockfile", "update-reads-a-truncated-lockfile", ("lock", "--update", "replayout"), 2,
        r"cannot update packages: .*lockfiles/app\.lock\.json:1: invalid JSON",
        write(LOCKFILE, "{")),
    row("lockfile", "publish-reads-a-truncated-lockfile", DRY, 2,
        r"lockfiles/app\.lock\.json:1: invalid JSON", write(LOCKFILE, "{")),
    # ---- keys
    row("keys", "keyring-empty-file", LOCK, 2, r"^\./repo/melange\.rsa\.pub: not a PEM public key",
        chain(write("repo/melange.rsa.pub", ""), app(old="archs", new="# edited\narchs"))),
    row("keys", "keyring-garbage-pem", LOCK, 2, r"^\./repo/melange\.rsa\.pub: not a PEM public key",
        chain(write("repo/melange.rsa.pub", GARBAGE_PEM), app(old="archs", new="# edited\narchs"))),
    row("keys", "keyring-another-key", LOCK, 2,
        r"repo/x86_64/APKINDEX\.tar\.gz: signature check failed: RSA/SHA256 signature by melange\."
        r"rsa\.pub does not match the signed bytes", other_key("repo/melange.rsa.pub")),
    row("keys", "signing-key-missing", LOCK, 2,
        r"{root}/keys/buildkit\.rsa: the project signing key is missing \(create it with `nox -s k"
        r"eygen`", chain(remove("keys/buildkit.rsa"), melange())),
    row("keys", "signing-key-public-half-missing", LOCK, 2,
        r"{root}/keys/buildkit\.rsa\.pub: the project signing key is missing",
        chain(remove("keys/buildkit.rsa.pub"), melange())),
    row("keys", "signing-key-a-folder", LOCK, 2,
        r"{root}/keys/buildkit\.rsa: the project signing key is missing",
        chain(mkdir("keys/buildkit.rsa"), melange())),
    row("keys", "keygen-over-an-existing-key", ("keygen",), 2,
        r"keys/buildkit\.rsa: key file already exists"),
    row("keys", "index-signing-key-garbage",
        ("apk", "index", "repo/x86_64", "--signing-key", "bad.rsa"), 2,
        r"^bad\.rsa: not a PEM private key", write("bad.rsa", "garbage")),
    row("keys", "index-signing-key-missing",
        ("apk", "index", "repo/x86_64", "--signing-key", "nokey.rsa"), 2,
        r"^nokey\.rsa: cannot read signing key: No such file or directory \(create one with `(buil"
        r"dkit|nox -s) keygen`"),
    row("keys", "verify-with-another-keyring", ("apk", "verify", "--keyring", "keys", APK), 2,
        r"signature check failed: signed by melange\.rsa\.pub, which is not in the keyring"),
    row("keys", "verify-keyring-folder-missing", ("apk", "verify", "--keyring", "nokeys", APK), 2,
        r"^nokeys: keyring folder does not exist"),
    row("keys", "resolve-with-another-keyring", ("resolve", "r.yaml"), 2,
        r"APKINDEX\.tar\.gz: signature check failed: signed only by keys not in the keyring",
        write("r.yaml", app_text(old="./repo/melange.rsa.pub", new="./keys/buildkit.rsa.pub"))),
    # ---- package (melange) configs
    row("packages", "config-not-utf8-on-a-later-line", LOCK, 2,
        r"^packages/hello\.yaml:5: not valid UTF-8: byte 0xe9 \(invalid continuation byte\) \(sav"
        r"e the file as UTF-8", chain(melange(), write("packages/hello.yaml",
                                                       LATIN1_MELANGE.encode("latin-1")))),
    row("packages", "name-missing", LOCK, 2,
        r"packages/hello\.yaml: package\.name must be a non-empty string",
        melange("  name: hello\n", "")),
    row("packages", "version-missing", LOCK, 2,
        r"packages/hello\.yaml: package\.version must be a non-empty string",
        melange("  version: 1.0.0\n", "")),
    row("packages", "version-invalid", LOCK, 2,
        r"package\.version '1\.\.0' is not a valid apk version", melange("1.0.0", "1..0")),
    row("packages", "epoch-a-word", LOCK, 2, r"package\.epoch must be a non-negative integer",
        melange("epoch: 0", "epoch: zero")),
    row("packages", "epoch-negative", LOCK, 2, r"package\.epoch must be a non-negative integer",
        melange("epoch: 0", "epoch: -1")),
    row("packages", "empty-file", LOCK, 2,
        r"packages/hello\.yaml: a melange config must be a mapping",
        chain(melange(), write("packages/hello.yaml", ""))),
    row("packages", "top-level-list", LOCK, 2,
        r"packages/hello\.yaml: a melange config must be a mapping",
        chain(melange(), write("packages/hello.yaml", "- a\n"))),
    row("packages", "package-a-string", LOCK, 2, r"packages/hello\.yaml: package must be a mapping",
        chain(melange(), write("packages/hello.yaml", "package: hello\n"))),
    row("packages", "unknown-package-key", LOCK, 2,
        r"^packages/hello\.yaml:5: unknown key package\.versoin .*did you mean version\?",
        melange("  epoch: 0\n", "  epoch: 0\n  versoin: 2\n")),
    row("packages", "duplicate-key", LOCK, 2,
        r"^packages/hello\.yaml:5: duplicate key package\.epoch \(first defined on line 4",
        melange("  epoch: 0\n", "  epoch: 0\n  epoch: 1\n")),
    row("packages", "repository-missing", LOCK, 2,
        r"^packages/hello\.yaml:12: environment\.contents\.packages: no repository for arch x86_64",
        melange("      - ./repo\n", "      - ./nowhere\n")),
    row("packages", "keyring-file-missing", LOCK, 2,
        r"{root}/repo/nope\.pub: cannot read public key: No such file",
        melange("./repo/melange.rsa.pub", "./repo/nope.pub")),
    row("packages", "build-cycle", LOCK, 2,
        r"packages/a\.yaml: local packages depend on each other in a cycle: a -> b -> a", cycle),
    row("packages", "config-is-a-folder", LOCK, 2,
        r"(?:{root}/)?packages/hello\.yaml: cannot read: "
        r"(Is a directory|a folder, not a regular file)",
        chain(melange(), mkdir("packages/hello.yaml"))),
    row("packages", "subpackages-a-string", LOCK, 2,
        r"packages/hello\.yaml: subpackages must be a list",
        melange("pipeline:", "subpackages: x\npipeline:")),
    row("packages", "runtime-dependencies-a-string", LOCK, 2,
        r"packages/hello\.yaml: runtime must be a list",
        melange("  epoch: 0\n", "  epoch: 0\n  dependencies:\n    runtime: busybox\n")),
    row("packages", "target-architecture-unknown", LOCK, 2,
        r"packages/hello\.yaml: unknown architecture 'sparc'",
        melange("  epoch: 0\n", "  epoch: 0\n  target-architecture: [sparc]\n")),
    # pipeline steps melange refuses (pkg/config validatePipelines, pkg/build compile)
    row("packages", "pipeline-uses-and-runs", LOCK, 2,
        r"^packages/hello\.yaml:15: pipeline\[0\]: a step with both uses: and runs: \(melange "
        r"v0\.59\.2 refuses it\) \(make them two steps",
        melange("  - runs: echo hi\n", "  - uses: strip\n    runs: echo hi\n")),
    row("packages", "pipeline-with-without-uses", LOCK, 2,
        r"^packages/hello\.yaml:15: pipeline\[0\]: with: in a step without uses:",
        melange("  - runs: echo hi\n", "  - runs: echo hi\n    with: {dir: x}\n")),
    row("packages", "pipeline-input-unknown", LOCK, 2,
        r"^packages/hello\.yaml:15: pipeline\[0\]\.with\.opt: pipeline strip has no input 'opt'"
        r" .*did you mean opts\?",
        melange("  - runs: echo hi\n", "  - uses: strip\n    with: {opt: -g}\n")),
    row("packages", "pipeline-required-input-missing", LOCK, 2,
        r"^packages/hello\.yaml:14: pipeline\[0\]: pipeline git-checkout needs the input "
        r"repository .*\(give it under the step's with:",
        melange("  - runs: echo hi\n", "  - uses: git-checkout\n")),
    row("packages", "pipeline-checksum-malformed", LOCK, 2,
        r"^packages/hello\.yaml:15: pipeline\[0\]\.with\.expected-sha256: '0123' is not a sha256"
        r" checksum \(melange v0\.59\.2 wants 64 hex digits\)",
        melange("  - runs: echo hi\n",
                "  - uses: fetch\n    with: {uri: 'https://x/a.tgz', expected-sha256: '0123'}\n")),
    row("packages", "pipeline-commit-malformed", LOCK, 2,
        r"^packages/hello\.yaml:15: pipeline\[0\]\.with\.expected-commit: 'main' is not a full "
        r"commit hash",
        melange("  - runs: echo hi\n",
                "  - uses: git-checkout\n"
                "    with: {repository: 'https://x/y', expected-commit: main}\n")),
    row("packages", "subpackage-pipeline-input-unknown", LOCK, 2,
        r"^packages/hello\.yaml:19: subpackages\[0\]\.pipeline\[0\]\.with\.pkg: pipeline "
        r"split/manpages has no input 'pkg'",
        melange("  - runs: echo hi\n", "  - runs: echo hi\nsubpackages:\n  - name: hello-doc\n"
                "    pipeline:\n      - uses: split/manpages\n        with: {pkg: x}\n")),
    # ---- the apk verbs
    row("apk", "verb-unknown", ("apk", "files", "x"), 2, r"invalid choice: 'files'"),
    row("apk", "vercmp-one-argument", ("apk", "vercmp", "1"), 2,
        r"the following arguments are required: OP\|B"),
    row("apk", "pack-without-options", ("apk", "pack", "nope"), 2,
        r"the following arguments are required: --name, --version, --arch, --signing-key"),
    row("apk", "index-without-key", ("apk", "index", "nope"), 2,
        r"the following arguments are required: --signing-key"),
    row("apk", "index-of-a-garbage-apk",
        ("apk", "index", "inc", "--signing-key", "keys/buildkit.rsa"), 2,
        r"^inc/x\.apk: not gzip data at byte 0", write("inc/x.apk", b"garbage")),
    row("apk", "pack-missing-folder", pack("nope", "x", "1.0-r0", "x86_64"), 2,
        r"^nope: the folder to pack does not exist"),
    row("apk", "pack-invalid-version", pack("keys", "x", "1..0", "x86_64"), 2,
        r"invalid version '1\.\.0'"),
    row("apk", "pack-unknown-arch", pack("keys", "x", "1.0-r0", "sparc"), 2,
        r"unknown architecture 'sparc'"),
    row("apk", "pack-name-with-path", pack("keys", "../x", "1.0-r0", "x86_64"), 2,
        r"invalid package name '\.\./x'"),
    row("apk", "verify-missing-file",
        ("apk", "verify", "--keyring", "repo", "repo/x86_64/nope.apk"), 2,
        r"^repo/x86_64/nope\.apk: cannot read file: No such file"),
    row("apk", "verify-flipped-data-byte", ("apk", "verify", "--keyring", "repo", "f.apk"), 2,
        r"^f\.apk: datahash check failed: the data member is truncated or corrupt",
        chain(copy_file(APK, "f.apk"), flip("f.apk", 2000))),
    row("apk", "verify-garbage", ("apk", "verify", "--keyring", "repo", "g.apk"), 2,
        r"^g\.apk: not gzip data at byte 0", write("g.apk", b"garbage")),
    row("apk", "show-missing-file", ("apk", "show", "--allow-untrusted", "nope.tar.gz"), 2,
        r"^nope\.tar\.gz: cannot read file: No such file"),
    row("apk", "show-garbage", ("apk", "show", "--allow-untrusted", "g.tar.gz"), 2,
        r"^g\.tar\.gz: not gzip data at byte 0", write("g.tar.gz", b"garbage")),
    row("apk", "show-empty-archive", ("apk", "show", "--allow-untrusted", "g.tar.gz"), 2,
        r"^g\.tar\.gz: the archive has no APKINDEX file",
        write("g.tar.gz", gzip.compress(b"", mtime=0))),
    row("apk", "verify-without-keyring", ("apk", "verify", APK), 2,
        r"no keyring given \(pass --keyring DIR"),

    # ---- caches, the store and the records (built with FakeApko)
    row("cache", "publish-tarball-flipped-byte", DRY, 1,
        r"refusing to publish app for x86_64: .*does not match its bytes",
        damage_output("tarball")),
    row("cache", "publish-tarball-truncated", DRY, 1,
        r"refusing to publish app for x86_64: object sha256:[0-9a-f]{64} has \d+ bytes, the record"
        r" says \d+", damage_output("tarball", "truncate")),
    row("cache", "publish-tarball-removed", DRY, 1,
        r"refusing to publish app for x86_64: object sha256:[0-9a-f]{64} is missing from the store"
        r" \(run `nox -s build-amd64 -- app`", damage_output("tarball", "remove")),
    row("cache", "publish-sbom-flipped-byte", DRY, 1,
        r"refusing to publish app for x86_64: object sha256:[0-9a-f]{64} does not match its bytes",
        damage_output("sbom-x86_64.spdx.json")),
    row("cache", "publish-record-truncated", DRY, 1,
        r"{root}/dist/app/x86_64\.json: malformed record: Expecting property name .*\(delete it an"
        r"d build again", write(RECORD, "{")),
    row("cache", "publish-record-empty", DRY, 1,
        r"dist/app/x86_64\.json: malformed record: Expecting value at line 1", write(RECORD, "")),
    row("cache", "publish-record-a-list", DRY, 1,
        r"dist/app/x86_64\.json: malformed record: not a JSON object", write(RECORD, "[]")),
    row("cache", "publish-record-without-outputs", DRY, 1,
        r"dist/app/x86_64\.json: malformed build record: outputs must be an object \(build again",
        edit_record(at("outputs", value=DELETE))),
    row("cache", "publish-record-other-digest", DRY, 1,
        r"refusing to publish app for x86_64: object sha256:0{64} is missing from the store",
        edit_record(at("outputs", "tarball", "digest", value="sha256:" + ZEROS))),
    row("cache", "publish-record-a-folder", DRY, 1,
        r"{root}/dist/app/x86_64\.json: cannot read record: a folder, not a regular file",
        mkdir(RECORD)),
    row("cache", "verify-record-nested-100000-lists", ("verify",), 1,
        r"^{root}/dist/app/x86_64\.json: malformed record: nested too deeply \(delete it and build"
        r" again", write(RECORD, nested(100_000, "[", "]"))),
    row("cache", "publish-record-over-the-size-limit", DRY, 1,
        r"^{root}/dist/app/x86_64\.json: cannot read record: 17\.0 MiB, more than the 16 MiB limit "
        r"for a record \(delete it and build again, or raise BUILDKIT_MAX_RECORD_SIZE if it is genu"
        r"ine", pad(RECORD, 17 * 1024 * 1024)),
    row("cache", "cache-folder-is-a-file", ("lock", "--no-cache"), 1,
        r"{root}/cachefile/configs: Not a directory",
        chain(write("cachefile", "x"), cache_at("cachefile"))),
    row("cache", "store-is-a-file", BUILD, 1, r"{root}/dist/sha256: File exists",
        chain(remove("dist/sha256"), write("dist/sha256", "x"), env(BUILDKIT_TAG="new")),
        fake_apko=True),
    row("cache", "scratch-is-a-file", BUILD, 1, r"{root}/dist/tmp: Not a directory",
        chain(remove("dist/tmp"), write("dist/tmp", "x"), env(BUILDKIT_TAG="new")), fake_apko=True),
    row("cache", "verify-record-truncated", ("verify",), 1,
        r"{root}/dist/app/x86_64\.json: malformed record", write(RECORD, "{")),
    # ---- issue 16's early messages and lockfile checks
    row("cli", "build-jobs-zero", ("build", "-j", "0"), 2,
        r"argument -j/--jobs: must be at least 1, not 0"),
    row("cli", "build-jobs-negative", ("build", "-j", "-1"), 2,
        r"argument -j/--jobs: must be at least 1, not -1"),
    row("cli", "project-folder-is-a-file", ("-C", "buildkit.toml", "lock"), 2,
        r"{root}/buildkit\.toml: the project folder is a file, not a folder \(pass -C the folder t"
        r"hat holds buildkit\.toml"),
    row("toml", "source-date-epoch-far-future", LOCK, 2,
        r"buildkit\.toml: project\.source_date_epoch 99999999999999 is after 9999-12-31",
        toml("source_date_epoch = 99999999999999\n")),
    row("env", "source-date-epoch-far-future", LOCK, 2,
        r"^environment \(BUILDKIT_SOURCE_DATE_EPOCH\): project\.source_date_epoch 99999999999999 i"
        r"s after 9999-12-31", env(BUILDKIT_SOURCE_DATE_EPOCH="99999999999999")),
    row("framework", "include-outside-the-project", LOCK, 2,
        r"^frameworks/app\.yaml: include {root}/\.\./outside\.yaml is outside the project folder "
        r"{root} ",
        chain(outside("outside.yaml", "archs: [x86_64]\n"), framework(INCLUDE_OUTSIDE))),
    row("framework", "local-repository-outside-the-project", LOCK, 2,
        r"^frameworks/app\.yaml: repository @local file:///etc is outside the project folder "
        r"{root} \(apko runs in a container",
        app(old="    - ./repo\n", new="    - ./repo\n    - '@local file:///etc'\n")),
    row("packages", "name-with-path", LOCK, 2,
        r"(?:{root}/)?packages/hello\.yaml: package\.name '\.\./evil' is not a package name",
        melange("name: hello", "name: ../evil")),
    row("registry", "repository-with-a-tag", ("publish", "--dry-run", "--repository", "team/app:1"),
        2, r"^--repository: invalid image reference: bad repository 'team/app:1'"),
    row("keys", "project-public-key-garbage", BUILD, 2,
        r"{root}/keys/buildkit\.rsa\.pub: not a PEM public key",
        chain(write("keys/buildkit.rsa.pub", "garbage"), env(BUILDKIT_TAG="new"))),
    row("lockfile", "hand-edited-version", BUILD, 2,
        r"{root}/lockfiles/app\.lock\.json: contents\.packages\[0\] \(pretend-baselayout 9\.9\.9-r"
        r"0, x86_64\): \./repo/x86_64/APKINDEX\.tar\.gz lists checksum Q1\S+ as pretend-baselayout"
        r" 1\.0\.0-r0 \(run `nox -s lock -- app`", edit_lock(package(0, "version", "9.9.9-r0"))),
    row("lockfile", "hand-edited-duplicate-entry", BUILD, 2,
        r"lockfiles/app\.lock\.json: contents\.packages\[2\] \(pretend-baselayout 1\.0\.0-r0, x86_"
        r"64\): duplicate of contents\.packages\[0\]", edit_lock(duplicate_first)),
    row("lockfile", "hand-edited-arch-missing", BUILD, 2,
        r"lockfiles/app\.lock\.json: contents\.packages\[0\] \(pretend-baselayout 1\.0\.0-r0, aarc"
        r"h64\): arch aarch64 is not one frameworks/app\.yaml builds", edit_lock(move_to_aarch64)),
    row("lockfile", "hand-edited-keyring-content", BUILD, 2,
        r"lockfiles/app\.lock\.json: contents\.keyring\[0\] \(\./repo/melange\.rsa\.pub\): its con"
        r"tent is not the key frameworks/app\.yaml names", other_key_in_lock),
    row("lockfile", "hand-edited-url-other-host", BUILD, 2,
        r"lockfiles/app\.lock\.json: contents\.packages\[0\] \(pretend-baselayout 1\.0\.0-r0, x86_"
        r"64\): URL http://evil\.example/x\.apk is not in a repository of frameworks/app\.yaml",
        edit_lock(package(0, "url", "http://evil.example/x.apk"))),
    row("lockfile", "hand-edited-package-name", BUILD, 2,
        r"lockfiles/app\.lock\.json: contents\.packages\[0\] \(\.\./\.\./evil 1\.0\.0-r0, x86_64\)"
        r": \./repo/x86_64/APKINDEX\.tar\.gz lists checksum Q1\S+ as pretend-baselayout",
        edit_lock(package(0, "name", "../../evil"))),
    # ---- the signing key pair, checked before anything is signed
    row("keys", "signing-key-pair-mismatch", LOCK, 2,
        r"^{root}/keys/buildkit\.rsa: the private key does not match the public key {root}/keys/bu"
        r"ildkit\.rsa\.pub", chain(other_key("keys/buildkit.rsa.pub"), melange())),
    row("keys", "signing-key-garbage", LOCK, 2,
        r"^{root}/keys/buildkit\.rsa: not a PEM private key",
        chain(write("keys/buildkit.rsa", "garbage\n"), melange())),
    row("keys", "signing-key-is-the-public-half", LOCK, 2,
        r"^{root}/keys/buildkit\.rsa: not a PEM private key",
        chain(public_key_as_private, melange())),
    row("toml", "not-utf8-on-a-later-line", LOCK, 2,
        r"^{root}/buildkit\.toml:4: not UTF-8 text \(byte 0xe9: invalid continuation byte\) \(sa"
        r"ve it as UTF-8", write("buildkit.toml", TOML.encode() + b"# caf\xe9\n")),
    # ---- limits: their settings, regular files only, sizes
    row("toml", "limits-timeout-negative", LOCK, 2,
        r"buildkit\.toml: limits\.fetch_timeout must be a positive number of seconds, not -1",
        toml("[limits]\nfetch_timeout = -1\n")),
    row("toml", "limits-size-a-word", LOCK, 2,
        r"buildkit\.toml: limits\.max_index_size must be a positive size in bytes \(e\.g\. 5368709"
        r"12, 512M, 2G\), not 'big'", toml('[limits]\nmax_index_size = "big"\n')),
    row("toml", "limits-unknown-key", LOCK, 2,
        r"buildkit\.toml: unknown key limits\.max_size \(did you mean max_key_size\?",
        toml("[limits]\nmax_size = 1\n")),
    row("env", "fetch-timeout-zero", LOCK, 2,
        r"^environment \(BUILDKIT_FETCH_TIMEOUT\): limits\.fetch_timeout must be a positive number"
        r" of seconds, not '0'", env(BUILDKIT_FETCH_TIMEOUT="0")),
    row("env", "max-package-size-a-word", LOCK, 2,
        r"^environment \(BUILDKIT_MAX_PACKAGE_SIZE\): limits\.max_package_size must be a positive "
        r"size in bytes", env(BUILDKIT_MAX_PACKAGE_SIZE="lots")),
    row("env", "tool-timeout-a-word", LOCK, 2,
        r"^environment \(BUILDKIT_TOOL_TIMEOUT\): limits\.tool_timeout must be a positive number o"
        r"f seconds, not 'soon'", env(BUILDKIT_TOOL_TIMEOUT="soon")),
    row("env", "lock-memory-limit-negative", LOCK, 2,
        r"^environment \(BUILDKIT_LOCK_MEMORY_LIMIT\): limits\.lock_memory_limit must be a positiv"
        r"e size in bytes", env(BUILDKIT_LOCK_MEMORY_LIMIT="-5")),
    row("framework", "config-is-a-fifo", LOCK, 2,
        r"{root}/frameworks/app\.yaml: cannot read config: a FIFO, not a regular file", fifo(APP)),
    row("toml", "buildkit-toml-is-a-fifo", LOCK, 2,
        r"{root}/buildkit\.toml: cannot read: a FIFO, not a regular file", fifo("buildkit.toml")),
    row("keys", "keyring-is-a-fifo", LOCK, 2,
        r"{root}/repo/melange\.rsa\.pub: cannot read public key: a FIFO, not a regular file",
        chain(fifo("repo/melange.rsa.pub"), app(old="archs", new="# edited\narchs"))),
    row("framework", "config-is-dev-zero", LOCK, 2,
        r"{root}/frameworks/app\.yaml: cannot read config: a character device, not a regular file",
        symlink(APP, "/dev/zero")),
    row("keys", "keyring-is-dev-urandom", LOCK, 2,
        r"^frameworks/app\.yaml: key \./repo/melange\.rsa\.pub links to /dev/urandom, which is out"
        r"side the project", chain(symlink("repo/melange.rsa.pub", "/dev/urandom"), EDITED)),
    row("framework", "config-not-utf8-on-a-later-line", LOCK, 2,
        r"^frameworks/app\.yaml:10: not valid UTF-8: byte 0xe9 \(invalid continuation byte\) \(sa"
        r"ve the file as UTF-8; then run `nox -s lock -- app`\)$",
        write(APP, LATIN1_FRAMEWORK.encode("latin-1"))),
    row("framework", "config-utf8-cut-at-a-line-end", BUILD, 2,
        r"^frameworks/app\.yaml:10: not valid UTF-8: byte 0xe2 \(invalid continuation byte\)",
        write(APP, LATIN1_FRAMEWORK.encode("latin-1").replace(b"\xe9", b"\xe2\x82"))),
    row("framework", "config-a-control-character", LOCK, 2,
        r"^frameworks/app\.yaml:10: invalid YAML: control characters are not allowed",
        write(APP, LATIN1_FRAMEWORK.replace("é", "\x01"))),
    row("framework", "config-over-the-size-limit", LOCK, 2,
        r"{root}/frameworks/app\.yaml: cannot read config: 60\.0 MiB, more than the \d+ MiB limit "
        r"for a config", pad(APP, 60 * 1024 * 1024)),
    row("packages", "config-is-a-fifo", LOCK, 2,
        r"(?:{root}/)?packages/hello\.yaml: cannot read: a FIFO, not a regular file",
        chain(melange(), fifo("packages/hello.yaml"))),
    row("framework", "repository-url-with-a-password", LOCK, 1,
        r"^(?!.*hunter2)http://\*\*\*@127\.0\.0\.1:9/os/x86_64/APKINDEX\.tar\.gz: cannot fetch",
        app(old="    - ./repo\n", new="    - http://user:hunter2@127.0.0.1:9/os\n")),
    # ---- secrets stay out of messages
    row("registry", "registry-with-a-password",
        ("publish", "--dry-run", "--registry", "user:hunter2@127.0.0.1:5000"), 2,
        r"^(?!.*hunter2)--registry: invalid image reference: bad registry '\*\*\*@127\.0\.0\.1:500"
        r"0'"),
    row("registry", "env-registry-with-a-password", DRY, 2,
        r"^(?!.*hunter2)\[publish\] registry \(buildkit\.toml / BUILDKIT_REGISTRY\): invalid image"
        r" reference: bad registry '\*\*\*@127\.0\.0\.1:5000'",
        env(BUILDKIT_REGISTRY="user:hunter2@127.0.0.1:5000")),
]  # fmt: skip


@pytest.mark.parametrize("case", ROWS, ids=[f"{case.area}-{case.name}" for case in ROWS])
def test_a_bad_input_exits_non_zero_with_one_line_and_writes_nothing(
    project: Project, case: Row
) -> None:
    tools = FakeApko() if case.fake_apko else NoContainers()
    project.monkeypatch.setattr(build_context, "default_tools", lambda _project: tools)
    case.setup(project)
    before = project.snapshot()
    done = project.run(*case.argv)
    assert done.code == case.code, done.err
    line = done.error_line
    pattern = case.message.replace("{root}", re.escape(str(project.root)))
    assert re.search(pattern, line), f"{pattern!r} not in {line!r}"
    assert project.snapshot() == before


def test_the_table_tries_at_least_120_distinct_bad_inputs_in_every_area() -> None:
    names = Counter(f"{case.area}/{case.name}" for case in ROWS)
    assert [name for name, count in names.items() if count > 1] == []
    assert len(ROWS) >= 120
    areas = Counter(case.area for case in ROWS)
    assert set(areas) == set(AREAS)
