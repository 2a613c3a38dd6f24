"""Why a lock worker process died, in words: the signal, and out of memory when that is known.

A worker that dies leaves only its exit status. :func:`death_cause` turns it into a phrase:
the signal's name and number, and for SIGKILL whether memory was the reason, from what can be
seen: buildkit's own RSS limit (:class:`RssWatch` killed it, ``BUILDKIT_LOCK_MEMORY_LIMIT``) or
the kernel's out-of-memory killer naming the worker's pid in its log (``/dev/kmsg``).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from buildkit.fsutil import human_size

KMSG = Path("/dev/kmsg")
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def kernel_messages(path: Path = KMSG) -> Iterator[str]:
    """The kernel log's records, oldest first; nothing when it cannot be read (no root, no
    such device). Non-blocking: it stops at the newest record."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return
    try:
        while True:
            try:
                record = os.read(fd, 8192)
            except BlockingIOError:
                return
            except OSError:  # EPIPE: records overwritten while reading; go on
                continue
            if not record:
                return
            yield record.decode("utf-8", "replace")
    finally:
        os.close(fd)


def oom_killed(pid: int, messages: Iterator[str] | None = None) -> bool:
    """The kernel's out-of-memory killer says it killed ``pid``."""
    pattern = re.compile(rf"Killed process {pid}\b|oom-kill:.*\bpid={pid}\b")
    return any(pattern.search(line) for line in (messages or kernel_messages()))


def death_cause(
    exitcode: int | None,
    pid: int | None,
    *,
    rss_limit: int | None = None,
    oom: Callable[[int], bool] = oom_killed,
) -> str:
    """``" (killed by SIGKILL, signal 9: out of memory, the kernel ended it)"`` and the like;
    "" when the exit status tells nothing. ``rss_limit``: buildkit killed it at that RSS."""
    if exitcode is None:
        return ""
    if exitcode >= 0:
        return f" (exit status {exitcode})"
    number = -exitcode
    try:
        name = signal.Signals(number).name
    except ValueError:
        name = f"signal {number}"
    text = f"killed by {name}, signal {number}"
    if number == signal.SIGKILL:
        if rss_limit is not None:
            text += (
                f": out of memory, past its {human_size(rss_limit)} limit "
                "(BUILDKIT_LOCK_MEMORY_LIMIT)"
            )
        elif pid is not None and oom(pid):
            text += ": out of memory, the kernel's out-of-memory killer ended it"
    return f" ({text})"


def rss(pid: int) -> int | None:
    """The resident set size of ``pid`` in bytes (Linux /proc), or None when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/statm").read_text(encoding="ascii").split()
    except (OSError, IndexError):
        return None
    return int(fields[1]) * _PAGE if len(fields) > 1 else None


class RssWatch:
    """Kills each watched process whose RSS passes ``limit`` (checked every ``interval`` s),
    and remembers it, so the death can be put down to memory rather than guessed."""

    def __init__(self, limit: int, *, interval: float = 0.1) -> None:
        self.limit = limit
        self.interval = interval
        self.killed: set[int] = set()
        self._pids: set[int] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-watch", daemon=True)
        self._thread.start()

    def watch(self, pid: int) -> None:
        with self._lock:
            self._pids.add(pid)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            with self._lock:
                pids = sorted(self._pids - self.killed)
            for pid in pids:
                size = rss(pid)
                if size is not None and size > self.limit:
                    with contextlib.suppress(OSError):
                        os.kill(pid, signal.SIGKILL)
                    with self._lock:
                        self.killed.add(pid)
