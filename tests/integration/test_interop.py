"""buildkit and the real tools accept each other's packages and indexes.

- `buildkit apk pack` + `buildkit apk index` make a repository the real apko builds from;
- packages and the index the real melange made verify and re-index identically in buildkit.
"""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from buildkit import cli
from buildkit.apk.index import parse_index, record_from_package
from buildkit.apk.keys import Keyring
from buildkit.apk.package import verify_package
from buildkit.toolchain import ApkoBuild
from tests.helpers.machine import SOURCE_DATE_EPOCH, Machine, MelangeOutput, run_tool

pytestmark = pytest.mark.integration

APKO_YAML = """\
contents:
  keyring:
    - ./keys/buildkit-test.rsa.pub
  repositories:
    - ./repo
  packages:
    - greet
entrypoint:
  command: /usr/bin/greet
"""


def _layer_files(image_tar: Path) -> dict[str, bytes]:
    """Path -> content of every regular file in the layers of an apko docker-archive."""
    files: dict[str, bytes] = {}
    with tarfile.open(image_tar) as outer:
        manifest = json.loads(outer.extractfile("manifest.json").read())  # type: ignore[union-attr]
        for layer in manifest[0]["Layers"]:
            data = outer.extractfile(layer).read()  # type: ignore[union-attr]
            if data[:2] == b"\x1f\x8b":
                data = gzip.decompress(data)
            with tarfile.open(fileobj=io.BytesIO(data)) as inner:
                for member in inner.getmembers():
                    if member.isfile():
                        content = inner.extractfile(member).read()  # type: ignore[union-attr]
                        files[member.name.removeprefix("./")] = content
    return files


@pytest.mark.parametrize("arch", ["x86_64", "aarch64"])
def test_real_apko_builds_from_a_repository_made_by_buildkit(
    machine: Machine, test_key: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, arch: str
) -> None:
    project = tmp_path / "proj"
    keys = project / "keys"
    keys.mkdir(parents=True)
    for path in (test_key, test_key.with_name(test_key.name + ".pub")):
        (keys / path.name).write_bytes(path.read_bytes())
    root = tmp_path / "root/usr/bin"
    root.mkdir(parents=True)
    (root / "greet").write_text("#!/bin/sh\necho hi\n")
    (root / "greet").chmod(0o755)
    repo = project / "repo" / arch
    monkeypatch.setenv("SOURCE_DATE_EPOCH", str(SOURCE_DATE_EPOCH))
    key = str(keys / test_key.name)
    pack = ["apk", "pack", str(tmp_path / "root"), "--name", "greet", "--version", "1.0-r0"]
    pack += ["--arch", arch, "--signing-key", key, "--output-dir", str(repo)]
    assert cli.main(pack) == 0
    assert cli.main(["apk", "index", str(repo), "--signing-key", key]) == 0
    (project / "apko.yaml").write_text(APKO_YAML)

    job = ApkoBuild(
        config=project / "apko.yaml",
        tag="buildkit-test/interop:1",
        output=project / "out/image.tar",
        arch=arch,
        sbom_dir=project / "out",
    )
    chain = machine.toolchain(project)
    run_tool(
        lambda: chain.apko_build(
            job, log=project / "logs/apko.log", source_date_epoch=SOURCE_DATE_EPOCH
        )
    )
    files = _layer_files(job.output)
    assert files["usr/bin/greet"] == b"#!/bin/sh\necho hi\n"
    # apko recorded the package with the identity buildkit computed (index C: = db C:).
    record = dict(
        line.split(":", 1)
        for line in files["usr/lib/apk/db/installed"].decode().splitlines()
        if line[1:2] == ":" and line[0] in "CPVA"
    )
    mine = record_from_package(next(repo.glob("*.apk")).read_bytes(), where="greet")
    assert record == {"C": mine.checksum, "P": "greet", "V": "1.0-r0", "A": arch}
    # apko's SBOM lists only packages that ship /var/lib/db/sbom/<name>-<version>.spdx.json:
    # `apk pack` adds one, so the image's SBOM names the package with its purl.
    sbom = json.loads((project / f"out/sbom-{arch}.spdx.json").read_text())
    listed = {p["name"]: p for p in sbom["packages"]}
    assert listed["greet"]["versionInfo"] == "1.0-r0"
    assert listed["greet"]["externalRefs"][0]["referenceLocator"] == (
        f"pkg:apk/unknown/greet@1.0-r0?arch={arch}"
    )
    root_id = sbom["documentDescribes"][0]
    assert {"spdxElementId": root_id, "relationshipType": "CONTAINS"}.items() <= next(
        r for r in sbom["relationships"] if r["relatedSpdxElement"] == listed["greet"]["SPDXID"]
    ).items()


@pytest.mark.parametrize("arch", ["x86_64", "aarch64"])
def test_melange_packages_reindex_identically_in_buildkit(
    melange_hello: Callable[[str], MelangeOutput], arch: str
) -> None:
    built = melange_hello(arch)
    keyring = Keyring.from_files([built.public_key])
    index_path = built.out_dir / arch / "APKINDEX.tar.gz"
    index = parse_index(index_path.read_bytes(), where=str(index_path), keyring=keyring)
    assert index.signers == (built.public_key.name,)
    for record in index.records:
        apk = built.out_dir / arch / record.filename
        data = apk.read_bytes()
        verify_package(data, where=str(apk), keyring=keyring, expected_identity=record.checksum)
        mine = record_from_package(data, where=str(apk))
        assert (mine.checksum, mine.name, mine.version, mine.arch, mine.size) == (
            record.checksum,
            record.name,
            record.version,
            record.arch,
            record.size,
        )
        assert mine.installed_size == record.installed_size
        assert mine.depends == record.depends
