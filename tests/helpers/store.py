"""Store objects from bytes, for tests (buildkit's own outputs arrive as files)."""

from __future__ import annotations

import os

from buildkit.digest import Blob
from buildkit.store import Store


def put_bytes(store: Store, data: bytes) -> Blob:
    """``data`` as a store object, through the store's own way in (a file moved in)."""
    store.scratch.mkdir(parents=True, exist_ok=True)
    source = store.scratch / f"{os.getpid()}-test-bytes"
    source.write_bytes(data)
    return store.put_file(source, move=True)


def has(store: Store, blob: Blob) -> bool:
    """Present with the right size."""
    path = store.path(blob)
    return path.is_file() and path.stat().st_size == blob.size
