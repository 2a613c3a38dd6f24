"""buildkit.usecases.verifying: a rebuild compared with the records (fake tools)."""

from __future__ import annotations

from buildkit.usecases.verifying import verify_project
from tests.helpers.build_project import (
    ARCHS,
    Factory,
    FakeTools,
    Project,
    built_and_locked,
)

# --- verify --------------------------------------------------------------------------------------


def test_verify_passes_for_a_reproducible_build(project: Project) -> None:
    factory = built_and_locked(project)
    result = verify_project(project.config(), tools=factory)
    assert result.ok, result.differences
    assert sorted(result.checked) == sorted(
        [
            f"{tool} {name} {arch}"
            for tool, name in (("melange", "hello"), ("apko", "demo"))
            for arch in ARCHS
        ]
    )
    assert not any((project.root / "dist" / "tmp").iterdir())


def test_verify_lists_every_difference_of_a_non_reproducible_build(project: Project) -> None:
    built_and_locked(project)
    result = verify_project(
        project.config(), tools=Factory(FakeTools(salt=b"again")), archs=("x86_64",)
    )
    assert not result.ok
    text = "\n".join(result.differences)
    for what in ("tarball", "manifest digest", "config digest", "sbom-x86_64.spdx.json"):
        assert f"apko demo x86_64: {what}" in text


def test_verify_reports_a_missing_record(project: Project) -> None:
    built_and_locked(project)
    (project.root / "dist" / "demo" / "x86_64.json").unlink()
    result = verify_project(project.config(), tools=Factory(), archs=("x86_64",))
    assert result.differences == (
        f"apko demo x86_64: no build record at {project.root}/dist/demo/x86_64.json "
        "(run `nox -s build-amd64 -- demo` first)",
    )
