"""Repository sources for resolver tests, written as small dicts (as in resolve_cases/)."""

from __future__ import annotations

import hashlib
from typing import Any

from buildkit.apk.index import ApkIndex, IndexRecord
from buildkit.resolve import RepoSource, Resolved

ARCH = "x86_64"


def make_record(repo: str, spec: dict[str, Any]) -> IndexRecord:
    name, version = spec["name"], spec["version"]
    digest = hashlib.sha1(f"{repo}/{name}-{version}".encode()).hexdigest()[:20]
    return IndexRecord(
        checksum=spec.get("checksum", f"Q1{digest}="),
        name=name,
        version=version,
        arch=spec.get("arch", ARCH),
        size=1,
        installed_size=1,
        provider_priority=spec.get("priority"),
        depends=tuple(spec.get("depends", ())),
        provides=tuple(spec.get("provides", ())),
        install_if=tuple(spec.get("install_if", ())),
    )


def make_sources(repositories: list[dict[str, Any]]) -> list[RepoSource]:
    return [
        RepoSource(
            name=repo["name"],
            arch=ARCH,
            tag=repo["tag"],
            index=ApkIndex(
                records=tuple(make_record(repo["name"], p) for p in repo["packages"]),
                description=repo["name"],
                signers=(),
            ),
        )
        for repo in repositories
    ]


def names(result: tuple[Resolved, ...]) -> list[str]:
    return [f"{r.record.name}={r.record.version}" for r in result]
