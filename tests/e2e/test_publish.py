"""Publishing the demo for real: engine, docker CLI, the local registry, arm64 under emulation.

One fresh copy of the project (its own signing key, lockfile and dist/) is built once per module
and published to a repository of its own in the shared registry (127.0.0.1:5000), so nothing
another run publishes is touched. Faults use other loopback ports (nothing listening, or a tiny
server answering 401), never the shared registry. Needs the environment from
``$BUILDKIT_CACHE/env`` (scripts/setup).
"""

from __future__ import annotations

import http.server
import json
import os
import shlex
import shutil
import socket
import subprocess
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from buildkit import cli
from buildkit.project.config import default_cache_dir

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
REGISTRY = "127.0.0.1:5000"
PLATFORMS = {"x86_64": "linux/amd64", "aarch64": "linux/arm64"}
ENV = (
    "DOCKER_HOST",
    "BUILDKIT_APKO_IMAGE",
    "BUILDKIT_MELANGE_IMAGE",
    "BUILDKIT_BUSYBOX_AMD64",
    "BUILDKIT_BUSYBOX_ARM64",
)


def _machine_env() -> dict[str, str]:
    env_file = default_cache_dir() / "env"
    values: dict[str, str] = {}
    if env_file.is_file():
        for line in env_file.read_text(encoding="utf-8").splitlines():
            words = shlex.split(line, comments=True)
            if len(words) == 2 and words[0] == "export" and "=" in words[1]:
                name, _, value = words[1].partition("=")
                values[name] = value
    chosen = {name: os.environ.get(name) or values.get(name, "") for name in ENV}
    missing = [name for name, value in chosen.items() if not value]
    assert not missing, f"{', '.join(missing)} not set: run scripts/setup, then . {env_file}"
    return chosen


def _docker(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def _inspect(ref: str, *, verbose: bool = False) -> Any:
    flags = ["--insecure"] + (["--verbose"] if verbose else [])
    done = _docker("manifest", "inspect", *flags, ref)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A copy of the project, with a key of its own, locked and built for both archs."""
    root = tmp_path_factory.mktemp("publish-e2e")
    shutil.copy(ROOT / "buildkit.toml", root / "buildkit.toml")
    shutil.copytree(ROOT / "frameworks", root / "frameworks")
    shutil.copytree(ROOT / "packages", root / "packages", ignore=shutil.ignore_patterns(*PLATFORMS))
    repository = f"buildkit-e2e-{uuid.uuid4().hex[:8]}"
    with pytest.MonkeyPatch.context() as patch:
        for name, value in _machine_env().items():
            patch.setenv(name, value)
        for name in ("BUILDKIT_REGISTRY", "BUILDKIT_TAG", "BUILDKIT_ENGINE"):
            patch.delenv(name, raising=False)
        patch.setenv("BUILDKIT_REPOSITORY", repository)
        assert cli.run(["-C", str(root), "keygen"]) == 0
        assert cli.run(["-C", str(root), "lock"]) == 0
        assert cli.run(["-C", str(root), "build"]) == 0
        yield root
        _remove_local_images(repository)


def _remove_local_images(repository: str) -> None:
    """Untag what this module loaded, pulled and tagged (the registry keeps its copy)."""
    listed = _docker("images", "--format", "{{.Repository}}:{{.Tag}}").stdout.split()
    mine = [name for name in listed if f"/{repository}/" in f"/{name}"]
    if mine:
        _docker("rmi", *mine)


@pytest.fixture(scope="module")
def published(demo: Path) -> dict[str, Any]:
    assert cli.run(["-C", str(demo), "publish"]) == 0
    record: dict[str, Any] = json.loads((demo / "dist" / "demo" / "publish.json").read_text())
    return record


def _build_record(demo: Path, arch: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((demo / "dist" / "demo" / f"{arch}.json").read_text())
    return data


def _greeting() -> str:
    config = yaml.safe_load((ROOT / "packages" / "hello-buildkit.yaml").read_text())
    return str(config["vars"]["greeting"])


def test_the_published_list_matches_what_publish_recorded_and_the_builds(
    demo: Path, published: dict[str, Any]
) -> None:
    listed = _inspect(published["list"]["reference"], verbose=True)
    platforms = {
        (e["Descriptor"]["platform"]["architecture"], e["Descriptor"]["platform"].get("variant"))
        for e in listed
    }
    assert platforms == {("amd64", None), ("arm64", "v8")}
    by_arch = {e["Descriptor"]["platform"]["architecture"]: e for e in listed}
    for arch, oci in (("x86_64", "amd64"), ("aarch64", "arm64")):
        entry, image = by_arch[oci], published["images"][arch]
        manifest = entry.get("OCIManifest") or entry["SchemaV2Manifest"]
        assert entry["Descriptor"]["digest"] == image["manifest_digest"]
        assert manifest["config"]["digest"] == image["config_digest"]
        assert (
            image["config_digest"] == _build_record(demo, arch)["outputs"]["image"]["config_digest"]
        )
    by_digest = f"{published['list']['reference'].rsplit(':', 1)[0]}@{published['list']['digest']}"
    assert len(_inspect(by_digest, verbose=True)) == 2


@pytest.mark.parametrize("arch", list(PLATFORMS))
def test_pulling_each_platform_runs_the_demo(
    demo: Path, published: dict[str, Any], arch: str
) -> None:
    ref, platform = published["list"]["reference"], PLATFORMS[arch]
    pulled = _docker("pull", "--platform", platform, ref)
    assert pulled.returncode == 0, pulled.stderr
    image_id = _docker("image", "inspect", "--format", "{{.Id}}", ref).stdout.strip()
    assert image_id == _build_record(demo, arch)["outputs"]["image"]["config_digest"]
    ran = _docker("run", "--rm", "--pull", "never", "--platform", platform, ref)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == _greeting()


def _layer_links(reference: str) -> dict[str, float]:
    """mtimes of the registry's layer links for a repository: a blob upload rewrites its link."""
    config = yaml.safe_load((default_cache_dir() / "registry" / "config.yml").read_text())
    repo = reference.split("/", 1)[1].rsplit(":", 1)[0]
    base = Path(config["storage"]["filesystem"]["rootdirectory"])
    layers = base / "docker" / "registry" / "v2" / "repositories" / repo / "_layers"
    assert layers.is_dir(), f"no layers for {repo} under {base}"
    return {str(p): p.stat().st_mtime for p in layers.rglob("link")}


def test_publishing_again_changes_nothing_and_uploads_no_layer(
    demo: Path, published: dict[str, Any]
) -> None:
    path = demo / "dist" / "demo" / "publish.json"
    before, links = path.read_bytes(), _layer_links(published["list"]["reference"])
    assert cli.run(["-C", str(demo), "publish"]) == 0
    assert path.read_bytes() == before
    assert _layer_links(published["list"]["reference"]) == links


def test_a_stale_local_list_from_an_earlier_run_is_replaced(
    demo: Path, published: dict[str, Any]
) -> None:
    ref = published["list"]["reference"]
    amd64 = published["images"]["x86_64"]["reference"]
    _docker("manifest", "rm", ref)
    created = _docker("manifest", "create", "--insecure", ref, amd64)
    assert created.returncode == 0, created.stderr
    assert cli.run(["-C", str(demo), "publish"]) == 0
    assert len(_inspect(ref)["manifests"]) == 2


def test_dry_run_prints_the_plan_and_pushes_nothing(
    demo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = sorted(p.name for p in (demo / "dist").rglob("*"))
    assert cli.run(["-C", str(demo), "publish", "--dry-run", "--tag", "never-pushed"]) == 0
    assert "docker manifest push --insecure --purge" in capsys.readouterr().out
    assert sorted(p.name for p in (demo / "dist").rglob("*")) == before
    ref = f"{REGISTRY}/{os.environ['BUILDKIT_REPOSITORY']}/demo:never-pushed"
    assert _docker("manifest", "inspect", "--insecure", ref).returncode != 0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _publish_fails(demo: Path, capsys: pytest.CaptureFixture[str], *args: str) -> str:
    path = demo / "dist" / "demo" / "publish.json"
    before = path.read_bytes() if path.exists() else None
    assert cli.main(["-C", str(demo), "publish", *args]) == 1
    assert (path.read_bytes() if path.exists() else None) == before  # nothing recorded
    lines = capsys.readouterr().err.strip().splitlines()  # progress, then the error
    errors = [line for line in lines if line.startswith("buildkit: error:")]
    assert errors == lines[-1:], lines
    return errors[0]


def test_a_registry_that_is_down_fails_cleanly_after_retries(
    demo: Path, published: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    line = _publish_fails(demo, capsys, "--registry", f"127.0.0.1:{_free_port()}")
    assert "the registry is unreachable after 4 attempts" in line
    assert "nothing was recorded as published" in line


class _Unauthorized(http.server.BaseHTTPRequestHandler):
    def _refuse(self) -> None:
        body = b'{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}'
        self.send_response(401)
        self.send_header("WWW-Authenticate", 'Basic realm="buildkit-e2e"')
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    # http.server dispatches on these names.
    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = _refuse  # noqa: N815

    def log_message(self, format: str, *args: Any) -> None:
        return None


@pytest.fixture
def unauthorized_registry() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Unauthorized)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_401_says_to_log_in(
    demo: Path,
    published: dict[str, Any],
    unauthorized_registry: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The podman CLI: the docker CLI's engine (podman's service) insists on HTTPS for any
    # registry its registries.conf does not list, so a plain-HTTP 401 only reaches podman's
    # --tls-verify=false push (buildkit passes it for loopback registries).
    monkeypatch.setenv("BUILDKIT_ENGINE", "podman")
    line = _publish_fails(demo, capsys, "--registry", unauthorized_registry)
    assert "the registry refused the request" in line
    assert f"run `docker login {unauthorized_registry}`" in line


def test_a_tampered_tarball_is_refused_before_any_push(
    demo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copy = tmp_path / "project"
    shutil.copytree(demo, copy, symlinks=True)
    (copy / "dist" / "demo" / "publish.json").unlink(missing_ok=True)
    tarball = json.loads((copy / "dist" / "demo" / "aarch64.json").read_text())["outputs"][
        "tarball"
    ]["digest"]
    path = copy / "dist" / "sha256" / tarball.removeprefix("sha256:")
    path.chmod(0o644)
    with path.open("r+b") as handle:
        handle.seek(100)
        handle.write(b"tampered")
    line = _publish_fails(copy, capsys, "--tag", "tampered")
    assert "refusing to publish demo for aarch64" in line
    assert "does not match its bytes" in line
    ref = f"{REGISTRY}/{os.environ['BUILDKIT_REPOSITORY']}/demo:tampered-amd64"
    assert _docker("manifest", "inspect", "--insecure", ref).returncode != 0
