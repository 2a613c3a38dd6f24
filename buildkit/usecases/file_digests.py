"""SHA-256 of local files, remembered by their stat so that an unchanged file is not read again.

The resolution cache key needs the digest of every local index and ``.apk`` (two Wolfi-sized
indexes are 58 MB): reading and hashing them was most of a warm ``lock --check``. As git's
index and Bazel's digest cache do, a digest is kept with the file's stat signature (device,
inode, size, mtime and ctime in nanoseconds) and reused while the signature is unchanged.

- Any write to a file changes its ctime, which no tool can set back (``touch -d`` and
  ``os.utime`` set mtime only), and a file replaced by another has another inode: either way
  the signature differs and the file is hashed again.
- A signature is only remembered when the file's last change is at least
  :data:`RACY_SECONDS` old when it is hashed (git's "racy" rule): a file written again within
  the same timestamp tick could otherwise keep its signature with other bytes.
- The signature is taken before and after reading; a file that changed meanwhile is not
  remembered.
- The memory is one JSON file (``<cache>/digests/files.json``), written atomically; a
  missing, unreadable or malformed one (or entry) is ignored, never trusted: the files are
  simply hashed.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import stat
import time
from collections.abc import Callable
from pathlib import Path

from buildkit.errors import FileSystemError
from buildkit.fsutil import atomic_write_bytes

RACY_SECONDS = 2.0
_FORMAT = 1

Signature = tuple[int, int, int, int, int]  # dev, inode, size, mtime_ns, ctime_ns


def _signature(stat: os.stat_result) -> Signature:
    return (stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns)


def _hex_sha256(path: Path) -> str:
    """Streamed, so memory stays flat; opened non-blocking and only a regular file is read
    (as ``fsutil.read_input`` reads inputs: a FIFO never hangs it)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as file:
        if not stat.S_ISREG(os.fstat(file.fileno()).st_mode):
            raise OSError(errno.EINVAL, "not a regular file; point it at a file", str(path))
        return hashlib.file_digest(file, "sha256").hexdigest()


class FileDigests:
    """The digests of local files for one run; :meth:`save` keeps what was learnt."""

    def __init__(self, memory: Path, *, clock: Callable[[], int] = time.time_ns) -> None:
        self.memory = memory
        self._now = clock  # nanoseconds, as time.time_ns
        self._entries = _load(memory)
        self._changed = False

    def sha256(self, path: Path) -> str:
        """SHA-256 (hex) of the file at ``path`` (OSError as reading it raises)."""
        key = os.path.abspath(path)
        before = _signature(path.stat())
        known = self._entries.get(key)
        if known is not None and known[0] == before:
            return known[1]
        digest = _hex_sha256(path)
        after = _signature(path.stat())
        changed_ns = max(after[3], after[4])
        if after == before and self._now() - changed_ns >= RACY_SECONDS * 1e9:
            self._entries[key] = (after, digest)
            self._changed = True
        elif known is not None:
            del self._entries[key]
            self._changed = True
        return digest

    def save(self) -> None:
        """Write the memory if anything was learnt (a failure to write only costs speed)."""
        if not self._changed:
            return
        document = {
            "format": _FORMAT,
            "files": {
                path: [*signature, digest]
                for path, (signature, digest) in sorted(self._entries.items())
            },
        }
        with contextlib.suppress(OSError, FileSystemError):
            self.memory.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(self.memory, json.dumps(document).encode("utf-8"))
        self._changed = False


def _load(memory: Path) -> dict[str, tuple[Signature, str]]:
    try:
        document = json.loads(memory.read_bytes())
    except (OSError, ValueError, RecursionError):
        return {}
    if not isinstance(document, dict) or document.get("format") != _FORMAT:
        return {}
    files = document.get("files")
    if not isinstance(files, dict):
        return {}
    entries: dict[str, tuple[Signature, str]] = {}
    for path, entry in files.items():
        if (
            isinstance(entry, list)
            and len(entry) == 6
            and all(type(value) is int for value in entry[:5])
            and isinstance(entry[5], str)
            and len(entry[5]) == 64
        ):
            dev, ino, size, mtime, ctime = entry[:5]
            entries[path] = ((dev, ino, size, mtime, ctime), entry[5])
    return entries
