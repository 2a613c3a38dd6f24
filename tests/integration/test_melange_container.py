"""Real melange (bubblewrap inside a privileged container) for x86_64 and, under qemu, aarch64."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from buildkit.apk.index import parse_index
from buildkit.apk.keys import Keyring
from buildkit.apk.package import extract_package, verify_package
from tests.helpers.machine import (
    SOURCE_DATE_EPOCH,
    Machine,
    MelangeOutput,
    build_hello,
    other_owner,
    write_hello_project,
)

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("arch", ["x86_64", "aarch64"])
def test_melange_builds_a_package_that_buildkit_verifies(
    melange_hello: Callable[[str], MelangeOutput], arch: str, tmp_path: Path
) -> None:
    built = melange_hello(arch)
    apk = built.out_dir / arch / "hello-1.0.0-r0.apk"
    assert apk.is_file(), sorted(p.name for p in built.out_dir.rglob("*"))
    keyring = Keyring.from_files([built.public_key])

    layout = verify_package(apk.read_bytes(), where=str(apk), keyring=keyring)
    assert (layout.pkginfo.name, layout.pkginfo.version, layout.pkginfo.arch) == (
        "hello",
        "1.0.0-r0",
        arch,
    )
    assert layout.signer == built.public_key.name
    assert layout.pkginfo.builddate == SOURCE_DATE_EPOCH

    extract_package(apk.read_bytes(), tmp_path / "root", where=str(apk))
    script = tmp_path / "root/usr/bin/hello"
    assert script.read_text() == "#!/bin/sh\necho hello from buildkit\n"
    assert os.access(script, os.X_OK)

    index = built.out_dir / arch / "APKINDEX.tar.gz"
    records = parse_index(index.read_bytes(), where=str(index), keyring=keyring).records
    assert [(r.name, r.checksum) for r in records] == [("hello", layout.identity)]


@pytest.mark.parametrize("arch", ["x86_64", "aarch64"])
def test_melange_outputs_belong_to_the_invoking_user(
    melange_hello: Callable[[str], MelangeOutput], arch: str
) -> None:
    built = melange_hello(arch)
    owners = {(p.stat().st_uid, p.stat().st_gid) for p in built.out_dir.rglob("*")}
    assert owners == {(os.getuid(), os.getgid())}


def test_melange_outputs_go_back_to_an_unprivileged_user(
    machine: Machine, test_key: Path, tmp_path: Path
) -> None:
    """melange runs as container root; a rootful engine then leaves root-owned files unless
    buildkit hands them back (here to uid 1000 when the tests run as root)."""
    project = tmp_path / "proj"
    write_hello_project(machine, test_key, project)
    owner = other_owner(project)
    built = build_hello(machine, test_key, project, "x86_64", owner)
    outputs = [built.out_dir, *built.out_dir.rglob("*"), *(project / "cache").rglob("*")]
    assert {(p.stat().st_uid, p.stat().st_gid) for p in outputs} == {(owner.uid, owner.gid)}
    assert (built.out_dir / "x86_64/hello-1.0.0-r0.apk").is_file()
