"""buildkit.actions.plan: action keys, lock checks, build times, key fingerprints."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from buildkit.actions.plan import (
    check_lock,
    lock_digest,
    newest_build_time,
    plan_image,
    public_key_fingerprint,
)
from buildkit.apk.keys import fingerprint
from buildkit.errors import StaleLockError
from buildkit.framework import load_framework
from buildkit.lockfile import LockedPackage, Lockfile
from tests.helpers.build_project import (
    Project,
    built_and_locked,
    lock,
)

# --- action keys (pure) --------------------------------------------------------------------------


def plan(project: Project, lockfile: Lockfile, **overrides: Any) -> str:
    framework = load_framework("frameworks/demo.yaml", base_dir=project.root)
    framework = overrides.pop("framework", framework)
    arguments: dict[str, Any] = {
        "lockfile": project.root / "lockfiles" / "demo.lock.json",
        "apko_image": "reg/apko@sha256:" + "1" * 64,
        "tag": "buildkit/demo:latest",
        "source_date_epoch": None,
        "signing_key": "sha256:" + "2" * 64,
        **overrides,
    }
    return plan_image(framework, lockfile, "x86_64", **arguments).key


def _other(package: LockedPackage, **change: str) -> LockedPackage:
    return replace(package, **change)


def test_image_keys_change_with_every_input_and_only_with_their_own_arch(
    project: Project,
) -> None:
    built_and_locked(project)
    lockfile = lock(project)
    base = plan(project, lockfile)
    assert plan(project, lockfile) == base  # stable
    x86 = [p for p in lockfile.packages if p.architecture == "x86_64"]
    arm = [p for p in lockfile.packages if p.architecture == "aarch64"]
    changed_x86 = replace(lockfile, packages=(_other(x86[0], checksum="Q1other="), *x86[1:], *arm))
    changed_arm = replace(lockfile, packages=(*x86, _other(arm[0], checksum="Q1other="), *arm[1:]))
    framework = load_framework("frameworks/demo.yaml", base_dir=project.root)
    variants = [
        plan(project, changed_x86),
        plan(project, lockfile, apko_image="reg/apko@sha256:" + "3" * 64),
        plan(project, lockfile, tag="buildkit/demo:v2"),
        plan(project, lockfile, source_date_epoch=1),
        plan(project, lockfile, signing_key="sha256:" + "4" * 64),
        plan(project, lockfile, framework=replace(framework, checksum="sha256-other")),
        plan(project, replace(lockfile, keyring=lockfile.keyring[:1])),
    ]
    assert len({base, *variants}) == len(variants) + 1
    assert plan(project, changed_arm) == base  # another arch's entries are not an input
    assert lock_digest(changed_arm, "x86_64") == lock_digest(lockfile, "x86_64")


def test_check_lock_passes_a_current_lock(project: Project) -> None:
    built_and_locked(project)
    lockfile = lock(project)
    framework = load_framework("frameworks/demo.yaml", base_dir=project.root)
    path = project.root / "lockfiles" / "demo.lock.json"
    assert check_lock(framework, lockfile, "aarch64", path=path) is lockfile
    with pytest.raises(StaleLockError, match="records no config checksum"):
        check_lock(framework, replace(lockfile, config=None), "x86_64", path=path)


@pytest.mark.parametrize(
    ("times", "expected"), [([1, None, 3, 2], 3), ([None], 0), ([], 0), ([5], 5)]
)
def test_newest_build_time(times: list[int | None], expected: int) -> None:
    assert newest_build_time(times) == expected


def test_public_key_fingerprint_matches_the_crypto_library(keys: Path) -> None:
    pem = (keys / "buildkit.rsa.pub").read_bytes()
    assert public_key_fingerprint(pem) == fingerprint(pem)
    assert public_key_fingerprint(pem.replace(b"\n", b"\r\n")) == fingerprint(pem)
