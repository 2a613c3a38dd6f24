"""A content-addressed cache of finished resolutions: unchanged inputs cost no index parse.

A framework's lockfile is a pure function of its inputs. The key is a SHA-256 over all of
them, in a canonical JSON form:

- the resolver version (:data:`RESOLVER_VERSION`: bump it whenever resolution changes) and
  the lock options that change results (semantics, arch skew, untrusted, check, update names);
- the config path and its apko checksum, and the keyring's key contents;
- for each arch and resolution repository, the SHA-256 of the index bytes (a remote index is
  revalidated, so a "not modified" answer costs no transfer; an index replaced under the same
  URL has another digest), and for a local repository the SHA-256 of every ``.apk`` in it;
- when pins matter (``check``, ``update``), the SHA-256 of the lockfile on disk.

An entry (``<cache>/resolutions/<key>.json``) holds the key and the lockfile bytes with their
digest. Anything unexpected in an entry (bad JSON, another key, another digest, a lockfile
that does not parse) is reported in one line and the entry is ignored and replaced: it is
never trusted.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from buildkit.apk.index import INDEX_FILE
from buildkit.errors import LockError
from buildkit.framework import Framework
from buildkit.fsutil import atomic_write_bytes, read_input
from buildkit.lockfile import Lockfile
from buildkit.repo import RepoClient, is_remote
from buildkit.usecases.file_digests import FileDigests

RESOLVER_VERSION = "buildkit-resolver/2 (apko v1.2.39 parity)"
_FORMAT = 1


@dataclass(frozen=True, kw_only=True)
class RepoState:
    """What one repository contributes to a key, for one arch."""

    url: str
    arch: str
    index: str | None  # SHA-256 of the index bytes; None: a local repository without one
    packages: tuple[tuple[str, str], ...] = ()  # local .apk file name -> SHA-256


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def local_packages(folder: Path, digests: FileDigests | None = None) -> tuple[tuple[str, str], ...]:
    """Every ``.apk`` directly in ``folder`` with its digest, by name."""
    if not folder.is_dir():
        return ()
    paths = sorted(folder.glob("*.apk"))
    if digests is None:
        return tuple((path.name, sha256_hex(path.read_bytes())) for path in paths)
    return tuple((path.name, digests.sha256(path)) for path in paths)


def resolution_key(
    *,
    config: str,
    checksum: str,
    keys: Mapping[str, bytes],
    repos: Iterable[RepoState],
    options: Mapping[str, Any],
    old_lockfile: bytes | None,
) -> str:
    """The cache key of one framework's resolution (hex SHA-256)."""
    document = {
        "format": _FORMAT,
        "resolver": RESOLVER_VERSION,
        "config": config,
        "checksum": checksum,
        "keys": {name: sha256_hex(pem) for name, pem in sorted(keys.items())},
        "repositories": [
            {
                "url": repo.url,
                "arch": repo.arch,
                "index": repo.index,
                "packages": [list(item) for item in repo.packages],
            }
            for repo in repos
        ],
        "options": dict(sorted(options.items())),
        "lockfile": sha256_hex(old_lockfile) if old_lockfile is not None else None,
    }
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":")).encode("utf-8")
    return sha256_hex(canonical)


class ResolutionCache:
    """``<folder>/<key>.json`` entries, each one framework's finished lockfile."""

    def __init__(self, folder: Path, *, warn: Callable[[str], None]) -> None:
        self.folder = folder
        self._warn = warn  # one line per entry found damaged

    def path_for(self, key: str) -> Path:
        return self.folder / f"{key}.json"

    def get(self, key: str) -> Lockfile | None:
        """The cached lockfile for ``key``; None when absent or not trustworthy."""
        path = self.path_for(key)
        try:
            data = read_input(path, "lockfile")
        except FileNotFoundError:
            return None
        except OSError as exc:
            self._warn(
                f"warning: {path}: cannot read resolution cache entry ({exc.strerror}); ignoring it"
            )
            return None
        problem = _problem(data, key)
        if isinstance(problem, str):
            self._warn(f"warning: {path}: corrupt resolution cache entry ({problem}); ignoring it")
            return None
        return problem

    def put(self, key: str, lockfile: Lockfile) -> None:
        body = lockfile.to_json()
        entry = {
            "format": _FORMAT,
            "key": key,
            "sha256": sha256_hex(body),
            "lockfile": body.decode("utf-8"),
        }
        self.folder.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(
            self.path_for(key), json.dumps(entry, sort_keys=True).encode("utf-8") + b"\n"
        )


def _problem(data: bytes, key: str) -> Lockfile | str:
    """The entry's lockfile, or what is wrong with the entry."""
    try:
        entry = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return f"not JSON: {exc}"
    except RecursionError:
        return "not JSON: nested too deeply"
    if not isinstance(entry, dict) or entry.get("format") != _FORMAT:
        return "unknown format"
    if entry.get("key") != key:
        return "it belongs to another key"
    body = entry.get("lockfile")
    if not isinstance(body, str):
        return "no lockfile in it"
    raw = body.encode("utf-8")
    if entry.get("sha256") != sha256_hex(raw):
        return "its lockfile does not match its digest"
    try:
        return Lockfile.from_json(raw, where="resolution cache entry")
    except LockError as err:
        return err.message


def framework_key(
    framework: Framework,
    client: RepoClient,
    pems: Mapping[str, bytes],
    *,
    options: Mapping[str, Any],
    old_lockfile: bytes | None,
    digests: FileDigests | None = None,
) -> str:
    """The key of ``framework``'s resolution with these inputs (fetches, never parses).

    ``digests``: where local files' digests are remembered by stat (unchanged files are not
    read again)."""
    states = []
    for arch in framework.archs:
        for repo in framework.resolution_repositories:
            local = None if is_remote(repo.url) else client.local_path(repo.url) / arch
            states.append(
                RepoState(
                    url=f"{'@' + repo.tag + ' ' if repo.tag else ''}{repo.url}",
                    arch=arch,
                    index=_index_digest(client, repo.url, arch, local, digests),
                    packages=local_packages(local, digests) if local is not None else (),
                )
            )
    return resolution_key(
        config=framework.config_name,
        checksum=framework.checksum,
        keys=pems,
        repos=states,
        options=options,
        old_lockfile=old_lockfile,
    )


def _index_digest(
    client: RepoClient, url: str, arch: str, local: Path | None, digests: FileDigests | None
) -> str | None:
    """The index digest as :meth:`RepoClient.index_digest` gives it; a local index through
    ``digests`` (the client then reports any problem reading it, in its words)."""
    if local is not None and digests is not None:
        path = local / INDEX_FILE
        if path.is_file():
            with contextlib.suppress(OSError):
                return digests.sha256(path)
    return client.index_digest(url, arch)
