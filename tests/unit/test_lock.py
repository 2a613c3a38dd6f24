"""`lock`: lockfiles per framework, cross-arch consistency, --check, --update, atomicity."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from buildkit.apk.keys import SigningKey
from buildkit.cli import main
from buildkit.errors import ConfigError, LockError, ResolveError, StaleLockError
from buildkit.events import BaseReporter
from buildkit.framework import load_framework
from buildkit.lockfile import LockedPackage, LockRange, read_lockfile
from buildkit.project.config import ProjectConfig, load_project
from buildkit.usecases.locking import (
    LockOptions,
    LockResult,
    check_arch_skew,
    lock_project,
    raise_if_stale,
)
from tests.helpers.repos import Pkg, make_repo

ARCHS = ("x86_64", "aarch64")
BASE = [Pkg("lib", "1.0-r0"), Pkg("app", "1.0-r0", depends=("lib",)), Pkg("tool", "1.0-r0")]


def _framework(root: Path, name: str, packages: Sequence[str], extra: str = "") -> Path:
    path = root / "frameworks" / f"{name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    listed = "".join(f"    - {p}\n" for p in packages)
    path.write_text(
        "contents:\n  keyring:\n    - ./keys/test.rsa.pub\n  repositories:\n    - ./repo\n"
        f"{extra}  packages:\n{listed}entrypoint:\n  command: /bin/sh\n"
    )
    return path


def _repo(root: Path, key: SigningKey, per_arch: dict[str, list[Pkg]]) -> None:
    for arch, packages in per_arch.items():
        make_repo(root / "repo", arch, packages, key)


@pytest.fixture
def project(tmp_path: Path, signing_key: SigningKey, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "project"
    (root / "keys").mkdir(parents=True)
    (root / "keys" / "test.rsa.pub").write_bytes(signing_key.public_pem)
    _repo(root, signing_key, dict.fromkeys(ARCHS, BASE))
    _framework(root, "demo", ["app"])
    monkeypatch.setenv("BUILDKIT_CACHE", str(tmp_path / "cache"))
    return root


def _config(root: Path) -> ProjectConfig:
    return load_project(root)


class _Notes(BaseReporter):
    def __init__(self) -> None:
        self.lines: list[str] = []

    def info(self, message: str) -> None:
        self.lines.append(message)


def _lock(root: Path, reporter: BaseReporter | None = None, **options: Any) -> list[LockResult]:
    """In-process by default (fast); see the parallel test."""
    return lock_project(
        _config(root), LockOptions(**{"parallel": False, **options}), reporter=reporter
    )


def _versions(root: Path, name: str = "demo") -> dict[tuple[str, str], str]:
    lock = read_lockfile(root / "lockfiles" / f"{name}.lock.json")
    return {(p.architecture, p.name): p.version for p in lock.packages}


def test_lock_writes_an_apko_lockfile_per_framework(project: Path) -> None:
    [result] = _lock(project)
    path = project / "lockfiles" / "demo.lock.json"
    assert result.path == path
    lock = read_lockfile(path)
    framework = load_framework("frameworks/demo.yaml", base_dir=project)
    assert lock.config is not None
    assert lock.config.name == "frameworks/demo.yaml"
    assert lock.config.checksum == framework.checksum
    assert [(p.architecture, p.name) for p in lock.packages] == [
        ("x86_64", "lib"),
        ("x86_64", "app"),
        ("aarch64", "lib"),
        ("aarch64", "app"),
    ]
    assert lock.packages[0].url == "./repo/x86_64/lib-1.0-r0.apk"
    assert [(r.name, r.url) for r in lock.repositories] == [
        ("./repo/x86_64", "./repo/x86_64/APKINDEX.tar.gz"),
        ("./repo/aarch64", "./repo/aarch64/APKINDEX.tar.gz"),
    ]
    assert lock.keyring[0].name == lock.keyring[0].url == "./keys/test.rsa.pub"
    assert lock.keyring[0].content.startswith("-----BEGIN PUBLIC KEY-----")
    data = (project / "repo/x86_64/lib-1.0-r0.apk").read_bytes()
    _start, end = lock.packages[0].data.bounds() or (0, 0)
    assert end == len(data) - 1
    assert [c.kind for c in result.changes] == ["added"] * 4


def test_same_inputs_give_the_same_bytes(project: Path) -> None:
    _lock(project)
    first = (project / "lockfiles/demo.lock.json").read_bytes()
    [again] = _lock(project)
    assert not again.changed
    assert (project / "lockfiles/demo.lock.json").read_bytes() == first


def test_check_reports_fresh_stale_and_missing(project: Path) -> None:
    [missing] = _lock(project, check=True)
    assert missing.changed
    assert missing.differences == ["framework demo has no lockfile"]
    assert not (project / "lockfiles").exists()  # --check writes nothing

    _lock(project)
    before = (project / "lockfiles/demo.lock.json").read_bytes()
    fresh = _lock(project, check=True)
    raise_if_stale(fresh)

    _framework(project, "demo", ["app", "tool"])
    stale = _lock(project, check=True)
    assert stale[0].differences[0].startswith("config: checksum")
    assert {(c.package, c.kind) for c in stale[0].changes} == {("tool", "added")}
    with pytest.raises(StaleLockError) as caught:
        raise_if_stale(stale)
    assert caught.value.exit_code == 1
    assert "demo.lock.json" in str(caught.value)
    assert (project / "lockfiles/demo.lock.json").read_bytes() == before


def test_update_moves_only_the_named_packages(project: Path, signing_key: SigningKey) -> None:
    _framework(project, "demo", ["app", "tool"])
    _lock(project)
    newer = [*BASE, Pkg("lib", "1.1-r0"), Pkg("tool", "1.1-r0")]
    _repo(project, signing_key, dict.fromkeys(ARCHS, newer))

    [check] = _lock(project, check=True)  # newer versions alone do not make a lock stale
    assert not check.changed

    [result] = _lock(project, update=("lib",))
    versions = _versions(project)
    assert versions["x86_64", "lib"] == versions["aarch64", "lib"] == "1.1-r0"
    assert versions["x86_64", "tool"] == versions["aarch64", "tool"] == "1.0-r0"
    assert {(c.package, c.arch, c.old, c.new) for c in result.changes} == {
        ("lib", "x86_64", "1.0-r0", "1.1-r0"),
        ("lib", "aarch64", "1.0-r0", "1.1-r0"),
    }

    _lock(project)  # a plain lock resolves afresh
    assert _versions(project)["x86_64", "tool"] == "1.1-r0"


def test_update_of_an_unknown_package_is_refused(project: Path) -> None:
    _lock(project)
    with pytest.raises(ConfigError, match="--update nope"):
        _lock(project, update=("nope",))


def test_versions_agree_across_archs(project: Path, signing_key: SigningKey) -> None:
    """lib 1.1 exists only on x86_64: both archs get 1.0 unless skew is allowed."""
    _repo(project, signing_key, {"x86_64": [*BASE, Pkg("lib", "1.1-r0")]})
    _lock(project)
    versions = _versions(project)
    assert versions["x86_64", "lib"] == versions["aarch64", "lib"] == "1.0-r0"

    _lock(project, allow_arch_skew=True)
    versions = _versions(project)
    assert versions["x86_64", "lib"] == "1.1-r0"
    assert versions["aarch64", "lib"] == "1.0-r0"


def test_arch_skew_without_a_common_version_fails_listing_packages(
    project: Path, signing_key: SigningKey
) -> None:
    _repo(
        project,
        signing_key,
        {
            "x86_64": [Pkg("lib", "1.1-r0"), BASE[1], BASE[2]],
            "aarch64": [Pkg("lib", "1.0-r0"), BASE[1], BASE[2]],
        },
    )
    with pytest.raises(ResolveError, match="lib") as caught:
        _lock(project)
    assert "\n" not in str(caught.value)
    assert not (project / "lockfiles").exists()
    _lock(project, allow_arch_skew=True)
    assert _versions(project)["aarch64", "lib"] == "1.0-r0"


def _entry(name: str, version: str, arch: str) -> LockedPackage:
    part = LockRange(range="bytes=0-1", checksum="sha1-x")
    return LockedPackage(
        name=name,
        url=f"./repo/{arch}/{name}-{version}.apk",
        version=version,
        architecture=arch,
        signature=part,
        control=part,
        data=part,
        checksum="Q1" + "A" * 28,
    )


def test_arch_skew_check_lists_every_skewed_package(project: Path) -> None:
    framework = load_framework("frameworks/demo.yaml", base_dir=project)
    chosen = {
        "x86_64": [_entry("a", "1-r0", "x86_64"), _entry("b", "2-r0", "x86_64")],
        "aarch64": [_entry("a", "1-r1", "aarch64"), _entry("b", "2-r1", "aarch64")],
    }
    with pytest.raises(ResolveError) as caught:
        check_arch_skew(framework, chosen)
    assert "a x86_64=1-r0, aarch64=1-r1; b x86_64=2-r0, aarch64=2-r1" in str(caught.value)
    assert "--allow-arch-skew" in str(caught.value)
    check_arch_skew(framework, {"x86_64": chosen["x86_64"], "aarch64": chosen["x86_64"]})


def test_unknown_package_names_it_and_the_framework(project: Path) -> None:
    _framework(project, "demo", ["app", "no-such-package"])
    with pytest.raises(ResolveError) as caught:
        _lock(project)
    message = str(caught.value)
    assert "no-such-package" in message
    assert "frameworks/demo.yaml" in message
    assert "\n" not in message


def test_an_error_leaves_every_lockfile_untouched(project: Path) -> None:
    _framework(project, "other", ["tool"])
    _lock(project)
    before = {p.name: p.read_bytes() for p in (project / "lockfiles").iterdir()}
    _framework(project, "demo", ["app", "tool"])  # would change demo.lock.json ...
    _framework(project, "other", ["missing-pkg"])  # ... but this framework fails
    with pytest.raises(ResolveError):
        _lock(project)
    after = {p.name: p.read_bytes() for p in (project / "lockfiles").iterdir()}
    assert after == before


def test_frameworks_can_be_selected_by_name(project: Path) -> None:
    _framework(project, "other", ["tool"])
    results = _lock(project, names=("other",))
    assert [r.framework.name for r in results] == ["other"]
    assert not (project / "lockfiles/demo.lock.json").exists()
    with pytest.raises(ConfigError, match="unknown framework 'nope'") as caught:
        _lock(project, names=("nope",))
    assert "demo, other" in str(caught.value)


def test_unreadable_lockfile_is_replaced_but_blocks_update(project: Path) -> None:
    target = project / "lockfiles" / "demo.lock.json"
    target.parent.mkdir()
    target.write_text("{not json")
    with pytest.raises(LockError, match="cannot update"):
        _lock(project, update=("lib",))
    [check] = _lock(project, check=True)
    assert check.differences[0].startswith("lockfile is unreadable")
    _lock(project)
    assert read_lockfile(target).packages


@pytest.mark.parametrize("parallel", [False, True])
def test_missing_local_index_is_skipped_as_apko_does(project: Path, parallel: bool) -> None:
    _framework(project, "demo", ["app"], extra="    - ./not-built\n")
    notes = _Notes()
    [result] = _lock(project, notes, parallel=parallel)
    assert [r.name for r in result.new.repositories][:2] == ["./repo/x86_64", "./not-built/x86_64"]
    assert any("not-built/x86_64/APKINDEX.tar.gz does not exist" in line for line in notes.lines)


def test_cli_lock_check_and_resolve(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-C", str(project), "lock", "--check"]) == 1
    assert "demo.lock.json: stale" in capsys.readouterr().out
    assert main(["-C", str(project), "lock"]) == 0
    out = capsys.readouterr().out
    assert "lockfile changes" in out
    assert "lib" in out
    assert "1.0-r0" in out
    assert main(["-C", str(project), "lock", "--check"]) == 0
    assert "up to date" in capsys.readouterr().out
    assert main(["-C", str(project), "resolve", "frameworks/demo.yaml", "--arch", "arm64"]) == 0
    assert capsys.readouterr().out.splitlines() == ["lib=1.0-r0", "app=1.0-r0"]
    assert main(["-C", str(project), "lock", "nope"]) == 2
    assert "unknown framework" in capsys.readouterr().err


def test_worker_processes_give_the_same_bytes(project: Path, signing_key: SigningKey) -> None:
    _repo(project, signing_key, {"x86_64": [*BASE, Pkg("lib", "1.1-r0")]})
    _framework(project, "other", ["tool", "app"])
    _lock(project)
    serial = {p.name: p.read_bytes() for p in (project / "lockfiles").iterdir()}
    results = _lock(project, parallel=True, check=True)
    assert [r.changed for r in results] == [False, False]
    assert {r.path.name: r.new.to_json() for r in results} == serial


def test_worker_errors_arrive_whole(project: Path) -> None:
    _framework(project, "demo", ["app", "no-such-package"])
    with pytest.raises(ResolveError) as caught:
        _lock(project, parallel=True)
    assert "no-such-package" in str(caught.value)
    assert caught.value.where is not None
    assert "frameworks/demo.yaml" in caught.value.where
