"""Kill lock, build and publish with SIGKILL at random points, re-run them, check the damage.

A copy of the demo (its own signing key, machine cache and registry) is first locked, built
and published undisturbed: that run's digests are the reference. Then each kill:

1. puts the project back to where the command has all its work ahead of it (``lock``: no
   lockfile, no ``dist/``, no local repository, no resolution cache; ``build``: no ``dist/``;
   ``publish``: an empty registry and no publish record),
2. starts ``python -m buildkit COMMAND`` in a session of its own and, after a random delay
   within the command's undisturbed duration, sends SIGKILL to the whole session (buildkit,
   its lock workers and docker CLI processes; the containers they started live on in the
   engine, as they would),
3. checks what the kill left: every store object is named by the SHA-256 of its bytes, every
   record and lockfile parses,
4. runs the same command again and checks that it exits 0, the same two things, and that its
   digests equal the reference run's (lockfile bytes, package identities, image tarballs,
   manifests and SBOMs, the published list and its manifests).

A kill counts as tried when SIGKILL reached a running command, and as survived when every
check of steps 3 and 4 held. ``main`` prints one line per kill and the totals; it exits 1 when
a kill was not survived. Usage: scripts/kill-rerun ITERATIONS SEED.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from buildkit.project.config import default_cache_dir
from tests.helpers.demo import ARCHS, Demo, check_store, docker, make_demo
from tests.helpers.machine import read_env_file

COMMANDS = ("lock", "build", "publish")
LOCKFILE = "lockfiles/demo.lock.json"
RUN_TIMEOUT = 900.0
MACHINE_ENV = ("BUILDKIT_COSIGN_IMAGE", "BUILDKIT_CRANE_IMAGE")


# --------------------------------------------------------------------------------------------
# A registry of the harness's own: emptied before each publish, so every publish has work


@dataclass
class Registry:
    folder: Path
    port: int = 0
    process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, *, empty: bool) -> None:
        """(Re)start Debian's docker-registry on a free loopback port (the same one on a
        restart), storage in ``folder/data``; ``empty``: remove what it held first."""
        self.stop()
        if empty:
            shutil.rmtree(self.folder / "data", ignore_errors=True)
        self.port = self.port or _free_port()
        config = {
            "version": 0.1,
            "log": {"level": "warn", "accesslog": {"disabled": True}},
            "storage": {"filesystem": {"rootdirectory": str(self.folder / "data")}},
            "http": {"addr": self.address},
        }
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / "config.yml").write_text(yaml.safe_dump(config))
        with (self.folder / "registry.log").open("ab") as log:
            self.process = subprocess.Popen(
                ["docker-registry", "serve", str(self.folder / "config.yml")],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.folder,
            )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"docker-registry did not start on {self.address}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process = None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# --------------------------------------------------------------------------------------------
# What a run leaves: checks and digests


def whole_documents(root: Path) -> list[str]:
    """Every record and lockfile parses as JSON: [] = whole. Scratch (dist/tmp) is exempt."""
    problems = []
    paths = [*root.glob("lockfiles/*.json"), *(root / "dist").rglob("*.json")]
    for path in sorted(paths):
        relative = path.relative_to(root)
        if relative.parts[:2] == ("dist", "tmp") or not path.is_file():
            continue
        try:
            json.loads(path.read_bytes())
        except ValueError as exc:
            problems.append(f"{relative}: not whole JSON ({exc})")
    return problems


def digests(root: Path, command: str) -> dict[str, str]:
    """What ``command`` produced, by digest: the values an undisturbed run must match."""
    found: dict[str, str] = {}
    if command == "lock":
        found["lockfile"] = _sha256(root / LOCKFILE)
    for arch, _oci, _platform in ARCHS:
        if command in {"lock", "build"}:
            for record in sorted(root.glob(f"dist/packages/*/{arch}.json")):
                for apk in _load(record)["outputs"]["apks"]:
                    found[f"package {record.parent.name} {arch}"] = str(apk["identity"])
        if command == "build":
            outputs = _load(root / "dist" / "demo" / f"{arch}.json")["outputs"]
            found[f"tarball {arch}"] = str(outputs["tarball"]["digest"])
            found[f"manifest {arch}"] = str(outputs["image"]["manifest_digest"])
            for name, sbom in sorted(outputs["sboms"].items()):
                found[f"{name} {arch}"] = str(sbom["digest"])
    if command == "publish":
        record = _load(root / "dist" / "demo" / "publish.json")
        found["list"] = str(record["list"]["digest"])
        for arch, image in sorted(record["images"].items()):
            for key in ("manifest_digest", "config_digest", "sbom", "provenance"):
                found[f"published {key} {arch}"] = str(image[key])
    return found


def _load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_bytes())
    return data


def _sha256(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


# --------------------------------------------------------------------------------------------
# The harness


@dataclass(frozen=True, kw_only=True)
class Kill:
    """One kill and what followed it."""

    number: int
    command: str
    delay: float  # seconds after the start
    delivered: bool  # the command was still running when SIGKILL was sent
    problems: tuple[str, ...]  # empty: survived
    rerun_seconds: float = 0.0

    @property
    def survived(self) -> bool:
        return self.delivered and not self.problems

    def line(self, total: int) -> str:
        head = f"kill {self.number}/{total}: {self.command} at {self.delay:.1f}s"
        if not self.delivered:
            return f"{head}: it had already finished (not counted)"
        if self.problems:
            return f"{head}: NOT SURVIVED: {'; '.join(self.problems)}"
        return (
            f"{head}: survived (re-run exit 0 in {self.rerun_seconds:.1f}s; store, records and "
            "lockfile whole; digests equal)"
        )


@dataclass
class Harness:
    """The demo copy, its registry, the reference run's digests and durations."""

    base: Path
    seed: int
    say: Callable[[str], None] = print
    demo: Demo = field(init=False)
    registry: Registry = field(init=False)
    reference: dict[str, dict[str, str]] = field(default_factory=dict)
    durations: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.registry = Registry(self.base / "registry")
        self.registry.start(empty=True)
        machine = read_env_file(default_cache_dir() / "env")  # the pinned crane and cosign
        self.demo = make_demo(
            self.base,
            **{n: machine[n] for n in MACHINE_ENV if n in machine and n not in os.environ},
            BUILDKIT_CACHE=str(self.base / "cache"),  # a kill never damages the shared cache
            BUILDKIT_REGISTRY=self.registry.address,
            BUILDKIT_REPOSITORY=f"kill-rerun-{uuid.uuid4().hex[:8]}",
            COSIGN_PASSWORD=secrets.token_hex(16),  # for a cosign key pair of its own
        )
        self.demo.ok("keygen", "--cosign")  # publish signs and attests as it does by default

    def close(self) -> None:
        self.registry.stop()
        repository = self.demo.env["BUILDKIT_REPOSITORY"]
        for _arch, oci, _platform in ARCHS:  # what build loaded into the engine
            docker("rmi", "-f", f"localhost/{repository}/demo:latest-{oci}")

    def undisturbed(self) -> None:
        """The reference run: each command from its reset state, timed."""
        for command in COMMANDS:
            self.reset(command)
            started = time.monotonic()
            done = self.run(command)
            self.durations[command] = time.monotonic() - started
            if done.returncode != 0:
                raise RuntimeError(f"undisturbed {command} failed:\n{done.stderr[-2000:]}")
            self.reference[command] = digests(self.demo.root, command)
            self.say(f"undisturbed {command}: {self.durations[command]:.1f}s")

    def reset(self, command: str) -> None:
        """Undo ``command``'s outputs so that it has all its work ahead of it, after making
        sure what it needs is there (an earlier kill's command may have wiped it: a lock
        iteration removes the build records publish reads)."""
        root = self.demo.root
        ready = len(self.reference) == len(COMMANDS)  # after the undisturbed run
        for before in COMMANDS[: COMMANDS.index(command)] if ready else ():
            done = self.run(before)  # a no-op when nothing is missing
            if done.returncode != 0:
                raise RuntimeError(f"{before} before {command} failed:\n{done.stderr[-2000:]}")
        if command == "lock":
            (root / LOCKFILE).unlink(missing_ok=True)
            for arch, _oci, _platform in ARCHS:
                shutil.rmtree(root / "packages" / arch, ignore_errors=True)
            shutil.rmtree(self.base / "cache" / "resolutions", ignore_errors=True)
        if command in {"lock", "build"}:
            shutil.rmtree(root / "dist", ignore_errors=True)
        if command == "publish":
            self.registry.start(empty=True)
            for path in (root / "dist" / "demo").glob("publish.json"):
                path.unlink()

    def run(self, command: str) -> subprocess.CompletedProcess[str]:
        return self.demo.buildkit(command, timeout=RUN_TIMEOUT)

    def kill(self, number: int, rng: random.Random, command: str | None = None) -> Kill:
        """Kill ``command`` (default: one chosen by ``rng``) at a random point, re-run it."""
        command = command or rng.choice(COMMANDS)
        self.reset(command)
        delay = rng.uniform(0.05, 0.95) * self.durations[command]
        delivered, elapsed, code = _run_and_kill(self.demo, command, delay)
        if not delivered:
            if code != 0:
                raise RuntimeError(f"{command} failed undisturbed (exit {code})")
            self.durations[command] = elapsed  # it runs faster now: aim within that
        problems = [f"after the kill: {p}" for p in self.damage()]
        started = time.monotonic()
        done = self.run(command)
        seconds = time.monotonic() - started
        if done.returncode != 0:
            tail = " | ".join(done.stderr.strip().splitlines()[-3:])
            problems.append(f"re-run exited {done.returncode}: {tail}")
        else:
            problems.extend(f"after the re-run: {p}" for p in self.damage())
            problems.extend(self.differences(command))
        return Kill(
            number=number,
            command=command,
            delay=delay,
            delivered=delivered,
            problems=tuple(problems),
            rerun_seconds=seconds,
        )

    def damage(self) -> list[str]:
        return check_store(self.demo.root) + whole_documents(self.demo.root)

    def differences(self, command: str) -> list[str]:
        try:
            now = digests(self.demo.root, command)
        except (OSError, ValueError, KeyError) as exc:
            return [f"cannot read the re-run's outputs: {exc!r}"]
        expected = self.reference[command]
        return [
            f"{name}: {now.get(name)} != undisturbed {expected.get(name)}"
            for name in sorted(set(now) | set(expected))
            if now.get(name) != expected.get(name)
        ]


def _run_and_kill(demo: Demo, command: str, delay: float) -> tuple[bool, float, int]:
    """Start ``command``, SIGKILL its whole session after ``delay`` seconds. (True when it was
    still running then, the seconds it ran, its exit status)."""
    started = time.monotonic()
    with _session([sys.executable, "-m", "buildkit", command], demo.root, demo.env) as process:
        try:
            code = process.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            code = process.wait(timeout=60)
            return True, time.monotonic() - started, code
        return False, time.monotonic() - started, code


@contextmanager
def _session(
    argv: list[str], cwd: Path, env: Mapping[str, str]
) -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen(
        argv,
        cwd=cwd,
        env=dict(env),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=60)


@dataclass(frozen=True, kw_only=True)
class Totals:
    tried: int
    survived: int
    kills: tuple[Kill, ...]

    def line(self) -> str:
        by_command = ", ".join(
            f"{command} {sum(k.survived for k in self.kills if k.command == command)}/"
            f"{sum(k.delivered for k in self.kills if k.command == command)}"
            for command in COMMANDS
        )
        return f"kills survived: {self.survived} of {self.tried} tried ({by_command})"


def kill_and_rerun(
    iterations: int,
    seed: int,
    *,
    base: Path,
    say: Callable[[str], None] = print,
    commands: tuple[str, ...] = (),
) -> Totals:
    """The reference run, then ``iterations`` kills chosen by ``seed`` (``commands``: kill
    these in turn instead of random ones)."""
    rng = random.Random(seed)
    harness = Harness(base=base, seed=seed, say=say)
    try:
        harness.undisturbed()
        kills = []
        for number in range(1, iterations + 1):
            chosen = commands[(number - 1) % len(commands)] if commands else None
            kill = harness.kill(number, rng, chosen)
            say(kill.line(iterations))
            kills.append(kill)
    finally:
        harness.close()
    return Totals(
        tried=sum(k.delivered for k in kills),
        survived=sum(k.survived for k in kills),
        kills=tuple(kills),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="scripts/kill-rerun",
        description="SIGKILL lock, build and publish of a demo copy at random points, re-run "
        "each and check the store, the records, the lockfile and the digests.",
    )
    parser.add_argument("iterations", type=int, metavar="ITERATIONS")
    parser.add_argument("seed", type=int, metavar="SEED")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args(argv)
    if args.iterations < 1:
        parser.error("ITERATIONS must be at least 1")
    base = Path(tempfile.mkdtemp(prefix="kill-rerun-"))
    try:
        totals = kill_and_rerun(args.iterations, args.seed, base=base)
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
    print(totals.line())
    return 0 if totals.survived == totals.tried else 1


if __name__ == "__main__":
    sys.exit(main())
