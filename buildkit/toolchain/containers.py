"""Named container runs: every tool container has a name and a label naming its owner.

- The name lets buildkit stop what it started: after a tool timeout, and when SIGTERM or
  SIGINT reaches buildkit (``RUNNING`` holds the containers still running).
- The docker CLI against podman's Docker API before 4.6 exits 0 for every ``run --rm``
  (containers/podman#18889): a failed apko would look like a success. There, buildkit runs
  without ``--rm``, reads the container's recorded status, and removes it.
- A buildkit process killed mid-run (SIGKILL) leaves its container behind; the label names its
  host and process, so a later run removes the ones whose process is gone.
- The engine's record of a named container also settles a failed CLI: when the CLI exits
  non-zero but the container ran to its end, the CLI lost track of it (an attach or wait lost
  under load) and the recorded status and output are the tool's; when the container never
  started, the tool never ran and one more attempt is safe.
"""

from __future__ import annotations

import os
import re
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass

RUN_LABEL = "io.buildkit.run"  # value: "<hostname>:<pid>" of the buildkit process
FIXED_PODMAN = (4, 6)


def named_runs_needed(engine: str, server: str, version: str) -> bool:
    """Only the docker CLI talking to a podman service older than 4.6 needs named runs."""
    if engine != "docker" or not server.lower().startswith("podman"):
        return False
    match = re.match(r"(\d+)\.(\d+)", version)
    return match is None or (int(match.group(1)), int(match.group(2))) < FIXED_PODMAN


# ``docker container inspect --format STATE_FORMAT``: one line, "STATUS EXITCODE STARTEDAT".
STATE_FORMAT = "{{.State.Status}} {{.State.ExitCode}} {{.State.StartedAt}}"
_ENDED = frozenset({"exited", "stopped"})
_NOT_STARTED = frozenset({"created", "configured", "initialized"})
_NEVER = "0001-01-01"  # Go's zero time: the container was never started


@dataclass(frozen=True)
class ContainerState:
    """What the engine recorded of a container."""

    status: str
    exit_code: int
    started: bool

    @property
    def ran(self) -> bool:
        """The tool started and ended: its exit code is the one the engine recorded."""
        return self.started and self.status in _ENDED

    @property
    def never_started(self) -> bool:
        return not self.started and self.status in _NOT_STARTED


def parse_state(text: str) -> ContainerState | None:
    """A :data:`STATE_FORMAT` line, or None when it is not one (the container is gone)."""
    words = text.split()
    if len(words) != 3 or not words[1].lstrip("-").isdigit():
        return None
    status, code, started_at = words
    return ContainerState(
        status=status.lower(), exit_code=int(code), started=not started_at.startswith(_NEVER)
    )


def run_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, someone else's
        return True
    return True


def orphans(listing: str, *, host: str, alive: Callable[[int], bool] = pid_alive) -> list[str]:
    """Names, from ``NAME HOST:PID`` lines, of containers whose buildkit process is gone."""
    names: list[str] = []
    for line in listing.splitlines():
        name, _, owner = line.strip().partition(" ")
        owner_host, _, pid = owner.rpartition(":")
        if name and owner_host == host and pid.isdigit() and not alive(int(pid)):
            names.append(name)
    return names


class StoppingError(RuntimeError):
    """Raised instead of starting a container once buildkit was told to stop."""


class RunningContainers:
    """The containers this process started and that still run, by name (thread-safe).

    A signal handler (``buildkit.toolchain.engine.stop_containers_on_signals``) removes them
    all and closes the registry, so no thread starts another one while buildkit winds down."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._names: dict[str, str] = {}  # container name -> engine binary
        self.closed = False

    def add(self, binary: str, name: str) -> None:
        with self._lock:
            if self.closed:
                raise StoppingError("buildkit is stopping; no new container is started")
            self._names[name] = binary

    def discard(self, name: str) -> None:
        with self._lock:
            self._names.pop(name, None)

    def close(self) -> list[tuple[str, str]]:
        """Refuse new containers; the (binary, name) of those still running."""
        with self._lock:
            self.closed = True
            return sorted((binary, name) for name, binary in self._names.items())

    def reopen(self) -> None:
        with self._lock:
            self.closed = False

    def names(self) -> list[str]:
        with self._lock:
            return sorted(self._names)


RUNNING = RunningContainers()
