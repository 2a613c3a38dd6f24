"""The release workflow (.github/workflows/release.yml): jobs, pins, and nox-only work.

GitHub runs what this file says, so its shape is tested like code: the lock check, one
native build per arch in a matrix, a publish that needs both and receives their dist/, every
action pinned by commit SHA, and every step that does work a `nox -s` session.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import nox.registry
import pytest
import yaml

import buildkit.sessions  # noqa: F401  (registers the nox sessions)
from buildkit.project.config import load_project

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / ".github" / "workflows" / "release.yml"
TEXT = WORKFLOW.read_text(encoding="utf-8")
DOCUMENT: dict[Any, Any] = yaml.safe_load(TEXT)
JOBS: dict[str, Any] = DOCUMENT["jobs"]
# Runner set-up allowed besides nox: install buildkit (and nox with it); put the project's
# signing key, from the repository's secret, where buildkit.toml says it is.
SETUP_COMMANDS = frozenset(
    {
        "python -m pip install .",
        "umask 077",
        """printf '%s\\n' "$SIGNING_KEY" > keys/buildkit.rsa""",
        "openssl rsa -in keys/buildkit.rsa -pubout -out keys/buildkit.rsa.pub",
    }
)
PINNED_USES = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@[0-9a-f]{40}$")
DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")


def steps(job: str) -> list[dict[str, Any]]:
    return list(JOBS[job]["steps"])


def commands(step: dict[str, Any]) -> list[str]:
    lines = (line.strip() for line in step.get("run", "").splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def allowed(command: str) -> bool:
    """Work is a nox session; the only other commands set the runner up."""
    return command in SETUP_COMMANDS or command.startswith("nox -s ")


def expand(command: str, row: dict[str, str]) -> str:
    """Substitute ``${{ matrix.* }}`` (one matrix row) and ``${{ env.* }}`` (the workflow's),
    as GitHub does before the shell sees the script."""
    values = {f"matrix.{k}": v for k, v in row.items()}
    values |= {f"env.{k}": v for k, v in DOCUMENT.get("env", {}).items()}
    for name, value in values.items():
        command = command.replace(f"${{{{ {name} }}}}", value)
    return command


def nox_sessions(job: str) -> list[list[str]]:
    """The argv of each `nox -s` command in ``job``, matrix values substituted."""
    rows = JOBS[job].get("strategy", {}).get("matrix", {}).get("include") or [{}]
    expanded = [expand(c, row) for row in rows for s in steps(job) for c in commands(s)]
    return [shlex.split(command) for command in expanded if command.startswith("nox ")]


def test_triggers_pull_requests_and_release_tags() -> None:
    on: dict[str, Any] = DOCUMENT.get("on", DOCUMENT[True])  # YAML 1.1 reads `on` as true
    assert "pull_request" in on
    assert "v*" in on["push"]["tags"]


def test_has_the_lock_scan_build_and_publish_jobs() -> None:
    assert set(JOBS) == {"lock", "scan", "build", "publish"}
    assert JOBS["build"]["needs"] == "lock"
    assert JOBS["publish"]["needs"] == "build"  # a matrix job: publish waits for every arch
    assert "pull_request" in JOBS["publish"]["if"]  # pull requests build but never publish


def test_scan_job_uploads_sarif_to_code_scanning() -> None:
    scan = JOBS["scan"]
    assert scan["needs"] == "lock"
    assert scan["permissions"]["security-events"] == "write"
    (argv,) = nox_sessions("scan")
    assert argv[:8] == ["nox", "-s", "scan", "--", "--format", "sarif", "-o", "scan.sarif"]
    upload = next(s for s in scan["steps"] if "upload-sarif" in s.get("uses", ""))
    assert upload["with"]["sarif_file"] == "scan.sarif"


def test_lock_job_checks_the_lockfiles() -> None:
    (argv,) = nox_sessions("lock")
    assert argv[:5] == ["nox", "-s", "lock", "--", "--check"]


def test_builds_each_arch_natively_in_a_matrix() -> None:
    build = JOBS["build"]
    assert build["runs-on"] == "${{ matrix.runner }}"
    assert build["strategy"]["matrix"]["include"] == [
        {"arch": "amd64", "runner": "ubuntu-24.04", "session": "build-amd64"},
        {"arch": "arm64", "runner": "ubuntu-24.04-arm", "session": "build-arm64"},
    ]
    assert [argv[2] for argv in nox_sessions("build")] == ["build-amd64", "build-arm64"]


def test_publish_receives_every_archs_dist_and_runs_the_publish_session() -> None:
    (upload,) = [s for s in steps("build") if s.get("uses", "").startswith("actions/upload")]
    assert upload["with"]["name"] == "dist-${{ matrix.arch }}"
    assert upload["with"]["path"].splitlines()[0] == "dist/"
    (download,) = [s for s in steps("publish") if s.get("uses", "").startswith("actions/down")]
    assert download["with"] == {"pattern": "dist-*", "path": "dist/", "merge-multiple": True}
    publish, verify = nox_sessions("publish")
    assert publish[2] == "publish"
    assert publish.count("--tag") == 3  # git-<sha>, and the version + latest or edge
    assert verify[2:5] == ["verify", "--", "--published"]
    assert JOBS["publish"]["permissions"]["packages"] == "write"


def test_publish_signs_keyless_with_the_jobs_oidc_token() -> None:
    job = JOBS["publish"]
    assert job["permissions"]["id-token"] == "write"
    assert job["env"]["BUILDKIT_SIGNING"] == "keyless"
    assert "release.yml@" in job["env"]["BUILDKIT_CERTIFICATE_IDENTITY"]
    assert DOCUMENT["permissions"] == {"contents": "read"}  # everything else reads only


@pytest.mark.parametrize("job", ["lock", "build", "publish"])
def test_every_run_step_is_a_nox_session_or_runner_setup(job: str) -> None:
    sessions = set(nox.registry.get())
    for step in steps(job):
        assert all(allowed(command) for command in commands(step)), step
    invoked = nox_sessions(job)
    assert invoked, f"{job} does no work"
    assert {argv[2] for argv in invoked} <= sessions


def test_every_action_is_pinned_by_commit_sha_with_its_version() -> None:
    uses = [step["uses"] for job in JOBS for step in steps(job) if "uses" in step]
    assert uses
    for ref in uses:
        assert PINNED_USES.match(ref), ref
        assert re.search(rf"uses: {re.escape(ref)} # v\d+(\.\d+)*$", TEXT, re.MULTILINE), ref


def test_jobs_that_build_packages_get_the_signing_key_from_the_secret() -> None:
    """lock and build run melange (lock builds the local packages before resolving them),
    which signs with buildkit.toml's signing_key; publish never sees the key."""
    project = load_project(ROOT, env={})
    assert project.signing_key == ROOT / "keys" / "buildkit.rsa"
    secret = {"SIGNING_KEY": "${{ secrets.BUILDKIT_SIGNING_KEY }}"}
    for job in ("lock", "build"):
        (step,) = [s for s in steps(job) if s.get("env") == secret]
        assert "> keys/buildkit.rsa" in step["run"]
    assert not [s for s in steps("publish") if s.get("env") == secret]


def test_the_lock_check_can_build_arm64_packages_on_its_amd64_runner() -> None:
    (qemu,) = [s for s in steps("lock") if s.get("uses", "").startswith("docker/setup-qemu")]
    assert qemu["with"]["platforms"] == "arm64"
    assert DIGEST.search(qemu["with"]["image"])  # the emulator image is pinned too
    assert JOBS["lock"]["runs-on"] == "ubuntu-24.04"


def test_checkouts_do_not_keep_the_token() -> None:
    checkouts = [s for j in JOBS for s in steps(j) if s.get("uses", "").startswith("actions/che")]
    assert len(checkouts) == len(JOBS)
    assert all(s["with"]["persist-credentials"] is False for s in checkouts)


def test_tool_images_are_pinned_by_digest() -> None:
    scopes = [DOCUMENT, *JOBS.values(), *(s for j in JOBS for s in steps(j))]
    overrides = [
        value
        for scope in scopes
        for name, value in (scope.get("env") or {}).items()
        if name in {"BUILDKIT_APKO_IMAGE", "BUILDKIT_MELANGE_IMAGE"}
    ]
    assert all(DIGEST.search(value) for value in overrides)
    project = load_project(ROOT, env={})  # what the workflow uses: buildkit.toml's pins
    assert DIGEST.search(project.apko_image)
    assert DIGEST.search(project.melange_image)


def test_builds_the_field_frameworks_not_the_offline_demo() -> None:
    names = DOCUMENT["env"]["FRAMEWORKS"].split()
    assert names
    assert "demo" not in names
    assert all((ROOT / "frameworks" / f"{name}.yaml").is_file() for name in names)
    for job in JOBS:
        for argv in nox_sessions(job):
            assert argv[-len(names) :] == names
