"""Fixtures shared by unit tests: throwaway signing keys, a loopback HTTP server, and each
APKINDEX record parser in turn."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from buildkit.apk import index_records
from buildkit.apk.keys import SigningKey, generate_keypair
from tests.helpers.http_server import FakeServer, serving


@pytest.fixture(scope="session")
def signing_key(tmp_path_factory: pytest.TempPathFactory) -> SigningKey:
    private, _public = generate_keypair(tmp_path_factory.mktemp("key") / "test.rsa", bits=2048)
    return SigningKey.load(private)


@pytest.fixture(scope="session")
def other_key(tmp_path_factory: pytest.TempPathFactory) -> SigningKey:
    private, _public = generate_keypair(tmp_path_factory.mktemp("key") / "other.rsa", bits=2048)
    return SigningKey.load(private)


@pytest.fixture
def server() -> Iterator[FakeServer]:
    with serving() as state:
        yield state


@pytest.fixture(params=["native", "python"])
def record_parser(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Runs a test with each record parser in turn: the compiled one (_native_index.c) and
    the pure-Python one that serves where no C compiler was at hand."""
    if request.param == "python":
        monkeypatch.setattr(index_records, "_NATIVE", None)
    return str(request.param)
