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


# Lines in a tool's or client's output that never say why it failed: the docker CLI's footer
# after a usage error, and buildkit's own notes in a tool log.
_NOT_A_REASON = re.compile(r"^(Run '.*--help' for more information|# buildkit: )")
_ERROR_PREFIXES = ("docker: ", "Error response from daemon: ", "Error: ", "error: ")


def reason_line(text: str) -> str:
    """The last line of a tool's output that can say why it failed, without the engines'
    "Error: " prefixes and redacted; "" when there is none. For one-line messages."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    lines = [line for line in lines if not _NOT_A_REASON.match(line)]
    if not lines:
        return ""
    line = lines[-1]
    for prefix in _ERROR_PREFIXES:
        line = line.removeprefix(prefix)
    return redact(line)
