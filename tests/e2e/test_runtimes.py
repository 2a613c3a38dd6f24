"""Real runtimes end to end: Python 3.11, Java 17 and the password generator, on both arches.

A copy of the project's three runtime frameworks (python3-11-local, java17-local,
password-generator-local, from the runtime repository scripts/setup serves on 127.0.0.1:8041)
with its own signing key is locked, built for amd64 and arm64 (arm64 under emulation; the
password generator's melange pipeline runs the app's unit tests on that arch's Python) and
published, unsigned, to the local registry under a repository unique to this run. Each image is
then run from the registry by the digest its build record names:

- Python: ``python3 -c 'import ssl, sqlite3, json; ...'`` prints the OpenSSL version;
- Java: ``java -version``, then a tiny class compiled on the host, mounted in, runs and prints;
  its default trust store holds the CA certificates (TLS works);
- the password generator runs detached, answers /healthz and /api/password from the host, and
  ``docker stop`` ends it within 2 s (it exits on SIGTERM);
- in each arm64 image, busybox applets called by bare name work under emulation:
  ``sh -c 'sleep 0 && cat /etc/os-release'`` prints the image's file (the images are
  distroless, so the arm64 static busybox is mounted in with its applet links).

Built once per module (one build per arch per framework). Needs ``$BUILDKIT_CACHE/env``.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from buildkit.apk.atom import parse_atom
from buildkit.apk.index import parse_index
from buildkit.apk.keys import Keyring, generate_keypair
from tests.helpers.demo import ARCHS, Demo, docker
from tests.helpers.paths import PROJECT_ROOT

pytestmark = pytest.mark.e2e

FRAMEWORKS = ("python3-11-local", "java17-local", "password-generator-local")
APP = "password-generator-local"
REGISTRY = "127.0.0.1:5000"
RUNTIMES = "http://127.0.0.1:8041/os"
APPLETS = "sleep 0 && cat /etc/os-release"
HELLO = """\
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509TrustManager;
import java.security.KeyStore;

public class Hello {
    public static void main(String[] args) throws Exception {
        TrustManagerFactory factory =
            TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        factory.init((KeyStore) null);
        X509TrustManager trust = (X509TrustManager) factory.getTrustManagers()[0];
        System.out.println("Hello from Java " + System.getProperty("java.version") + " on "
            + System.getProperty("os.arch") + ", trusting "
            + trust.getAcceptedIssuers().length + " CAs");
    }
}
"""


@dataclass(frozen=True)
class Built:
    demo: Demo
    repository: str

    def image(self, framework: str, arch: str) -> str:
        """The arch's image in the registry, by the digest its build record names."""
        path = self.demo.root / "dist" / framework / f"{arch}.json"
        record = json.loads(path.read_text())
        digest = record["outputs"]["image"]["manifest_digest"]
        return f"{REGISTRY}/{self.repository}/{framework}@{digest}"


def _project(base: Path) -> Path:
    root = base / "project"
    (root / "frameworks").mkdir(parents=True)
    (root / "packages").mkdir()
    for name in FRAMEWORKS:
        shutil.copy(PROJECT_ROOT / "frameworks" / f"{name}.yaml", root / "frameworks")
    shutil.copy(PROJECT_ROOT / "packages" / f"{APP}.yaml", root / "packages")
    shutil.copytree(
        PROJECT_ROOT / "apps" / "password-generator",
        root / "packages" / APP,
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    names = ", ".join(f'"{n}"' for n in FRAMEWORKS)
    (root / "buildkit.toml").write_text(
        f'[project]\narchs = ["x86_64", "aarch64"]\nframeworks = [{names}]\n'
        'signing_key = "keys/buildkit.rsa"\n'
    )
    generate_keypair(root / "keys" / "buildkit.rsa", bits=2048)
    return root


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    for name in ("DOCKER_HOST", "BUILDKIT_APKO_IMAGE", "BUILDKIT_MELANGE_IMAGE"):
        assert os.environ.get(name), f"{name} is not set: source $BUILDKIT_CACHE/env"
    repository = f"e2e-runtimes-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "BUILDKIT_REPOSITORY": repository,
        "BUILDKIT_REGISTRY": REGISTRY,
        "BUILDKIT_SIGNING": "none",  # signing is test_publish.py's subject
    }
    demo = Demo(root=_project(tmp_path_factory.mktemp("runtimes")), env=env)
    demo.ok("lock")
    demo.ok("build")
    demo.ok("publish")
    result = Built(demo=demo, repository=repository)
    yield result
    # The engine's copies (build loads each image; the tests pull them by digest).
    for framework in FRAMEWORKS:
        for arch, oci, _platform in ARCHS:
            docker("rmi", "-f", f"localhost/{repository}/{framework}:latest-{oci}")
            docker("rmi", "-f", result.image(framework, arch))


def _served(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as response:
        return bytes(response.read())


@pytest.mark.parametrize("arch", [arch for arch, _oci, _platform in ARCHS])
def test_the_runtime_repository_is_signed_and_meets_every_dependency_itself(arch: str) -> None:
    """scripts/runtime_repo.py's output as served: signed by the served key, holding what the
    runtime frameworks ask for, and every package's dependencies met inside it."""
    # The frameworks name this address; scripts/setup also exports it as BUILDKIT_RUNTIMES_URL.
    base = os.environ.get("BUILDKIT_RUNTIMES_URL", RUNTIMES)
    key_url = f"{base}/buildkit-runtimes.rsa.pub"
    keyring = Keyring.from_pems({key_url.rsplit("/", 1)[-1]: _served(key_url)})
    url = f"{base}/{arch}/APKINDEX.tar.gz"
    index = parse_index(_served(url), where=url, keyring=keyring)
    assert index.signers == ("buildkit-runtimes.rsa.pub",)
    records = {record.name: record for record in index.records}
    wanted = {"wolfi-baselayout", "ca-certificates-bundle", "glibc-locale-posix", "python-3.11"}
    wanted |= {"openjdk-17-jre", "openjdk-17-default-jvm", "busybox", "libc6", "java-cacerts"}
    assert wanted <= set(records)
    assert any(p.startswith("cmd:install=") for p in records["busybox"].provides)
    offered = set(records) | {parse_atom(p).name for r in index.records for p in r.provides}
    unmet = sorted(
        f"{r.name} -> {d}"
        for r in index.records
        for d in r.depends
        if parse_atom(d).name not in offered
    )
    assert unmet == []


def _run(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    done = docker("run", "--rm", *args, timeout=timeout)
    assert done.returncode == 0, f"docker run {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done


@pytest.mark.parametrize(("arch", "oci", "platform"), ARCHS)
def test_python_imports_ssl_sqlite3_and_json_and_prints_the_openssl_version(
    built: Built, arch: str, oci: str, platform: str
) -> None:
    image = built.image("python3-11-local", arch)
    code = "import ssl, sqlite3, json; print(ssl.OPENSSL_VERSION)"
    done = _run("--platform", platform, "--entrypoint", "python3", image, "-c", code)
    assert done.stdout.startswith("OpenSSL 3."), done.stdout


@pytest.fixture(scope="module")
def hello_class(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Hello.class, compiled for Java 17 by the host's javac (this project's machines have a
    JDK); its folder is mounted into the Java image."""
    javac = shutil.which("javac")
    assert javac, "javac is not on PATH: this test compiles a class for the Java image"
    folder = tmp_path_factory.mktemp("java")
    (folder / "Hello.java").write_text(HELLO)
    subprocess.run(
        [javac, "--release", "17", "-d", str(folder), str(folder / "Hello.java")],
        check=True,
        capture_output=True,
        timeout=120,
    )
    (folder / "Hello.class").chmod(0o644)
    folder.chmod(0o755)  # the image runs as an unprivileged user
    return folder


@pytest.mark.parametrize(("arch", "oci", "platform"), ARCHS)
def test_java_reports_version_17_and_runs_a_mounted_class_that_trusts_the_ca_bundle(
    built: Built, hello_class: Path, arch: str, oci: str, platform: str
) -> None:
    image = built.image("java17-local", arch)
    version = _run("--platform", platform, image)  # the image's cmd is -version
    assert 'openjdk version "17.' in version.stderr, version.stderr
    done = _run(
        "--platform", platform, "-v", f"{hello_class}:/app:ro", image, "-cp", "/app", "Hello"
    )
    line = done.stdout.strip()
    assert line.startswith("Hello from Java 17."), line
    assert f"on {'amd64' if arch == 'x86_64' else 'aarch64'}," in line
    trusted = int(line.rsplit("trusting ", 1)[1].split()[0])
    assert trusted > 100, line  # the Mozilla bundle: about 140 CAs


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=5) as response:
        return int(response.status), response.read()


def _wait_healthy(url: str, deadline: float) -> None:
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            status, body = _get(url)
        except OSError as exc:
            last = exc
            time.sleep(0.5)
            continue
        assert (status, body) == (200, b"ok\n")
        return
    raise AssertionError(f"{url} did not answer: {last}")


@pytest.mark.parametrize(("arch", "oci", "platform"), ARCHS)
def test_the_password_generator_serves_over_http_and_stops_on_sigterm_within_2s(
    built: Built, arch: str, oci: str, platform: str
) -> None:
    image = built.image(APP, arch)
    port = _free_port()
    name = f"{built.repository}-{arch}"
    started = docker(
        "run", "-d", "--name", name, "--platform", platform, "-p", f"127.0.0.1:{port}:8080", image
    )
    assert started.returncode == 0, started.stderr
    try:
        _wait_healthy(f"http://127.0.0.1:{port}/healthz", time.monotonic() + 120)
        status, body = _get(f"http://127.0.0.1:{port}/api/password?length=24")
        assert status == 200
        answer = json.loads(body)
        assert answer["length"] == 24
        assert len(answer["password"]) == 24
        # `docker stop --time 2`: SIGTERM, then SIGKILL after 2 s. Exit code 0 means the app
        # ended on SIGTERM within those 2 s (a SIGKILL would give 137), as the engine judges
        # it; the command's own wall time also counts the engine's teardown, slow under load.
        begin = time.monotonic()
        stopped = docker("stop", "--time", "2", name)
        took = time.monotonic() - begin
        assert stopped.returncode == 0, stopped.stderr
        state = docker("inspect", "--format", "{{.State.ExitCode}}", name).stdout.strip()
        assert state == "0", f"exit code {state} after {took:.1f}s: SIGTERM did not end the app"
    finally:
        docker("rm", "--force", name)


@pytest.fixture(scope="module")
def applets(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The arm64 static busybox (scripts/setup's) with links for the applets the check calls."""
    binary = os.environ.get("BUILDKIT_BUSYBOX_ARM64", "")
    assert Path(binary).is_file(), "BUILDKIT_BUSYBOX_ARM64 names no busybox: source the env"
    folder = tmp_path_factory.mktemp("applets") / "bin"
    folder.mkdir()
    shutil.copyfile(binary, folder / "busybox")
    (folder / "busybox").chmod(0o755)
    for applet in ("sh", "sleep", "cat"):
        (folder / applet).symlink_to("busybox")
    return folder


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_busybox_applets_called_by_bare_name_work_in_each_arm64_image(
    built: Built, applets: Path, framework: str
) -> None:
    image = built.image(framework, "aarch64")
    done = _run(
        "--platform", "linux/arm64",
        "-v", f"{applets}:/.buildkit/bin:ro",
        "-e", "PATH=/.buildkit/bin",
        "--entrypoint", "/.buildkit/bin/sh",
        image, "-c", APPLETS,
    )  # fmt: skip
    assert "ID=buildkit-runtimes" in done.stdout, done.stdout + done.stderr
