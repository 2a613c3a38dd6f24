"""How bytes and inputs are named: SHA-256 digests, canonical JSON, action keys, blob references.

Pure: no file or network I/O. The store (:mod:`buildkit.store`) keeps bytes under these names;
action keys (:mod:`buildkit.actions.plan`) and records (:mod:`buildkit.actions.records`) use them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from buildkit.errors import StoreError

_HEX = frozenset("0123456789abcdef")


def canonical_json(value: Any) -> bytes:
    """The one JSON serialisation of records and keys: sorted keys, 2-space indent, newline."""
    return (json.dumps(value, sort_keys=True, indent=2, ensure_ascii=False) + "\n").encode()


def action_key(inputs: Mapping[str, Any]) -> str:
    """SHA-256 (hex) over the canonical record of an action's inputs."""
    compact = json.dumps(inputs, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(compact.encode()).hexdigest()


def sha256_digest(data: bytes) -> str:
    """``sha256:<hex>`` of ``data``: how the store and OCI name bytes."""
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


def is_sha256(digest: str) -> bool:
    hex_part = digest.removeprefix("sha256:")
    return digest.startswith("sha256:") and len(hex_part) == 64 and set(hex_part) <= _HEX


@dataclass(frozen=True, kw_only=True)
class Blob:
    """An object in the store: ``digest`` is ``sha256:<hex>``."""

    digest: str
    size: int

    @property
    def hex(self) -> str:
        return self.digest.removeprefix("sha256:")

    def to_dict(self) -> dict[str, Any]:
        return {"digest": self.digest, "size": self.size}

    @classmethod
    def from_dict(cls, data: object, where: str) -> Blob:
        if not isinstance(data, Mapping):
            raise StoreError("malformed blob reference: not an object", where=where)
        digest, size = data.get("digest"), data.get("size")
        if not isinstance(digest, str) or not is_sha256(digest) or not isinstance(size, int):
            raise StoreError(
                "malformed blob reference",
                where=where,
                hint="delete the record and build again",
            )
        return cls(digest=digest, size=size)
