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
  ``.PKGINFO`` datahash and its signature checks out against the keyring; the same checks run
  again on every use of a cached copy.
- A cache entry that fails verification (an index or key whose bytes no longer match the
  SHA-256 recorded beside them, a package that fails its checks) is discarded and fetched
  again, with a warning naming the file (``warn``, else kept for :meth:`RepoClient.take_warnings`).
- Connection failures are retried with exponential backoff, then reported as one FetchError.
- Every request is bounded (:class:`FetchLimits`): a total deadline and a size limit per kind
  (index, key, package); past one it fails at once, naming the URL and the limit. Local files
  are read only when regular and within the same limits (``fsutil.read_input``).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import http.client
import json
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from email.utils import formatdate
from pathlib import Path
from typing import Any

from buildkit import __version__
from buildkit.apk.index import INDEX_FILE, ApkIndex, IndexRecord, parse_index
from buildkit.apk.keys import Keyring
from buildkit.apk.package import ApkLayout, verify_package
from buildkit.errors import ApkFormatError, BuildkitError, ConfigError, FetchError
from buildkit.events import damage_warning
from buildkit.framework import Repository
from buildkit.fsutil import MiB, atomic_write_bytes, file_lock, human_size, read_input
from buildkit.redaction import redact
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
    timeout: float = 30.0  # seconds of silence (connect, or between two reads) before giving up


@dataclass(frozen=True, kw_only=True)
class FetchLimits:
    """Bounds on every network read: a total deadline per request (connect, headers and
    body together, not per read) and a maximum size for each kind of file. A response that
    passes one fails at once, naming the URL and the limit; it is not retried.

    Set by ``[limits]`` in buildkit.toml or ``BUILDKIT_FETCH_TIMEOUT``,
    ``BUILDKIT_MAX_INDEX_SIZE``, ``BUILDKIT_MAX_KEY_SIZE``, ``BUILDKIT_MAX_PACKAGE_SIZE``
    (``buildkit.project.config``)."""

    deadline: float = 600.0  # seconds for one whole request
    index: int = 512 * MiB  # an APKINDEX.tar.gz (Wolfi's is about 30 MiB)
    key: int = 1 * MiB  # a public key (a PEM is under 1 KiB)
    package: int = 1024 * MiB  # one .apk (held in memory while it is verified)
    other: int = 256 * MiB  # anything else (security databases)

    def size(self, what: str) -> int:
        return {"index": self.index, "public key": self.key, "package": self.package}.get(
            what, self.other
        )


# What raises each limit, for the messages.
_SIZE_SETTING = {
    "index": "BUILDKIT_MAX_INDEX_SIZE or [limits] max_index_size",
    "public key": "BUILDKIT_MAX_KEY_SIZE or [limits] max_key_size",
    "package": "BUILDKIT_MAX_PACKAGE_SIZE or [limits] max_package_size",
}
_DEADLINE_SETTING = "BUILDKIT_FETCH_TIMEOUT or [limits] fetch_timeout"
_CHUNK = 1 << 16
# Lock fetches packages from several threads. A body grows past _LARGE only while holding
# _LARGE_BODY, so a process holds at most one body over _LARGE at a time: its memory is
# bounded by threads x _LARGE + the largest limit, whatever the servers send.
_LARGE = 64 * MiB
_LARGE_BODY = threading.Lock()


@dataclass(frozen=True, kw_only=True)
class _Response:
    status: int  # 200 or 304
    body: bytes
    etag: str | None
    last_modified: str | None


class FetchLimitError(FetchError):
    """A response went past a FetchLimits bound (deadline or size): never retried."""


class _Deadline:
    """One request's deadline: when it passes, every socket the request opened is shut down,
    so whatever read is blocked (connect, headers, a trickling body) returns at once."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.end = time.monotonic() + seconds
        self.expired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True

    def __enter__(self) -> _Deadline:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()

    def remaining(self) -> float:
        return max(self.end - time.monotonic(), 0.001)

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)
            expired = self.expired
        if expired:
            _shut(sock)

    def _fire(self) -> None:
        with self._lock:
            self.expired = True
            sockets = list(self._sockets)
        for sock in sockets:
            _shut(sock)


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


def _watched_opener(deadline: _Deadline) -> urllib.request.OpenerDirector:
    """urllib's opener whose connections report their sockets to ``deadline``."""

    class _HTTP(http.client.HTTPConnection):
        def connect(self) -> None:
            self.timeout = min(float(self.timeout or deadline.seconds), deadline.remaining())
            super().connect()
            deadline.watch(self.sock)

    class _HTTPS(http.client.HTTPSConnection):
        def connect(self) -> None:
            self.timeout = min(float(self.timeout or deadline.seconds), deadline.remaining())
            super().connect()
            deadline.watch(self.sock)

    class _HTTPHandler(urllib.request.HTTPHandler):
        def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
            return self.do_open(_HTTP, req)

    class _HTTPSHandler(urllib.request.HTTPSHandler):
        def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
            return self.do_open(_HTTPS, req)  # default context, as urllib's own handler

    return urllib.request.build_opener(_HTTPHandler(), _HTTPSHandler())


class HttpFetcher:
    """GET with retries on connection errors and transient statuses; one FetchError at the end.

    Every request is bounded by ``limits``: a total deadline and a maximum body size for the
    kind of file asked for (``what``). Past either, it fails at once with one line naming the
    URL and the limit (:class:`FetchLimitError`); memory never holds more than the limit."""

    def __init__(
        self,
        policy: RetryPolicy | None = None,
        *,
        limits: FetchLimits | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.policy = policy or RetryPolicy()
        self.limits = limits or FetchLimits()
        self._sleep = sleep

    def get(
        self, url: str, headers: dict[str, str] | None = None, *, what: str = "file"
    ) -> _Response:
        shown = redact(url)
        url, credentials = split_credentials(url)
        request_headers = {"User-Agent": _USER_AGENT, **credentials, **(headers or {})}
        problem = ""
        for attempt in range(self.policy.attempts):
            if attempt:
                self._sleep(self.policy.backoff * 2 ** (attempt - 1))
            try:
                return self._once(url, request_headers, what)
            except urllib.error.HTTPError as exc:
                if exc.code not in _RETRY_STATUS:
                    raise _http_error(shown, exc.code, exc.reason) from None
                problem = f"HTTP {exc.code} {exc.reason}"
            except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
                unresolved = _dns_failure(exc)
                if unresolved is not None and unresolved.errno != socket.EAI_AGAIN:
                    raise _unresolved(shown, url, unresolved) from None
                problem = _reason(exc)
        raise FetchError(
            f"cannot fetch: {problem} (gave up after {self.policy.attempts} attempts)",
            where=shown,
            hint="check the network connection and the repository URL",
        )

    def _once(self, url: str, headers: dict[str, str], what: str) -> _Response:
        request = urllib.request.Request(url, headers=headers)  # noqa: S310 (http(s) only)
        limit = self.limits.size(what)
        with _Deadline(self.limits.deadline) as deadline:
            try:
                opener = _watched_opener(deadline)
                timeout = min(self.policy.timeout, self.limits.deadline)
                with opener.open(request, timeout=timeout) as response:
                    body = _read_bounded(response, limit, url=url, what=what, deadline=deadline)
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
            except (urllib.error.URLError, OSError, http.client.HTTPException):
                if deadline.expired:
                    raise _too_slow(url, deadline.seconds, 0) from None
                raise


def _read_bounded(
    response: http.client.HTTPResponse, limit: int, *, url: str, what: str, deadline: _Deadline
) -> bytes:
    """The whole body, or FetchLimitError as soon as it is longer than ``limit`` or the
    deadline passes (the deadline's timer shuts the socket, which ends a blocked read)."""
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(url, what, limit, f"the server announces {human_size(int(declared))}")
    body = bytearray()
    large = False
    try:
        while chunk := response.read1(_CHUNK):
            if not large and len(body) + len(chunk) > _LARGE:
                large = _LARGE_BODY.acquire(timeout=deadline.remaining())
                if not large:  # the deadline passed while another large body grew
                    raise _too_slow(url, deadline.seconds, len(body))
            body += chunk
            if len(body) > limit:
                raise _too_large(url, what, limit, "the body goes on past it")
            if deadline.expired:
                break
        if deadline.expired:
            raise _too_slow(url, deadline.seconds, len(body))
        return bytes(body)  # still holding _LARGE_BODY: the copy counts as the large body
    except (OSError, http.client.HTTPException):
        if not deadline.expired:
            raise
        raise _too_slow(url, deadline.seconds, len(body)) from None
    finally:
        body.clear()  # an error's traceback keeps this frame: free the bytes now
        if large:
            _LARGE_BODY.release()


def _too_large(url: str, what: str, limit: int, why: str) -> FetchLimitError:
    setting = _SIZE_SETTING.get(what, "")
    return FetchLimitError(
        f"cannot fetch: the {what} is larger than the {human_size(limit)} limit ({why})",
        where=redact(url),
        hint=f"if it is genuine, raise {setting} in buildkit.toml" if setting else "check the URL",
    )


def _too_slow(url: str, seconds: float, received: int) -> FetchLimitError:
    return FetchLimitError(
        f"cannot fetch: no complete response within the {seconds:g} s deadline "
        f"({human_size(received)} received)",
        where=redact(url),
        hint=f"the server stalls; if the network is just slow, raise {_DEADLINE_SETTING} "
        "in buildkit.toml",
    )


def split_credentials(url: str) -> tuple[str, dict[str, str]]:
    """``url`` without its user information, and the HTTP Basic authorization header it
    stood for (``https://user:password@host/os``, as apko reads a repository URL)."""
    parts = urllib.parse.urlsplit(url)
    if "@" not in parts.netloc:
        return url, {}
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user, _, password = userinfo.partition(":")
    pair = f"{urllib.parse.unquote(user)}:{urllib.parse.unquote(password)}"
    token = base64.b64encode(pair.encode("utf-8")).decode("ascii")
    return urllib.parse.urlunsplit(parts._replace(netloc=hostport)), {
        "Authorization": f"Basic {token}"
    }


def _dns_failure(exc: BaseException) -> socket.gaierror | None:
    """The resolver's error when the request failed because its host name has no address."""
    inner = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    return inner if isinstance(inner, socket.gaierror) else None


def _unresolved(shown: str, url: str, exc: socket.gaierror) -> FetchError:
    host = urllib.parse.urlsplit(url).hostname or url
    return FetchError(
        f"cannot fetch: the host {host} cannot be resolved (DNS: {exc.strerror or exc})",
        where=shown,
        hint="check the host name in the repository URL, and this machine's network and DNS "
        "settings",
    )


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
    """Remote files kept on disk with their validators; each GET is conditional.

    The metadata records the SHA-256 of the data: a copy whose bytes no longer match it is
    discarded (with a warning) and fetched unconditionally. Reads and writes of one entry
    hold a file lock, so a reader never sees one process's data with another's metadata.
    """

    def __init__(
        self,
        root: Path,
        fetcher: HttpFetcher,
        *,
        what: str = "file",
        warn: Callable[[str], None] | None = None,
    ) -> None:
        self.root = root
        self._fetcher = fetcher
        self.what = what  # "index", "public key", ...: which size limit applies
        self._warn = warn or (lambda _line: None)

    def _paths(self, url: str) -> tuple[Path, Path]:
        digest = hashlib.sha256(url.encode("utf-8")).hexdigest()
        return self.root / f"{digest}.data", self.root / f"{digest}.json"

    def get(self, url: str, *, check: Callable[[bytes], object] | None = None) -> bytes:
        """The current bytes at ``url``; ``check`` (raising on bad bytes) runs before new
        bytes replace the cached copy, so a bad download never enters the cache."""
        data_path, meta_path = self._paths(url)
        with self._locked(data_path):
            return self._get(url, data_path, meta_path, check)

    def _get(
        self,
        url: str,
        data_path: Path,
        meta_path: Path,
        check: Callable[[bytes], object] | None,
    ) -> bytes:
        cached, meta = self._checked(data_path, meta_path, url)
        headers: dict[str, str] = {}
        if cached is not None:
            if meta.get("etag"):
                headers["If-None-Match"] = meta["etag"]
            if meta.get("last_modified"):
                headers["If-Modified-Since"] = meta["last_modified"]
        response = self._fetcher.get(url, headers, what=self.what)
        if response.status == 304:
            if cached is None:  # a 304 to an unconditional request: a broken server or proxy
                raise FetchError("cannot fetch: HTTP 304 without a cached copy", where=redact(url))
            return cached
        if check is not None:
            check(response.body)
        self._write(data_path, meta_path, url, response)
        return response.body

    def cached(self, url: str) -> tuple[bytes, dict[str, str]] | None:
        """The cached bytes and validators for ``url`` without asking the server (offline)."""
        data_path, meta_path = self._paths(url)
        with self._locked(data_path):
            data, meta = self._checked(data_path, meta_path, url)
        return None if data is None else (data, meta)

    def _locked(self, data_path: Path) -> Any:
        """The entry's inter-process lock, kept beside the cache folder (``<cache>/locks``)."""
        return file_lock(self.root.parent / "locks" / f"{self.root.name}-{data_path.stem}.lock")

    def _checked(
        self, data_path: Path, meta_path: Path, url: str
    ) -> tuple[bytes | None, dict[str, str]]:
        """:meth:`_read`, and a damaged entry removed with a warning."""
        data, meta, problem = self._read(data_path, meta_path, url)
        if problem is not None:
            what = f"cached copy of {url}"
            self._warn(damage_warning(data_path, what, problem, "fetching it again"))
            for path in (meta_path, data_path):
                path.unlink(missing_ok=True)
        return data, meta

    @staticmethod
    def _read(
        data_path: Path, meta_path: Path, url: str
    ) -> tuple[bytes | None, dict[str, str], str | None]:
        """The cached bytes and validators, or (None, {}, why) when absent (why = None) or
        inconsistent (why says how)."""
        try:
            raw_meta = meta_path.read_bytes()
        except FileNotFoundError:
            return None, {}, None
        except OSError as exc:
            return None, {}, f"unreadable metadata: {exc.strerror}"
        try:
            data = data_path.read_bytes()
        except FileNotFoundError:
            return None, {}, "the data file is missing"
        except OSError as exc:
            return None, {}, f"unreadable: {exc.strerror}"
        try:
            meta = json.loads(raw_meta)
        except (ValueError, RecursionError):
            return None, {}, f"malformed metadata {meta_path.name}"
        if not isinstance(meta, dict):
            return None, {}, f"malformed metadata {meta_path.name}"
        if set(meta) == _OLD_META:
            return None, {}, None  # written by an older buildkit: fetched again, quietly
        if meta.get("checksum") != _meta_checksum(meta):
            return None, {}, f"its metadata {meta_path.name} does not match its checksum"
        # Data and metadata are two files: trust them only when they belong together.
        if meta.get("url") != redact(url):  # recorded without its credentials
            return None, {}, f"its metadata names another URL ({meta.get('url')})"
        if meta.get("sha256") != hashlib.sha256(data).hexdigest():
            return None, {}, "its bytes do not match the SHA-256 recorded beside them"
        return data, meta, None

    @staticmethod
    def _write(data_path: Path, meta_path: Path, url: str, response: _Response) -> None:
        meta = {
            "url": redact(url),  # no password on disk
            "sha256": hashlib.sha256(response.body).hexdigest(),
            "etag": response.etag or "",
            # Without Last-Modified, our own fetch time still lets the server answer 304.
            "last_modified": response.last_modified or formatdate(usegmt=True),
        }
        meta["checksum"] = _meta_checksum(meta)
        atomic_write_bytes(data_path, response.body)
        atomic_write_bytes(meta_path, json.dumps(meta, sort_keys=True).encode("utf-8"))


_OLD_META = frozenset({"url", "sha256", "etag", "last_modified"})


def _meta_checksum(meta: dict[str, Any]) -> str:
    """SHA-256 of the metadata without its own checksum: damaged validators (a later
    Last-Modified, another ETag) would make the server answer 304 to a changed file."""
    body = {key: value for key, value in meta.items() if key != "checksum"}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode("utf-8")).hexdigest()


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
        """The cached bytes, unchecked: callers verify them (:meth:`checked`, or against a lock
        entry) before use."""
        try:
            return self.path_for(identity).read_bytes()
        except FileNotFoundError:
            return None

    def checked(
        self,
        identity: str,
        check: Callable[[bytes, str], ApkLayout],
        *,
        what: str,
        warn: Callable[[str], None],
    ) -> tuple[bytes, ApkLayout] | None:
        """The cached bytes that pass ``check(data, where)``; a copy that fails is discarded
        with a warning naming the file, and None returned (fetch it again)."""
        data = self.get(identity)
        if data is None:
            return None
        path = self.path_for(identity)
        try:
            return data, check(data, str(path))
        except BuildkitError as err:
            self.discard(identity)
            warn(damage_warning(path, what, err.message, "fetching it again"))
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
        limits: FetchLimits | None = None,
        fetcher: HttpFetcher | None = None,
        warn: Callable[[str], None] | None = None,
        prefer_cached: bool = False,
    ) -> None:
        self.base_dir = base_dir
        # Offline first: take a remote index or key from the machine cache (verified against
        # its recorded SHA-256) without asking the server; fetch only what the cache lacks.
        self.prefer_cached = prefer_cached
        self._cache_dir = cache_dir
        self.allow_untrusted = allow_untrusted
        self._fetcher = fetcher or HttpFetcher(limits=limits)
        self.limits = self._fetcher.limits
        self._pending: list[str] = []
        self._warn = warn or self._pending.append
        self._index_cache = RevalidatingCache(
            cache_dir / "indexes", self._fetcher, what="index", warn=self.warn
        )
        self._key_cache = RevalidatingCache(
            cache_dir / "keys", self._fetcher, what="public key", warn=self.warn
        )
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
            "limits": self.limits,
        }

    def warn(self, line: str) -> None:
        """Say ``line`` through ``warn``, or keep it for :meth:`take_warnings`."""
        with self._lock:
            self._warn(line)

    def take_warnings(self) -> tuple[str, ...]:
        """The warnings kept since the last call (a worker process sends them back)."""
        with self._lock:
            lines = tuple(self._pending)
            self._pending.clear()
            return lines

    def local_path(self, location: str) -> Path:
        return self.base_dir / location.removeprefix("file://")

    def index_missing(self, repo: str, arch: str) -> bool:
        """A local repository without an index for ``arch`` (apko skips those)."""
        # Not is_file(): a FIFO or folder there is an error to report, not a missing index.
        path = self.local_path(index_location(repo, arch))
        return not is_remote(repo) and not path.exists()

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
        found = self.packages.checked(
            identity,
            lambda data, path: check_package(
                data, identity, keyring=keyring, allow_untrusted=self.allow_untrusted, where=path
            ),
            what=f"cached package {record.name}",
            warn=self.warn,
        )
        if found is not None:
            return found
        data = self._fetcher.get(location, what="package").body
        layout = self.packages.put(
            identity, data, keyring=keyring, allow_untrusted=self.allow_untrusted, where=where
        )
        return data, layout

    def _read(self, location: str, cache: RevalidatingCache | None, what: str = "index") -> bytes:
        if is_remote(location):
            if cache is None:
                return self._fetcher.get(location, what=what).body
            hit = cache.cached(location) if self.prefer_cached else None
            return hit[0] if hit is not None else cache.get(location)
        path = self.local_path(location)
        kind = {"public key": "key"}.get(what, what)
        try:
            return read_input(path, kind, limit=self.limits.size(what))
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
