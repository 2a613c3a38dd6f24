"""buildkit.usecases.package_builds: local packages built per arch, keyed by what they need."""

from __future__ import annotations

from tests.helpers.build_project import (
    Factory,
    Project,
    build_local,
)


def test_package_keys_include_the_identities_of_local_dependencies(project: Project) -> None:
    (project.root / "packages" / "app.yaml").write_text(
        "package: {name: app, version: 2, dependencies: {runtime: [hello]}}\n"
    )
    factory = Factory()
    records = {(r.name, r.arch): r for r in build_local(project, factory)}
    app = records["app", "x86_64"]
    assert app.inputs.local_deps == {"hello": records["hello", "x86_64"].identity}
    assert [c for c in factory.tools.calls if c[1] == "x86_64"] == [
        ("melange", "x86_64"),
        ("melange", "x86_64"),
    ]
    hello = project.root / "packages" / "hello.yaml"
    hello.write_text(hello.read_text().replace("epoch: 0", "epoch: 1"))
    again = {(r.name, r.arch): r for r in build_local(project, factory)}
    assert again["app", "x86_64"].action_key != app.action_key  # its dependency changed
