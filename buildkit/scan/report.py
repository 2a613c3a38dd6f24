"""Scan reports: the model and its JSON and SARIF renderings (pure)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from buildkit import __version__
from buildkit.scan.ignore import IgnoreRule
from buildkit.scan.match import Finding

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
INFORMATION_URI = "https://github.com/buildkit/buildkit/blob/main/docs/reference.md"


@dataclass(frozen=True, kw_only=True)
class DatabaseInfo:
    """A database as the report names it."""

    source: str  # URL or path
    entries: int
    age: str  # "3 h", "2 d", or "unknown"
    stale: bool = False  # served from the cache because the source did not answer


@dataclass(frozen=True, kw_only=True)
class ScanReport:
    findings: tuple[Finding, ...]  # shown (not hidden by a live ignore)
    ignored: tuple[tuple[Finding, IgnoreRule], ...]
    expired: tuple[IgnoreRule, ...]
    databases: tuple[DatabaseInfo, ...]
    problems: tuple[str, ...]  # versions not compared, repositories without a database
    scanned: int  # packages looked at

    def failing(self, fail_on: str) -> tuple[Finding, ...]:
        """The findings that fail the scan under ``--fail-on`` (``none``, ``fixable``, ``any``).
        ``fixable``: the repositories offer the fixed version (or a newer one), so that
        ``lock --update`` would fix it; where that was not checked (an SBOM, a repository that
        did not answer), the database naming a fixed version counts."""
        if fail_on == "none":
            return ()
        if fail_on == "fixable":
            return tuple(f for f in self.findings if f.fixed_in and f.fix_available is not False)
        return self.findings


def _finding_dict(finding: Finding) -> dict[str, Any]:
    return {
        "framework": finding.framework,
        "arch": finding.arch,
        "package": finding.package,
        "origin": finding.origin or finding.package,
        "version": finding.version,
        "id": finding.id,
        "fixed_in": finding.fixed_in,
        "fix_available": finding.fix_available,
        "database": finding.database,
        "location": finding.location,
    }


def _rule_dict(rule: IgnoreRule) -> dict[str, Any]:
    return {
        "id": rule.id,
        "package": rule.package,
        "reason": rule.reason,
        "expires": rule.expires.isoformat(),
    }


def to_json(report: ScanReport) -> bytes:
    document = {
        "scanner": f"buildkit {__version__}",
        "scanned": report.scanned,
        "databases": [
            {"source": d.source, "entries": d.entries, "age": d.age, "stale": d.stale}
            for d in report.databases
        ],
        "findings": [_finding_dict(f) for f in report.findings],
        "ignored": [{**_finding_dict(f), "ignore": _rule_dict(rule)} for f, rule in report.ignored],
        "expired_ignores": [_rule_dict(rule) for rule in report.expired],
        "problems": list(report.problems),
    }
    return (json.dumps(document, indent=2, sort_keys=True) + "\n").encode("utf-8")


def help_uri(vuln: str) -> str:
    if vuln.startswith("CVE-"):
        return f"https://nvd.nist.gov/vuln/detail/{vuln}"
    if vuln.startswith("GHSA-"):
        return f"https://github.com/advisories/{vuln}"
    if vuln.startswith("GO-"):
        return f"https://pkg.go.dev/vuln/{vuln}"
    return f"https://osv.dev/vulnerability/{vuln}"


def to_sarif(report: ScanReport, *, fail_on: str = "any") -> bytes:
    """SARIF 2.1.0 for GitHub code scanning: one rule per id, one result per finding, located
    in the lockfile (or SBOM) that pins the package."""
    failing = set(report.failing(fail_on))
    ids = sorted({f.id for f in report.findings})
    rules = [
        {
            "id": vuln,
            "name": vuln,
            "shortDescription": {"text": vuln},
            "helpUri": help_uri(vuln),
            "properties": {"tags": ["security", "apk"]},
        }
        for vuln in ids
    ]
    results = [_result(f, ids.index(f.id), f in failing) for f in report.findings]
    document = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "buildkit-scan",
                        "version": __version__,
                        "informationUri": INFORMATION_URI,
                        "rules": rules,
                    }
                },
                "results": results,
                "properties": {
                    "databases": [
                        {"source": d.source, "age": d.age, "stale": d.stale}
                        for d in report.databases
                    ]
                },
            }
        ],
    }
    return (json.dumps(document, indent=2, sort_keys=True) + "\n").encode("utf-8")


def _result(finding: Finding, rule_index: int, failing: bool) -> dict[str, Any]:
    text = (
        f"{finding.package} {finding.version} ({finding.framework}, {finding.arch}) is affected "
        f"by {finding.id}; fixed in {finding.fixed_in}"
    )
    return {
        "ruleId": finding.id,
        "ruleIndex": rule_index,
        "level": "error" if failing else "warning",
        "message": {"text": text},
        "locations": [
            {
                "physicalLocation": {
                    "artifactLocation": {"uri": finding.location or "buildkit.toml"},
                    "region": {"startLine": 1},
                },
                "logicalLocations": [
                    {"name": f"{finding.framework}/{finding.arch}/{finding.package}"}
                ],
            }
        ],
        "partialFingerprints": {
            "buildkitFinding/v1": "/".join(
                (finding.framework, finding.arch, finding.package, finding.id)
            )
        },
    }


def summary_rows(findings: Sequence[Finding]) -> list[tuple[str, str, str, str, str, str]]:
    """The table's rows: framework, arch, package, installed, id, fixed in (with ``*`` when
    the repositories do not offer that version yet)."""
    return [
        (
            f.framework,
            f.arch,
            f.package,
            f.version,
            f.id,
            f.fixed_in + (" *" if f.fix_available is False else ""),
        )
        for f in findings
    ]
