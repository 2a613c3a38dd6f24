"""buildkit.usecases.apko_cache: the offline cache apko builds from."""

from __future__ import annotations

from pathlib import Path

from buildkit.usecases.apko_cache import key_file
from tests.helpers.build_project import (
    REPO_KEY_URL,
    Project,
    built_and_locked,
)


def test_the_offline_cache_holds_keys_by_url(project: Project) -> None:
    factory = built_and_locked(project)
    pem = (project.repo_key.parent / "repo.rsa.pub").read_bytes()
    cached = key_file(Path("."), REPO_KEY_URL, pem)
    assert all(cache[cached.as_posix()] == pem for cache in factory.tools.caches)
    assert cached.parent.name == "repo.rsa.pub"


def test_each_apko_run_gets_a_fresh_offline_cache_that_is_removed_afterwards(
    project: Project,
) -> None:
    factory = built_and_locked(project)
    assert len(factory.tools.caches) == 2  # one per arch
    assert not (project.cache / "apko-cache").exists()  # nothing shared between runs
    assert not any((project.root / "dist" / "tmp").iterdir())
