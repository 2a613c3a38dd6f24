"""The SPDX 2.3 document a package carries about itself, as melange writes one.

apko puts a package into an image's SBOM only if the package ships such a document at
``/var/lib/db/sbom/<name>-<version>.spdx.json`` (apko v1.2.39, pkg/sbom/generator/spdx:
``locateApkSBOM`` also tries the version without ``-rN`` and ``<name>.spdx.json``): it copies
the packages the document describes into the image's document. melange always writes one;
``buildkit apk pack`` writes this one unless the tree already has its own.

The document is a pure function of the package's metadata and SOURCE_DATE_EPOCH, so a
repack gives the same bytes. Supplier and originator are left out: apko fills both in with
the image's supplier.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime

from buildkit.apk.pkginfo import PkgInfo

SBOM_DIR = "var/lib/db/sbom"
_NOASSERTION = "NOASSERTION"
_ID_UNSAFE = re.compile(r"[^A-Za-z0-9.-]")  # SPDX ids: letters, digits, "." and "-"


def sbom_path(name: str, version: str) -> str:
    """Where the package's own SBOM goes, relative to the package root."""
    return f"{SBOM_DIR}/{name}-{version}.spdx.json"


def sbom_paths(name: str, version: str) -> tuple[str, ...]:
    """Every path apko looks at for a package's SBOM, in its order."""
    bare = re.sub(r"-r[0-9]+$", "", version)
    return (sbom_path(name, version), sbom_path(name, bare), f"{SBOM_DIR}/{name}.spdx.json")


def package_id(name: str, version: str) -> str:
    return "SPDXRef-Package-apk-" + _ID_UNSAFE.sub("-", f"{name}-{version}")


def package_sbom(info: PkgInfo, *, source_date_epoch: int, tool: str) -> bytes:
    """The SPDX JSON document describing the package ``info`` names (UTF-8, one trailing
    newline). ``tool`` is the creator, e.g. "buildkit (0.1.0)"."""
    identity = package_id(info.name, info.version)
    package: dict[str, object] = {
        "SPDXID": identity,
        "name": info.name,
        "versionInfo": info.version,
        "filesAnalyzed": False,
        "licenseConcluded": _NOASSERTION,
        "licenseDeclared": info.license or _NOASSERTION,
        "downloadLocation": _NOASSERTION,
        "copyrightText": _NOASSERTION,
        "primaryPackagePurpose": "APPLICATION",
        "externalRefs": [
            {
                "referenceCategory": "PACKAGE-MANAGER",
                "referenceLocator": f"pkg:apk/unknown/{info.name}@{info.version}?arch={info.arch}",
                "referenceType": "purl",
            }
        ],
    }
    if info.description:
        package["description"] = info.description
    if info.url:
        package["homepage"] = info.url
    created = datetime.fromtimestamp(source_date_epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    unique = hashlib.sha256(f"{info.name}\0{info.version}\0{info.arch}".encode()).hexdigest()
    document = {
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": f"apk-{info.name}-{info.version}",
        "spdxVersion": "SPDX-2.3",
        "creationInfo": {"created": created, "creators": [f"Tool: {tool}"]},
        "dataLicense": "CC0-1.0",
        "documentNamespace": f"https://spdx.org/spdxdocs/buildkit/apk/{unique[:32]}",
        "documentDescribes": [identity],
        "packages": [package],
    }
    return (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
