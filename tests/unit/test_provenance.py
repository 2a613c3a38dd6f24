"""The SLSA v1 provenance predicate publish attests, made from a build record (pure)."""

from __future__ import annotations

from buildkit.actions.provenance import provenance_predicate
from buildkit.actions.records import ImageRecord, ImageSummary
from buildkit.digest import Blob
from tests.helpers.records import image_inputs

COSIGN = f"127.0.0.1:5000/tools/cosign@sha256:{'a' * 64}"


def test_provenance_names_lock_config_tools_revision_date_and_action() -> None:
    record = ImageRecord(
        framework="demo",
        arch="aarch64",
        action_key="k" * 64,
        inputs=image_inputs("aarch64"),
        source_date_epoch=1704067200,
        tarball=Blob(digest="sha256:" + "3" * 64, size=1),
        sboms={"sbom-aarch64.spdx.json": Blob(digest="sha256:" + "4" * 64, size=1)},
        image=ImageSummary(
            tag="buildkit/demo:latest-arm64", platform="linux/arm64",
            manifest_digest="sha256:" + "5" * 64, config_digest="sha256:" + "6" * 64,
            diff_ids=(), layers=(),
        ),
    )  # fmt: skip
    predicate = provenance_predicate(
        record, source_revision="f" * 40, tool_images={"cosign": COSIGN}
    )
    deps = predicate["buildDefinition"]["resolvedDependencies"]
    digests = [d["digest"] for d in deps]
    assert {"sha256": "1" * 64} in digests  # the lock entries
    assert {"sri": "sha256-abc="} in digests  # the config checksum
    assert {"sha256": "2" * 64} in digests  # the apko image
    assert {"gitCommit": "f" * 40} in digests
    assert {"sha256": "a" * 64} in digests  # the cosign image
    metadata = predicate["runDetails"]["metadata"]
    assert metadata == {"invocationId": "k" * 64, "startedOn": "2024-01-01T00:00:00Z"}
    assert predicate["buildDefinition"]["externalParameters"]["arch"] == "aarch64"
