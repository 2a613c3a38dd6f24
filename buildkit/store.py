"""The content-addressed store, action keys and build records (Bazel's idea, this project's scale).

Layout under ``dist/``::

    dist/sha256/<hex>                 every output, named by the SHA-256 of its bytes
    dist/actions/<action key>.json    action cache: key -> the record of that action's outputs
    dist/<framework>/<arch>.json      the current build record of a framework for an arch
    dist/packages/<name>/<arch>.json  the current build record of a melange package
    dist/tmp/<pid>-...                scratch space of running builds (never an output)
    dist/locks/<name>.lock            one inter-process lock per action

An action's key is the SHA-256 of a canonical JSON record of every input. Objects and records
are written to a scratch file under ``dist/tmp`` and renamed into place (objects only once
their digest is known), so a crash at any moment leaves no partial file anywhere else; records
are written after their objects, so no record points at missing bytes. Scratch files left by
a killed build are removed by the next one (:meth:`Store.clean_scratch`). Build code verifies
the bytes a record names before trusting it (``buildkit.actions.records.verify_blobs``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from buildkit.digest import Blob, canonical_json
from buildkit.errors import StoreError
from buildkit.fsutil import InputRejectedError, file_lock, fsync_path, read_input

_CHUNK = 1 << 20


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


class Store:
    """Content-addressed objects and records under one ``dist/`` folder."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.objects = root / "sha256"
        self.scratch = root / "tmp"

    # -- scratch space -----------------------------------------------------------------------
    @contextlib.contextmanager
    def scratch_dir(self, label: str) -> Iterator[Path]:
        """A fresh folder under ``dist/tmp`` named after this process; removed on exit."""
        self.scratch.mkdir(parents=True, exist_ok=True)
        path = Path(tempfile.mkdtemp(prefix=f"{os.getpid()}-{label}-", dir=self.scratch))
        try:
            yield path
        finally:
            shutil.rmtree(path, ignore_errors=True)

    def clean_scratch(self) -> int:
        """Remove scratch entries of processes that no longer run (a killed build's leftovers)."""
        removed = 0
        try:
            entries = list(self.scratch.iterdir())
        except FileNotFoundError:
            return 0
        for entry in entries:
            pid_text = entry.name.split("-", 1)[0]
            if pid_text.isdigit() and _pid_alive(int(pid_text)):
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                with contextlib.suppress(FileNotFoundError):
                    entry.unlink()
            removed += 1
        return removed

    # -- objects -------------------------------------------------------------------------
    def path(self, blob: Blob) -> Path:
        return self.objects / blob.hex

    def put_file(self, source: Path, *, move: bool = False) -> Blob:
        """Copy ``source`` into the store, or move it (``source`` must then be under
        ``dist/tmp``: a rename is atomic only within one file system). Idempotent."""
        self.objects.mkdir(parents=True, exist_ok=True)
        if not move:
            return self._copy_in(source)
        blob = hash_file(source)
        target = self.path(blob)
        if target.exists():
            source.unlink()
            return blob
        os.chmod(source, 0o444)
        fsync_path(source)
        os.replace(source, target)
        fsync_path(self.objects)
        return blob

    def _copy_in(self, source: Path) -> Blob:
        self.scratch.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f"{os.getpid()}-incoming-", dir=self.scratch)
        tmp = Path(tmp_name)
        try:
            digest = hashlib.sha256()
            size = 0
            with source.open("rb") as src, os.fdopen(fd, "wb") as dst:
                while block := src.read(_CHUNK):
                    digest.update(block)
                    dst.write(block)
                    size += len(block)
                dst.flush()
                os.fsync(dst.fileno())
            blob = Blob(digest=f"sha256:{digest.hexdigest()}", size=size)
            os.chmod(tmp, 0o444)
            os.replace(tmp, self.path(blob))
            fsync_path(self.objects)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            raise
        return blob

    def _write(self, target: Path, data: bytes, *, mode: int) -> None:
        """Write via a scratch file of this process, so that a killed build leaves its partial
        bytes only in dist/tmp (where the next build removes them), never beside the target."""
        self.scratch.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f"{os.getpid()}-write-", dir=self.scratch)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp_name, mode)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp_name, target)
            fsync_path(target.parent)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp_name)
            raise

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
        if hash_file(target).digest != blob.digest:
            raise StoreError(
                f"object {blob.digest} does not match its bytes",
                where=label,
                hint="the store was modified; run the build again",
            )
        return target

    def discard(self, blob: Blob) -> None:
        """Remove a (damaged) object so that the next build writes it again."""
        with contextlib.suppress(FileNotFoundError):
            self.path(blob).unlink()

    def copy_out(self, blob: Blob, dest: Path, *, verify: bool = True) -> None:
        """Copy an object to ``dest`` atomically (after verifying it, unless told not to)."""
        source = self.verify(blob) if verify else self.path(blob)
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", dir=dest.parent)
        os.close(fd)
        try:
            shutil.copyfile(source, tmp)
            os.chmod(tmp, 0o644)
            os.replace(tmp, dest)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    # -- records ---------------------------------------------------------------------------
    def record_path(self, *parts: str) -> Path:
        return self.root.joinpath(*parts)

    def write_record(self, path: Path, record: Mapping[str, Any]) -> None:
        """Replace the record at ``path`` (inside the store) atomically."""
        self._write(path, canonical_json(record), mode=0o644)

    def read_record(self, path: Path) -> dict[str, Any] | None:
        """The JSON record at ``path``, or None when there is none. Malformed: StoreError."""
        try:
            raw = read_input(path, "record")
        except FileNotFoundError:
            return None
        except InputRejectedError as exc:  # a folder, a FIFO, or over BUILDKIT_MAX_RECORD_SIZE
            raise StoreError(
                f"cannot read record: {exc.reason or exc.strerror}",
                where=str(path),
                hint="delete it and build again"
                + (f", or raise {exc.variable} if it is genuine" if exc.variable else ""),
            ) from None
        try:
            data = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            line = f" at line {exc.lineno}" if isinstance(exc, json.JSONDecodeError) else ""
            raise StoreError(
                f"malformed record: {getattr(exc, 'msg', exc)}{line}",
                where=str(path),
                hint="delete it and build again",
            ) from None
        except RecursionError:  # ``[[[[...]]]]``: not something buildkit wrote
            raise StoreError(
                "malformed record: nested too deeply",
                where=str(path),
                hint="delete it and build again",
            ) from None
        if not isinstance(data, dict):
            raise StoreError(
                "malformed record: not a JSON object",
                where=str(path),
                hint="delete it and build again",
            )
        return data

    def action_path(self, key: str) -> Path:
        return self.root / "actions" / f"{key}.json"

    def lock(self, name: str) -> Any:
        """An inter-process lock for one action (two builds of the same tree both succeed)."""
        return file_lock(self.root / "locks" / f"{name}.lock")


def hash_file(path: Path) -> Blob:
    """The blob a file would become in the store (digest and size), streamed."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while block := handle.read(_CHUNK):
            digest.update(block)
            size += len(block)
    return Blob(digest=f"sha256:{digest.hexdigest()}", size=size)
