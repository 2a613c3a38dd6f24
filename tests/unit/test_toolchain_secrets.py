"""Tool containers see only what each tool needs: apko never sees a private key (each is a
read-only /dev/null in its container), melange sees its own signing key and no other."""

from __future__ import annotations

from pathlib import Path

import pytest

from buildkit.toolchain import ApkoBuild, MelangeBuild, apko_spec, melange_spec, run_argv
from buildkit.toolchain.facade import secret_files
from tests.helpers.toolchain import APKO, MELANGE, ROOT, P

APKO_JOB = ApkoBuild(
    config=P / "frameworks/demo.yaml",
    tag="buildkit/demo:latest",
    output=P / "dist/tmp/demo-x86_64.tar",
    arch="x86_64",
    sbom_dir=P / "dist/tmp/sbom",
    lockfile=P / "lockfiles/demo.lock.json",
)
MELANGE_JOB = MelangeBuild(
    config=P / "packages/hello.yaml",
    arch="x86_64",
    signing_key=P / "keys/buildkit.rsa",
    out_dir=P / "packages",
    keyring_append=(P / "keys/buildkit.rsa.pub",),
)
HIDDEN = (P / "keys/buildkit.rsa", P / "keys/cosign.key", P / "keys/cosign.password")


def _masked(argv: list[str]) -> list[str]:
    return [
        argv[i + 1]
        for i, a in enumerate(argv)
        if a == "-v" and argv[i + 1].startswith("/dev/null:")
    ]


def test_apko_sees_no_private_key() -> None:
    spec = apko_spec(
        APKO_JOB,
        image=APKO,
        project=P,
        owner=ROOT,
        source_date_epoch=1,
        network="none",
        hidden=HIDDEN,
    )
    assert _masked(run_argv("docker", spec)) == [
        "/dev/null:/work/keys/buildkit.rsa:ro",
        "/dev/null:/work/keys/cosign.key:ro",
        "/dev/null:/work/keys/cosign.password:ro",
    ]


def test_melange_sees_its_signing_key_and_no_other_secret() -> None:
    spec = melange_spec(
        MELANGE_JOB, image=MELANGE, project=P, source_date_epoch=1, network="none", hidden=HIDDEN
    )
    assert _masked(run_argv("docker", spec)) == [
        "/dev/null:/work/keys/cosign.key:ro",
        "/dev/null:/work/keys/cosign.password:ro",
    ]


@pytest.mark.parametrize(
    ("files", "secret"),
    [
        (["buildkit.rsa", "buildkit.rsa.pub", "README.md"], ["buildkit.rsa"]),
        (
            ["cosign.key", "cosign.pub", "melange.rsa", "melange.rsa.pub"],
            ["cosign.key", "melange.rsa"],
        ),
        (["a.rsa.pub"], []),
        ([], []),
    ],
)
def test_secret_files_are_everything_in_keys_but_public_keys(
    tmp_path: Path, files: list[str], secret: list[str]
) -> None:
    (tmp_path / "keys").mkdir()
    for name in files:
        (tmp_path / "keys" / name).write_text("x")
    assert [p.name for p in secret_files(tmp_path)] == secret


def test_a_project_without_keys_hides_nothing(tmp_path: Path) -> None:
    assert secret_files(tmp_path) == ()
