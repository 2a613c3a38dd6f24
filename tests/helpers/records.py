"""Build record parts for tests that need a record but not a build."""

from __future__ import annotations

from buildkit.actions.inputs import ConfigInput, ImageInputs

APKO_IMAGE = "127.0.0.1:5000/tools/apko@sha256:" + "2" * 64


def image_inputs(
    arch: str = "x86_64",
    *,
    config: str = "frameworks/demo.yaml",
    checksum: str = "sha256-abc=",
    lock: str = "sha256:" + "1" * 64,
) -> ImageInputs:
    """The inputs of an apko build of the demo (unconfigured SOURCE_DATE_EPOCH, no signing)."""
    return ImageInputs(
        arch=arch,
        config=ConfigInput(name=config, checksum=checksum),
        lock=lock,
        apko_image=APKO_IMAGE,
        source_date_epoch=None,
        tag="localhost/buildkit/demo:latest",
        signing_key="none",
    )
