"""A hostile HTTP server on loopback (a random free port): what an attacker or a broken mirror
serves, for the tests and benchmarks of bounded network reads.

Every path not given a :class:`Hostile` behaviour is served honestly from a folder (a real
signed repository made by tests/helpers/repos.py); the hostile paths answer with one of:

- ``endless``: 200 without a length, then bytes forever (until the client hangs up);
- ``stalled``: 200 with a length, then one byte every ``interval`` seconds (5 s: the audit's);
- ``stalled-headers``: the status line and headers themselves trickle, one byte per interval;
- ``silent``: accepts the connection and never says anything;
- ``oversized``: announces ``size`` bytes in Content-Length and sends them;
- ``tampered``: the honest file with one byte flipped (at ``offset``, default the middle).

The server stops every trickle at once when its block ends (``serving_hostile``).
"""

from __future__ import annotations

import itertools
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal

Mode = Literal["endless", "stalled", "stalled-headers", "silent", "oversized", "tampered"]
MODES: tuple[Mode, ...] = (
    "endless",
    "stalled",
    "stalled-headers",
    "silent",
    "oversized",
    "tampered",
)
_CHUNK = bytes(range(256)) * 256  # 64 KiB of non-trivial bytes


@dataclass(frozen=True)
class Hostile:
    mode: Mode
    interval: float = 5.0  # stalled modes: seconds between two bytes
    size: int = 64 << 20  # oversized: the body's length (announced and sent)
    offset: int | None = None  # tampered: which byte to flip (default: the middle)


@dataclass
class HostileServer:
    url: str = ""
    root: Path | None = None  # honest files are served from here
    routes: dict[str, Hostile] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)
    sent: dict[str, int] = field(default_factory=dict)  # path -> body bytes written
    stop: threading.Event = field(default_factory=threading.Event)

    def honest(self, path: str) -> bytes | None:
        if self.root is None:
            return None
        target = (self.root / path.lstrip("/")).resolve()
        if not target.is_relative_to(self.root.resolve()) or not target.is_file():
            return None
        return target.read_bytes()


def _handler(state: HostileServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"  # close-delimited bodies: "endless" needs no length

        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            state.requests.append(self.path)
            hostile = state.routes.get(self.path)
            honest = state.honest(self.path)
            with suppress(OSError):  # the client hanging up is what a hostile server expects
                if hostile is None:
                    self._send(honest)
                else:
                    getattr(self, "_" + hostile.mode.replace("-", "_"))(hostile, honest)

        def _send(self, body: bytes | None) -> None:
            if body is None:
                self.send_error(404)
                return
            self._head(len(body))
            self.wfile.write(body)

        def _head(self, length: int | None) -> None:
            self.send_response(200)
            if length is not None:
                self.send_header("Content-Length", str(length))
            self.end_headers()

        def _count(self, n: int) -> None:
            state.sent[self.path] = state.sent.get(self.path, 0) + n

        def _endless(self, _hostile: Hostile, _honest: bytes | None) -> None:
            self._head(None)
            while not state.stop.is_set():
                self.wfile.write(_CHUNK)
                self._count(len(_CHUNK))

        def _stalled(self, hostile: Hostile, honest: bytes | None) -> None:
            body = honest or b"x" * 1024
            self._head(len(body))
            self.wfile.flush()
            for byte in itertools.cycle(body):
                if state.stop.wait(hostile.interval):
                    return
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
                self._count(1)

        def _stalled_headers(self, hostile: Hostile, _honest: bytes | None) -> None:
            for byte in itertools.cycle(b"HTTP/1.0 200 OK\r\nX-Slow: " + b"a" * 4096):
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
                if state.stop.wait(hostile.interval):
                    return

        def _silent(self, _hostile: Hostile, _honest: bytes | None) -> None:
            state.stop.wait()

        def _oversized(self, hostile: Hostile, _honest: bytes | None) -> None:
            self._head(hostile.size)
            left = hostile.size
            while left > 0 and not state.stop.is_set():
                piece = _CHUNK[: min(left, len(_CHUNK))]
                self.wfile.write(piece)
                self._count(len(piece))
                left -= len(piece)

        def _tampered(self, hostile: Hostile, honest: bytes | None) -> None:
            if honest is None:
                self.send_error(404)
                return
            body = bytearray(honest)
            at = len(body) // 2 if hostile.offset is None else hostile.offset
            body[at] ^= 0xFF
            self._send(bytes(body))

    return Handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client hanging up on a hostile answer is the expected end


@contextmanager
def serving_hostile(root: Path | None = None) -> Iterator[HostileServer]:
    """A HostileServer on a free loopback port until the block ends; honest files from
    ``root``; set ``routes[path]`` to make a path hostile."""
    state = HostileServer(root=root)
    httpd = _Server(("127.0.0.1", 0), _handler(state))
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.stop.set()
        httpd.shutdown()
        httpd.server_close()


def free_port() -> int:
    """A loopback port nobody listens on (for "connection refused" cases)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
