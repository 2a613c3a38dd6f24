"""buildkit.usecases.apko_cache: the offline cache apko builds from."""

from __future__ import annotations

from buildkit.usecases.apko_cache import key_file
from tests.helpers.build_project import (
    REPO_KEY_URL,
    Project,
    built_and_locked,
)


def test_the_offline_cache_holds_keys_by_url(project: Project) -> None:
    built_and_locked(project)
    pem = (project.repo_key.parent / "repo.rsa.pub").read_bytes()
    cached = key_file(project.cache / "apko-cache", REPO_KEY_URL, pem)
    assert cached.read_bytes() == pem
    assert cached.parent.name == "repo.rsa.pub"
