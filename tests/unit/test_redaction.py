"""Secrets never reach a message, a log or a report line: user information in URLs, registry
credentials (``--registry user:pw@host``, ``BUILDKIT_REGISTRY``), repository URLs with
passwords, authorization values."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from buildkit.actions.plan import plan_package
from buildkit.cli import main
from buildkit.errors import FetchError
from buildkit.melange import parse_package_config
from buildkit.redaction import reason_line, redact
from buildkit.toolchain.process import run_process
from tests.helpers.hostile_server import free_port

SECRET = "s3cret-Pw"


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("https://user:s3cret@host/os", "https://***@host/os"),
        ("https://ghp_TOKEN123@github.com/x.git", "https://***@github.com/x.git"),
        (
            "http://user:p%40ss@127.0.0.1:8040/os/x86_64/APKINDEX.tar.gz",
            "http://***@127.0.0.1:8040/os/x86_64/APKINDEX.tar.gz",
        ),
        ("user:s3cret@127.0.0.1:5000/buildkit/demo", "***@127.0.0.1:5000/buildkit/demo"),
        (
            "registry user:s3cret@registry.example.com is down",
            "registry ***@registry.example.com is down",
        ),
        ("Authorization: Bearer abc.def.ghi", "Authorization: Bearer ***"),
        ("password=hunter2 next", "password=*** next"),
        # what must stay as it is
        ("busybox@local", "busybox@local"),
        ("frameworks/demo.yaml:3: pkg@local>=1.2", "frameworks/demo.yaml:3: pkg@local>=1.2"),
        ("cgr.dev/chainguard/apko@sha256:20dfc1", "cgr.dev/chainguard/apko@sha256:20dfc1"),
        ("127.0.0.1:5000/buildkit/demo@sha256:ab", "127.0.0.1:5000/buildkit/demo@sha256:ab"),
        ("git@github.com:org/repo", "git@github.com:org/repo"),
        ("https://packages.wolfi.dev/os", "https://packages.wolfi.dev/os"),
    ],
)
def test_credentials_are_replaced_and_the_rest_stays_readable(text: str, shown: str) -> None:
    assert redact(text) == shown


def test_an_error_line_never_shows_the_password_of_its_url() -> None:
    error = FetchError("cannot fetch", where=f"https://bob:{SECRET}@repo.example/os")
    assert SECRET not in str(error)
    assert "https://***@repo.example/os" in str(error)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("BUILDKIT_CACHE", str(tmp_path / "cache"))
    root = tmp_path / "project"
    (root / "frameworks").mkdir(parents=True)
    (root / "buildkit.toml").write_text('[project]\narchs = ["x86_64"]\n')
    return root


@pytest.mark.parametrize("how", ["--registry", "BUILDKIT_REGISTRY"])
def test_registry_credentials_are_not_printed(
    project: Path, how: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    registry = f"user:{SECRET}@127.0.0.1:{free_port()}"
    argv = ["-C", str(project), "publish"]
    if how == "--registry":
        argv += ["--registry", registry]
    else:
        monkeypatch.setenv("BUILDKIT_REGISTRY", registry)
    assert main(argv) != 0
    err = capsys.readouterr().err
    assert "***@127.0.0.1" in err
    assert SECRET not in err


def test_a_repository_url_with_a_password_is_not_printed(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BUILDKIT_FETCH_TIMEOUT", "5")
    url = f"http://bob:{SECRET}@127.0.0.1:{free_port()}/os"
    (project / "frameworks" / "demo.yaml").write_text(
        f"contents:\n  keyring:\n    - {url}/key.rsa.pub\n  repositories:\n    - {url}\n"
        "  packages:\n    - app\nentrypoint:\n  command: /bin/sh\n"
    )
    assert main(["-C", str(project), "lock", "--skip-packages"]) != 0
    err = capsys.readouterr().err
    assert "http://***@127.0.0.1" in err
    assert SECRET not in err


def test_a_tool_log_never_shows_a_password_on_its_command_line(tmp_path: Path) -> None:
    log = tmp_path / "tool.log"
    run_process(["true", "--repository-append", f"https://bob:{SECRET}@repo.example/os"], log=log)
    assert SECRET not in log.read_text()
    assert "https://***@repo.example/os" in log.read_text()


def test_a_package_record_keeps_no_repository_password(tmp_path: Path) -> None:
    config_bytes = (
        "package:\n  name: hello\n  version: 1.0.0\n  epoch: 0\n"
        "environment:\n  contents:\n    repositories:\n"
        f"      - https://bob:{SECRET}@repo.example/os\n"
        f"    keyring:\n      - https://bob:{SECRET}@repo.example/os/key.rsa.pub\n"
        "pipeline:\n  - runs: 'true'\n"
    ).encode()
    config = parse_package_config(config_bytes, path=tmp_path / "hello.yaml")
    action = plan_package(
        config,
        config_bytes=config_bytes,
        source_tree=None,
        arch="x86_64",
        melange_image="melange@sha256:" + "a" * 64,
        source_date_epoch=0,
        signing_key="none",
        local_deps={},
    )
    assert SECRET not in json.dumps(action.inputs.to_dict())
    assert action.inputs.repositories == ("https://***@repo.example/os",)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("docker: Error response from daemon: no such image\n", "no such image"),
        ("Error: creating container: resource busy", "creating container: resource busy"),
        ("docker: invalid reference format\nRun 'docker run --help' for more information\n",
         "invalid reference format"),
        ("pulling\nerror: GET https://u:hunter2@r.example/v2/: 401\n",
         "GET https://***@r.example/v2/: 401"),
        ("unable to upgrade to tcp, received 409\n# buildkit: the engine never started it\n",
         "unable to upgrade to tcp, received 409"),
        ("", ""),
        ("\n  \n", ""),
    ],
)  # fmt: skip
def test_the_reason_line_is_the_last_one_that_can_say_why(text: str, expected: str) -> None:
    assert reason_line(text) == expected
