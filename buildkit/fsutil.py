"""Atomic file writes and file locks: the only way buildkit replaces files; bounded reads of
input files.

A crash leaves either the old file or the new one, never a partial one: bytes go to a
temporary file in the same directory, are fsync'ed, then renamed over the target.

Inputs (configs, keys, lockfiles, local indexes and packages) are read with
:func:`read_input`: only regular files (a FIFO or a device never blocks or streams forever), and
no more than a size limit per kind (``BUILDKIT_MAX_<KIND>_SIZE`` overrides the default).
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from collections.abc import Iterator, Mapping
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


# --------------------------------------------------------------------------------------------
# Bounded reads of input files

MiB = 1 << 20
# kind -> (default limit in bytes, environment variable that overrides it)
INPUT_LIMITS: Mapping[str, tuple[int, str]] = {
    "config": (4 * MiB, "BUILDKIT_MAX_CONFIG_SIZE"),  # buildkit.toml, apko and melange configs
    "key": (1 * MiB, "BUILDKIT_MAX_KEY_SIZE"),  # PEM keys (a 4096-bit one is 3 KiB)
    # a lockfile (or a resolution cache entry, a record): 16 MiB is some 25,000 packages
    "lockfile": (16 * MiB, "BUILDKIT_MAX_LOCKFILE_SIZE"),
    "record": (16 * MiB, "BUILDKIT_MAX_RECORD_SIZE"),  # dist/<name>/*.json, publish.json
    "index": (512 * MiB, "BUILDKIT_MAX_INDEX_SIZE"),  # a local APKINDEX.tar.gz
    "package": (1024 * MiB, "BUILDKIT_MAX_PACKAGE_SIZE"),  # a local .apk
}
_KINDS = {
    stat.S_IFIFO: "a FIFO",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
    stat.S_IFDIR: "a folder",
}


class InputRejectedError(OSError):
    """An input file that is not a regular file or is over its size limit. An OSError with
    the reason in ``strerror``, so the callers' "cannot read ...: <reason>" lines say it.
    Over the limit (``errno.EFBIG``): ``reason`` is the strerror without its remedy, for
    callers whose hint says more (raise ``variable``, or write the file again)."""

    reason: str = ""
    variable: str = ""


def human_size(size: int) -> str:
    """``1 MiB``, ``1.5 GiB``, ``100 bytes``: sizes in messages."""
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if size >= 1 << shift:
            value = size / (1 << shift)
            return f"{value:g} {unit}" if value == int(value) else f"{value:.1f} {unit}"
    return "1 byte" if size == 1 else f"{size} bytes"


def parse_size(text: str) -> int:
    """``1048576``, ``512K``, ``64M``, ``2G`` (also ``KiB``/``MiB``/``GiB``) -> bytes;
    ValueError when it is none of those or not positive."""
    cleaned = text.strip().upper().removesuffix("IB").removesuffix("B")
    shift = {"K": 10, "M": 20, "G": 30}.get(cleaned[-1:], 0)
    number = cleaned[:-1] if shift else cleaned
    if not number.strip().isdigit() or int(number) <= 0:
        raise ValueError(f"not a size: {text!r}")
    return int(number) << shift


def input_limit(kind: str, env: Mapping[str, str] | None = None) -> int:
    """The size limit for ``kind`` (see INPUT_LIMITS): its variable when set, else the default.
    A malformed variable is ignored here; ``buildkit.project.config`` reports it."""
    default, name = INPUT_LIMITS[kind]
    value = (os.environ if env is None else env).get(name, "")
    try:
        return parse_size(value) if value else default
    except ValueError:
        return default


def read_input(path: Path, kind: str, *, limit: int | None = None) -> bytes:
    """The bytes of the regular file ``path``, at most the limit for ``kind``.

    Raises OSError as ``Path.read_bytes`` does, and :class:`InputRejectedError` (an OSError) when
    the path is not a regular file (opened non-blocking: a FIFO never hangs the read) or is
    larger than the limit (never read past it)."""
    limit = input_limit(kind) if limit is None else limit
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        info = os.fstat(fd)
    except OSError:
        os.close(fd)
        raise
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        what = _KINDS.get(stat.S_IFMT(info.st_mode), "not a regular file")
        raise InputRejectedError(
            errno.EINVAL, f"{what}, not a regular file; point it at a file", str(path)
        )
    with os.fdopen(fd, "rb") as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        size = human_size(max(info.st_size, len(data)))
        reason = f"{size}, more than the {human_size(limit)} limit for a {kind}"
        variable = INPUT_LIMITS[kind][1]
        error = InputRejectedError(
            errno.EFBIG, f"{reason} (raise {variable} if it is genuine)", str(path)
        )
        error.reason, error.variable = reason, variable
        raise error
    return data
