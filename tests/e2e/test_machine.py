"""The machine scripts/setup prepares: what every build and publish stands on.

The engine answers the real docker CLI, the registry speaks the v2 API, the tool images are
pinned by digests the registry holds, arm64 images and sandboxes run under emulation, and the
bootstrap repository serves a signed index (and packages) that buildkit itself verifies with
the key the same server publishes. Needs the environment from ``$BUILDKIT_CACHE/env``.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tarfile
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from buildkit.apk.index import ApkIndex, IndexRecord, parse_index
from buildkit.apk.keys import Keyring
from buildkit.apk.package import extract_package, verify_package
from buildkit.apk.version import compare_versions
from buildkit.project.config import load_project

pytestmark = pytest.mark.e2e

ARCHS = [  # (docker platform, busybox env var, apk arch, `uname -m`)
    ("linux/amd64", "BUILDKIT_BUSYBOX_AMD64", "x86_64", "x86_64"),
    ("linux/arm64", "BUILDKIT_BUSYBOX_ARM64", "aarch64", "aarch64"),
]
MANIFEST_TYPES = (
    "application/vnd.oci.image.manifest.v1+json, "
    "application/vnd.docker.distribution.manifest.v2+json"
)


def _env(name: str) -> str:
    value = os.environ.get(name, "")
    assert value, f"{name} is not set: run scripts/setup and source $BUILDKIT_CACHE/env"
    return value


def _docker(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    _env("DOCKER_HOST")
    return subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), b""


def _registry() -> str:
    return load_project(Path(__file__).resolve().parents[2]).registry


def test_engine_answers_the_docker_cli_through_docker_host() -> None:
    done = _docker("version", "--format", "{{.Server.APIVersion}}", timeout=30)

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip(), "the engine reported no API version"


def test_registry_answers_the_v2_api() -> None:
    status, headers, _ = _get(f"http://{_registry()}/v2/")

    assert status == 200
    assert headers.get("Docker-Distribution-Api-Version") == "registry/2.0"


@pytest.mark.parametrize(
    "variable",
    [
        "BUILDKIT_APKO_IMAGE",
        "BUILDKIT_MELANGE_IMAGE",
        "BUILDKIT_COSIGN_IMAGE",
        "BUILDKIT_CRANE_IMAGE",
    ],
)
def test_tool_image_is_pinned_by_a_digest_the_registry_holds(variable: str) -> None:
    ref = _env(variable)
    name, _, digest = ref.partition("@")
    registry, _, repository = name.partition("/")

    assert digest.startswith("sha256:"), f"{variable}={ref} is not pinned by digest"
    status, headers, _ = _get(
        f"http://{registry}/v2/{repository}/manifests/{digest}", {"Accept": MANIFEST_TYPES}
    )
    assert status == 200, f"{ref} is not in the registry"
    assert headers.get("Docker-Content-Digest") == digest


def _rootfs_tar(busybox: Path) -> bytes:
    """A root file system with a static busybox as /bin/busybox, /bin/sh and /bin/uname."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        tar.add(busybox, arcname="bin/busybox")
        for applet in ("sh", "uname"):
            link = tarfile.TarInfo(f"bin/{applet}")
            link.type, link.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(link)
    return out.getvalue()


ImageFactory = Callable[[str, Path], str]


@pytest.fixture
def import_image(tmp_path: Path) -> Iterator[ImageFactory]:
    """`docker import` a busybox root for a platform; the images are removed afterwards."""
    made: list[str] = []

    def make(platform: str, busybox: Path) -> str:
        tarball = tmp_path / f"rootfs-{platform.replace('/', '-')}.tar"
        tarball.write_bytes(_rootfs_tar(busybox))
        name = f"buildkit-e2e/busybox:{uuid.uuid4().hex[:12]}"
        done = _docker("import", "--platform", platform, str(tarball), name)
        assert done.returncode == 0, done.stderr
        made.append(name)
        return name

    yield make
    for name in made:
        _docker("rmi", "-f", name)


@pytest.mark.parametrize(("platform", "variable", "apk_arch", "machine"), ARCHS)
def test_image_of_each_platform_runs_through_the_docker_cli(
    import_image: ImageFactory, platform: str, variable: str, apk_arch: str, machine: str
) -> None:
    image = import_image(platform, Path(_env(variable)))

    done = _docker("run", "--rm", "--network", "none", "--platform", platform, image, "uname", "-m")

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == machine


def _bootstrap_keyring() -> Keyring:
    url = _env("BUILDKIT_BOOTSTRAP_KEY_URL")
    status, _, pem = _get(url)
    assert status == 200, f"{url} answered {status}"
    return Keyring.from_pems({url.rsplit("/", 1)[-1]: pem})


def _bootstrap_index(apk_arch: str) -> tuple[str, ApkIndex]:
    base = f"{_env('BUILDKIT_BOOTSTRAP_URL')}/{apk_arch}"
    status, _, data = _get(f"{base}/APKINDEX.tar.gz")
    assert status == 200
    return base, parse_index(data, where=f"{base}/APKINDEX.tar.gz", keyring=_bootstrap_keyring())


@pytest.mark.parametrize("apk_arch", [arch[2] for arch in ARCHS])
def test_bootstrap_index_is_signed_by_the_served_key(apk_arch: str) -> None:
    _, index = _bootstrap_index(apk_arch)

    assert index.signers == ("buildkit-bootstrap.rsa.pub",)
    names = {record.name for record in index.records}
    assert {"busybox", "buildkit-baselayout"} <= names
    assert {record.arch for record in index.records} == {apk_arch}
    busybox = next(r for r in index.records if r.name == "busybox")
    assert any(p.startswith("cmd:sh=") for p in busybox.provides)


@pytest.mark.parametrize("apk_arch", [arch[2] for arch in ARCHS])
def test_bootstrap_packages_match_their_index_entries(apk_arch: str) -> None:
    base, index = _bootstrap_index(apk_arch)
    keyring = _bootstrap_keyring()

    for record in index.records:
        status, _, data = _get(f"{base}/{record.filename}")
        assert status == 200, record.filename
        assert len(data) == record.size
        verify_package(
            data, where=record.filename, keyring=keyring, expected_identity=record.checksum
        )


def test_bootstrap_server_revalidates_with_if_modified_since() -> None:
    url = f"{_env('BUILDKIT_BOOTSTRAP_URL')}/x86_64/APKINDEX.tar.gz"
    status, headers, _ = _get(url)
    assert status == 200
    stamp = headers.get("Last-Modified") or ""
    assert stamp, "the bootstrap server sends no Last-Modified"

    status, _, body = _get(url, {"If-Modified-Since": stamp})

    assert status == 304
    assert body == b""


@pytest.mark.parametrize(("apk_arch", "machine"), [(arch[2], arch[3]) for arch in ARCHS])
def test_bootstrap_packages_make_a_root_that_runs_in_bubblewrap(
    tmp_path: Path, apk_arch: str, machine: str
) -> None:
    """What melange's build sandbox does: a root from the packages, entered with bwrap."""
    base, index = _bootstrap_index(apk_arch)
    root = tmp_path / "root"
    newest: dict[str, IndexRecord] = {}
    for record in index.records:  # the repository also keeps an older busybox (scan's demo)
        kept = newest.get(record.name)
        if kept is None or compare_versions(record.version, kept.version) > 0:
            newest[record.name] = record
    for record in newest.values():  # as apk installs them: every package into the one root
        _, _, data = _get(f"{base}/{record.filename}")
        unpacked = tmp_path / record.name
        extract_package(data, unpacked, where=record.filename)
        shutil.copytree(unpacked, root, symlinks=True, dirs_exist_ok=True)
    bwrap = shutil.which("bwrap")
    assert bwrap, "bwrap is missing (scripts/setup installs bubblewrap)"

    sandbox = [bwrap, "--unshare-all", "--bind", str(root), "/", "--proc", "/proc", "--dev", "/dev"]

    done = subprocess.run(
        [*sandbox, "/bin/sh", "-c", "uname -m; id -u; test -d /tmp && echo tmp"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [machine, "0", "tmp"]
