"""A local package's version bump or source change is never stale in silence.

The reported case: on a used checkout, a package bumped from 1.0.0 to 1.0.1 with a changed
script; `lock --check` said "up to date" because the 1.0.0 .apk was still in packages/<arch>/
and the check kept its pin. Here the real build step (action cache, install into
packages/<arch>/, pruning, signed index) and the real `buildkit lock` run; only melange is
replaced by packing the package's source folder with buildkit's own .apk writer.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import buildkit.usecases.package_builds as packages_step
from buildkit.actions.plan import PackageAction
from buildkit.actions.records import PackageRecord
from buildkit.apk.keys import SigningKey, generate_keypair
from buildkit.apk.package import pack_package
from buildkit.apk.pkginfo import PkgInfo
from buildkit.cli import main
from buildkit.usecases.build_context import BuildContext

ARCH = "x86_64"
TOML = """\
[project]
archs = ["x86_64"]
signing_key = "keys/buildkit.rsa"
"""
FRAMEWORK = """\
contents:
  keyring:
    - ./keys/buildkit.rsa.pub
  repositories:
    - '@local ./packages'
  packages:
    - myapp@local
entrypoint:
  command: /usr/bin/myapp
archs:
  - x86_64
"""


def _config(version: str) -> str:
    return (
        f"package:\n  name: myapp\n  version: {version}\n  epoch: 0\n"
        "  description: test app\n  target-architecture:\n    - x86_64\n"
        "pipeline:\n  - runs: install -Dm755 run.sh ${{targets.destdir}}/usr/bin/myapp\n"
    )


def _fake_melange(context: BuildContext, action: PackageAction) -> PackageRecord:
    """What melange would do for this config: the source folder's script as the package."""
    config = action.config
    source = context.project.packages_dir / config.name
    with context.store.scratch_dir(f"fake-melange-{config.name}") as out:
        tree = out / "tree"
        (tree / "usr" / "bin").mkdir(parents=True)
        (tree / "usr" / "bin" / "myapp").write_bytes((source / "run.sh").read_bytes())
        info = PkgInfo(name=config.name, version=config.full_version, arch=action.arch)
        key = SigningKey.load(context.project.signing_key)
        data = pack_package(tree, info, key=key, source_date_epoch=action.source_date_epoch)
        path = out / config.filename
        path.write_bytes(data)
        built = packages_step._store_apk(context, path)
    return PackageRecord(
        name=config.name,
        arch=action.arch,
        action_key=action.key,
        inputs=action.inputs,
        apks=(built,),
    )


@pytest.fixture
def used_checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "project"
    (root / "keys").mkdir(parents=True)
    generate_keypair(root / "keys" / "buildkit.rsa", bits=2048)
    (root / "buildkit.toml").write_text(TOML)
    (root / "frameworks").mkdir()
    (root / "frameworks" / "app.yaml").write_text(FRAMEWORK)
    (root / "packages" / "myapp").mkdir(parents=True)
    (root / "packages" / "myapp.yaml").write_text(_config("1.0.0"))
    (root / "packages" / "myapp" / "run.sh").write_text("#!/bin/sh\necho one\n")
    monkeypatch.setenv("BUILDKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(packages_step, "run_melange", _fake_melange)
    assert main(["-C", str(root), "lock"]) == 0  # builds myapp 1.0.0, locks it
    return root


def _check(root: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    capsys.readouterr()
    code = main(["-C", str(root), "lock", "--check"])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_a_version_bump_is_stale_with_its_reason_and_the_old_apk_is_gone(
    used_checkout: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = used_checkout
    assert _check(root, capsys)[0] == 0
    (root / "packages" / "myapp.yaml").write_text(_config("1.0.1"))
    (root / "packages" / "myapp" / "run.sh").write_text("#!/bin/sh\necho two\n")
    code, output = _check(root, capsys)
    assert code != 0
    assert "packages/myapp.yaml: version 1.0.0-r0 → 1.0.1-r0" in output
    assert "nox -s lock -- app" in output
    # The used checkout now holds what a clean one would: only the current build.
    assert sorted(p.name for p in (root / "packages" / ARCH).glob("*.apk")) == [
        "myapp-1.0.1-r0.apk"
    ]


def test_a_source_change_at_the_same_version_is_stale_and_warns_to_bump_the_epoch(
    used_checkout: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = used_checkout
    (root / "packages" / "myapp" / "run.sh").write_text("#!/bin/sh\necho changed\n")
    code, output = _check(root, capsys)
    assert code != 0
    assert "packages/myapp/: source changed since the lock (myapp 1.0.0-r0)" in output
    assert "rebuilt with different content at the same version; bump its epoch" in output


def test_an_orphaned_apk_is_removed_and_never_indexed(
    used_checkout: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = used_checkout
    repo = root / "packages" / ARCH
    orphan = repo / "gone-1.0-r0.apk"
    orphan.write_bytes((repo / "myapp-1.0.0-r0.apk").read_bytes())  # a file nothing builds
    (root / "packages" / "myapp.yaml").write_text(_config("1.0.0") + "# comment\n")
    _check(root, capsys)  # lock --check builds the local packages first
    assert not orphan.exists()
    assert sorted(p.name for p in repo.glob("*.apk")) == ["myapp-1.0.0-r0.apk"]


def test_the_check_answers_the_same_on_a_clean_checkout(
    used_checkout: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    root = used_checkout
    (root / "packages" / "myapp.yaml").write_text(_config("1.0.1"))
    used = _check(root, capsys)[0]
    for apk in (root / "packages" / ARCH).glob("*"):
        apk.unlink()  # a clean clone: no built packages at all
    clean = _check(root, capsys)[0]
    assert used == clean != 0
