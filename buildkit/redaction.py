"""Secrets out of every line buildkit shows or writes: messages, logs and records.

One function, :func:`redact`, applied where text leaves buildkit (``BuildkitError.__str__``,
the reporters, tool log headers, records): the user information of URLs
(``https://user:password@host``, ``https://token@host``), registry credentials written as
``user:password@host`` (``--registry``, ``BUILDKIT_REGISTRY``), HTTP authorization values and
``password=``-style fields. Each becomes ``***``; the rest of the line stays readable.
"""

from __future__ import annotations

import re

_SECRETS: tuple[tuple[re.Pattern[str], str], ...] = (
    # scheme://userinfo@host: a password, or a token used as the user name
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@'\"]+@"), r"\1***@"),
    # user:password@host without a scheme (a registry as docker writes it)
    (re.compile(r"(?<![\w/:.@*-])[\w.%+-]+:[^\s/@'\"]+@(?=[\w\[])"), "***@"),
    (re.compile(r"\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+", re.IGNORECASE), r"\1 ***"),
    (
        re.compile(
            r"\b(password|passwd|token|secret|auth|identitytoken|registrytoken)"
            r"(\"?\s*[=:]\s*\"?)[^\s\",}]+",
            re.IGNORECASE,
        ),
        r"\1\2***",
    ),
)


def redact(text: str) -> str:
    """``text`` with anything that looks like a credential replaced by ``***``."""
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text
