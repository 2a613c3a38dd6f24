"""The HTTP front end: ``/`` (a page), ``/api/password`` (JSON) and ``/healthz``.

Runs on the standard library's threading HTTP server. In the image it is PID 1, and PID 1
ignores SIGTERM unless it installs a handler, so :func:`main` installs one: ``docker stop``
then shuts the server down at once instead of waiting for SIGKILL.
"""

from __future__ import annotations

import argparse
import contextlib
import html
import json
import os
import signal
import sys
import threading
from collections.abc import Sequence
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from urllib.parse import parse_qs, urlsplit

from password_generator.generator import (
    ALPHABETS,
    MAX_LENGTH,
    MIN_LENGTH,
    PasswordPolicy,
    PolicyError,
    generate,
    policy_from_query,
)

DEFAULT_PORT = 8080  # unprivileged: the image runs as a non-root user


class PasswordHandler(BaseHTTPRequestHandler):
    server_version = "password-generator/1.0"

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path == "/healthz":
            self._send(HTTPStatus.OK, "text/plain; charset=utf-8", b"ok\n")
        elif url.path in ("/", "/api/password"):
            self._password(url.path, parse_qs(url.query, keep_blank_values=True))
        else:
            self._json(HTTPStatus.NOT_FOUND, {"error": f"no such page: {url.path}"})

    def _password(self, path: str, query: dict[str, list[str]]) -> None:
        try:
            policy = policy_from_query(query)
        except PolicyError as err:
            self._json(HTTPStatus.BAD_REQUEST, {"error": str(err)})
            return
        password = generate(policy)
        if path == "/":
            self._send(HTTPStatus.OK, "text/html; charset=utf-8", render_page(policy, password))
        else:
            body = {"password": password, "length": policy.length, "classes": policy.classes}
            self._json(HTTPStatus.OK, body)

    def _json(self, status: HTTPStatus, body: object) -> None:
        data = json.dumps(body, sort_keys=True).encode() + b"\n"
        self._send(status, "application/json", data)

    def _send(self, status: HTTPStatus, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")  # a password must not sit in a cache
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        self.wfile.write(body)


def render_page(policy: PasswordPolicy, password: str) -> bytes:
    boxes = "".join(
        f'<label><input type="checkbox" name="{name}" value="true"'
        f"{' checked' if getattr(policy, name) else ''}> {name}</label> "
        for name in ALPHABETS
    )
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Password generator</title></head>
<body>
<h1>Password generator</h1>
<p><code id="password">{html.escape(password)}</code></p>
<form method="get" action="/">
<label>Length <input type="number" name="length" min="{MIN_LENGTH}" max="{MAX_LENGTH}"
 value="{policy.length}"></label>
{boxes}
<button type="submit">Generate</button>
</form>
</body></html>
"""
    return page.encode()


def make_server(host: str, port: int) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer((host, port), PasswordHandler)
    server.daemon_threads = True  # a slow client must not hold up shutdown
    return server


def stop_on_sigterm(server: ThreadingHTTPServer) -> None:
    """SIGTERM ends serve_forever(). The handler runs in the serving thread, and shutdown()
    waits for that loop to end, so it must be called from another thread."""

    def handler(signum: int, frame: FrameType | None) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, handler)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="password-generator", description="Serve random passwords over HTTP."
    )
    parser.add_argument("--host", default=os.environ.get("HOST", "0.0.0.0"))  # noqa: S104
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", DEFAULT_PORT)))
    args = parser.parse_args(argv)
    with make_server(args.host, args.port) as server:
        stop_on_sigterm(server)
        print(f"serving on http://{args.host}:{server.server_port}/", file=sys.stderr, flush=True)
        with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C when run by hand
            server.serve_forever()
    return 0
