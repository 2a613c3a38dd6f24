"""``build`` and ``verify`` check each lockfile against its sources before building.

The rules are :mod:`buildkit.actions.lock_check` (pure); this module reads the sources: the
keys the config names and the repository indexes, offline first. A remote key or index is
taken from the machine cache that ``lock`` filled (its bytes checked against the SHA-256
recorded with them) and fetched only when the cache lacks it; every index is verified
against the config's keyring before a record of it is believed. So a build needs no network
for the check when ``lock`` ran on the machine.

Two passes, because the project's own repository (``@local ./packages``) is what the build's
melange step writes: :meth:`SourceCheck.check_entries` (planning: everything, identities in
remote repositories included) and :meth:`SourceCheck.check_local` (once the local packages
are built: identities in local repositories).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from buildkit.actions.lock_check import (
    check_identities,
    check_lock_entries,
    is_remote_url,
    keyring_entries,
)
from buildkit.apk.index import IndexRecord
from buildkit.apk.keys import Keyring
from buildkit.framework import Framework
from buildkit.lockfile import Lockfile, LockKey
from buildkit.project.config import ProjectConfig
from buildkit.repo import RepoClient


class SourceCheck:
    """Keys and indexes for one run, each read and parsed once."""

    @classmethod
    def of(cls, project: ProjectConfig) -> SourceCheck:
        """Offline first: the machine cache's copies, fetched only when missing."""
        return cls(
            RepoClient(base_dir=project.root, cache_dir=project.cache_dir, prefer_cached=True)
        )

    def __init__(self, client: RepoClient) -> None:
        self.client = client
        self._keyrings: dict[str, tuple[Keyring, tuple[LockKey, ...]]] = {}
        self._records: dict[tuple[str, str, str], Mapping[str, IndexRecord] | None] = {}

    def check_entries(self, framework: Framework, lock: Lockfile, path: Path) -> None:
        """Config, keyring, repositories, archs, URLs and remote identities."""
        check_lock_entries(framework, lock, path=path, keys=self._keyring(framework)[1])
        self._identities(framework, lock, path, local=False)

    def check_local(self, framework: Framework, lock: Lockfile, path: Path) -> None:
        """Identities in local repositories (after :meth:`check_entries` for ``framework``)."""
        self._identities(framework, lock, path, local=True)

    def _keyring(self, framework: Framework) -> tuple[Keyring, tuple[LockKey, ...]]:
        """The config's keys (each checked to be a public key) and their lock entries."""
        if framework.name not in self._keyrings:
            pems = {place: self.client.key(place) for place in framework.contents.keyring}
            keys, entries = keyring_entries(framework, pems)
            self._keyrings[framework.name] = Keyring.from_pems(keys), entries
        return self._keyrings[framework.name]

    def _identities(self, framework: Framework, lock: Lockfile, path: Path, *, local: bool) -> None:
        keyring = self._keyring(framework)[0]

        def records(repo: str, arch: str) -> Mapping[str, IndexRecord] | None:
            if is_remote_url(repo) == local:
                return None
            key = (framework.name, repo, arch)
            if key not in self._records:
                self._records[key] = self._index(repo, arch, keyring)
            return self._records[key]

        check_identities(framework, lock, path=path, index=records)

    def _index(self, repo: str, arch: str, keyring: Keyring) -> Mapping[str, IndexRecord] | None:
        if self.client.index_missing(repo, arch):
            return None  # a local repository not built: its packages are reported missing later
        index = self.client.index(repo, arch, keyring=keyring)
        return {record.checksum: record for record in index.records}
