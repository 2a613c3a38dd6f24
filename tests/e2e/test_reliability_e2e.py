"""The reliability table's rows that need the real tools, engine and registry.

A copy of the demo is locked and built once. Each row breaks one thing (a melange pipeline, a
signing key, a tool image pin, the cosign key or password, the registry), runs
``python -m buildkit`` as a user would, and checks the rule of tests/unit/test_reliability.py:
the exit status, exactly one ``buildkit: error:`` line matching the row's pattern with no
traceback (a failed tool's last lines and its log path may follow it, indented), and the
lockfile, records and store as they were. Every row restores what it broke.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from secrets import token_hex

import pytest

from buildkit.toolchain.supply import KEYLESS_ENV
from tests.helpers.demo import Demo, lock_demo, make_demo

pytestmark = pytest.mark.e2e

ZEROS = "sha256:" + "0" * 64
MELANGE = "packages/hello-buildkit.yaml"
STEP = '      chmod 0755 "${{targets.destdir}}/usr/bin/hello-buildkit"\n'


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    demo = make_demo(tmp_path_factory.mktemp("reliability"), COSIGN_PASSWORD=token_hex(16))
    demo.ok("keygen", "--cosign")  # publish rows get as far as signing would
    lock_demo(demo)
    demo.ok("build")
    return demo


def snapshot(root: Path) -> dict[str, bytes]:
    """Lockfiles, keys, records and objects (not logs, locks or scratch): what must not change."""
    found: dict[str, bytes] = {}
    for folder in ("lockfiles", "dist", "keys"):
        for path in sorted((root / folder).rglob("*")):
            relative = path.relative_to(root)
            if path.is_file() and relative.parts[1:2] not in {("logs",), ("locks",), ("tmp",)}:
                found[str(relative)] = path.read_bytes()
    return found


@contextmanager
def changed(path: Path, data: bytes) -> Iterator[None]:
    original = path.read_bytes()
    path.write_bytes(data)
    try:
        yield
    finally:
        path.write_bytes(original)


Edit = Callable[[Path], bytes]  # the project root -> the new bytes of the row's file


def replace(old: str, new: str) -> Edit:
    def edit(root: Path) -> bytes:
        text = (root / MELANGE).read_text()
        assert old in text
        return text.replace(old, new, 1).encode()

    return edit


@dataclass(frozen=True, kw_only=True)
class Row:
    name: str
    argv: tuple[str, ...]
    code: int
    message: str  # a regular expression searched in the error line; {root}: the project
    env: dict[str, str] = field(default_factory=dict)
    file: str = ""  # the file ``edit`` rewrites for the row
    edit: Edit | None = None
    tool_failed: bool = False  # the tool's last lines and log path follow the error line


AMD64 = ("build", "--arch", "amd64")
ROWS = [
    # a step melange refuses that buildkit's melange check refuses first, before any container
    Row(name="pipeline-step-with-uses-and-runs", argv=AMD64, code=2,
        message=r"packages/hello-buildkit\.yaml:\d+: pipeline\[0\]: a step with both uses: and "
                r"runs: \(melange v0\.59\.2 refuses it\).*`nox -s lock -- demo`",
        file=MELANGE, edit=replace(STEP, STEP + "    uses: autoconf/make\n")),
    # melange configs that only melange can refuse: its failure, named, with its log
    Row(name="pipeline-undefined-variable", argv=AMD64, code=1, tool_failed=True,
        message=r"^melange hello-buildkit x86_64: melange build failed with exit status \d+",
        file=MELANGE, edit=replace(STEP, STEP + '      echo "${{vars.nope}}"\n')),
    Row(name="pipeline-command-not-found", argv=AMD64, code=1, tool_failed=True,
        message=r"^melange hello-buildkit x86_64: melange build failed with exit status \d+",
        file=MELANGE, edit=replace(STEP, STEP + "      no-such-command --here\n")),
    # publish: tool pins, the cosign key and its password, registries that are not one
    Row(name="crane-image-unpinned", argv=("publish",), code=1,
        message=r"^tools\.crane \(buildkit\.toml / BUILDKIT_CRANE_IMAGE\): image crane:latest "
                r"is not pinned",
        env={"BUILDKIT_CRANE_IMAGE": "crane:latest"}),
    Row(name="cosign-image-uppercase", argv=("publish",), code=2,
        message=r"^tools\.cosign .*bad repository name 'Sigstore/cosign'",
        env={"BUILDKIT_COSIGN_IMAGE": f"Sigstore/cosign@{ZEROS}"}),
    Row(name="cosign-key-missing", argv=("publish",), code=1,
        message=r"{root}/keys/nope\.key: no cosign key nope\.key: signing needs the key pair",
        env={"BUILDKIT_COSIGN_KEY": "keys/nope.key"}),
    Row(name="registry-is-a-plain-web-server", argv=("publish",), code=1,
        message=r"^127\.0\.0\.1:8040 answers but is not a container registry \(GET /v2/ gave 404 "
                r".*\): nothing was pushed",
        env={"BUILDKIT_REGISTRY": "127.0.0.1:8040"}),
    Row(name="cosign-password-wrong", argv=("publish",), code=1,
        message=r"^checking the cosign key before pushing: the password in COSIGN_PASSWORD does "
                r"not open keys/cosign\.key \(cosign: decryption failed\); nothing was pushed",
        env={"COSIGN_PASSWORD": "not-the-password"}),
    Row(name="keyless-signing-without-a-token", argv=("publish",), code=1,
        message=r"^\[publish\] signing \(buildkit\.toml / BUILDKIT_SIGNING\): keyless signing "
                r"needs an OIDC identity token, and none is set .*\(offline, sign with a key pair",
        env={"BUILDKIT_SIGNING": "keyless", **dict.fromkeys(KEYLESS_ENV, "")}),
    Row(name="keyless-signing-offline", argv=("publish",), code=1,
        message=r"^signing \S+: keyless signing cannot reach Sigstore \(the TUF, Fulcio or Rekor "
                r"service\) or get an OIDC identity token \(.*\(offline, sign with a key pair: ",
        env={"BUILDKIT_SIGNING": "keyless", "SIGSTORE_ID_TOKEN": "e30.e30.offline"}),
    Row(name="verify-published-before-publishing", argv=("verify", "--published"), code=1,
        message=r"{root}/dist/demo/publish\.json: demo was never published from this dist/ "
                r"\(run `nox -s publish -- demo` first\)"),
    Row(name="engine-binary-not-on-path", argv=("build",), code=1,
        message=r"^no container engine: podman is not on PATH",
        env={"BUILDKIT_ENGINE": "podman", "PATH": "/nonexistent", "BUILDKIT_TAG": "no-engine"}),
]  # fmt: skip


def error_line(stderr: str, *, tool_failed: bool) -> str:
    assert "Traceback" not in stderr, stderr
    lines = stderr.rstrip("\n").splitlines()
    errors = [n for n, line in enumerate(lines) if line.startswith("buildkit: error: ")]
    assert len(errors) == 1, stderr
    after = lines[errors[0] + 1 :]
    if tool_failed:
        assert after, stderr
        assert all(line.startswith("  ") for line in after), stderr
        assert after[-1].startswith("  log: "), stderr
    else:
        assert after == [], stderr
    return lines[errors[0]].removeprefix("buildkit: error: ")


@pytest.mark.parametrize("case", ROWS, ids=[case.name for case in ROWS])
def test_a_bad_input_the_tools_meet_is_one_line_and_writes_nothing(built: Demo, case: Row) -> None:
    path = built.root / case.file if case.file else None
    data = case.edit(built.root) if case.edit else b""
    before = snapshot(built.root)
    with changed(path, data) if path is not None else _unchanged():
        done: subprocess.CompletedProcess[str] = built.buildkit(
            *case.argv, env={**built.env, **case.env}
        )
    assert done.returncode == case.code, done.stderr
    line = error_line(done.stderr, tool_failed=case.tool_failed)
    pattern = case.message.replace("{root}", re.escape(str(built.root)))
    assert re.search(pattern, line), f"{pattern!r} not in {line!r}"
    assert snapshot(built.root) == before
    assert not (built.root / "dist" / "demo" / "publish.json").exists()


@contextmanager
def _unchanged() -> Iterator[None]:
    yield


def test_the_e2e_rows_are_distinct() -> None:
    assert len({case.name for case in ROWS}) == len(ROWS)
