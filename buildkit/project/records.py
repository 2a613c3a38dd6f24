"""Build records in the store: the action cache and the current records under ``dist/``.

Objects first, the action record next, the current record last: never a record without its
bytes. An action record is trusted only when it is whole and names the action it is filed
under, and every blob it names is present and hashes to its name:

- it carries ``record_digest``, the SHA-256 of its own canonical JSON without that field, so
  any damage to it (a flipped byte in a digest, a size, the image summary) is seen;
- the SHA-256 of its ``inputs`` is the action key it is filed under;
- each object it names is re-hashed (streamed) on every use.

What fails is discarded with a warning naming the file, and the action runs again. The
current record (``dist/<framework>/<arch>.json``) is rewritten from the action record by every
build whenever it differs, so damage to it is repaired by the next build.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

from buildkit.actions.records import ImageRecord, PackageRecord
from buildkit.digest import Blob, canonical_json, sha256_digest
from buildkit.errors import StoreError
from buildkit.events import damage_warning
from buildkit.store import Store

RECORD_DIGEST = "record_digest"

Warn = Callable[[str], None]


def _ignore(_line: str) -> None:
    return None


def seal(record: Mapping[str, Any]) -> dict[str, Any]:
    """``record`` with its ``record_digest``: SHA-256 of its canonical JSON without it."""
    body = {key: value for key, value in record.items() if key != RECORD_DIGEST}
    return {**body, RECORD_DIGEST: sha256_digest(canonical_json(body))}


def unseal(data: Mapping[str, Any], where: str) -> dict[str, Any]:
    """The record without its digest, after checking the digest; StoreError if it differs."""
    body = {key: value for key, value in data.items() if key != RECORD_DIGEST}
    found = data.get(RECORD_DIGEST)
    if found is None:
        raise StoreError("the record has no record_digest", where=where, hint="build again")
    if found != sha256_digest(canonical_json(body)):
        raise StoreError(
            "the record does not match its record_digest", where=where, hint="build again"
        )
    return body


# The top-level keys of an action record written before records carried record_digest.
_UNSEALED = frozenset(
    {"schema", "kind", "framework", "name", "arch", "action_key", "inputs", "outputs"}
)


def _unsealed_format(data: Mapping[str, Any]) -> bool:
    """A record of the earlier, unsealed format (not damage: say nothing, build again)."""
    return RECORD_DIGEST not in data and set(data) <= _UNSEALED


def verify_blobs(
    store: Store, blobs: tuple[Blob, ...], where: str, *, warn: Warn = _ignore
) -> bool:
    """True when every blob is present and hashes to its name. A damaged object is removed
    (with a warning), so that the action runs again and writes it anew."""
    for blob in blobs:
        try:
            store.verify(blob, where=where)
        except StoreError as err:
            if store.path(blob).exists():
                line = damage_warning(
                    store.path(blob), "store object", err.message, "building again"
                )
                warn(line)
            store.discard(blob)
            return False
    return True


R = TypeVar("R", PackageRecord, ImageRecord)


def cached_record(store: Store, key: str, kind: type[R], *, warn: Warn = _ignore) -> R | None:
    """The action cache's record for ``key`` if it is whole, filed under its own key and every
    object it names is intact; else None (the action runs again and overwrites it)."""
    path = store.action_path(key)
    try:
        data = store.read_record(path)
        if data is None or _unsealed_format(data):
            return None  # none, or written before records were sealed: a plain miss
        record = _filed_under(kind.from_dict(unseal(data, str(path)), str(path)), key, path)
    except StoreError as err:
        warn(damage_warning(path, "action record", err.message, "building again"))
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        return None
    if not verify_blobs(store, record.blobs(), str(path), warn=warn):
        return None
    return replace(record, cached=True)


def _filed_under(record: R, key: str, path: Path) -> R:
    """``record`` when it is the record of action ``key`` (its inputs hash to it)."""
    if record.action_key != key or record.inputs.key != key:
        raise StoreError("the record belongs to another action", where=str(path))
    return record


def save_record(store: Store, current: Path, record: PackageRecord | ImageRecord) -> None:
    """Write a fresh action's record to the action cache, then make it the current record
    (objects first, action record next, current record last: never a record without bytes)."""
    if not record.cached:
        store.write_record(store.action_path(record.action_key), seal(record.to_dict()))
    try:
        unchanged = store.read_record(current) == record.to_dict()
    except StoreError:
        unchanged = False  # a damaged current record is simply replaced
    if not unchanged:
        store.write_record(current, record.to_dict())


def read_package_record(store: Store, path: Path) -> PackageRecord | None:
    data = store.read_record(path)
    return None if data is None else PackageRecord.from_dict(data, str(path))


def read_image_record(store: Store, path: Path) -> ImageRecord | None:
    data = store.read_record(path)
    return None if data is None else ImageRecord.from_dict(data, str(path))
