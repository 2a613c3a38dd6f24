"""RepoClient and PackageCache against local files and a loopback HTTP server.

Small signed repositories come from tests/helpers/repos.py, the server from
tests/helpers/http_server.py (the ``server`` fixture in tests/unit/conftest.py).
"""

from __future__ import annotations

import base64
import socket
from dataclasses import replace
from email.utils import formatdate
from pathlib import Path
from typing import Any

import pytest

import buildkit.repo
from buildkit.apk.index import IndexRecord, record_from_package, write_index
from buildkit.apk.keys import Keyring, SigningKey
from buildkit.errors import ApkFormatError, ChecksumError, ConfigError, FetchError, SignatureError
from buildkit.repo import HttpFetcher, PackageCache, RepoClient, RetryPolicy
from tests.helpers.http_server import FakeServer, Served
from tests.helpers.repos import Pkg, keyring_of, make_apk, make_repo

# --------------------------------------------------------------------------------------------
# Helpers


def _client(tmp_path: Path, **kwargs: Any) -> RepoClient:
    sleeps: list[float] = []
    fetcher = HttpFetcher(RetryPolicy(attempts=3, backoff=0.25, timeout=5), sleep=sleeps.append)
    client = RepoClient(base_dir=tmp_path, cache_dir=tmp_path / "cache", fetcher=fetcher, **kwargs)
    client.sleeps = sleeps  # type: ignore[attr-defined]
    return client


@pytest.fixture
def remote_repo(tmp_path: Path, server: FakeServer, signing_key: SigningKey) -> str:
    make_repo(
        tmp_path / "srv" / "os", "x86_64", [Pkg("a", "1.0-r0"), Pkg("b", "2.0-r0")], signing_key
    )
    server.serve_tree(tmp_path / "srv")
    return f"{server.url}/os"


# --------------------------------------------------------------------------------------------
# Indexes


def test_remote_index_is_revalidated_with_etag(
    tmp_path: Path, server: FakeServer, remote_repo: str, signing_key: SigningKey
) -> None:
    keyring = keyring_of(signing_key)
    first = _client(tmp_path).index(remote_repo, "x86_64", keyring=keyring)
    assert [r.name for r in first.records] == ["a", "b"]
    assert "If-None-Match" not in server.requests[0][1]

    second = _client(tmp_path).index(remote_repo, "x86_64", keyring=keyring)  # a new run
    assert server.requests[1][1]["If-None-Match"] == '"os/x86_64/APKINDEX.tar.gz-1"'
    assert second.records == first.records

    index_path = "/os/x86_64/APKINDEX.tar.gz"
    records = [replace(r, description="changed") for r in first.records]
    server.files[index_path] = Served(
        write_index(records, description="t", key=signing_key), etag='"v2"'
    )
    third = _client(tmp_path).index(remote_repo, "x86_64", keyring=keyring)
    assert third.records[0].description == "changed"
    fourth = _client(tmp_path).index(remote_repo, "x86_64", keyring=keyring)
    assert server.requests[-1][1]["If-None-Match"] == '"v2"'
    assert fourth.records == third.records


def test_remote_index_is_revalidated_with_last_modified(
    tmp_path: Path, server: FakeServer, remote_repo: str, signing_key: SigningKey
) -> None:
    stamp = formatdate(1_600_000_000, usegmt=True)
    for served in server.files.values():
        served.etag, served.last_modified = None, stamp
    keyring = keyring_of(signing_key)
    _client(tmp_path).index(remote_repo, "x86_64", keyring=keyring)
    again = _client(tmp_path).index(remote_repo, "x86_64", keyring=keyring)
    assert server.requests[1][1]["If-Modified-Since"] == stamp
    assert [r.name for r in again.records] == ["a", "b"]


def test_each_index_is_fetched_and_parsed_once_per_run(
    tmp_path: Path,
    server: FakeServer,
    remote_repo: str,
    signing_key: SigningKey,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    parses: list[str] = []
    real = buildkit.repo.parse_index

    def counting(data: bytes, **kwargs: Any) -> Any:
        parses.append(kwargs["where"])
        return real(data, **kwargs)

    monkeypatch.setattr(buildkit.repo, "parse_index", counting)
    client = _client(tmp_path)
    for _framework in range(5):  # frameworks share a repository and (an equal) keyring
        client.index(remote_repo, "x86_64", keyring=keyring_of(signing_key))
    assert server.paths() == ["/os/x86_64/APKINDEX.tar.gz"]
    assert len(parses) == 1


def test_index_signed_by_an_unknown_key_is_refused(
    tmp_path: Path, remote_repo: str, other_key: SigningKey
) -> None:
    with pytest.raises(SignatureError):
        _client(tmp_path).index(remote_repo, "x86_64", keyring=keyring_of(other_key))


def test_tampered_index_is_refused(
    tmp_path: Path, server: FakeServer, remote_repo: str, signing_key: SigningKey
) -> None:
    served = server.files["/os/x86_64/APKINDEX.tar.gz"]
    data = bytearray(served.body)
    data[-12] ^= 0xFF  # inside the signed index member
    served.body = bytes(data)
    with pytest.raises((SignatureError, ApkFormatError)):
        _client(tmp_path).index(remote_repo, "x86_64", keyring=keyring_of(signing_key))


def test_unsigned_index_is_refused_unless_untrusted_allowed(
    tmp_path: Path, signing_key: SigningKey
) -> None:
    records = make_repo(tmp_path / "repo", "x86_64", [Pkg("a", "1.0-r0")], signing_key)
    unsigned = write_index(records, description="t", key=None)
    (tmp_path / "repo/x86_64/APKINDEX.tar.gz").write_bytes(unsigned)
    with pytest.raises(SignatureError) as caught:
        _client(tmp_path).index("./repo", "x86_64", keyring=keyring_of(signing_key))
    assert "\n" not in str(caught.value)
    index = _client(tmp_path, allow_untrusted=True).index("./repo", "x86_64", keyring=None)
    assert [r.name for r in index.records] == ["a"]


def test_local_repository_paths_are_relative_to_base_dir(
    tmp_path: Path, signing_key: SigningKey
) -> None:
    make_repo(tmp_path / "packages", "aarch64", [Pkg("a", "1.0-r0")], signing_key)
    client = _client(tmp_path)
    assert not client.index_missing("./packages", "aarch64")
    assert client.index_missing("./packages", "x86_64")
    assert not client.index_missing("https://example.invalid/os", "x86_64")
    index = client.index("./packages", "aarch64", keyring=keyring_of(signing_key))
    assert index.records[0].arch == "aarch64"
    with pytest.raises(FetchError, match="cannot read index"):
        client.index("./packages", "x86_64", keyring=keyring_of(signing_key))


# --------------------------------------------------------------------------------------------
# Retries and failures


def test_connection_errors_are_retried_with_backoff(
    tmp_path: Path, server: FakeServer, remote_repo: str, signing_key: SigningKey
) -> None:
    server.failures = ["reset", 503]
    client = _client(tmp_path)
    index = client.index(remote_repo, "x86_64", keyring=keyring_of(signing_key))
    assert [r.name for r in index.records] == ["a", "b"]
    assert len(server.requests) == 3
    assert client.sleeps == [0.25, 0.5]  # type: ignore[attr-defined]


def test_persistent_failure_is_one_fetch_error_line(
    tmp_path: Path, server: FakeServer, remote_repo: str, signing_key: SigningKey
) -> None:
    server.failures = [503, 503, 503, 503]
    with pytest.raises(FetchError) as caught:
        _client(tmp_path).index(remote_repo, "x86_64", keyring=keyring_of(signing_key))
    message = str(caught.value)
    assert "\n" not in message
    assert "HTTP 503" in message
    assert "gave up after 3 attempts" in message
    assert message.startswith(f"{remote_repo}/x86_64/APKINDEX.tar.gz: ")
    assert caught.value.exit_code == 1


def test_unreachable_repository(tmp_path: Path, signing_key: SigningKey) -> None:

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(FetchError, match="gave up after 3 attempts") as caught:
        _client(tmp_path).index(f"http://127.0.0.1:{port}/os", "x86_64", keyring=None)
    assert "refused" in str(caught.value).lower()


def test_not_found_is_not_retried(tmp_path: Path, server: FakeServer) -> None:
    with pytest.raises(FetchError, match="HTTP 404") as caught:
        _client(tmp_path).index(f"{server.url}/nope", "x86_64", keyring=None)
    assert len(server.requests) == 1
    assert caught.value.hint is not None


# --------------------------------------------------------------------------------------------
# Keys


def test_keys_by_url_are_cached_and_by_path_read(
    tmp_path: Path, server: FakeServer, signing_key: SigningKey
) -> None:
    server.files["/os/test.rsa.pub"] = Served(signing_key.public_pem, etag='"k"')
    url = f"{server.url}/os/test.rsa.pub"
    client = _client(tmp_path)
    assert client.key(url) == signing_key.public_pem
    assert client.key(url) == signing_key.public_pem
    assert len(server.requests) == 1
    assert _client(tmp_path).key(url) == signing_key.public_pem
    assert server.requests[1][1]["If-None-Match"] == '"k"'

    (tmp_path / "keys").mkdir()
    (tmp_path / "keys/test.rsa.pub").write_bytes(signing_key.public_pem)
    assert client.key("./keys/test.rsa.pub") == signing_key.public_pem
    with pytest.raises(ConfigError, match="cannot read public key"):
        client.key("keys/missing.rsa.pub")


# --------------------------------------------------------------------------------------------
# Packages


def _record(client: RepoClient, repo: str, keyring: Keyring, name: str) -> IndexRecord:
    index = client.index(repo, "x86_64", keyring=keyring)
    return next(r for r in index.records if r.name == name)


def test_remote_package_is_fetched_once_verified_and_cached(
    tmp_path: Path, server: FakeServer, remote_repo: str, signing_key: SigningKey
) -> None:
    keyring = keyring_of(signing_key)
    client = _client(tmp_path)
    record = _record(client, remote_repo, keyring, "a")
    layout = client.layout(record, remote_repo, "x86_64", keyring=keyring)
    assert layout.identity == record.checksum
    assert client.layout(record, remote_repo, "x86_64", keyring=keyring) is layout
    assert server.paths().count("/os/x86_64/a-1.0-r0.apk") == 1
    cached = client.packages.path_for(record.checksum)
    assert cached.is_file()

    later = _client(tmp_path)  # a later run: served from the cache, no request
    before = len(server.requests)
    data = later.package(record, remote_repo, "x86_64", keyring=keyring)
    assert data == cached.read_bytes()
    assert len(server.requests) == before


def test_package_not_matching_its_index_entry_is_refused(
    tmp_path: Path, server: FakeServer, remote_repo: str, signing_key: SigningKey
) -> None:
    keyring = keyring_of(signing_key)
    client = _client(tmp_path)
    record_a = _record(client, remote_repo, keyring, "a")
    record_b = _record(client, remote_repo, keyring, "b")
    # The server hands out b's bytes under a's name: the control hash gives it away.
    server.files["/os/x86_64/a-1.0-r0.apk"] = server.files["/os/x86_64/b-2.0-r0.apk"]
    with pytest.raises(ChecksumError, match="identity") as caught:
        client.layout(record_a, remote_repo, "x86_64", keyring=keyring)
    assert caught.value.where == f"{remote_repo}/x86_64/a-1.0-r0.apk"
    assert not client.packages.path_for(record_a.checksum).exists()
    assert client.packages.get(record_b.checksum) is None


def test_package_with_altered_data_is_refused(
    tmp_path: Path, server: FakeServer, remote_repo: str, signing_key: SigningKey
) -> None:
    keyring = keyring_of(signing_key)
    client = _client(tmp_path)
    record = _record(client, remote_repo, keyring, "a")
    served = server.files["/os/x86_64/a-1.0-r0.apk"]
    served.body = served.body[:-30] + bytes(30)  # the end of the data member
    with pytest.raises((ChecksumError, ApkFormatError)):
        client.layout(record, remote_repo, "x86_64", keyring=keyring)
    assert not client.packages.path_for(record.checksum).exists()


def test_local_package_is_verified_in_place(tmp_path: Path, signing_key: SigningKey) -> None:
    keyring = keyring_of(signing_key)
    records = make_repo(tmp_path / "packages", "x86_64", [Pkg("a", "1.0-r0")], signing_key)
    client = _client(tmp_path)
    layout = client.layout(records[0], "./packages", "x86_64", keyring=keyring)
    assert layout.pkginfo.name == "a"
    assert not (tmp_path / "cache" / "packages").exists()  # local files are not copied
    wrong = replace(records[0], checksum="Q1" + "A" * 27 + "=")
    with pytest.raises(ChecksumError):
        _client(tmp_path).layout(wrong, "./packages", "x86_64", keyring=keyring)


def test_damaged_cache_entry_is_fetched_again(
    tmp_path: Path, server: FakeServer, remote_repo: str, signing_key: SigningKey
) -> None:
    keyring = keyring_of(signing_key)
    client = _client(tmp_path)
    record_a = _record(client, remote_repo, keyring, "a")
    record_b = _record(client, remote_repo, keyring, "b")
    client.package(record_b, remote_repo, "x86_64", keyring=keyring)
    path = client.packages.path_for(record_a.checksum)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(client.packages.path_for(record_b.checksum).read_bytes())
    layout = _client(tmp_path).layout(record_a, remote_repo, "x86_64", keyring=keyring)
    assert layout.identity == record_a.checksum


@pytest.mark.parametrize("identity", ["", "Q1short", "Q2" + "A" * 28, "Q1" + "!" * 28])
def test_package_cache_refuses_invalid_identities(tmp_path: Path, identity: str) -> None:
    with pytest.raises(ApkFormatError, match="invalid package identity"):
        PackageCache(tmp_path).path_for(identity)


def test_package_cache_put_verifies_first(tmp_path: Path, signing_key: SigningKey) -> None:
    data = make_apk(tmp_path, Pkg("a", "1.0-r0"), "x86_64", signing_key)
    record = record_from_package(data, where="a")
    cache = PackageCache(tmp_path / "cache")
    with pytest.raises(SignatureError):
        cache.put(record.checksum, data, keyring=Keyring.from_pems({}))
    assert cache.get(record.checksum) is None
    layout = cache.put(record.checksum, data, keyring=keyring_of(signing_key))
    assert cache.get(record.checksum) == data
    assert layout.identity == record.checksum
    cache.discard(record.checksum)
    assert cache.get(record.checksum) is None


def test_a_url_with_user_and_password_authenticates_with_basic_auth(server: FakeServer) -> None:
    server.files["/os/f"] = Served(b"data")
    url = server.url.replace("http://", "http://user:p%40ss@") + "/os/f"
    assert HttpFetcher().get(url).body == b"data"
    path, headers = server.requests[-1]
    assert path == "/os/f"
    assert headers["Authorization"] == "Basic " + base64.b64encode(b"user:p@ss").decode()


def test_a_host_that_does_not_resolve_is_one_redacted_line_at_once() -> None:
    sleeps: list[float] = []
    fetcher = HttpFetcher(RetryPolicy(attempts=4, backoff=1), sleep=sleeps.append)
    with pytest.raises(FetchError) as info:
        fetcher.get("https://user:secret@nohost.invalid/os/x86_64/APKINDEX.tar.gz")
    line = str(info.value)
    assert line.startswith(
        "https://***@nohost.invalid/os/x86_64/APKINDEX.tar.gz: cannot fetch: the host "
        "nohost.invalid cannot be resolved (DNS: "
    ), line
    assert "secret" not in line
    assert sleeps == []  # an unknown name is not retried


def test_a_cached_index_records_its_url_without_the_password(
    tmp_path: Path, server: FakeServer, remote_repo: str, signing_key: SigningKey
) -> None:
    repo = remote_repo.replace("http://", "http://user:secret@")
    keyring = keyring_of(signing_key)
    _client(tmp_path).index(repo, "x86_64", keyring=keyring)
    written = b"".join(path.read_bytes() for path in (tmp_path / "cache").rglob("*.json"))
    assert b"user:secret" not in written
    assert b"***@" in written
    again = _client(tmp_path)  # a second run revalidates the entry instead of discarding it
    again.index(repo, "x86_64", keyring=keyring)
    assert again.take_warnings() == ()
    assert server.requests[-1][1].get("If-None-Match")
