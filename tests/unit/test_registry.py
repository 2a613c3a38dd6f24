"""buildkit.registry: error classes, credential redaction, manifest lists read back."""

from __future__ import annotations

import pytest

from buildkit.errors import PublishError
from buildkit.redaction import redact
from buildkit.registry import Fault, classify, parse_verbose_list


@pytest.mark.parametrize(
    ("text", "fault"),
    [
        ('Get "https://127.0.0.1:5097/v2/": dial tcp: connection refused', Fault.DOWN),
        ("dial tcp: lookup registry.invalid: no such host", Fault.DOWN),
        ("read tcp 127.0.0.1:5000: connection reset by peer", Fault.UNREACHABLE),
        ("received unexpected HTTP status: 503 Service Unavailable", Fault.UNREACHABLE),
        ("net/http: TLS handshake timeout", Fault.UNREACHABLE),
        ("timed out after 600.0s", Fault.UNREACHABLE),
        ("checking a blob in x: unauthorized: authentication required", Fault.UNAUTHORIZED),
        ("denied: requested access to the resource is denied", Fault.UNAUTHORIZED),
        ('Get "https://h/v2/": http: server gave HTTP response to HTTPS client', Fault.PLAIN_HTTP),
        ("No such manifest: 127.0.0.1:5000/buildkit/demo:latest", Fault.NOT_FOUND),
        ("manifest unknown: manifest unknown", Fault.NOT_FOUND),
        ("something else entirely", Fault.OTHER),
    ],
)  # fmt: skip
def test_classify_registry_errors(text: str, fault: Fault) -> None:
    assert classify(text) is fault


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("https://user:pw@host/v2/", "https://***@host/v2/"),
        ("Authorization: Bearer abc.DEF-123", "Authorization: Bearer ***"),
        ("Basic dXNlcjpwdw==", "Basic ***"),
        ('{"auth": "dXNlcjpwdw=="}', '{"auth": "***"}'),
        ("password=pw token: t0k", "password=*** token: ***"),
        ("connection refused", "connection refused"),
    ],
)
def test_redact_removes_credentials(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_a_single_image_where_a_list_was_expected_is_refused() -> None:
    with pytest.raises(PublishError, match="single image, not a manifest list"):
        parse_verbose_list('{"schemaVersion": 2}', where="r")
