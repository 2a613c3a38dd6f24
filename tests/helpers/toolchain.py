"""Fakes and shared values for the buildkit.toolchain tests: a FakeRunner that answers the
engine's commands from a table, pinned image references, project paths."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from buildkit.project.config import ProjectConfig
from buildkit.toolchain import (
    Completed,
    Engine,
    ImageRef,
    Owner,
)

D1 = "sha256:" + "a" * 64
D2 = "sha256:" + "b" * 64
APKO = ImageRef(name="127.0.0.1:5000/buildkit-tools/apko", digest=D1, tag="v1.2.39")
MELANGE = ImageRef(name="127.0.0.1:5000/buildkit-tools/melange", digest=D2)
ROOT = Owner(uid=0, gid=0)
USER = Owner(uid=1000, gid=100)
P = Path("/src/proj")


STARTED = "2026-12-05T18:24:02.284356113Z"  # a container's StartedAt, as podman records it


def state(status: str, code: int, started: bool = True) -> Completed:
    """A ``container inspect --format STATE_FORMAT`` answer."""
    return ok(f"{status} {code} {STARTED if started else '0001-01-01T00:00:00Z'}\n")


class _AsRun:
    """Answer to ``container inspect``: the container ran, and the engine recorded the
    status the last ``run`` gave the CLI."""


AS_RUN = _AsRun()
Answer = Completed | _AsRun | Callable[[tuple[str, ...], Path | None], Completed]


class FakeRunner:
    """Answers commands by the first table prefix that matches; records every call."""

    def __init__(self, table: Sequence[tuple[tuple[str, ...], Answer]]) -> None:
        self.table = list(table)
        self.calls: list[tuple[str, ...]] = []
        self.last_run: Completed | None = None

    def __call__(
        self, argv: Sequence[str], *, log: Path | None = None, timeout: float | None = None
    ) -> Completed:
        args = tuple(argv)
        self.calls.append(args)
        for prefix, answer in self.table:
            if args[: len(prefix)] == prefix:
                if isinstance(answer, _AsRun):
                    return state("exited", self.last_run.returncode if self.last_run else 0)
                done = answer(args, log) if callable(answer) else answer
                if args[1:2] == ("run",):
                    self.last_run = done
                return done
        raise AssertionError(f"unexpected command {args}")


def ok(stdout: str = "") -> Completed:
    return Completed(argv=(), returncode=0, stdout=stdout)


def fail(stderr: str, code: int = 1) -> Completed:
    return Completed(argv=(), returncode=code, stderr=stderr)


DOCKER_UP = (
    (("docker", "version"), ok('{"Version":"4.3.1","Components":[{"Name":"Podman Engine"}]}')),
)


DOCKER_DOWN = (
    (
        ("docker", "version"),
        fail(
            "Cannot connect to the Docker daemon at unix:///var/run/docker.sock."
            " Is the docker daemon running?"
        ),
    ),
)


PODMAN_UP = ((("podman", "info"), ok("4.3.1\n")),)


def which_of(*present: str) -> Callable[[str], str | None]:
    return lambda name: name if name in present else None


# A finished container: its recorded exit status, then its removal.
CONTAINER_DONE: tuple[tuple[tuple[str, ...], Answer], ...] = (
    (("docker", "container", "inspect"), AS_RUN),
    (("docker", "container", "rm"), ok()),
    (("docker", "container", "ls"), ok("")),
)


def engine_with(
    *table: tuple[tuple[str, ...], Answer], server: str = "Docker Engine"
) -> tuple[Engine, FakeRunner]:
    """A docker CLI engine; ``server="Podman Engine"`` (4.3.1) makes it use named runs."""
    runner = FakeRunner([*table, *CONTAINER_DONE])
    return Engine(
        name="docker", binary="docker", version="4.3.1", server=server, runner=runner
    ), runner


def config(engine: str = "auto", **kw: object) -> ProjectConfig:
    return ProjectConfig(root=P, engine=engine, **kw)  # type: ignore[arg-type]


BASE = ["docker", "run", "--rm", "--pull", "never"]
IMG = f"127.0.0.1:5000/buildkit-tools/apko@{D1}"
INSPECT = ("docker", "image", "inspect")
