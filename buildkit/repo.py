"""Fetching repository files (indexes, keys, packages) from paths or http(s) URLs, with caches.

This is the I/O edge under ``lock``: everything above it sees bytes and parsed values.

- A repository is written as in the config: a path (relative to ``base_dir``, the directory
  apko would run in: the project root) or an http(s) URL. Its files are
  ``<repo>/<arch>/APKINDEX.tar.gz`` and ``<repo>/<arch>/<name>-<version>.apk``.
- Each (repository, arch) index is read once per :class:`RepoClient` (one per run) and parsed
  once per keyring, however many frameworks use it.
- Remote indexes and keys are cached under ``<cache>/indexes`` and ``<cache>/keys`` and
  revalidated with ``If-None-Match`` / ``If-Modified-Since``; a 304 reuses the cached bytes.
- Packages are cached under ``<cache>/packages`` by identity (index ``C:``). A package enters
  the cache only after its control member hashes to that identity, its data member to the
  ``.PKGINFO`` datahash and its signature checks out against the keyring.
- Connection failures are retried with exponential backoff, then reported as one FetchError.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import http.client
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from email.utils import formatdate
from pathlib import Path
from typing import Any

from buildkit import __version__
from buildkit.apk.index import INDEX_FILE, ApkIndex, IndexRecord, parse_index
from buildkit.apk.keys import Keyring
from buildkit.apk.package import ApkLayout, read_layout, verify_package
from buildkit.errors import ApkFormatError, ConfigError, FetchError
from buildkit.framework import Repository
from buildkit.fsutil import atomic_write_bytes
from buildkit.resolve import RepoSource

_USER_AGENT = f"buildkit/{__version__}"
_RETRY_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


def is_remote(location: str) -> bool:
    return location.startswith(("http://", "https://"))


def index_location(repo: str, arch: str) -> str:
    """``<repo>/<arch>/APKINDEX.tar.gz``, as apko's IndexURL writes it."""
    return f"{repo}/{arch}/{INDEX_FILE}"


def package_location(repo: str, arch: str, record: IndexRecord) -> str:
    """``<repo>/<arch>/<name>-<version>.apk``, as apko's RepositoryPackage.URL writes it."""
    return f"{repo}/{arch}/{record.filename}"


def keyring_id(keyring: Keyring | None) -> tuple[tuple[str, bytes], ...]:
    """A hashable value that is equal for keyrings holding the same named keys."""
    if keyring is None:
        return ()
    return tuple((name, keyring.pem(name)) for name in keyring.names())


# --------------------------------------------------------------------------------------------
# HTTP with retries and a revalidating cache


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    attempts: int = 4  # tries in all, the first included
    backoff: float = 0.5  # seconds before the second try; doubles each time
    timeout: float = 30.0  # per request, seconds


@dataclass(frozen=True, kw_only=True)
class _Response:
    status: int  # 200 or 304
    body: bytes
    etag: str | None
    last_modified: str | None


class HttpFetcher:
    """GET with retries on connection errors and transient statuses; one FetchError at the end."""

    def __init__(
        self, policy: RetryPolicy | None = None, *, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self.policy = policy or RetryPolicy()
        self._sleep = sleep
        self._opener = urllib.request.build_opener()

    def get(self, url: str, headers: dict[str, str] | None = None) -> _Response:
        request_headers = {"User-Agent": _USER_AGENT, **(headers or {})}
        problem = ""
        for attempt in range(self.policy.attempts):
            if attempt:
                self._sleep(self.policy.backoff * 2 ** (attempt - 1))
            try:
                return self._once(url, request_headers)
            except urllib.error.HTTPError as exc:
                if exc.code not in _RETRY_STATUS:
                    raise _http_error(url, exc.code, exc.reason) from None
                problem = f"HTTP {exc.code} {exc.reason}"
            except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
                problem = _reason(exc)
        raise FetchError(
            f"cannot fetch: {problem} (gave up after {self.policy.attempts} attempts)",
            where=url,
            hint="check the network connection and the repository URL",
        )

    def _once(self, url: str, headers: dict[str, str]) -> _Response:
        request = urllib.request.Request(url, headers=headers)  # noqa: S310 (http(s) only)
        try:
            with self._opener.open(request, timeout=self.policy.timeout) as response:
                body = response.read()
                return _Response(
                    status=response.status,
                    body=body,
                    etag=response.headers.get("ETag"),
                    last_modified=response.headers.get("Last-Modified"),
                )
        except urllib.error.HTTPError as exc:
            if exc.code != 304:
                raise
            return _Response(status=304, body=b"", etag=None, last_modified=None)


def _http_error(url: str, code: int, reason: str) -> FetchError:
    hint = (
        "check the repository URL and architecture"
        if code == 404
        else "check the credentials or access to the repository"
        if code in (401, 403)
        else None
    )
    return FetchError(f"cannot fetch: HTTP {code} {reason}", where=url, hint=hint)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.URLError):
        inner = exc.reason
        return str(inner.strerror or inner) if isinstance(inner, OSError) else str(inner)
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


class RevalidatingCache:
    """Remote files kept on disk with their validators; each GET is conditional."""

    def __init__(self, root: Path, fetcher: HttpFetcher) -> None:
        self.root = root
        self._fetcher = fetcher

    def _paths(self, url: str) -> tuple[Path, Path]:
        digest = hashlib.sha256(url.encode("utf-8")).hexdigest()
        return self.root / f"{digest}.data", self.root / f"{digest}.json"

    def get(self, url: str, *, check: Callable[[bytes], object] | None = None) -> bytes:
        """The current bytes at ``url``; ``check`` (raising on bad bytes) runs before new
        bytes replace the cached copy, so a bad download never enters the cache."""
        data_path, meta_path = self._paths(url)
        cached, meta = self._read(data_path, meta_path, url)
        headers: dict[str, str] = {}
        if cached is not None:
            if meta.get("etag"):
                headers["If-None-Match"] = meta["etag"]
            if meta.get("last_modified"):
                headers["If-Modified-Since"] = meta["last_modified"]
        response = self._fetcher.get(url, headers)
        if response.status == 304:
            if cached is None:  # a 304 to an unconditional request: a broken server or proxy
                raise FetchError("cannot fetch: HTTP 304 without a cached copy", where=url)
            return cached
        if check is not None:
            check(response.body)
        self._write(data_path, meta_path, url, response)
        return response.body

    def cached(self, url: str) -> tuple[bytes, dict[str, str]] | None:
        """The cached bytes and validators for ``url`` without asking the server (offline)."""
        data, meta = self._read(*self._paths(url), url)
        return None if data is None else (data, meta)

    @staticmethod
    def _read(data_path: Path, meta_path: Path, url: str) -> tuple[bytes | None, dict[str, str]]:
        """The cached bytes and validators, or (None, {}) when absent or inconsistent."""
        try:
            meta = json.loads(meta_path.read_bytes())
            data = data_path.read_bytes()
        except (OSError, ValueError):
            return None, {}
        if not isinstance(meta, dict):
            return None, {}
        # Data and metadata are two files: trust them only when they belong together.
        if meta.get("url") != url or meta.get("sha256") != hashlib.sha256(data).hexdigest():
            return None, {}
        return data, meta

    @staticmethod
    def _write(data_path: Path, meta_path: Path, url: str, response: _Response) -> None:
        meta = {
            "url": url,
            "sha256": hashlib.sha256(response.body).hexdigest(),
            "etag": response.etag or "",
            # Without Last-Modified, our own fetch time still lets the server answer 304.
            "last_modified": response.last_modified or formatdate(usegmt=True),
        }
        atomic_write_bytes(data_path, response.body)
        atomic_write_bytes(meta_path, json.dumps(meta, sort_keys=True).encode("utf-8"))


# --------------------------------------------------------------------------------------------
# Packages


class PackageCache:
    """Verified .apk files, content-addressed by identity (``Q1<b64 sha1>`` = index ``C:``)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path_for(self, identity: str) -> Path:
        try:
            digest = base64.b64decode(identity.removeprefix("Q1"), validate=True).hex()
        except (binascii.Error, ValueError):
            digest = ""
        if not identity.startswith("Q1") or len(digest) != 40:
            raise ApkFormatError(
                f"invalid package identity {identity!r}", hint="expected 'Q1' + base64(SHA-1)"
            )
        return self.root / digest[:2] / f"{digest}.apk"

    def get(self, identity: str) -> bytes | None:
        try:
            return self.path_for(identity).read_bytes()
        except FileNotFoundError:
            return None

    def put(
        self,
        identity: str,
        data: bytes,
        *,
        keyring: Keyring | None,
        allow_untrusted: bool = False,
        where: str = "",
    ) -> ApkLayout:
        """Verify ``data`` against ``identity`` (and the keyring), then store it atomically."""
        layout = check_package(
            data, identity, keyring=keyring, allow_untrusted=allow_untrusted, where=where
        )
        atomic_write_bytes(self.path_for(identity), data)
        return layout

    def discard(self, identity: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path_for(identity).unlink()


def check_package(
    data: bytes, identity: str, *, keyring: Keyring | None, allow_untrusted: bool, where: str
) -> ApkLayout:
    """Full verification of a fetched package against its index identity."""
    return verify_package(
        data,
        where=where or identity,
        keyring=keyring,
        allow_untrusted=allow_untrusted,
        expected_identity=identity,
    )


# --------------------------------------------------------------------------------------------
# The client


class RepoClient:
    """Reads repositories for one run: every file fetched once, indexes parsed once per keyring.

    Thread-safe: lock fetches packages from a small thread pool.
    """

    def __init__(
        self,
        *,
        base_dir: Path,
        cache_dir: Path,
        allow_untrusted: bool = False,
        fetcher: HttpFetcher | None = None,
        prefer_cached: bool = False,
    ) -> None:
        self.base_dir = base_dir
        # Offline first: take a remote index or key from the machine cache (verified against
        # its recorded SHA-256) without asking the server; fetch only what the cache lacks.
        self.prefer_cached = prefer_cached
        self._cache_dir = cache_dir
        self.allow_untrusted = allow_untrusted
        self._fetcher = fetcher or HttpFetcher()
        self._index_cache = RevalidatingCache(cache_dir / "indexes", self._fetcher)
        self._key_cache = RevalidatingCache(cache_dir / "keys", self._fetcher)
        self.packages = PackageCache(cache_dir / "packages")
        self._lock = threading.Lock()
        self._locks: dict[object, threading.Lock] = {}
        self._raw: dict[tuple[str, str], bytes] = {}
        self._parsed: dict[tuple[str, str, object], ApkIndex] = {}
        self._keys: dict[str, bytes] = {}
        self._layouts: dict[str, ApkLayout] = {}

    def settings(self) -> dict[str, Any]:
        """Constructor arguments for an equivalent client in another process."""
        return {
            "base_dir": self.base_dir,
            "cache_dir": self._cache_dir,
            "allow_untrusted": self.allow_untrusted,
        }

    def local_path(self, location: str) -> Path:
        return self.base_dir / location.removeprefix("file://")

    def index_missing(self, repo: str, arch: str) -> bool:
        """A local repository without an index for ``arch`` (apko skips those)."""
        return not is_remote(repo) and not self.local_path(index_location(repo, arch)).is_file()

    def index(self, repo: str, arch: str, *, keyring: Keyring | None = None) -> ApkIndex:
        """The verified, parsed index of ``repo`` for ``arch``."""
        key = (repo, arch, keyring_id(keyring))
        with self._guard(key):
            if key not in self._parsed:
                data = self._index_bytes(repo, arch)
                self._parsed[key] = parse_index(
                    data,
                    where=self._display(index_location(repo, arch)),
                    keyring=keyring,
                    allow_untrusted=self.allow_untrusted,
                )
            return self._parsed[key]

    def index_digest(self, repo: str, arch: str) -> str | None:
        """SHA-256 (hex) of the index bytes of ``repo`` for ``arch``, without parsing them
        (a remote index is revalidated); None for a local repository without one."""
        if self.index_missing(repo, arch):
            return None
        return hashlib.sha256(self._index_bytes(repo, arch)).hexdigest()

    def _index_bytes(self, repo: str, arch: str) -> bytes:
        with self._guard(("raw", repo, arch)):
            if (repo, arch) not in self._raw:
                self._raw[repo, arch] = self._read(index_location(repo, arch), self._index_cache)
            return self._raw[repo, arch]

    def key(self, location: str) -> bytes:
        """A public key by URL (cached, revalidated) or path (relative to ``base_dir``)."""
        with self._guard(("key", location)):
            if location not in self._keys:
                self._keys[location] = self._read(location, self._key_cache, what="public key")
            return self._keys[location]

    def package(
        self, record: IndexRecord, repo: str, arch: str, *, keyring: Keyring | None
    ) -> bytes:
        """The .apk bytes for ``record``, verified against its identity."""
        data, _layout = self._package(record, repo, arch, keyring)
        return data

    def layout(
        self, record: IndexRecord, repo: str, arch: str, *, keyring: Keyring | None
    ) -> ApkLayout:
        """Ranges and checksums of ``record``'s verified .apk (what a lockfile entry needs)."""
        with self._guard(("layout", record.checksum)):
            if record.checksum not in self._layouts:
                _data, layout = self._package(record, repo, arch, keyring)
                self._layouts[record.checksum] = layout
            return self._layouts[record.checksum]

    def _package(
        self, record: IndexRecord, repo: str, arch: str, keyring: Keyring | None
    ) -> tuple[bytes, ApkLayout]:
        identity = record.checksum
        location = package_location(repo, arch, record)
        where = self._display(location)
        if not is_remote(repo):
            # A local repository is already on disk: verify in place, do not copy.
            data = self._read(location, None, what="package")
            layout = check_package(
                data, identity, keyring=keyring, allow_untrusted=self.allow_untrusted, where=where
            )
            return data, layout
        cached = self.packages.get(identity)
        if cached is not None:
            layout = read_layout(cached, where=str(self.packages.path_for(identity)))
            if layout.identity == identity:
                return cached, layout
            self.packages.discard(identity)  # damaged on disk: fetch again
        data = self._fetcher.get(location).body
        layout = self.packages.put(
            identity, data, keyring=keyring, allow_untrusted=self.allow_untrusted, where=where
        )
        return data, layout

    def _read(self, location: str, cache: RevalidatingCache | None, what: str = "index") -> bytes:
        if is_remote(location):
            if cache is None:
                return self._fetcher.get(location).body
            hit = cache.cached(location) if self.prefer_cached else None
            return hit[0] if hit is not None else cache.get(location)
        path = self.local_path(location)
        try:
            return path.read_bytes()
        except OSError as exc:
            error = ConfigError if what == "public key" else FetchError
            raise error(
                f"cannot read {what}: {exc.strerror}",
                where=str(path),
                hint="paths in a framework are relative to the project root",
            ) from None

    def _display(self, location: str) -> str:
        return location if is_remote(location) else str(self.local_path(location))

    def _guard(self, key: object) -> threading.Lock:
        """A per-item lock, so that two threads never fetch or parse the same thing twice."""
        with self._lock:
            return self._locks.setdefault(key, threading.Lock())


def repo_sources(
    repositories: Sequence[Repository],
    client: RepoClient,
    arch: str,
    keyring: Keyring,
    *,
    warn: Callable[[str], None],
) -> list[RepoSource]:
    """The indexes packages are resolved from, in the given order; a local repository
    without an index for ``arch`` is skipped, as apko does."""
    sources = []
    for repo in repositories:
        if client.index_missing(repo.url, arch):
            warn(f"warning: {index_location(repo.url, arch)} does not exist; skipping it")
            continue
        index = client.index(repo.url, arch, keyring=keyring)
        sources.append(RepoSource(name=repo.url, arch=arch, tag=repo.tag, index=index))
    return sources
