"""SLSA v1 provenance for a published image, generated from its build record (pure).

cosign wraps the predicate in an in-toto statement whose subject is the image digest
(``cosign attest --type slsaprovenance1``). The predicate says what built the image, from what:
the framework config (its checksum), the lockfile entries (their digest), the apko tool image
(by digest), the source revision of the checkout, the build date (the image's
SOURCE_DATE_EPOCH) and the build action key. See https://slsa.dev/spec/v1.0/provenance.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any

from buildkit.actions.records import ImageRecord
from buildkit.imageref import pinned_digest

BUILD_TYPE = "https://github.com/buildkit/buildkit/apko-image/v1"
BUILDER_ID = "https://github.com/buildkit/buildkit/builder/v1"
PREDICATE_TYPE = "https://slsa.dev/provenance/v1"


def _sha256(digest: str) -> dict[str, str]:
    algorithm, _, value = digest.partition(":")
    return {algorithm or "sha256": value}


def _image_digest(ref: str) -> dict[str, str]:
    digest = pinned_digest(ref)
    return _sha256(digest) if digest else {}


def provenance_predicate(
    record: ImageRecord, *, source_revision: str, tool_images: Mapping[str, str]
) -> dict[str, Any]:
    """The SLSA v1 predicate for the image ``record`` describes."""
    inputs = record.inputs
    apko_image = inputs.apko_image
    built = datetime.datetime.fromtimestamp(record.source_date_epoch, tz=datetime.UTC)
    dependencies: list[dict[str, Any]] = [
        {
            "uri": f"buildkit:lockfile/{record.framework}/{record.arch}",
            "digest": _sha256(inputs.lock),
        },
        {
            "uri": f"buildkit:config/{inputs.config.name}",
            "digest": {"sri": inputs.config.checksum},
        },
        {"uri": f"oci://{apko_image}", "digest": _image_digest(apko_image)},
        {"uri": "git+source", "digest": {"gitCommit": source_revision}},
    ]
    for name, ref in sorted(tool_images.items()):
        dependencies.append({"uri": f"oci://{ref}", "name": name, "digest": _image_digest(ref)})
    return {
        "buildDefinition": {
            "buildType": BUILD_TYPE,
            "externalParameters": {
                "framework": record.framework,
                "arch": record.arch,
                "config": inputs.config.name,
                "tag": inputs.tag,
            },
            "internalParameters": {
                "recipe": inputs.recipe,
                "source_date_epoch": record.source_date_epoch,
                "signing_key": inputs.signing_key,
            },
            "resolvedDependencies": dependencies,
        },
        "runDetails": {
            "builder": {"id": BUILDER_ID},
            "metadata": {
                "invocationId": record.action_key,
                "startedOn": built.strftime("%Y-%m-%dT%H:%M:%SZ"),
            },
            "byproducts": [
                {
                    "name": name,
                    "digest": _sha256(blob.digest),
                    "mediaType": "application/spdx+json",
                }
                for name, blob in sorted(record.sboms.items())
            ],
        },
    }
