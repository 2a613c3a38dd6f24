"""Named container runs: for engines whose ``run --rm`` loses the exit status.

The docker CLI against podman's Docker API before 4.6 exits 0 for every ``run --rm``
(containers/podman#18889): a failed apko would look like a success. There, buildkit names each
container, reads its recorded status, and removes it. A buildkit process killed mid-run leaves
its container behind; each container carries a label naming its host and process, so a later
run removes the ones whose process is gone.
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Callable

RUN_LABEL = "io.buildkit.run"  # value: "<hostname>:<pid>" of the buildkit process
FIXED_PODMAN = (4, 6)


def named_runs_needed(engine: str, server: str, version: str) -> bool:
    """Only the docker CLI talking to a podman service older than 4.6 needs named runs."""
    if engine != "docker" or not server.lower().startswith("podman"):
        return False
    match = re.match(r"(\d+)\.(\d+)", version)
    return match is None or (int(match.group(1)), int(match.group(2))) < FIXED_PODMAN


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
