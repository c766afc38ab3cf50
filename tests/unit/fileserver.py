"""An in-process HTTP file server on 127.0.0.1 playing "upstream" for artifact tests.

Real HTTP over loopback (the standard library's threaded server): it serves a table
of path -> bytes, counts requests per path, and can misbehave on purpose — answer
503 a number of times, or break a body off half-way — so retries and checksum
handling are exercised against real sockets, never against a patched urllib.
"""

from __future__ import annotations

import hashlib
import socket
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from types import TracebackType


class FileServer:
    """Serve `files` (path -> bytes); start() binds a free port, stop() shuts it down."""

    def __init__(self, files: dict[str, bytes] | None = None) -> None:
        self.files: dict[str, bytes] = dict(files or {})
        self.requests: Counter[str] = Counter()
        # path -> number of 503 answers still to give before serving it.
        self.unavailable: Counter[str] = Counter()
        # path -> number of times still to send only half the body and hang up.
        self.truncate: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def base(self) -> str:
        assert self._server is not None, "server not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def url(self, path: str) -> str:
        return f"{self.base}{path}"

    def digest(self, path: str) -> str:
        return hashlib.sha256(self.files[path]).hexdigest()

    def start(self) -> FileServer:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                with owner._lock:
                    owner.requests[self.path] += 1
                    if owner.unavailable[self.path] > 0:
                        owner.unavailable[self.path] -= 1
                        self._answer(503, b"try later")
                        return
                    body = owner.files.get(self.path)
                    cut = owner.truncate[self.path] > 0
                    if cut:
                        owner.truncate[self.path] -= 1
                if body is None:
                    self._answer(404, b"not here")
                elif cut:
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(body)))
                    self.send_header("Connection", "close")
                    self.end_headers()
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                else:
                    self._answer(200, body)

            def _answer(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FileServer:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
