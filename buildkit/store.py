"""The content-addressed store, action keys and build records (Bazel's idea, this project's scale).

Layout under ``dist/``::

    dist/sha256/<hex>                 every output, named by the SHA-256 of its bytes
    dist/actions/<action key>.json    action cache: key -> the record of that action's outputs
    dist/<framework>/<arch>.json      the current build record of a framework for an arch
    dist/packages/<name>/<arch>.json  the current build record of a melange package

An action's key is the SHA-256 of a canonical JSON record of every input. Objects are written
to a temporary file inside ``dist/sha256`` and renamed into place only once their digest is
known, so a crash at any moment leaves no partial object; records are written after their
objects, so no record points at missing bytes. Reading a record verifies the stored bytes.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from buildkit.errors import StoreError
from buildkit.fsutil import atomic_write_bytes, file_lock, fsync_dir

_HEX = frozenset("0123456789abcdef")


def canonical_json(value: Any) -> bytes:
    """The one JSON serialisation of records and keys: sorted keys, 2-space indent, newline."""
    return (json.dumps(value, sort_keys=True, indent=2, ensure_ascii=False) + "\n").encode()


def action_key(inputs: Mapping[str, Any]) -> str:
    """SHA-256 (hex) over the canonical record of an action's inputs."""
    compact = json.dumps(inputs, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(compact.encode()).hexdigest()


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
    def from_dict(cls, data: Mapping[str, Any], where: str) -> Blob:
        digest, size = data.get("digest"), data.get("size")
        if not isinstance(digest, str) or not _is_sha256(digest) or not isinstance(size, int):
            raise StoreError("malformed blob reference", where=where)
        return cls(digest=digest, size=size)


def _is_sha256(digest: str) -> bool:
    hex_part = digest.removeprefix("sha256:")
    return digest.startswith("sha256:") and len(hex_part) == 64 and set(hex_part) <= _HEX


class Store:
    """Content-addressed objects and records under one ``dist/`` folder."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.objects = root / "sha256"

    # -- objects -------------------------------------------------------------------------
    def path(self, blob: Blob) -> Path:
        return self.objects / blob.hex

    def put_file(self, source: Path, *, move: bool = False) -> Blob:
        """Copy (or move) ``source`` into the store; returns its blob. Idempotent."""
        self.objects.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=".incoming.", dir=self.objects)
        tmp = Path(tmp_name)
        try:
            digest = hashlib.sha256()
            size = 0
            with source.open("rb") as src, os.fdopen(fd, "wb") as dst:
                while block := src.read(1 << 20):
                    digest.update(block)
                    dst.write(block)
                    size += len(block)
                dst.flush()
                os.fsync(dst.fileno())
            blob = Blob(digest=f"sha256:{digest.hexdigest()}", size=size)
            os.chmod(tmp, 0o444)
            os.replace(tmp, self.path(blob))
            fsync_dir(self.objects)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            raise
        if move:
            source.unlink()
        return blob

    def put_bytes(self, data: bytes) -> Blob:
        blob = Blob(digest=f"sha256:{hashlib.sha256(data).hexdigest()}", size=len(data))
        target = self.path(blob)
        if not target.exists():
            atomic_write_bytes(target, data, mode=0o444)
        return blob

    def verify(self, blob: Blob, *, where: str = "") -> Path:
        """Return the object's path after checking its size and SHA-256."""
        target = self.path(blob)
        label = where or str(target)
        try:
            size = target.stat().st_size
        except FileNotFoundError:
            raise StoreError(
                f"object {blob.digest} is missing from the store",
                where=label,
                hint="run the build again",
            ) from None
        if size != blob.size:
            raise StoreError(
                f"object {blob.digest} has {size} bytes, the record says {blob.size}",
                where=label,
                hint="the store was modified; run the build again",
            )
        digest = hashlib.sha256()
        with target.open("rb") as handle:
            while block := handle.read(1 << 20):
                digest.update(block)
        if f"sha256:{digest.hexdigest()}" != blob.digest:
            raise StoreError(
                f"object {blob.digest} does not match its bytes",
                where=label,
                hint="the store was modified; run the build again",
            )
        return target

    def copy_out(self, blob: Blob, dest: Path) -> None:
        """Copy a verified object to ``dest`` atomically."""
        source = self.verify(blob)
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", dir=dest.parent)
        os.close(fd)
        try:
            shutil.copyfile(source, tmp)
            os.replace(tmp, dest)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    # -- records ---------------------------------------------------------------------------
    def record_path(self, *parts: str) -> Path:
        return self.root.joinpath(*parts)

    def write_record(self, path: Path, record: Mapping[str, Any]) -> None:
        atomic_write_bytes(path, canonical_json(record))

    def read_record(self, path: Path) -> dict[str, Any] | None:
        """The JSON record at ``path``, or None when there is none. Malformed: StoreError."""
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise StoreError(
                f"malformed record: {exc.msg} at line {exc.lineno}",
                where=str(path),
                hint="delete it and build again",
            ) from None
        if not isinstance(data, dict):
            raise StoreError("malformed record: not a JSON object", where=str(path))
        return data

    def action_path(self, key: str) -> Path:
        return self.root / "actions" / f"{key}.json"

    def lock(self, name: str) -> Any:
        """An inter-process lock for one action (two builds of the same tree both succeed)."""
        return file_lock(self.root / "locks" / f"{name}.lock")
