"""buildkit.toolchain.containers: when a run needs a name, and which leftover containers are
orphans.
"""

from __future__ import annotations

import pytest

from buildkit.toolchain.containers import named_runs_needed, orphans


@pytest.mark.parametrize(
    ("engine", "server", "version", "named"),
    [
        ("docker", "Podman Engine", "4.3.1", True),
        ("docker", "Podman Engine", "4.5.9", True),
        ("docker", "Podman Engine", "4.6.0", False),
        ("docker", "Podman Engine", "5.2.1", False),
        ("docker", "Docker Engine - Community", "28.2.2", False),
        ("podman", "podman", "4.3.1", False),  # the podman CLI keeps the status with --rm
    ],
)
def test_named_runs_only_for_the_docker_cli_on_an_old_podman_service(
    engine: str, server: str, version: str, named: bool
) -> None:
    assert named_runs_needed(engine, server, version) is named


@pytest.mark.parametrize(
    ("listing", "expected"),
    [
        ("", []),
        ("buildkit-1 h:10\nbuildkit-2 h:11\n", ["buildkit-1"]),
        ("buildkit-1 h:abc\nbuildkit-2 x:10\nbuildkit-3 \n", []),
        ("buildkit-1 my:host:10\n", []),
    ],
)
def test_orphans_are_dead_processes_of_this_host(listing: str, expected: list[str]) -> None:
    assert orphans(listing, host="h", alive=lambda pid: pid != 10) == expected
