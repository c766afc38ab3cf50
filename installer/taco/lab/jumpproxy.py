"""A small HTTP forward proxy that runs on a lab's jump host (not on this machine).

With --jump, the nodes' networks have no route out, like an isolated site behind a
bastion; apt and downloads reach the outside through this proxy, as they would
through a site's proxy. It handles absolute-form requests (plain http, as apt
sends them) and CONNECT (https). The file is copied into the jump container and
run there with the node image's python3, so it uses the standard library only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from urllib.parse import urlsplit

HEADER_LIMIT = 65536


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while chunk := await reader.read(65536):
            writer.write(chunk)
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


async def _handle(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
    try:
        head = await client_r.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
        client_w.close()
        return
    request_line, _, rest = head.partition(b"\r\n")
    try:
        method, target, version = request_line.decode("latin-1").split(" ")
        if method == "CONNECT":
            host, _, port = target.rpartition(":")
            path = ""
        else:
            url = urlsplit(target)
            host, port = url.hostname or "", str(url.port or 80)
            path = (url.path or "/") + (f"?{url.query}" if url.query else "")
        upstream_r, upstream_w = await asyncio.open_connection(host.strip("[]"), int(port))
    except (ValueError, OSError) as exc:
        client_w.write(f"HTTP/1.1 502 Bad Gateway\r\n\r\n{exc}\r\n".encode())
        client_w.close()
        return
    if method == "CONNECT":
        client_w.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
    else:
        headers = [
            line
            for line in rest.split(b"\r\n")
            if line and not line.lower().startswith(b"proxy-")
        ]
        upstream_w.write(
            f"{method} {path} {version}\r\n".encode("latin-1")
            + b"".join(line + b"\r\n" for line in headers)
            + b"\r\n"
        )
    await asyncio.gather(_pipe(client_r, upstream_w), _pipe(upstream_r, client_w))


async def _serve(address: str, port: int) -> None:
    server = await asyncio.start_server(_handle, address, port, limit=HEADER_LIMIT)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--listen", default="0.0.0.0")  # noqa: S104 - the jump host's nets only
    parser.add_argument("--port", type=int, default=3128)
    args = parser.parse_args()
    asyncio.run(_serve(args.listen, args.port))


if __name__ == "__main__":
    main()
