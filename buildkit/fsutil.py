"""Atomic file writes and file locks: the only way buildkit replaces files.

A crash leaves either the old file or the new one, never a partial one: bytes go to a
temporary file in the same directory, are fsync'ed, then renamed over the target.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from filelock import FileLock

from buildkit.errors import FileSystemError


def fsync_path(path: Path) -> None:
    """Flush a file's bytes, or a folder's entries (after a rename into it), to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def cannot_write(path: Path, exc: OSError) -> FileSystemError:
    """The one-line error for a failed write: the path, the system's reason, what to check."""
    blocker = Path(exc.filename) if isinstance(exc, FileExistsError) and exc.filename else None
    hint = (
        f"{blocker} is a file where a folder is needed; move it away"
        if blocker is not None and blocker != path
        else "check that the folder exists, is writable and the disk is not full"
    )
    return FileSystemError(f"cannot write: {exc.strerror or exc}", where=str(path), hint=hint)


def _prepare(path: Path) -> tuple[int, str]:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise cannot_write(path, exc) from None


@contextlib.contextmanager
def atomic_writer(path: Path, mode: int = 0o644) -> Iterator[BinaryIO]:
    """Yield a binary file; on clean exit it atomically replaces ``path``.

    Failures to create, sync or rename the file raise FileSystemError naming ``path``; an
    error raised by the caller's own block passes through unchanged.
    """
    fd, tmp = _prepare(path)
    written = False
    try:
        try:
            with os.fdopen(fd, "wb") as handle:
                yield handle
                written = True
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp, mode)
            os.replace(tmp, path)
            fsync_path(path.parent)
        except OSError as exc:
            if not written:
                raise
            raise cannot_write(path, exc) from None
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_bytes(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Replace ``path`` with ``data`` atomically."""
    with atomic_writer(path, mode) as handle:
        handle.write(data)


def atomic_write_text(path: Path, text: str, mode: int = 0o644) -> None:
    atomic_write_bytes(path, text.encode("utf-8"), mode)


def file_lock(path: Path, timeout: float = -1) -> FileLock:
    """An inter-process lock on ``path`` (created if needed). Use as a context manager."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return FileLock(str(path), timeout=timeout)
