"""The APK packages an SPDX 2.x JSON SBOM lists (pure), for images built elsewhere.

apko writes one package per installed APK with a package URL
``pkg:apk/<distro>/<name>@<version>?arch=<arch>&origin=<origin>...``; only those are read.
"""

from __future__ import annotations

import json
from urllib.parse import parse_qs, unquote, urlsplit

from buildkit.errors import SecDbError
from buildkit.scan.match import Installed


def parse_purl(purl: str) -> tuple[str, str, str, dict[str, str]] | None:
    """``(namespace, name, version, qualifiers)`` of a ``pkg:apk/...`` URL, else None."""
    if not purl.startswith("pkg:apk/"):
        return None
    parts = urlsplit(purl.removeprefix("pkg:"))
    path, _, version = parts.path.partition("@")
    segments = [unquote(s) for s in path.split("/") if s]
    if len(segments) < 2 or not version:
        return None
    qualifiers = {k: v[0] for k, v in parse_qs(parts.query).items() if v}
    return "/".join(segments[1:-1]), segments[-1], unquote(version), qualifiers


def sbom_packages(data: bytes, *, where: str, name: str) -> tuple[list[Installed], str]:
    """The APK packages in an SPDX JSON document, and the distribution their URLs name
    (``wolfi``, ``alpine``; "" when none or several)."""
    try:
        document = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise SecDbError(f"not an SPDX JSON document: {exc}", where=where) from None
    if not isinstance(document, dict) or not str(document.get("spdxVersion", "")).startswith(
        "SPDX-"
    ):
        raise SecDbError(
            "not an SPDX JSON document (no spdxVersion)",
            where=where,
            hint="scan takes SPDX 2.x JSON SBOMs such as apko's sbom-<arch>.spdx.json",
        )
    found: list[Installed] = []
    distros: set[str] = set()
    for package in document.get("packages") or []:
        if not isinstance(package, dict):
            continue
        for ref in package.get("externalRefs") or []:
            locator = ref.get("referenceLocator", "") if isinstance(ref, dict) else ""
            parsed = parse_purl(locator) if isinstance(locator, str) else None
            if parsed is None:
                continue
            namespace, pkg_name, version, qualifiers = parsed
            distros.add(namespace)
            found.append(
                Installed(
                    framework=name,
                    arch=qualifiers.get("arch", ""),
                    name=pkg_name,
                    version=version,
                    origin=qualifiers.get("origin", ""),
                    location=where,
                )
            )
            break
    if not found:
        raise SecDbError("the SBOM lists no APK packages (no pkg:apk/ package URLs)", where=where)
    return found, next(iter(distros)) if len(distros) == 1 else ""
