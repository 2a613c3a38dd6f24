"""Publish benchmark: first publish vs re-publish, what cosign adds, and crane vs a raw upload.

Needs the machine scripts/setup prepares (engine, crane and cosign tool images, the docker CLI)
and a built demo in this checkout (`nox -s lock build`). It copies the project into a temporary
folder (the checkout's dist/ is not touched) and starts its own registry (Debian's
docker-registry on 127.0.0.1:5006, storage in the temporary folder, stopped at the end).

Measured, in one run, each as the median of --runs:

1. publish of the demo (both arches, no signing) to a fresh repository, against publishing it
   again (every blob already there: the registry's log must show no upload);
2. the same first publish with cosign signing and attesting (key mode, offline), against
   without: what signing adds; and a signed re-publish (verification only);
3. pushing one large image (a --size-mb incompressible layer in an apko-shaped tarball) the
   way publish does (OCI layout + crane in its container), against a raw upload of the same
   blobs (one monolithic POST+PUT per blob over HTTP from this process: the floor).

    .venv/bin/python benchmarks/bench_publish.py --runs 3 --size-mb 256
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import io
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from pathlib import Path

from buildkit import cli as buildkit_cli
from buildkit.commands.publish import tools_for
from buildkit.project.config import load_project
from buildkit.store import Store
from buildkit.toolchain import Engine
from buildkit.toolchain.supply import crane_push_spec
from buildkit.usecases.publishing import oci_layout

ROOT = Path(__file__).resolve().parents[1]
PORT = 5006
PASSWORD = "bench-cosign-password"


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@contextmanager
def registry(folder: Path) -> Iterator[tuple[str, Path]]:
    config = folder / "config.yml"
    config.write_text(
        "version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n"
        f"    rootdirectory: {folder / 'data'}\nhttp:\n  addr: 127.0.0.1:{PORT}\n"
    )
    log = folder / "registry.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            ["docker-registry", "serve", str(config)], stdout=out, stderr=subprocess.STDOUT
        )
    try:
        for _ in range(100):
            try:
                with socket.create_connection(("127.0.0.1", PORT), timeout=0.2):
                    break
            except OSError:
                time.sleep(0.05)
        yield f"127.0.0.1:{PORT}", log
    finally:
        process.terminate()
        process.wait(timeout=10)


def uploads(log: Path) -> int:
    return len(re.findall(r'"POST /v2/\S+/blobs/uploads/', log.read_text(errors="replace")))


def timed(call: Callable[..., object], *args: object) -> float:
    start = time.perf_counter()
    call(*args)
    return time.perf_counter() - start


def run_cli(root: Path, *args: str) -> None:
    with redirect_stdout(io.StringIO()), redirect_stderr(io.StringIO()) as err:
        code = buildkit_cli.main(["-C", str(root), *args])
    if code != 0:
        sys.stderr.write(err.getvalue())
    if code != 0:
        raise SystemExit(f"buildkit {' '.join(args)} failed ({code})")


def copy_project(dest: Path) -> Path:
    root = dest / "project"
    root.mkdir()
    for name in ("buildkit.toml", "frameworks", "lockfiles", "keys", "packages", "dist"):
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, root / name, symlinks=True)
        elif source.exists():
            shutil.copy2(source, root / name)
    (root / "dist" / "demo" / "publish.json").unlink(missing_ok=True)
    return root


def large_tarball(path: Path, size_mb: int) -> tuple[str, list[tuple[str, bytes | Path]]]:
    """An apko-shaped tarball with one incompressible layer; returns the manifest digest and
    the blobs (digest, bytes or file) for the raw upload."""
    layer = path.with_suffix(".layer")
    hasher = hashlib.sha256()
    with layer.open("wb") as out:
        for _ in range(size_mb):
            chunk = os.urandom(1 << 20)
            hasher.update(chunk)
            out.write(chunk)
    layer_digest = "sha256:" + hasher.hexdigest()
    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {}}).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "size": len(config),
                "digest": _digest(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "size": size_mb << 20,
                    "digest": layer_digest,
                }
            ],
        }
    ).encode()
    with tarfile.open(path, "w") as archive:
        for name, data in ((_digest(config), config), (_digest(manifest), manifest)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        archive.add(layer, arcname=layer_digest.removeprefix("sha256:") + ".tar.gz")
    return _digest(manifest), [(_digest(config), config), (layer_digest, layer)]


def raw_upload(address: str, repo: str, blobs: list[tuple[str, bytes | Path]]) -> None:
    """The floor: one monolithic upload per blob (POST, then PUT with the bytes)."""
    host, port = address.split(":")
    for digest, data in blobs:
        conn = http.client.HTTPConnection(host, int(port), timeout=600)
        conn.request("POST", f"/v2/{repo}/blobs/uploads/")
        response = conn.getresponse()
        response.read()
        location = response.headers["Location"]
        path = location.split(address, 1)[-1]
        joiner = "&" if "?" in path else "?"
        body = data if isinstance(data, bytes) else data.open("rb")
        size = len(data) if isinstance(data, bytes) else data.stat().st_size
        conn.request(
            "PUT",
            f"{path}{joiner}digest={digest}",
            body=body,
            headers={"Content-Length": str(size), "Content-Type": "application/octet-stream"},
        )
        done = conn.getresponse()
        done.read()
        if done.status != 201:
            raise SystemExit(f"raw upload of {digest} failed: {done.status}")
        conn.close()


def crane_push(root: Path, address: str, repo: str, tarball: Path, manifest: str) -> None:
    """One image the way publish pushes it (Publisher._push_image's steps)."""

    project = load_project(root)
    tools = tools_for(project, signing=False)
    engine = Engine.detect(project)
    engine.ensure_image(tools.crane)
    with Store(project.dist_dir).scratch_dir("bench-layout") as scratch:
        layout = oci_layout(tarball, scratch / "layout", manifest)
        spec = crane_push_spec(
            tools.crane,
            layout=layout,
            reference=f"{address}/{repo}@{manifest}",
            insecure=True,
            project=root,
            docker_config=None,
        )
        out = engine.capture(spec, timeout=1800)
    if manifest not in out:
        raise SystemExit(f"crane pushed another digest: {out}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--size-mb", type=int, default=256)
    args = parser.parse_args()
    if not (ROOT / "dist" / "demo" / "x86_64.json").is_file():
        raise SystemExit("build the demo first: nox -s lock build")
    os.environ.setdefault("COSIGN_PASSWORD", PASSWORD)
    with tempfile.TemporaryDirectory(prefix="bench-publish-") as tmp_text:
        tmp = Path(tmp_text)
        root = copy_project(tmp)
        keys = root / "keys"
        for name in ("cosign.key", "cosign.pub"):
            (keys / name).unlink(missing_ok=True)
        os.environ["COSIGN_PASSWORD"] = PASSWORD
        os.environ.pop("BUILDKIT_COSIGN_KEY", None)
        run_cli(root, "keygen", "--cosign")
        (tmp / "registry").mkdir()
        with registry(tmp / "registry") as (address, log):
            first, again, signed, signed_again = [], [], [], []
            for _ in range(args.runs):
                repo = f"bench-{uuid.uuid4().hex[:8]}"
                base = ["publish", "--registry", address, "--repository", repo, "demo"]
                os.environ["BUILDKIT_SIGNING"] = "none"
                first.append(timed(run_cli, root, *base))
                before = uploads(log)
                again.append(timed(run_cli, root, *base))
                if uploads(log) != before:
                    raise SystemExit("the re-publish uploaded a blob")
                os.environ["BUILDKIT_SIGNING"] = "key"
                signed_repo = [*base[:4], f"{repo}-s", "demo"]
                signed.append(timed(run_cli, root, *signed_repo))
                signed_again.append(timed(run_cli, root, *signed_repo))
            os.environ.pop("BUILDKIT_SIGNING", None)
            tarball = tmp / "large.tar"
            manifest, blobs = large_tarball(tarball, args.size_mb)
            pushed, raw = [], []
            for _ in range(args.runs):
                repo = f"large-{uuid.uuid4().hex[:8]}"
                raw.append(timed(raw_upload, address, f"{repo}-raw", blobs))
                pushed.append(timed(crane_push, root, address, repo, tarball, manifest))
    med = statistics.median
    print(f"runs: {args.runs}; large image: {args.size_mb} MiB")
    print(f"first publish (2 arches, unsigned):   {med(first):6.2f} s")
    print(f"re-publish (no blob uploaded):         {med(again):6.2f} s  "
          f"= {med(again) / med(first):.2f}x the first")  # fmt: skip
    added = med(signed) - med(first)
    print(f"first publish, signed + attested:      {med(signed):6.2f} s  "
          f"(+{added:.2f} s, {med(signed) / med(first):.2f}x unsigned)")  # fmt: skip
    print(f"signed re-publish (verify only):       {med(signed_again):6.2f} s  "
          f"= {med(signed_again) / med(again):.2f}x the unsigned re-publish")  # fmt: skip
    print(f"large image, raw blob upload:          {med(raw):6.2f} s")
    print(f"large image, publish's push (crane):   {med(pushed):6.2f} s  "
          f"= {med(pushed) / med(raw):.2f}x raw")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
