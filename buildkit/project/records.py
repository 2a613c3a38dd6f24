"""Build records in the store: the action cache and the current records under ``dist/``.

Objects first, the action record next, the current record last: never a record without its
bytes. A record is trusted only when every blob it names is present and hashes to its name.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TypeVar

from buildkit.actions.records import ImageRecord, PackageRecord
from buildkit.digest import Blob
from buildkit.errors import StoreError
from buildkit.store import Store


def verify_blobs(store: Store, blobs: tuple[Blob, ...], where: str) -> bool:
    """True when every blob is present and hashes to its name. A damaged object is removed,
    so that the action runs again and writes it anew."""
    for blob in blobs:
        try:
            store.verify(blob, where=where)
        except StoreError:
            store.discard(blob)
            return False
    return True


R = TypeVar("R", PackageRecord, ImageRecord)


def cached_record(store: Store, key: str, kind: type[R]) -> R | None:
    """The action cache's record for ``key`` if every object it names is intact, else None
    (an unreadable record is a miss too: the action runs again and overwrites it)."""
    path = store.action_path(key)
    try:
        data = store.read_record(path)
        record = None if data is None else kind.from_dict(data, str(path))
    except StoreError:
        return None
    if record is None or not verify_blobs(store, record.blobs(), str(path)):
        return None
    return replace(record, cached=True)


def save_record(store: Store, current: Path, record: PackageRecord | ImageRecord) -> None:
    """Write a fresh action's record to the action cache, then make it the current record
    (objects first, action record next, current record last: never a record without bytes)."""
    if not record.cached:
        store.write_record(store.action_path(record.action_key), record.to_dict())
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
