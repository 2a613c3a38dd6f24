"""The container engine: the ``docker`` CLI (honouring DOCKER_HOST) or ``podman``.

Detection, image presence and digest checks, and running the command lines that
``buildkit.toolchain.spec`` builds. Every failure is one line saying what to do.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import shutil
import signal
import socket
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from types import FrameType

from buildkit.errors import Terminated, ToolchainError, ToolFailedError
from buildkit.imageref import ImageRef, pinned_digest
from buildkit.redaction import reason_line, redact
from buildkit.toolchain import spec as cmd
from buildkit.toolchain.containers import (
    RUN_LABEL,
    RUNNING,
    ContainerState,
    StoppingError,
    named_runs_needed,
    orphans,
    parse_state,
    run_owner,
)
from buildkit.toolchain.process import Completed, Runner, run_process, shorten, tail
from buildkit.toolchain.settings import ToolSettings
from buildkit.toolchain.spec import ContainerSpec

ENGINES = ("docker", "podman")
DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock"
SETUP_HINT = "start it, run scripts/setup, or set DOCKER_HOST (source ~/.cache/buildkit/env)"
INSTALL_HINT = "install podman or docker (scripts/setup installs podman and starts it)"
PROBE_TIMEOUT = 30.0
PULL_TIMEOUT = 600.0
TOOL_TIMEOUT = 3600.0  # one apko, melange, crane or cosign run ([limits] tool_timeout)
TIMEOUT_HINT = (
    "buildkit stopped and removed its container; if the tool is just slow, raise "
    "BUILDKIT_TOOL_TIMEOUT or [limits] tool_timeout in buildkit.toml"
)
_DIGEST = re.compile(r"\bdigest: (sha256:[0-9a-f]{64})")
_LOADED = re.compile(r"^Loaded image(?:\(s\))?: *(.+)$", re.MULTILINE)
Which = Callable[[str], str | None]


class Engine:
    """A usable engine. Build one with :meth:`detect`; ``runner`` is replaceable for tests."""

    def __init__(
        self,
        *,
        name: str,
        binary: str,
        version: str,
        server: str = "",
        runner: Runner = run_process,
        tool_timeout: float = TOOL_TIMEOUT,
    ) -> None:
        self.name = name  # "docker" (the CLI, whatever serves it) or "podman"
        self.tool_timeout = tool_timeout  # seconds for one tool run unless a call says
        self.binary = binary
        self.server = server or name  # what answers: "Docker Engine", "Podman Engine", "podman"
        self._version = version
        self._runner = runner
        self._rootless: bool | None = None
        self.named_runs = named_runs_needed(name, self.server, version)
        self._orphans_checked = False

    def __repr__(self) -> str:
        return f"Engine(name={self.name!r}, server={self.server!r}, version={self._version!r})"

    # --- detection ---------------------------------------------------------------------------

    @classmethod
    def detect(
        cls,
        config: ToolSettings,
        *,
        runner: Runner = run_process,
        which: Which = shutil.which,
        env: Mapping[str, str] | None = None,
    ) -> Engine:
        """``config.engine`` if set, else the docker CLI whose daemon answers, else podman."""
        env = os.environ if env is None else env
        names = ENGINES if config.engine == "auto" else (config.engine,)
        failures: list[str] = []
        for name in names:
            binary = which(name)
            if binary is None:
                continue
            probe = _probe_docker if name == "docker" else _probe_podman
            found = probe(binary, runner)
            if isinstance(found, Engine):
                found.tool_timeout = config.tool_timeout
                return found
            where = (
                f" at {env.get('DOCKER_HOST') or DEFAULT_DOCKER_HOST}" if name == "docker" else ""
            )
            failures.append(f"{name} does not answer{where}: {found}")
        if not failures:
            missing = " and ".join(names)
            what = "is" if len(names) == 1 else "are"
            raise ToolchainError(
                f"no container engine: {missing} {what} not on PATH", hint=INSTALL_HINT
            )
        raise ToolchainError("; ".join(failures), hint=SETUP_HINT)

    def version(self) -> str:
        """The engine server's version (for podman: podman's own)."""
        return self._version

    def rootless(self) -> bool:
        """True when container root is the invoking user (rootless podman or docker)."""
        if self._rootless is None:
            if self.name == "podman":
                done = self._call([self.binary, "info", "--format", "{{.Host.Security.Rootless}}"])
                self._rootless = done.stdout.strip() == "true"
            else:
                done = self._call([self.binary, "info", "--format", "{{json .SecurityOptions}}"])
                self._rootless = "rootless" in done.stdout
        return self._rootless

    # --- images --------------------------------------------------------------------------------

    def repo_digests(self, ref: ImageRef) -> tuple[str, ...] | None:
        """The local image's RepoDigests, or None when the engine does not have it."""
        done = self._call(cmd.inspect_argv(self.binary, ref.run_ref, "{{json .RepoDigests}}"))
        if not done.ok:
            return None
        try:
            value = json.loads(done.stdout or "null")
        except json.JSONDecodeError:
            return ()
        return tuple(str(v) for v in value or ())

    def ensure_image(self, ref: ImageRef, *, offline: bool = False) -> None:
        """Make sure ``ref`` is present (pulling unless offline) and carries its pinned digest."""
        digests = self.repo_digests(ref)
        if digests is None:
            if offline:
                raise ToolchainError(
                    f"image {ref} is not present and offline mode forbids pulling it",
                    hint=f"pull it while online ({self.name} pull {ref.run_ref}) "
                    "or run scripts/setup",
                )
            pulled = self._runner(cmd.pull_argv(self.binary, ref.run_ref), timeout=PULL_TIMEOUT)
            if not pulled.ok:
                raise ToolchainError(
                    f"cannot pull {ref}: {redact(_without_ref(pulled.error_line(), ref))}",
                    hint="check that the registry is reachable (scripts/setup serves "
                    "127.0.0.1:5000) and the pin in buildkit.toml or BUILDKIT_*_IMAGE",
                )
            digests = self.repo_digests(ref)
            if digests is None:
                raise ToolchainError(f"{self.name} pulled {ref} but cannot find it afterwards")
        check_digest(ref, digests)

    def load(self, tarball: Path) -> list[str]:
        """``docker load`` a tarball; the image names it reports (podman adds ``localhost/``)."""
        done = self.check(cmd.load_argv(self.binary, tarball), what=f"loading {tarball}")
        names: list[str] = []
        for match in _LOADED.finditer(done.stdout + "\n" + done.stderr):
            names += [n.strip() for n in match.group(1).split(",") if n.strip()]
        return names

    def tag(self, source: str, target: str) -> None:
        self.check(cmd.tag_argv(self.binary, source, target), what=f"tagging {target}")

    def push(self, ref: str, *, insecure: bool = False) -> str:
        """Push ``ref``; returns the manifest digest the registry stored."""
        if self.name == "podman":
            with tempfile.TemporaryDirectory() as tmp:
                digest_file = Path(tmp) / "digest"
                argv = cmd.push_argv(
                    self.binary, ref, tls_verify=not insecure, digest_file=digest_file
                )
                self.check(argv, what=f"pushing {ref}", timeout=PULL_TIMEOUT)
                return digest_file.read_text(encoding="utf-8").strip()
        done = self.check(
            cmd.push_argv(self.binary, ref), what=f"pushing {ref}", timeout=PULL_TIMEOUT
        )
        found = _DIGEST.findall(done.stdout + done.stderr)
        if not found:
            raise ToolchainError(f"{self.name} push {ref} did not report a digest")
        return str(found[-1])

    def manifest_cli(self, which: Which = shutil.which) -> str:
        """The docker CLI for ``docker manifest`` (client-side; it needs no engine)."""
        if self.name == "docker":
            return self.binary
        binary = which("docker")
        if binary is None:
            raise ToolchainError(
                "publishing a manifest list needs the docker CLI (docker manifest)",
                hint="install the docker CLI (a client is enough)",
            )
        return binary

    # --- running -------------------------------------------------------------------------------

    def run_argv(self, spec: ContainerSpec) -> list[str]:
        """The run line for ``spec`` (with ``--rm``: stable, for display and action keys).
        :meth:`run` executes it with a unique ``--name`` instead; see ``_run_container``."""
        return cmd.run_argv(self.binary, spec)

    def run(self, spec: ContainerSpec, *, log: Path, timeout: float | None = None) -> None:
        """Run ``spec`` with all output in ``log``; ToolFailedError (with the tail) on failure.
        ``timeout``: seconds (default the engine's ``tool_timeout``); past it the container is
        stopped and removed, and the error says which limit it hit."""
        done = self._run_container(spec, log=log, timeout=timeout or self.tool_timeout)
        if done.timed_out is not None:
            raise _timed_out(spec, done.timed_out, log=log)
        if not done.ok:
            raise _tool_failed(spec, done.returncode, log=log, tail_text=tail(log))

    def capture(self, spec: ContainerSpec, *, timeout: float = PROBE_TIMEOUT) -> str:
        """Run ``spec`` and return its stdout (short queries such as ``apko version``; pass
        ``timeout=engine.tool_timeout`` for a tool's real work)."""
        done = self._run_container(spec, log=None, timeout=timeout)
        if done.timed_out is not None:
            raise _timed_out(spec, done.timed_out, log=None)
        if not done.ok:
            raise _tool_failed(
                spec, done.returncode, log=None, tail_text=done.stderr or done.stdout
            )
        return done.stdout

    def check(
        self,
        argv: Sequence[str],
        *,
        what: str,
        log: Path | None = None,
        timeout: float | None = None,
    ) -> Completed:
        """Run an engine command (load, tag, push, manifest ...); ToolFailedError on failure."""
        done = self._runner(argv, log=log, timeout=timeout)
        if done.ok:
            return done
        if log is None:
            raise ToolFailedError(
                f"{what} failed: {done.error_line()}",
                returncode=done.returncode,
                tail=done.stderr or done.stdout,
            )
        raise ToolFailedError(
            f"{what} failed with exit status {done.returncode}",
            where=str(log),
            returncode=done.returncode,
            log=str(log),
            tail=tail(log),
        )

    def _run_container(
        self, spec: ContainerSpec, *, log: Path | None, timeout: float | None
    ) -> Completed:
        """Every container is named and labelled (``RUNNING`` knows it while it runs), so a
        timeout or a signal can remove it; see ``buildkit.toolchain.containers``."""
        if not self.named_runs:
            return self._run_once(spec, log=log, timeout=timeout)[0]
        self._remove_orphans()  # elsewhere --rm removes a finished container of a killed buildkit
        done, state = self._run_once(spec, log=log, timeout=timeout)
        settled = done.ok or done.timed_out is not None or RUNNING.closed
        if settled or not (state is None or state.never_started):
            return done  # (a stopping buildkit starts no other container)
        # The CLI failed and the engine never started the container: the tool did not run, so
        # one more attempt is safe (podman's create and start can fail under load).
        first = _read(log)
        again, state = self._run_once(spec, log=log, timeout=timeout)
        if not again.ok and state is not None and state.never_started:
            # The CLI's own status for that varies (podman: 1, "received 409"); say it the
            # engines' way, 125: the engine could not start the container.
            again = dataclasses.replace(again, returncode=125)
        if log is not None:
            note = f"# buildkit: the engine never started the container ({done.error_line()})\n"
            log.write_text(f"{first}{note}{_read(log)}", encoding="utf-8")
            return again
        earlier = f"{done.stderr.rstrip()}\n" if done.stderr.strip() else ""
        return dataclasses.replace(again, stderr=f"{earlier}{again.stderr}")

    def _run_once(
        self, spec: ContainerSpec, *, log: Path | None, timeout: float | None
    ) -> tuple[Completed, ContainerState | None]:
        """One container; with named runs, the engine's record of it settles the result."""
        name = f"buildkit-{uuid.uuid4().hex[:16]}"
        argv = cmd.run_argv(
            self.binary,
            spec,
            name=name,
            labels={RUN_LABEL: run_owner()},
            remove=not self.named_runs,
        )
        try:
            RUNNING.add(self.binary, name)
        except StoppingError as exc:
            raise ToolchainError(str(exc)) from None
        removed = False
        try:
            done = self._runner(argv, log=log, timeout=timeout)
            if not self.named_runs:
                removed = done.timed_out is None  # --rm removed it, unless the CLI was killed
                return done, None
            if done.timed_out is not None:
                return done, None
            state = parse_state(self._call(cmd.state_argv(self.binary, name)).stdout)
            return self._settle(done, state, name=name, log=log), state
        finally:
            if not removed:  # also stops a container whose CLI a timeout or signal killed
                self._call(cmd.remove_container_argv(self.binary, name))
            RUNNING.discard(name)

    def _settle(
        self, done: Completed, state: ContainerState | None, *, name: str, log: Path | None
    ) -> Completed:
        """The status the engine recorded wins over the CLI's: the CLI says 0 for any ``run``
        (containers/podman#18889), and may fail after the tool ran (an attach or wait lost);
        then the tool's output is read back from the engine."""
        if state is None or not state.ran or state.exit_code == done.returncode:
            return done
        if done.ok:
            return dataclasses.replace(done, returncode=state.exit_code)
        output = self._call(cmd.logs_argv(self.binary, name))
        lost = f"# buildkit: the engine CLI failed ({done.error_line()}) after the tool ran; "
        if log is not None:
            with log.open("a", encoding="utf-8") as handle:
                handle.write(f"{lost}its output, from the engine:\n{output.stdout}{output.stderr}")
            return dataclasses.replace(done, returncode=state.exit_code)
        return dataclasses.replace(
            done, returncode=state.exit_code, stdout=output.stdout, stderr=output.stderr
        )

    def _remove_orphans(self) -> None:
        """Once per engine: remove containers left by buildkit processes that were killed."""
        if self._orphans_checked:
            return
        self._orphans_checked = True
        listing = self._call(cmd.list_labelled_argv(self.binary, RUN_LABEL))
        for name in orphans(listing.stdout, host=socket.gethostname()):
            self._call(cmd.remove_container_argv(self.binary, name))

    def _call(self, argv: Sequence[str]) -> Completed:
        return self._runner(argv, timeout=PROBE_TIMEOUT)


def check_digest(ref: ImageRef, repo_digests: Sequence[str]) -> None:
    """The engine's image must carry the pinned digest among its RepoDigests."""
    if ref.digest is None:
        return
    if any((pinned_digest(d) or d) == ref.digest for d in repo_digests):
        return
    have = ", ".join(pinned_digest(d) or d for d in repo_digests) or "none"
    raise ToolchainError(
        f"image {ref.name} is present with digest {have}, not the pinned {ref.digest}",
        hint=f"remove the local copy and pull again, or fix the pin for {ref.name}",
    )


def _without_ref(line: str, ref: ImageRef) -> str:
    """Engines repeat the reference and their own prefixes in errors; keep the reason."""
    _, found, after = line.rpartition(ref.run_ref)
    # What follows the reference may still be quoting it: `(orig: "REF") for compat API: ...`.
    reason = (after.lstrip(" :\")'") or line) if found else line
    for prefix in ("Error response from daemon: ", "Error: "):
        reason = reason.removeprefix(prefix)
    return reason


def _tool_failed(
    spec: ContainerSpec, returncode: int, *, log: Path | None, tail_text: str
) -> ToolFailedError:
    tool = spec.image.name.rsplit("/", 1)[-1]
    verb = spec.args[0] if spec.args else "run"
    # 125-127 come from the engine itself: the container never ran the tool, so the engine's
    # own last line says why (a mount, the image, a name), and it belongs in the message.
    hint = {
        125: "the engine could not start the container (image, mounts or flags)",
        126: "the container's command could not be executed",
        127: "the container's command was not found",
    }.get(returncode)
    reason = _engine_reason(tail_text) if hint else ""
    return ToolFailedError(
        f"{tool} {verb} failed with exit status {returncode}{reason}",
        where=str(log) if log else None,
        hint=hint,
        returncode=returncode,
        log=str(log) if log else None,
        tail=tail_text,
    )


def _engine_reason(text: str) -> str:
    """``": <the engine's last line>"``, or "" when it said nothing."""
    line = reason_line(text)
    return f": {shorten(line)}" if line else ""


def _timed_out(spec: ContainerSpec, seconds: float, *, log: Path | None) -> ToolFailedError:
    tool = spec.image.name.rsplit("/", 1)[-1]
    verb = spec.args[0] if spec.args else "run"
    return ToolFailedError(
        f"{tool} {verb} did not finish within the {seconds:g} s tool timeout",
        where=str(log) if log else None,
        hint=TIMEOUT_HINT,
        returncode=124,
        log=str(log) if log else None,
        tail=tail(log) if log else "",
    )


def stop_running_containers(runner: Runner = run_process) -> list[str]:
    """Remove every container this process started that still runs, and start no more
    (``RUNNING`` is closed); the names removed."""
    stopped = RUNNING.close()
    for binary, name in stopped:
        runner(cmd.remove_container_argv(binary, name), timeout=PROBE_TIMEOUT)
    return [name for _binary, name in stopped]


@contextlib.contextmanager
def containers_stopped_on_signals(runner: Runner = run_process) -> Iterator[None]:
    """While the block runs, SIGTERM and SIGINT first remove the containers buildkit started
    (``stop_running_containers``), then raise :class:`Terminated` / KeyboardInterrupt in the
    main thread as usual. Outside the main thread (signals cannot be caught there) a no-op."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stop_running_containers(runner)
        if signum == signal.SIGTERM:
            raise Terminated(signum)
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        RUNNING.reopen()


def _probe_docker(binary: str, runner: Runner) -> Engine | str:
    """An Engine when the docker daemon answers, else the reason it does not."""
    done = runner([binary, "version", "--format", "{{json .Server}}"], timeout=PROBE_TIMEOUT)
    server: object = None
    if done.ok:
        try:
            server = json.loads(done.stdout or "null")
        except json.JSONDecodeError:
            server = None
    if not isinstance(server, dict) or not server.get("Version"):
        return done.error_line() if not done.ok else "no server version in `docker version`"
    components = server.get("Components") or [{}]
    label = str(components[0].get("Name") or "Docker Engine")
    return Engine(
        name="docker", binary=binary, version=str(server["Version"]), server=label, runner=runner
    )


def _probe_podman(binary: str, runner: Runner) -> Engine | str:
    done = runner([binary, "info", "--format", "{{.Version.Version}}"], timeout=PROBE_TIMEOUT)
    if not done.ok or not done.stdout.strip():
        return done.error_line()
    return Engine(
        name="podman", binary=binary, version=done.stdout.strip(), server="podman", runner=runner
    )


def _read(log: Path | None) -> str:
    """A log's text so far ("" without one, or when it cannot be read)."""
    if log is None:
        return ""
    try:
        return log.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
