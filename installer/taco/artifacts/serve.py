"""Serve a mirror directory read-only over HTTP (`taco mirror serve`).

A threaded server from the standard library: GET and HEAD only, nothing outside the
directory (no `..`, no symlinks leading out), no hidden files (the temporary
`.NAME.XXXX.part` files of a sync in progress). For a long-lived mirror, nginx over
the same directory does the same job (docs/artifacts.md).
"""

from __future__ import annotations

import functools
import html
import io
import os
import socket
import sys
import urllib.parse
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from taco.errors import UsageError


class MirrorHandler(SimpleHTTPRequestHandler):
    """Static files under one root; everything else is 404 (or 501 for writes)."""

    server_version = "taco-mirror"
    quiet = False

    def send_head(self) -> Any:
        root = Path(self.directory)
        local = Path(self.translate_path(self.path))
        inside = local.is_relative_to(root) and local.resolve().is_relative_to(root)
        if not inside or any(part.startswith(".") for part in local.relative_to(root).parts):
            self.send_error(HTTPStatus.NOT_FOUND, "File not found")
            return None
        return super().send_head()

    def list_directory(self, path: str | os.PathLike[str]) -> io.BytesIO | None:
        """A plain listing without hidden entries (a sync's temporary files)."""
        try:
            names = sorted(entry.name + ("/" if entry.is_dir() else "")
                           for entry in os.scandir(path) if not entry.name.startswith("."))
        except OSError:
            self.send_error(HTTPStatus.NOT_FOUND, "No permission to list directory")
            return None
        title = html.escape(urllib.parse.unquote(self.path.split("?", 1)[0]))
        items = "".join(f'<li><a href="{urllib.parse.quote(name)}">{html.escape(name)}</a></li>'
                        for name in names)
        body = (f"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{title}</title>"
                f"</head><body><h1>{title}</h1><ul>{items}</ul></body></html>\n").encode()
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        return io.BytesIO(body)

    def log_message(self, format: str, *args: Any) -> None:
        if not self.quiet:
            sys.stderr.write(f"{self.address_string()} {format % args}\n")


class _QuietHandler(MirrorHandler):
    quiet = True


def make_server(
    directory: Path, bind: str = "127.0.0.1", port: int = 8080, *, quiet: bool = False
) -> ThreadingHTTPServer:
    """A server bound to bind:port (0 picks a free port); call serve_forever() on it."""
    if not directory.is_dir():
        raise UsageError(f"{directory} is not a directory; give the directory "
                         "`taco mirror sync` filled")
    handler = _QuietHandler if quiet else MirrorHandler
    factory = functools.partial(handler, directory=str(directory.resolve()))
    server_class = _Server6 if ":" in bind else _Server
    try:
        return server_class((bind, port), factory)
    except (OSError, OverflowError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        raise UsageError(f"cannot listen on {bind}:{port}: {reason}; choose another "
                         "--port or --bind") from None


class _Server(ThreadingHTTPServer):
    # Request threads never keep the process alive after Ctrl-C.
    daemon_threads = True


class _Server6(_Server):
    address_family = socket.AF_INET6
