"""buildkit.toolchain.mounts: which host folders a run sees, read-only unless it writes them."""

from __future__ import annotations

from pathlib import Path

from buildkit.toolchain import (
    plan_mounts,
)
from tests.helpers.toolchain import (
    P,
)


def test_plan_mounts_makes_only_outputs_and_caches_writable() -> None:
    plan = plan_mounts(
        P,
        writable=[P / "dist/tmp", P / "dist/tmp/sbom", Path("/c/apko")],
        inputs=[P / "frameworks/a.yaml", Path("/keys/k.pub"), Path("/c/apko/x")],
    )
    assert plan.mounts == (
        (Path("/c/apko"), "/mnt/rw0", False),
        (P / "dist/tmp", "/work/dist/tmp", False),
        (Path("/keys/k.pub"), "/mnt/ro0", True),
    )
    assert not plan.project_writable
    assert plan.writable == ("/mnt/rw0", "/work/dist/tmp")
    assert plan.to_container(P / "dist/tmp/sbom") == "/work/dist/tmp/sbom"


def test_plan_mounts_with_the_project_itself_writable() -> None:
    plan = plan_mounts(P, writable=[P, P / "packages"])
    assert plan.mounts == ()
    assert plan.project_writable
    assert plan.writable == ("/work",)
