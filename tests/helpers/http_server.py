"""A loopback HTTP server serving files from memory, with failures on demand."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


@dataclass
class Served:
    body: bytes
    etag: str | None = None
    last_modified: str | None = None


@dataclass
class FakeServer:
    url: str = ""
    files: dict[str, Served] = field(default_factory=dict)
    failures: list[int | str] = field(default_factory=list)  # status codes or "reset"
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    def paths(self) -> list[str]:
        return [path for path, _headers in self.requests]

    def serve_tree(self, root: Path, prefix: str = "") -> None:
        for path in sorted(root.rglob("*")):
            if path.is_file():
                rel = path.relative_to(root).as_posix()
                self.files[f"{prefix}/{rel}"] = Served(path.read_bytes(), etag=f'"{rel}-1"')


def _handler(state: FakeServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            state.requests.append((self.path, dict(self.headers.items())))
            if state.failures:
                failure = state.failures.pop(0)
                if failure == "reset":
                    self.close_connection = True
                    return  # no response at all: the client sees the connection drop
                self.send_error(int(failure))
                return
            served = state.files.get(self.path)
            if served is None:
                self.send_error(404)
                return
            if self._not_modified(served):
                self.send_response(304)
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(served.body)))
            if served.etag:
                self.send_header("ETag", served.etag)
            if served.last_modified:
                self.send_header("Last-Modified", served.last_modified)
            self.end_headers()
            self.wfile.write(served.body)

        def _not_modified(self, served: Served) -> bool:
            etag = self.headers.get("If-None-Match")
            if etag is not None and served.etag:
                return etag == served.etag
            since = self.headers.get("If-Modified-Since")
            return since is not None and since == served.last_modified

    return Handler


@contextmanager
def serving() -> Iterator[FakeServer]:
    """A FakeServer listening on a free loopback port until the block ends."""
    state = FakeServer()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
