"""The scan ignore file (versioned in the repository) and its OpenVEX export (pure).

``.buildkit-scan-ignore.toml``::

    [[ignore]]
    id = "CVE-2022-28391"
    package = "busybox"          # the package's name or its origin
    reason = "ash is not reachable: the image runs one static binary"
    expires = 2026-06-30         # a TOML date, or "YYYY-MM-DD"

Every field is required: an ignore without a reason cannot be reviewed, one without an expiry
is forgotten. From the day after ``expires`` the entry stops hiding its finding and the scan
says so.
"""

from __future__ import annotations

import datetime as dt
import json
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from buildkit.errors import SecDbError
from buildkit.scan.match import Finding

_FIELDS = ("id", "package", "reason", "expires")
_EXAMPLE = 'e.g. [[ignore]] id = "CVE-..." package = "busybox" reason = "..." expires = 2026-06-30'


@dataclass(frozen=True, kw_only=True)
class IgnoreRule:
    id: str
    package: str
    reason: str
    expires: dt.date
    where: str = ""  # file and entry, for messages

    def covers(self, finding: Finding) -> bool:
        return self.id == finding.id and self.package in (finding.package, finding.origin)

    def expired(self, today: dt.date) -> bool:
        return today > self.expires


def parse_ignores(data: bytes, *, where: str) -> tuple[IgnoreRule, ...]:
    try:
        document = tomllib.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise SecDbError(f"invalid ignore file: {exc}", where=where, hint=_EXAMPLE) from None
    unknown = sorted(set(document) - {"ignore"})
    if unknown:
        raise SecDbError(f"unknown key {unknown[0]!r}", where=where, hint=_EXAMPLE)
    entries = document.get("ignore", [])
    if not isinstance(entries, list):
        raise SecDbError("ignore must be an array of tables ([[ignore]])", where=where)
    return tuple(_rule(entry, f"{where}: ignore[{n}]") for n, entry in enumerate(entries))


def _rule(entry: object, where: str) -> IgnoreRule:
    if not isinstance(entry, dict):
        raise SecDbError("expected a table", where=where, hint=_EXAMPLE)
    missing = [name for name in _FIELDS if name not in entry]
    extra = sorted(set(entry) - set(_FIELDS))
    if missing or extra:
        problem = f"missing {missing[0]}" if missing else f"unknown key {extra[0]!r}"
        raise SecDbError(problem, where=where, hint=f"each entry has {', '.join(_FIELDS)}")
    texts = {name: entry[name] for name in ("id", "package", "reason")}
    for name, value in texts.items():
        if not isinstance(value, str) or not value.strip():
            raise SecDbError(f"{name} must be a non-empty string", where=where)
    return IgnoreRule(
        id=texts["id"].strip(),
        package=texts["package"].strip(),
        reason=texts["reason"].strip(),
        expires=_date(entry["expires"], where),
        where=where,
    )


def _date(value: object, where: str) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise SecDbError(
        f"expires {value!r} is not a date",
        where=where,
        hint="write it as YYYY-MM-DD (e.g. expires = 2026-06-30)",
    )


@dataclass(frozen=True, kw_only=True)
class Applied:
    shown: tuple[Finding, ...]  # findings no live rule hides
    hidden: tuple[tuple[Finding, IgnoreRule], ...]
    expired: tuple[IgnoreRule, ...]  # rules past their date that matched a finding
    unused: tuple[IgnoreRule, ...]  # live rules that matched nothing


def apply_ignores(
    findings: Iterable[Finding], rules: Sequence[IgnoreRule], *, today: dt.date
) -> Applied:
    shown: list[Finding] = []
    hidden: list[tuple[Finding, IgnoreRule]] = []
    expired: dict[IgnoreRule, None] = {}
    used: set[IgnoreRule] = set()
    for finding in findings:
        matching = [rule for rule in rules if rule.covers(finding)]
        live = [rule for rule in matching if not rule.expired(today)]
        expired.update(dict.fromkeys(r for r in matching if r.expired(today)))
        if live:
            hidden.append((finding, live[0]))
            used.add(live[0])
        else:
            shown.append(finding)
    unused = tuple(r for r in rules if r not in used and not r.expired(today))
    return Applied(shown=tuple(shown), hidden=tuple(hidden), expired=tuple(expired), unused=unused)


def openvex(rules: Sequence[IgnoreRule], *, author: str, timestamp: str) -> bytes:
    """The live ignores as an OpenVEX v0.2.0 document: each one a ``not_affected`` statement
    with the reason as its impact statement (``vulnerable_code_not_in_execute_path``)."""
    statements = [
        {
            "vulnerability": {"name": rule.id},
            "products": [{"@id": f"pkg:apk/{rule.package}"}],
            "status": "not_affected",
            "justification": "vulnerable_code_not_in_execute_path",
            "impact_statement": f"{rule.reason} (until {rule.expires.isoformat()})",
        }
        for rule in sorted(rules, key=lambda r: (r.id, r.package))
    ]
    document = {
        "@context": "https://openvex.dev/ns/v0.2.0",
        "@id": f"https://openvex.dev/docs/buildkit/{timestamp}",
        "author": author,
        "timestamp": timestamp,
        "version": 1,
        "statements": statements,
    }
    return (json.dumps(document, indent=2) + "\n").encode("utf-8")
