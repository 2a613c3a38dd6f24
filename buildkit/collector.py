"""The one place that tunes CPython's cyclic garbage collector.

Loading a Wolfi-sized index or a 100k-entry security database makes hundreds of thousands of
long-lived objects and no garbage cycles worth collecting. Every collection the allocations
trigger walks all of them again: half the load time. So the entry points pause it:

- :data:`PAUSED` (``with PAUSED:``): no collections while any thread is inside (lock and
  resolve around loading and resolving, the security database parser);
- :data:`FULL_DEFERRED`: young collections go on, full ones wait (an index load: CPython makes
  a full collection each time the long-lived objects grew by a quarter, three scans of the
  whole heap during one load; one later full collection covers them all);
- :func:`off_for_process`: a lock worker process, which lives only for one lock run;
- :func:`keep_until_exit`: a command whose objects stay referenced until the process ends
  (spares the collector a walk over them at shutdown).

Both contexts count their depth under a lock, so nested and concurrent users (lock parses
the indexes of several architectures in threads) restore the collector once, after the last.
"""

from __future__ import annotations

import gc
import threading

_NEVER = 2**31 - 1  # the largest threshold CPython takes


class _Pause:
    """While any thread is inside: the collector is off (``full_only=False``) or makes no
    full collections (``full_only=True``); restored after the last one leaves."""

    def __init__(self, *, full_only: bool) -> None:
        self._full_only = full_only
        self._lock = threading.Lock()
        self._depth = 0
        self._enabled = gc.isenabled()
        self._threshold = gc.get_threshold()

    def __enter__(self) -> None:
        with self._lock:
            if not self._depth:
                if self._full_only:
                    self._threshold = gc.get_threshold()
                    gc.set_threshold(self._threshold[0], self._threshold[1], _NEVER)
                else:
                    self._enabled = gc.isenabled()
                    gc.disable()
            self._depth += 1

    def __exit__(self, *exc_info: object) -> None:
        with self._lock:
            self._depth -= 1
            if not self._depth:
                if self._full_only:
                    gc.set_threshold(*self._threshold)
                elif self._enabled:
                    gc.enable()


PAUSED = _Pause(full_only=False)
FULL_DEFERRED = _Pause(full_only=True)


def off_for_process() -> None:
    """No cyclic collections for the rest of this (short-lived worker) process."""
    gc.disable()


def keep_until_exit() -> None:
    """Move every object made so far out of the collector's sight until the process exits."""
    gc.freeze()
