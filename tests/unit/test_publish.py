"""Publishing against a simulated docker CLI and crane: the exact commands, apko's bytes in an
OCI layout, refusals before any push, the dry run, publish.json, several tags, credentials kept
out of messages, and bounded retries. (Signing runs for real in tests/e2e/test_publish.py.)"""

from __future__ import annotations

import hashlib
import http.server
import io
import json
import os
import tarfile
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from buildkit import cli
from buildkit.actions.plan import lock_digest
from buildkit.actions.records import ImageRecord, ImageSummary
from buildkit.commands.publish import check_identity_token
from buildkit.digest import Blob, canonical_json
from buildkit.errors import BuildkitError, PublishError, StaleLockError
from buildkit.lockfile import LockConfig, LockedPackage, Lockfile, LockRange, write_lockfile
from buildkit.project.config import load_project
from buildkit.project.layout import framework_paths, load_project_framework
from buildkit.registry import RetryPolicy
from buildkit.store import Store
from buildkit.toolchain import Completed, Engine, parse_image_ref
from buildkit.toolchain.supply import Signer
from buildkit.usecases.publishing import (
    FrameworkPlan,
    Publisher,
    Tools,
    check_cosign_key,
    cosign_error,
    make_target,
    oci_layout,
    ping,
    prepare,
    same_public_key,
)
from tests.helpers.records import image_inputs
from tests.helpers.store import put_bytes

ARCHS = ("x86_64", "aarch64")
OCI = {"x86_64": "amd64", "aarch64": "arm64"}
REG = "127.0.0.1:5000"
REF = f"{REG}/buildkit/demo"
SECRET = "hunter2-s3cret"
CRANE = f"{REG}/buildkit-tools/crane@sha256:{'c' * 64}"
COSIGN = f"{REG}/buildkit-tools/cosign@sha256:{'e' * 64}"
DEMO_YAML = """\
contents:
  repositories:
    - https://packages.example.com/os
  packages:
    - busybox
entrypoint:
  command: /bin/sh -c 'echo hello'
"""


def _digest(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def _ok(stdout: str = "") -> Completed:
    return Completed(argv=(), returncode=0, stdout=stdout)


def _fail(stderr: str) -> Completed:
    return Completed(argv=(), returncode=1, stderr=stderr)


# --------------------------------------------------------------------------------------------
# A simulated docker CLI (podman behind it: loaded names get localhost/)


class FakeDocker:
    """A registry behind crane (run in a container) and docker manifest; faults on demand."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.blobs: set[str] = set()  # blob digests the registry holds
        self.configs: dict[str, str] = {}  # manifest digest -> config digest
        self.local_lists: dict[str, dict[str, dict[str, str]]] = {}
        self.remote: dict[str, list[dict[str, Any]]] = {}  # list digest or tag ref -> entries
        self.tags: dict[str, str] = {}  # tag ref -> manifest digest (per-arch tags)
        self.down = 0  # the next this many registry calls find it down
        self.down_text = 'Get "https://127.0.0.1:5000/v2/": read tcp: connection reset by peer'
        self.fail_with: str | None = None  # every registry call fails with this text
        self.uploads = 0  # blobs uploaded (a re-push of an existing image uploads none)
        self.public_key: Completed = _fail("no cosign in this fake")  # `cosign public-key`

    def __call__(
        self, argv: Sequence[str], *, log: Path | None = None, timeout: float | None = None
    ) -> Completed:
        args = list(argv)
        self.calls.append(args)
        crane = args[1] == "run" and COSIGN not in args  # the key check is offline
        remote = crane or (args[1] == "manifest" and args[2] not in ("rm", "annotate"))
        if remote:
            if self.fail_with is not None:
                return _fail(self.fail_with)
            if self.down > 0:
                self.down -= 1
                return _fail(self.down_text)
        handler: Callable[[list[str]], Completed] = getattr(self, "_" + args[1])
        return handler(args)

    def _image(self, args: list[str]) -> Completed:
        # `image inspect --format {{json .RepoDigests}} REF`: the tool image is present.
        present = args[-1] in (CRANE, COSIGN)
        return _ok(json.dumps([args[-1]])) if present else _fail("No such image")

    def _run(self, args: list[str]) -> Completed:
        if COSIGN in args:
            command = args[args.index(COSIGN) + 1 :]
            assert command[:2] == ["public-key", "--key"], command  # only the key check here
            return self.public_key
        tool = args[args.index(CRANE) + 1 :]
        mounts = {
            m.split(":")[1]: Path(m.split(":")[0])
            for i, m in enumerate(args)
            if i and args[i - 1] == "-v"
        }
        words = [w for w in tool if not w.startswith("--")]
        if words[0] == "push":
            return self._crane_push(mounts[words[1]], words[2])
        if words[0] == "tag":
            source, tag = words[1], words[2]
            repo, digest = source.split("@")
            target = f"{repo}:{tag}"
            if digest in self.remote:
                self.remote[target] = self.remote[digest]
            self.tags[target] = digest
            return _ok()
        raise AssertionError(f"unexpected crane command {tool}")

    def _crane_push(self, layout: Path, ref: str) -> Completed:
        index = json.loads((layout / "index.json").read_text())
        digest = index["manifests"][0]["digest"]
        blobs = layout / "blobs" / "sha256"
        raw = (blobs / digest.removeprefix("sha256:")).read_bytes()
        assert _digest_bytes(raw) == digest  # the manifest blob is apko's, byte for byte
        manifest = json.loads(raw)
        for blob in [manifest["config"], *manifest["layers"]]:
            data = (blobs / blob["digest"].removeprefix("sha256:")).read_bytes()
            assert _digest_bytes(data) == blob["digest"]
            if blob["digest"] not in self.blobs:
                self.blobs.add(blob["digest"])
                self.uploads += 1
        self.configs[digest] = manifest["config"]["digest"]
        return _ok(f"{ref.split('@', maxsplit=1)[0]}@{digest}\n")

    def _manifest(self, args: list[str]) -> Completed:
        verb, rest = args[2], [a for a in args[3:] if not a.startswith("--")]
        if verb == "rm":
            if self.local_lists.pop(rest[0], None) is None:
                return _fail(f"No such manifest: {rest[0]}")
            return _ok()
        if verb == "create":
            if rest[0] in self.local_lists and "--amend" not in args:
                return _fail("refusing to amend an existing manifest list with no --amend flag")
            self.local_lists[rest[0]] = {s: {"os": "linux", "architecture": "?"} for s in rest[1:]}
            return _ok(f"Created manifest list {rest[0]}")
        if verb == "annotate":
            platform = {
                "os": args[args.index("--os") + 1],
                "architecture": args[args.index("--arch") + 1],
            }
            if "--variant" in args:
                platform["variant"] = args[args.index("--variant") + 1]
            self.local_lists[args[3]][args[4]] = platform
            return _ok()
        if verb == "push":
            return self._push_list(rest[0])
        return self._inspect(rest[0], verbose="--verbose" in args)

    def _push_list(self, ref: str) -> Completed:
        entries = [
            {"digest": source.split("@")[1], "platform": platform}
            for source, platform in self.local_lists.pop(ref).items()
        ]
        digest = _digest(json.dumps(entries, sort_keys=True))
        self.remote[digest] = self.remote[ref] = entries
        return _ok(digest + "\n")

    def _inspect(self, ref: str, *, verbose: bool) -> Completed:
        key = ref.split("@", 1)[1] if "@" in ref else ref
        if key not in self.remote:
            return _fail(f"no such manifest: {ref}")
        entries = self.remote[key]
        if not verbose:
            return _ok(json.dumps({"manifests": entries}))
        return _ok(
            json.dumps(
                [
                    {
                        "Descriptor": {"digest": e["digest"], "platform": e["platform"]},
                        "OCIManifest": {"config": {"digest": self.configs[e["digest"]]}},
                    }
                    for e in entries
                ]
            )
        )


def _digest_bytes(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------------------------
# A project with a lockfile and build records for both archs, made by hand


def _locked(arch: str) -> LockedPackage:
    return LockedPackage(
        name="busybox",
        url=f"https://packages.example.com/os/{arch}/busybox-1.36.1-r0.apk",
        version="1.36.1-r0",
        architecture=arch,
        signature=LockRange(range="bytes=0-9", checksum="sha1-AAAA"),
        control=LockRange(range="bytes=10-19", checksum="sha1-BBBB"),
        data=LockRange(range="bytes=20-29", checksum="sha256-CCCC"),
        checksum="Q1" + arch[0].upper() * 28,
    )


def _write_lock(root: Path, version: str = "1.36.1-r0") -> Lockfile:
    project = load_project(root)
    framework = load_project_framework(project, framework_paths(project, ["demo"])[0])
    lock = Lockfile(
        config=LockConfig(name=framework.config_name, checksum=framework.checksum),
        packages=tuple(replace(_locked(arch), version=version) for arch in ARCHS),
    )
    write_lockfile(root / "lockfiles" / "demo.lock.json", lock)
    return lock


def apko_tarball(arch: str) -> tuple[bytes, str, str, str]:
    """A tarball laid out as apko writes one; returns (bytes, manifest, config, layer digest)."""
    config = json.dumps({"architecture": OCI[arch], "os": "linux"}).encode()
    layer = f"layer bytes of {arch}".encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                       "size": len(config), "digest": _digest_bytes(config)},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                        "size": len(layer), "digest": _digest_bytes(layer)}],
        }
    ).encode()  # fmt: skip
    members = {
        _digest_bytes(config): config,
        _digest_bytes(layer).removeprefix("sha256:") + ".tar.gz": layer,
        "manifest.json": b"[]",
        _digest_bytes(manifest): manifest,
        "index.json": b"{}",
    }
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return out.getvalue(), _digest_bytes(manifest), _digest_bytes(config), _digest_bytes(layer)


def _write_record(root: Path, arch: str, lock: Lockfile) -> None:
    """A build record whose tarball (apko's layout) is in the store."""
    project = load_project(root)
    framework = load_project_framework(project, framework_paths(project, ["demo"])[0])
    store = Store(project.dist_dir)
    data, manifest, config, layer = apko_tarball(arch)
    blob = put_bytes(store, data)
    sbom = put_bytes(store, json.dumps({"spdxVersion": "SPDX-2.3", "arch": arch}).encode())
    record = ImageRecord(
        framework="demo",
        arch=arch,
        action_key="k" * 64,
        inputs=image_inputs(
            arch,
            config=framework.config_name,
            checksum=framework.checksum,
            lock=lock_digest(lock, arch),
        ),
        source_date_epoch=0,
        tarball=blob,
        sboms={f"sbom-{arch}.spdx.json": sbom},
        image=ImageSummary(
            tag=f"buildkit/demo:latest-{OCI[arch]}",
            platform=f"linux/{OCI[arch]}",
            manifest_digest=manifest,
            config_digest=config,
            diff_ids=(_digest(f"layer {arch}"),),
            layers=(Blob(digest=layer, size=1),),
        ),
    )
    store.write_record(store.record_path("demo", f"{arch}.json"), record.to_dict())


def _image(root: Path, arch: str) -> dict[str, Any]:
    data = json.loads((root / "dist" / "demo" / f"{arch}.json").read_text())
    image: dict[str, Any] = data["outputs"]["image"]
    return image


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "frameworks").mkdir()
    (tmp_path / "frameworks" / "demo.yaml").write_text(DEMO_YAML)
    (tmp_path / "buildkit.toml").write_text(
        '[project]\narchs = ["x86_64", "aarch64"]\nframeworks = ["demo"]\n'
        f'[publish]\nregistry = "{REG}"\nrepository = "buildkit"\ntag = "latest"\n'
        'signing = "none"\n'
        f'[tools]\ncrane = "{CRANE}"\n'
    )
    lock = _write_lock(tmp_path)
    for arch in ARCHS:
        _write_record(tmp_path, arch, lock)
    return tmp_path


@pytest.fixture
def fake(project: Path) -> FakeDocker:
    return FakeDocker()


def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "BUILDKIT_REGISTRY",
        "BUILDKIT_REPOSITORY",
        "BUILDKIT_TAG",
        "BUILDKIT_SIGNING",
        "BUILDKIT_CRANE_IMAGE",
        "BUILDKIT_COSIGN_IMAGE",
        "DOCKER_CONFIG",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr("buildkit.commands.publish.ping", lambda registry, **_: None)


def _plans(root: Path, **target: Any) -> list[FrameworkPlan]:
    project = load_project(root, env={})
    return prepare(project, (), make_target(project, **target))


def _publisher(root: Path, fake: FakeDocker, sleeps: list[float] | None = None) -> Publisher:
    engine = Engine(name="docker", binary="docker", version="28.2.2", runner=fake)
    tools = Tools(
        crane=parse_image_ref(CRANE, False),
        cosign=None,
        signer=None,
        project=root,
        docker_config=None,
        tool_images={"crane": CRANE},
    )
    return Publisher(
        engine=engine,
        docker="docker",
        store=Store(root / "dist"),
        tools=tools,
        sleep=(sleeps if sleeps is not None else []).append,
    )


def _publish(root: Path, fake: FakeDocker, **kwargs: Any) -> None:
    publisher = _publisher(root, fake, kwargs.pop("sleeps", None))
    for plan in _plans(root, **kwargs):
        publisher.publish(plan)


# --------------------------------------------------------------------------------------------
# The command plan


def _crane_push(
    arch: str, project: Path, *, registry: str = REG, insecure: bool = True
) -> list[str]:
    return ["push", *(["--insecure"] if insecure else []), "/layout",
            f"{registry}/buildkit/demo@{_image(project, arch)['manifest_digest']}"]  # fmt: skip


def _tool_args(call: list[str]) -> list[str]:
    return call[call.index(CRANE) + 1 :]


def test_publish_runs_exactly_the_planned_commands_for_two_archs(
    project: Path, fake: FakeDocker
) -> None:
    _publish(project, fake)
    runs = [c for c in fake.calls if c[1] == "run"]
    assert [_tool_args(c) for c in runs] == [_crane_push(a, project) for a in ARCHS]
    for run in runs:
        assert run[run.index("--network") + 1] == "host"
        assert any(m.endswith(":/layout:ro") for m in run)
    amd, arm = (f"{REF}@{_image(project, a)['manifest_digest']}" for a in ARCHS)
    list_digest = next(k for k in fake.remote if k.startswith("sha256:"))
    assert [c for c in fake.calls if c[1] == "manifest"] == [
        ["docker", "manifest", "rm", f"{REF}:latest"],
        ["docker", "manifest", "create", "--insecure", f"{REF}:latest", amd, arm],
        ["docker", "manifest", "annotate", f"{REF}:latest", amd,
         "--os", "linux", "--arch", "amd64"],
        ["docker", "manifest", "annotate", f"{REF}:latest", arm,
         "--os", "linux", "--arch", "arm64", "--variant", "v8"],
        ["docker", "manifest", "push", "--insecure", "--purge", f"{REF}:latest"],
        ["docker", "manifest", "inspect", "--insecure", "--verbose", f"{REF}@{list_digest}"],
        ["docker", "manifest", "inspect", "--insecure", f"{REF}:latest"],
    ]  # fmt: skip
    assert not any(c[1] in ("load", "tag", "push") for c in fake.calls)  # no engine image


@pytest.mark.parametrize(
    ("registry", "insecure_list", "insecure"),
    [
        ("127.0.0.1:5000", "", True),
        ("localhost:5000", "", True),
        ("registry.example.com", "", False),
        ("registry.example.com:8443", "", False),
        ("registry.example.com:8443", 'insecure = ["registry.example.com:8443"]\n', True),
    ],
)
def test_insecure_only_for_loopback_and_configured_registries(
    project: Path, fake: FakeDocker, registry: str, insecure_list: str, insecure: bool
) -> None:
    toml = project / "buildkit.toml"
    toml.write_text(toml.read_text().replace("[tools]", insecure_list + "[tools]"))
    _publish(project, fake, registry=registry)
    manifest_calls = [c for c in fake.calls if c[1] == "manifest" and c[2] != "annotate"]
    flagged = [c for c in manifest_calls if "--insecure" in c]
    assert flagged == (manifest_calls[1:] if insecure else [])  # all but `rm`
    pushes = [_tool_args(c) for c in fake.calls if c[1] == "run"]
    assert pushes == [_crane_push(a, project, registry=registry, insecure=insecure) for a in ARCHS]


def test_command_line_overrides_registry_repository_and_tags(
    project: Path, fake: FakeDocker
) -> None:
    _publish(
        project, fake, registry="localhost:5000", repository="team/images",
        tags=["1.0", "latest", "git-abc1234"], arch_tags=True,
    )  # fmt: skip
    record = json.loads((project / "dist" / "demo" / "publish.json").read_text())
    repo = "localhost:5000/team/images/demo"
    assert record["list"]["tags"] == ["1.0", "latest", "git-abc1234"]
    assert record["list"]["references"] == [f"{repo}:{t}" for t in ("1.0", "latest", "git-abc1234")]
    for tag in record["list"]["references"]:  # every tag serves the same list
        assert fake.remote[tag] == fake.remote[record["list"]["digest"]]
    arm = record["images"]["aarch64"]
    assert arm["reference"] == f"{repo}@{_image(project, 'aarch64')['manifest_digest']}"
    assert arm["tags"] == [f"{repo}:1.0-arm64", f"{repo}:latest-arm64", f"{repo}:git-abc1234-arm64"]
    assert fake.tags[f"{repo}:latest-arm64"] == arm["manifest_digest"]


def test_per_arch_tags_are_off_by_default(project: Path, fake: FakeDocker) -> None:
    _publish(project, fake)
    assert fake.tags == {}
    record = json.loads((project / "dist" / "demo" / "publish.json").read_text())
    assert record["images"]["x86_64"]["tags"] == []


@pytest.mark.parametrize(
    ("publish", "tags"),
    [
        ('tag = "1.0"', ("1.0",)),
        ('tags = ["1.0", "latest", "1.0"]', ("1.0", "latest")),
        ("", ("latest",)),
    ],
)
def test_publish_tags_come_from_buildkit_toml(
    tmp_path: Path, publish: str, tags: tuple[str, ...]
) -> None:
    (tmp_path / "buildkit.toml").write_text(f"[publish]\n{publish}\n")
    project = load_project(tmp_path, env={})
    assert project.tags == tags
    assert make_target(project).tags == tags
    assert make_target(project, tags=["x", "y"]).tags == ("x", "y")


@pytest.mark.parametrize(
    ("publish", "message"),
    [
        ('tag = "a"\ntags = ["b"]', "both tag and tags"),
        ("tags = []", "non-empty list"),
        ('signing = "sometimes"', "publish.signing must be one of key, keyless, none"),
        ('arch_tags = "yes"', "publish.arch_tags must be true or false"),
    ],
)
def test_bad_publish_settings_are_one_line(tmp_path: Path, publish: str, message: str) -> None:
    (tmp_path / "buildkit.toml").write_text(f"[publish]\n{publish}\n")
    with pytest.raises(BuildkitError, match=message):
        load_project(tmp_path, env={})


def test_bad_target_names_are_refused_before_anything_runs(project: Path) -> None:
    with pytest.raises(BuildkitError, match="invalid image reference"):
        _plans(project, repository="Upper/Case")


# --------------------------------------------------------------------------------------------
# Refusals happen before the first push


def _tamper_tarball(root: Path) -> None:
    store = Store(root / "dist")
    data = json.loads(store.record_path("demo", "aarch64.json").read_text())
    path = store.path(Blob.from_dict(data["outputs"]["tarball"], "t"))
    os.chmod(path, 0o644)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 1
    path.write_bytes(bytes(data))


def _drop_record(root: Path) -> None:
    (root / "dist" / "demo" / "aarch64.json").unlink()


def _garble_record(root: Path) -> None:
    (root / "dist" / "demo" / "x86_64.json").write_text("{")


def _relock(root: Path) -> None:
    _write_lock(root, version="1.36.2-r0")


def _edit_config(root: Path) -> None:
    path = root / "frameworks" / "demo.yaml"
    path.write_text(path.read_text() + "cmd: /bin/true\n")


def _edit_config_and_relock(root: Path) -> None:
    _edit_config(root)
    _write_lock(root)


@pytest.mark.parametrize(
    ("damage", "error", "message"),
    [
        (_drop_record, PublishError, "no build record for demo on aarch64"),
        (_tamper_tarball, PublishError, "does not match its bytes"),
        (_garble_record, BuildkitError, "malformed record"),
        (_relock, PublishError, "built from another lockfile"),
        (_edit_config, StaleLockError, "the lockfile is stale"),
        (_edit_config_and_relock, PublishError, "built from another config"),
        (lambda r: (r / "lockfiles/demo.lock.json").unlink(), BuildkitError, "has no lockfile"),
    ],
    ids=["missing-record", "tampered-tarball", "malformed-record", "relocked", "config-changed",
         "config-changed-relocked", "no-lockfile"],
)  # fmt: skip
def test_refusals_happen_before_any_command(
    project: Path,
    fake: FakeDocker,
    damage: Callable[[Path], object],
    error: type[BuildkitError],
    message: str,
) -> None:
    damage(project)
    with pytest.raises(error, match=message) as info:
        _publish(project, fake)
    assert fake.calls == []
    assert "\n" not in str(info.value)
    assert not (project / "dist" / "demo" / "publish.json").exists()


def test_a_record_for_another_arch_is_refused(project: Path, fake: FakeDocker) -> None:
    dist = project / "dist" / "demo"
    (dist / "aarch64.json").write_bytes((dist / "x86_64.json").read_bytes())
    with pytest.raises(PublishError, match="record is for demo on x86_64, not demo on aarch64"):
        _publish(project, fake)


# --------------------------------------------------------------------------------------------
# Dry run, publish.json, idempotence


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_dry_run_prints_the_plan_and_touches_nothing(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _env(monkeypatch)

    def no_engine(*args: object, **kwargs: object) -> Engine:
        raise AssertionError("the dry run must not detect the engine")

    monkeypatch.setattr(Engine, "detect", no_engine)
    before = _tree(project)
    assert cli.run(["-C", str(project), "publish", "--dry-run", "--tag", "a", "--tag", "b"]) == 0
    assert _tree(project) == before
    out = capsys.readouterr().out
    arm = f"{REF}@{_image(project, 'aarch64')['manifest_digest']}"
    assert f"{REF}:a (dry run" in out
    assert f"also {REF}:b" in out
    assert f"$ docker manifest annotate {REF}:a {arm} --os linux --arch arm64 --variant v8" in out
    assert f"$ docker manifest push --insecure --purge {REF}:a" in out
    assert f"{CRANE} push --insecure /layout {arm}" in out
    assert _image(project, "aarch64")["config_digest"] in out


def test_cli_publishes_and_prints_the_list_digest(
    project: Path,
    fake: FakeDocker,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _env(monkeypatch)
    engine = Engine(name="docker", binary="docker", version="28.2.2", runner=fake)
    monkeypatch.setattr(Engine, "detect", classmethod(lambda cls, project: engine))
    assert cli.run(["-C", str(project), "publish"]) == 0
    record = json.loads((project / "dist" / "demo" / "publish.json").read_text())
    out = capsys.readouterr().out
    assert f"{REF}@{record['list']['digest']}" in out
    assert f"tag {REF}:latest" in out


def test_publish_json_is_canonical_and_ties_images_to_their_builds(
    project: Path, fake: FakeDocker
) -> None:
    _publish(project, fake)
    raw = (project / "dist" / "demo" / "publish.json").read_bytes()
    record = json.loads(raw)
    assert raw == canonical_json(record)
    digest = next(iter(k for k in fake.remote if k.startswith("sha256:")))
    assert record["list"] == {
        "repository": REF,
        "digest": digest,
        "reference": f"{REF}@{digest}",
        "tags": ["latest"],
        "references": [f"{REF}:latest"],
    }
    arm, image = record["images"]["aarch64"], _image(project, "aarch64")
    assert arm == {
        "platform": "linux/arm64/v8",
        "reference": f"{REF}@{image['manifest_digest']}",
        "tags": [],
        "manifest_digest": image["manifest_digest"],
        "config_digest": image["config_digest"],
        "build": {"action_key": "k" * 64, "tarball": arm["build"]["tarball"]},
        "sbom": arm["sbom"],
        "provenance": arm["provenance"],
    }
    assert record["signing"] == {"mode": "none"}
    assert record["images"]["x86_64"]["platform"] == "linux/amd64"
    link = project / "dist" / "demo" / "aarch64.spdx.json"
    assert link.is_symlink()
    assert os.readlink(link) == f"../sha256/{arm['sbom'].removeprefix('sha256:')}"
    provenance = json.loads((project / "dist" / "demo" / "aarch64.provenance.json").read_text())
    assert provenance["runDetails"]["metadata"]["invocationId"] == "k" * 64


def test_publishing_again_changes_nothing_and_uploads_nothing(
    project: Path, fake: FakeDocker
) -> None:
    _publish(project, fake)
    first = (project / "dist" / "demo" / "publish.json").read_bytes()
    assert fake.uploads == 4  # config and layer of each arch
    _publish(project, fake)
    assert (project / "dist" / "demo" / "publish.json").read_bytes() == first
    assert fake.uploads == 4


def test_a_stale_local_list_is_removed_before_create(project: Path, fake: FakeDocker) -> None:
    fake.local_lists[f"{REF}:latest"] = {
        f"{REF}:old-amd64": {"os": "linux", "architecture": "amd64"}
    }
    _publish(project, fake)
    entries = fake.remote[f"{REF}:latest"]
    assert sorted(e["platform"]["architecture"] for e in entries) == ["amd64", "arm64"]


def test_a_list_read_back_with_another_config_is_not_recorded(
    project: Path, fake: FakeDocker
) -> None:
    original = fake._push_list

    def corrupt(ref: str) -> Completed:
        done = original(ref)
        for digest in list(fake.configs):
            fake.configs[digest] = _digest("a different config")
        return done

    fake._push_list = corrupt  # type: ignore[method-assign]
    with pytest.raises(PublishError, match=r"has config .* the build record says"):
        _publish(project, fake)
    assert not (project / "dist" / "demo" / "publish.json").exists()


# --------------------------------------------------------------------------------------------
# Faults: retries, login, credentials


def test_a_registry_that_comes_back_is_retried_with_backoff(
    project: Path, fake: FakeDocker
) -> None:
    fake.down = 2
    sleeps: list[float] = []
    _publish(project, fake, sleeps=sleeps)
    assert sleeps == [1.0, 2.0]
    assert (project / "dist" / "demo" / "publish.json").exists()


def test_connection_refused_is_not_retried(project: Path, fake: FakeDocker) -> None:
    fake.down = 1000
    fake.down_text = 'Get "http://127.0.0.1:5000/v2/": dial tcp: connection refused'
    sleeps: list[float] = []
    with pytest.raises(PublishError, match=r"unreachable \(.*connection refused\)") as info:
        _publish(project, fake, sleeps=sleeps)
    assert sleeps == []
    assert "after" not in str(info.value)
    assert not (project / "dist" / "demo" / "publish.json").exists()


@pytest.mark.parametrize("registry", ["127.0.0.1:9", "no-such-host.invalid:5000"])
def test_ping_fails_at_once_with_one_line(registry: str) -> None:
    with pytest.raises(PublishError, match="the registry is unreachable") as info:
        ping(registry, timeout=2)
    assert "\n" not in str(info.value)
    assert "nothing was recorded as published" in str(info.value)


@contextmanager
def http_server(status: int, headers: dict[str, str]) -> Iterator[str]:
    """A server on a free loopback port answering every GET with ``status``: host:port."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *_: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("status", [404, 405])
def test_ping_says_a_plain_web_server_is_not_a_registry(status: int) -> None:
    with http_server(status, {}) as registry, pytest.raises(PublishError) as info:
        ping(registry, insecure=True, timeout=2)
    line = str(info.value)
    assert line.startswith(
        f"{registry} answers but is not a container registry (GET /v2/ gave {status} "
    ), line
    assert "nothing was pushed" in line
    assert "\n" not in line


@pytest.mark.parametrize(
    ("status", "headers"),
    [
        (200, {"Docker-Distribution-API-Version": "registry/2.0"}),
        (401, {"Docker-Distribution-API-Version": "registry/2.0"}),
        (401, {"WWW-Authenticate": 'Bearer realm="x"'}),
        (404, {"Docker-Distribution-API-Version": "registry/2.0"}),
    ],
)
def test_ping_lets_a_registry_through(status: int, headers: dict[str, str]) -> None:
    with http_server(status, headers) as registry:
        ping(registry, insecure=True, timeout=2)


def test_a_registry_that_stays_down_fails_after_bounded_retries(
    project: Path, fake: FakeDocker
) -> None:
    fake.down = 1000
    sleeps: list[float] = []
    with pytest.raises(PublishError, match="unreachable after 4 attempts") as info:
        _publish(project, fake, sleeps=sleeps)
    assert sleeps == [1.0, 2.0, 4.0]
    assert "nothing was recorded as published" in str(info.value)
    assert not (project / "dist" / "demo" / "publish.json").exists()


def test_unauthorized_is_not_retried_and_says_to_log_in(project: Path, fake: FakeDocker) -> None:
    fake.fail_with = "unauthorized: authentication required"
    sleeps: list[float] = []
    with pytest.raises(PublishError) as info:
        _publish(project, fake, sleeps=sleeps)
    assert sleeps == []
    amd = f"{REF}@{_image(project, 'x86_64')['manifest_digest']}"
    assert str(info.value) == (
        f"{REG}: pushing {amd}: the registry refused the request (unauthorized: "
        f"authentication required) (run `docker login {REG}` with an account that may push there)"
    )


def test_credentials_in_client_output_never_reach_the_message(
    project: Path,
    fake: FakeDocker,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _env(monkeypatch)
    fake.fail_with = (
        f"Get https://bob:{SECRET}@127.0.0.1:5000/v2/: Authorization: Bearer {SECRET} "
        f'password="{SECRET}" token={SECRET}: 401 Unauthorized'
    )
    engine = Engine(name="docker", binary="docker", version="28.2.2", runner=fake)
    monkeypatch.setattr(Engine, "detect", classmethod(lambda cls, project: engine))
    assert cli.main(["-C", str(project), "publish"]) == 1
    captured = capsys.readouterr()
    assert "run `docker login" in captured.err
    assert SECRET not in captured.out + captured.err


@pytest.mark.parametrize(
    ("policy", "delays"),
    [
        (RetryPolicy(), (1.0, 2.0, 4.0)),
        (RetryPolicy(attempts=1), ()),
        (RetryPolicy(attempts=6, first=0.5, factor=3.0, longest=5.0), (0.5, 1.5, 4.5, 5.0, 5.0)),
    ],
)
def test_backoff_delays_are_exponential_and_capped(
    policy: RetryPolicy, delays: tuple[float, ...]
) -> None:
    assert policy.delays() == delays


def test_a_failed_local_command_is_one_redacted_line(project: Path, fake: FakeDocker) -> None:
    def broken_annotate(args: list[str]) -> Completed:
        if args[2] == "annotate":
            return _fail(f"first line\nError: open https://u:{SECRET}@x/list: no space left")
        return FakeDocker._manifest(fake, args)

    fake._manifest = broken_annotate  # type: ignore[method-assign]
    with pytest.raises(PublishError) as info:
        _publish(project, fake)
    message = str(info.value)
    assert message.endswith("failed: open https://***@x/list: no space left")
    assert SECRET not in message


def test_the_oci_layout_holds_apkos_blobs_byte_for_byte(tmp_path: Path) -> None:
    data, manifest, config, layer = apko_tarball("aarch64")
    tarball = tmp_path / "image.tar"
    tarball.write_bytes(data)
    layout = oci_layout(tarball, tmp_path / "layout", manifest)
    blobs = layout / "blobs" / "sha256"
    assert sorted(p.name for p in blobs.iterdir()) == sorted(
        d.removeprefix("sha256:") for d in (manifest, config, layer)
    )
    for blob in blobs.iterdir():
        assert _digest_bytes(blob.read_bytes()) == f"sha256:{blob.name}"
    index = json.loads((layout / "index.json").read_text())
    assert index["manifests"][0]["digest"] == manifest
    assert json.loads((layout / "oci-layout").read_text()) == {"imageLayoutVersion": "1.0.0"}


def test_a_tarball_without_its_manifest_blob_is_refused(tmp_path: Path) -> None:
    data, *_ = apko_tarball("x86_64")
    tarball = tmp_path / "image.tar"
    tarball.write_bytes(data)
    with pytest.raises(PublishError, match="has no manifest blob"):
        oci_layout(tarball, tmp_path / "layout", _digest("another manifest"))


KEY = Path("keys/cosign.key")
SIGNING = "signing 127.0.0.1:5000/x/demo@sha256:" + "a" * 64
TUF_OFFLINE = (
    "Error: signing [r]: error getting signing config from TUF: failed to load metadata: tuf "
    'refresh failed: Get "https://tuf-repo-cdn.sigstore.dev/15.root.json": dial tcp: lookup '
    "tuf-repo-cdn.sigstore.dev on 10.0.0.53:53: no such host"
)


@pytest.mark.parametrize(
    ("mode", "stderr", "expected"),
    [
        # cosign's own words (v2) for a wrong COSIGN_PASSWORD, and for none at all
        ("key", "Error: signing [r]: signing digest: getting keypair and token: getting signer: "
         "reading key: decrypt: encrypted: decryption failed",
         f"{SIGNING}: the password in COSIGN_PASSWORD does not open keys/cosign.key (cosign: "
         "decryption failed); nothing was recorded as published (set COSIGN_PASSWORD to the "
         "password keys/cosign.key was made with, or make a new pair with `nox -s keygen -- "
         "--cosign`)"),
        ("key", "Error: reading password: inappropriate ioctl for device",
         "does not open keys/cosign.key"),
        # keyless offline: TUF, Fulcio, Rekor or the OIDC issuer out of reach, not the registry
        ("keyless", TUF_OFFLINE,
         f"{SIGNING}: keyless signing cannot reach Sigstore (the TUF, Fulcio or Rekor service) "
         "or get an OIDC identity token"),
        ("keyless", 'Error: getting key from Fulcio: Post "https://fulcio.sigstore.dev/api/v2/'
         'signingCert": dial tcp: connect: network is unreachable', "cannot reach Sigstore"),
        ("keyless", "Error: getting ID token: no identity token available", "cannot reach"),
        # the registry's own faults stay the registry's
        ("key", 'Get "https://127.0.0.1:5000/v2/": connection refused', None),
        ("keyless", "UNAUTHORIZED: authentication required", None),
        ("key", TUF_OFFLINE, None),
    ],
)  # fmt: skip
def test_cosign_failures_name_their_real_cause(
    mode: str, stderr: str, expected: str | None
) -> None:
    err = cosign_error(stderr, mode=mode, what=SIGNING, key=KEY)
    if expected is None:
        assert err is None
        return
    assert err is not None
    line = str(err)
    assert expected in line, line
    assert "\n" not in line
    if expected.startswith(SIGNING) and mode == "keyless":
        assert (
            "offline, sign with a key pair: `nox -s keygen -- --cosign` writes keys/cosign.key"
            in line
        )


def test_keyless_signing_without_an_identity_token_is_refused_before_anything_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "buildkit.toml").write_text('[publish]\nsigning = "keyless"\n')
    for name in (
        "SIGSTORE_ID_TOKEN",
        "ACTIONS_ID_TOKEN_REQUEST_URL",
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
    ):
        monkeypatch.delenv(name, raising=False)
    project = load_project(tmp_path, env={})
    with pytest.raises(PublishError) as info:
        check_identity_token(project)
    assert str(info.value).startswith(
        "[publish] signing (buildkit.toml / BUILDKIT_SIGNING): keyless signing needs an OIDC "
        "identity token, and none is set"
    )
    monkeypatch.setenv("SIGSTORE_ID_TOKEN", "e30.e30.sig")
    check_identity_token(project)


# --------------------------------------------------------------------------------------------
# The signing key, checked before anything is pushed


def _pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


@pytest.fixture
def key_pair(project: Path) -> ec.EllipticCurvePrivateKey:
    """keys/cosign.key (its bytes do not matter: the fake cosign answers) and keys/cosign.pub."""
    key = ec.generate_private_key(ec.SECP256R1())
    (project / "keys").mkdir(exist_ok=True)
    (project / "keys" / "cosign.key").write_bytes(b"encrypted cosign key")
    (project / "keys" / "cosign.pub").write_bytes(_pem(key))
    return key


def _signing_publisher(root: Path, fake: FakeDocker) -> Publisher:
    engine = Engine(name="docker", binary="docker", version="28.2.2", runner=fake)
    tools = Tools(
        crane=parse_image_ref(CRANE, False),
        cosign=parse_image_ref(COSIGN, False),
        signer=Signer(mode="key", key=root / "keys" / "cosign.key"),
        project=root,
        docker_config=None,
        tool_images={"crane": CRANE, "cosign": COSIGN},
    )
    return Publisher(engine=engine, docker="docker", store=Store(root / "dist"), tools=tools)


def _pushes(fake: FakeDocker) -> list[list[str]]:
    return [c for c in fake.calls if c[1] in ("manifest", "push") or CRANE in c]


def test_a_password_that_does_not_open_the_key_pushes_nothing(
    project: Path, fake: FakeDocker, key_pair: ec.EllipticCurvePrivateKey
) -> None:
    fake.public_key = _fail("Error: decrypt: encrypted: decryption failed")
    publisher = _signing_publisher(project, fake)
    with pytest.raises(PublishError) as info:
        publisher.publish(_plans(project)[0])
    assert str(info.value).startswith(
        "checking the cosign key before pushing: the password in COSIGN_PASSWORD does not open "
        "keys/cosign.key (cosign: decryption failed); nothing was pushed (set COSIGN_PASSWORD"
    )
    assert _pushes(fake) == []
    assert not (project / "dist" / "demo" / "publish.json").exists()


def test_a_public_key_of_another_pair_pushes_nothing(
    project: Path, fake: FakeDocker, key_pair: ec.EllipticCurvePrivateKey
) -> None:
    other = ec.generate_private_key(ec.SECP256R1())
    fake.public_key = _ok(_pem(other).decode())
    with pytest.raises(PublishError) as info:
        _signing_publisher(project, fake).publish(_plans(project)[0])
    assert str(info.value).startswith(
        "keys/cosign.key and keys/cosign.pub are not one key pair: signatures made with the key "
        "would not verify with the public key; nothing was pushed (restore the keys/cosign.pub"
    )
    assert _pushes(fake) == []


def test_the_key_pair_that_matches_is_checked_once_then_the_push_goes_on(
    project: Path, fake: FakeDocker, key_pair: ec.EllipticCurvePrivateKey
) -> None:
    fake.public_key = _ok(_pem(key_pair).decode())
    fake.fail_with = "UNAUTHORIZED: authentication required"  # stop at the first push
    publisher = _signing_publisher(project, fake)
    for _ in range(2):
        with pytest.raises(PublishError, match=r"UNAUTHORIZED|log in") as info:
            publisher.publish(_plans(project)[0])
        assert "cosign key" not in str(info.value)
    checks = [c for c in fake.calls if COSIGN in c and "public-key" in c]
    assert len(checks) == 1
    check = checks[0]
    assert check[check.index("--network") + 1] == "none"
    assert "COSIGN_PASSWORD" in check  # passed by name: never its value
    assert _pushes(fake) != []


@pytest.mark.parametrize(
    ("first", "second", "same"),
    [
        ("a", "a", True),
        ("a", "a-rewrapped", True),  # the same key, other line breaks and a trailing newline
        ("a", "b", False),
        ("a", "garbage", False),
        ("garbage", "garbage", False),
        ("a", "empty", False),
    ],
)
def test_public_keys_are_compared_as_keys_not_as_text(first: str, second: str, same: bool) -> None:
    key_a, key_b = (ec.generate_private_key(ec.SECP256R1()) for _ in range(2))
    pem_a = _pem(key_a)
    body = b"".join(pem_a.splitlines()[1:-1])
    forms = {
        "a": pem_a,
        "a-rewrapped": b"-----BEGIN PUBLIC KEY-----\n"
        + b"\n".join(body[i : i + 40] for i in range(0, len(body), 40))
        + b"\n-----END PUBLIC KEY-----\n\n",
        "b": _pem(key_b),
        "garbage": b"-----BEGIN PUBLIC KEY-----\nnot base64\n-----END PUBLIC KEY-----\n",
        "empty": b"",
    }
    assert same_public_key(forms[first], forms[second]) is same


@pytest.mark.parametrize(
    ("answer", "line"),
    [
        (
            "password",
            "checking keys/cosign.key: the password in COSIGN_PASSWORD does not open "
            "keys/cosign.key (cosign: decryption failed); OUTCOME",
        ),
        (
            "other-pair",
            "keys/cosign.key and keys/cosign.pub are not one key pair: signatures made with the "
            "key would not verify with the public key; OUTCOME",
        ),
        (
            "engine",
            "checking keys/cosign.key: keys/cosign.key: no such file: /keys/cosign.key; OUTCOME",
        ),
    ],
)
def test_the_key_check_says_what_was_checked_and_what_follows(
    project: Path,
    fake: FakeDocker,
    key_pair: ec.EllipticCurvePrivateKey,
    answer: str,
    line: str,
) -> None:
    """One function for publish and `keygen --cosign --check`: its line ends with the caller's
    outcome, and names the key relative to the project."""
    fake.public_key = {
        "password": _fail("Error: decrypt: encrypted: decryption failed"),
        "other-pair": _ok(_pem(ec.generate_private_key(ec.SECP256R1())).decode()),
        "engine": _fail("Error: no such file: /keys/cosign.key"),
    }[answer]
    engine = Engine(name="docker", binary="docker", version="28.2.2", runner=fake)
    with pytest.raises(PublishError) as info:
        check_cosign_key(
            engine,
            parse_image_ref(COSIGN, False),
            project / "keys" / "cosign.key",
            project=project,
            what="checking keys/cosign.key",
            outcome="OUTCOME",
        )
    assert info.value.message == line
    assert _pushes(fake) == []
