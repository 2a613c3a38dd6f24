"""Talking to a registry through the engine's own clients: what a failure means, bounded retries,
and reading a pushed manifest list back.

buildkit never speaks to a registry with credentials of its own: pushes go through the engine and
manifest lists through ``docker manifest``, which both use the user's login (``docker login``,
auth.json). So this module only interprets their output: it classifies an error line (down,
unauthorized, plain HTTP refused, ...), redacts anything that looks like a secret before the line
reaches a message, retries the transient failures with exponential backoff, and parses
``docker manifest inspect --verbose`` of a list into platforms, manifest and config digests.
Everything here is pure except :func:`with_retry`, whose clock is passed in.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from buildkit.errors import PublishError, ToolFailedError
from buildkit.redaction import reason_line

T = TypeVar("T")


class Fault(enum.Enum):
    """Why a registry operation failed, as far as the client's error text tells."""

    DOWN = "down"  # connection refused, no such host, no route: retrying will not help
    UNREACHABLE = "unreachable"  # reset, timed out, 5xx: worth retrying
    UNAUTHORIZED = "unauthorized"  # 401/403: log in
    PLAIN_HTTP = "plain-http"  # the registry speaks HTTP but the client wants HTTPS
    NOT_FOUND = "not-found"  # no such manifest (locally or in the registry)
    OTHER = "other"

    @property
    def transient(self) -> bool:
        return self is Fault.UNREACHABLE


# Checked in this order: a 401 can arrive inside a "connection" message, never the reverse.
_PATTERNS: tuple[tuple[Fault, re.Pattern[str]], ...] = (
    (
        Fault.UNAUTHORIZED,
        re.compile(
            r"unauthorized|authentication required|denied|\b40[13]\b|no basic auth credentials",
            re.IGNORECASE,
        ),
    ),
    (
        Fault.PLAIN_HTTP,
        re.compile(
            r"HTTP response to HTTPS client|first record does not look like a TLS handshake",
            re.IGNORECASE,
        ),
    ),
    (
        Fault.NOT_FOUND,
        re.compile(r"no such manifest|manifest unknown|not found: manifest", re.IGNORECASE),
    ),
    (
        Fault.DOWN,
        re.compile(r"connection refused|no such host|no route to host", re.IGNORECASE),
    ),
    (
        Fault.UNREACHABLE,
        re.compile(
            r"connection reset|i/o timeout|timed out|"
            r"timeout exceeded|TLS handshake timeout|\bEOF\b|broken pipe|"
            r"\b50[0234]\b|service unavailable|bad gateway|too many requests|\b429\b",
            re.IGNORECASE,
        ),
    ),
)

MAX_LINE = 300


def classify(text: str) -> Fault:
    for fault, pattern in _PATTERNS:
        if pattern.search(text):
            return fault
    return Fault.OTHER


def reason(text: str) -> str:
    """The last meaningful line of a client's output, redacted and shortened, for a message."""
    return (reason_line(text) or "no output")[:MAX_LINE]


# --------------------------------------------------------------------------------------------
# Retrying


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    """Exponential backoff, bounded: ``attempts`` tries, waits ``first``, ``first*factor`` ...
    (each at most ``longest`` seconds). The default gives up after about 15 seconds of waiting."""

    attempts: int = 4
    first: float = 1.0
    factor: float = 2.0
    longest: float = 8.0

    def delays(self) -> tuple[float, ...]:
        """The waits between attempts (one fewer than the attempts)."""
        return tuple(
            min(self.longest, self.first * self.factor**n) for n in range(self.attempts - 1)
        )


def with_retry(
    call: Callable[[], T],
    *,
    what: str,
    registry: str,
    policy: RetryPolicy,
    sleep: Callable[[float], None],
    on_retry: Callable[[str], None] = lambda _message: None,
    explain: Callable[[str], PublishError | None] = lambda _text: None,
) -> T:
    """Run ``call``; retry it while it fails for a transient reason; else a PublishError.
    ``explain`` may know better than the registry's faults what a tool's output means (cosign:
    a wrong key password, Sigstore out of reach): its error, if any, goes out at once."""
    delays = policy.delays()
    for attempt in range(policy.attempts):
        try:
            return call()
        except ToolFailedError as exc:
            text = exc.tail or exc.message
            known = explain(text)
            if known is not None:
                raise known from None
            fault = classify(text)
            if not fault.transient or attempt >= len(delays):
                raise registry_error(
                    fault, what=what, registry=registry, text=text, attempts=attempt + 1
                ) from None
            on_retry(
                f"{what}: registry {registry} unreachable ({reason(text)}); "
                f"retrying in {delays[attempt]:g}s"
            )
            sleep(delays[attempt])
    raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover


def registry_error(
    fault: Fault, *, what: str, registry: str, text: str, attempts: int = 1
) -> PublishError:
    """One clear line for a failed registry operation (never the client's full output)."""
    why = reason(text)
    if fault is Fault.UNAUTHORIZED:
        return PublishError(
            f"{what}: the registry refused the request ({why})",
            where=registry,
            hint=f"run `docker login {registry}` with an account that may push there",
        )
    if fault in (Fault.UNREACHABLE, Fault.DOWN):
        tries = f" after {attempts} attempts" if attempts > 1 else ""
        return PublishError(
            f"{what}: the registry is unreachable{tries} ({why}); nothing was recorded as "
            "published",
            where=registry,
            hint="start the registry (scripts/setup serves 127.0.0.1:5000) or fix --registry, "
            "then publish again",
        )
    if fault is Fault.PLAIN_HTTP:
        return PublishError(
            f"{what}: the registry speaks plain HTTP and the engine expects HTTPS ({why})",
            where=registry,
            hint="mark it insecure for the engine (registries.conf or daemon.json "
            "insecure-registries) and in buildkit.toml [publish] insecure",
        )
    return PublishError(f"{what} failed: {why}", where=registry)


# --------------------------------------------------------------------------------------------
# Reading a manifest list back


@dataclass(frozen=True, kw_only=True)
class ListedImage:
    """One platform of a manifest list as the registry serves it."""

    platform: str  # "linux/amd64", "linux/arm64/v8"
    manifest_digest: str
    config_digest: str | None  # None when the inspect output carries no image manifest


def platform_text(os_name: str, arch: str, variant: str | None) -> str:
    return f"{os_name}/{arch}" + (f"/{variant}" if variant else "")


def parse_verbose_list(text: str, *, where: str) -> tuple[ListedImage, ...]:
    """``docker manifest inspect --verbose`` of a manifest list: one entry per platform."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PublishError(f"unreadable manifest inspect output: {exc.msg}", where=where) from None
    if not isinstance(data, list):
        raise PublishError(
            "the reference is a single image, not a manifest list",
            where=where,
            hint="publish again to replace it with the list",
        )
    return tuple(_listed(entry, where) for entry in data)


def _listed(entry: Any, where: str) -> ListedImage:
    descriptor = entry.get("Descriptor") if isinstance(entry, dict) else None
    if not isinstance(descriptor, dict) or not isinstance(descriptor.get("digest"), str):
        raise PublishError("manifest inspect output has an entry without a descriptor", where=where)
    platform = descriptor.get("platform") or {}
    manifest = entry.get("OCIManifest") or entry.get("SchemaV2Manifest") or {}
    config = manifest.get("config") if isinstance(manifest, dict) else None
    config_digest = config.get("digest") if isinstance(config, dict) else None
    return ListedImage(
        platform=platform_text(
            str(platform.get("os", "")),
            str(platform.get("architecture", "")),
            platform.get("variant") or None,
        ),
        manifest_digest=descriptor["digest"],
        config_digest=config_digest if isinstance(config_digest, str) else None,
    )


def parse_list(text: str, *, where: str) -> tuple[tuple[str, str], ...]:
    """``docker manifest inspect`` (not verbose) of a list: sorted (platform, digest) pairs."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PublishError(f"unreadable manifest inspect output: {exc.msg}", where=where) from None
    manifests = data.get("manifests") if isinstance(data, dict) else None
    if not isinstance(manifests, list):
        raise PublishError(
            "the reference is a single image, not a manifest list",
            where=where,
            hint="publish again to replace it with the list",
        )
    pairs = []
    for item in manifests:
        platform = item.get("platform") or {} if isinstance(item, dict) else {}
        pairs.append(
            (
                platform_text(
                    str(platform.get("os", "")),
                    str(platform.get("architecture", "")),
                    platform.get("variant") or None,
                ),
                str(item.get("digest", "")) if isinstance(item, dict) else "",
            )
        )
    return tuple(sorted(pairs))
