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

A passed identity check is remembered in ``<cache>/lock-checks/`` under the SHA-256 of what it
depended on (the index bytes, the keyring, the packages' entries), so a no-op build of a
Wolfi-sized framework does not parse 200,000 index records again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from buildkit.actions.lock_check import (
    check_identities,
    check_lock_entries,
    is_remote_url,
    keyring_entries,
    packages_by_index,
)
from buildkit.apk.index import IndexRecord
from buildkit.apk.keys import Keyring
from buildkit.digest import canonical_json, sha256_digest
from buildkit.framework import Framework
from buildkit.fsutil import atomic_write_bytes
from buildkit.lockfile import LockedPackage, Lockfile, LockKey
from buildkit.project.config import ProjectConfig
from buildkit.repo import RepoClient

MEMO = "lock-checks"  # <cache>/lock-checks/<sha256 of the inputs>.json: identity checks passed
RULES = 1  # bump when check_identities changes what it accepts: every memo entry is then new


class SourceCheck:
    """Keys and indexes for one run, each read and parsed once."""

    @classmethod
    def of(
        cls, project: ProjectConfig, *, warn: Callable[[str], None] | None = None
    ) -> SourceCheck:
        """Offline first: the machine cache's copies (verified; a damaged one is discarded,
        said through ``warn``, and fetched again), fetched only when missing."""
        client = RepoClient(
            base_dir=project.root,
            cache_dir=project.cache_dir,
            prefer_cached=True,
            limits=project.fetch_limits,
            warn=warn,
        )
        return cls(client, memo=project.cache_dir / MEMO)

    def __init__(self, client: RepoClient, *, memo: Path | None = None) -> None:
        self.client = client
        self.memo = memo  # where passed identity checks are remembered (None: nowhere)
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
        skipped: set[tuple[str, str]] = set()
        unchecked: list[tuple[Path, bytes]] = []  # memo entries to write once the check passed
        for (repo, arch), packages in packages_by_index(framework, lock).items():
            if is_remote_url(repo) == local or self.client.index_missing(repo, arch):
                # The other pass's, or a local repository not built yet: its packages are
                # then reported missing when the image is built.
                skipped.add((repo, arch))
                continue
            entry = self._memo_entry(repo, arch, keyring, packages)
            if entry is None:
                continue
            if _holds(*entry):
                skipped.add((repo, arch))
            else:
                unchecked.append(entry)

        def records(repo: str, arch: str) -> Mapping[str, IndexRecord] | None:
            if (repo, arch) in skipped:
                return None
            key = (framework.name, repo, arch)
            if key not in self._records:
                index = self.client.index(repo, arch, keyring=keyring)
                self._records[key] = {record.checksum: record for record in index.records}
            return self._records[key]

        check_identities(framework, lock, path=path, index=records)
        for memo_path, content in unchecked:
            atomic_write_bytes(memo_path, content)

    def _memo_entry(
        self, repo: str, arch: str, keyring: Keyring, packages: Sequence[LockedPackage]
    ) -> tuple[Path, bytes] | None:
        """Where the memo of "these packages are in this index" lives, and its bytes.

        Parsing a Wolfi-sized index costs a second and 270 MB, on every no-op build. The
        check's result depends only on the index bytes, the keyring and the packages' lock
        entries, so its memo is named by the SHA-256 of exactly those (as canonical JSON,
        which is also its content: compared in full on every use).
        """
        if self.memo is None:
            return None
        digest = self.client.index_digest(repo, arch)
        inputs = {
            "rules": RULES,
            "index": {"url": f"{repo}/{arch}", "sha256": digest},
            "keyring": {name: sha256_digest(keyring.pem(name)) for name in keyring.names()},
            "packages": [[p.checksum, p.name, p.version, p.url] for p in packages],
        }
        content = canonical_json(inputs)
        return self.memo / f"{hashlib.sha256(content).hexdigest()}.json", content


def _holds(path: Path, content: bytes) -> bool:
    try:
        return path.read_bytes() == content
    except OSError:
        return False
