"""A loopback HTTP proxy in front of a real server that breaks on command.

Modes: ``"pass"`` forwards every request; ``"garbage"`` answers 200 with a body that is not JSON;
``"die"`` forwards ``after`` requests, then drops every connection without an answer, as a server
that died mid-run. ``forwarded`` counts the requests that reached the server.
"""

from __future__ import annotations

import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FaultProxy(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, upstream: str, mode: str, after: int = 0) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.upstream, self.mode, self.after = upstream.rstrip("/"), mode, after
        self.forwarded = 0
        self.lock = threading.Lock()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: FaultProxy

    def log_message(self, *_args: object) -> None:
        pass

    def _relay(self, method: str) -> None:
        proxy = self.server
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if proxy.mode == "garbage":
            self._answer(200, b"<html>upstream error</html>", "text/html")
            return
        with proxy.lock:
            dead = proxy.mode == "die" and proxy.forwarded >= proxy.after
            if not dead:
                proxy.forwarded += 1
        if dead:
            self.close_connection = True
            self.connection.close()
            return
        headers = {
            k: v for k, v in self.headers.items() if k.lower() in ("authorization", "content-type")
        }
        request = urllib.request.Request(
            proxy.upstream + self.path, data=body or None, headers=headers, method=method
        )
        try:
            with urllib.request.urlopen(request, timeout=600) as response:
                self._answer(response.status, response.read(), response.headers["Content-Type"])
        except urllib.error.HTTPError as error:
            self._answer(error.code, error.read(), "application/json")

    def _answer(self, status: int, payload: bytes, kind: str | None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind or "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self._relay("GET")

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        self._relay("POST")


@contextmanager
def fault_proxy(upstream: str, mode: str, after: int = 0) -> Iterator[FaultProxy]:
    """Run a :class:`FaultProxy` in a thread for the ``with`` block."""
    proxy = FaultProxy(upstream, mode, after)
    thread = threading.Thread(target=proxy.serve_forever, daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        proxy.shutdown()
        proxy.server_close()
