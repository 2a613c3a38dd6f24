"""Fixtures shared by unit tests: throwaway signing keys and a loopback HTTP server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

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
