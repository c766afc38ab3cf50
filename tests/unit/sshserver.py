"""An in-process SSH server for tests: paramiko's server side, real protocol, on 127.0.0.1.

It accepts one public key, answers `exec` requests from a table of canned command
results and, when `forward=True`, opens `direct-tcpip` channels to their destination
(a jump host). It is test infrastructure for the SSH protocol, not a stand-in for
any taco code: the client under test is taco's own, unchanged.
"""

from __future__ import annotations

import contextlib
import io
import select
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import paramiko
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from paramiko import common

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path
    from types import TracebackType

DEBIAN_12_OS_RELEASE = b"""PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
HOME_URL="https://www.debian.org/"
"""


@dataclass(frozen=True)
class Reply:
    """What the server answers to one command."""

    rc: int = 0
    stdout: bytes = b""
    stderr: bytes = b""
    # The first `dropped` runs close the channel without an exit status, as a busy sshd can.
    dropped: int = 0


def debian_node_replies() -> dict[str, Reply]:
    return {"sudo -n true": Reply(0), "cat /etc/os-release": Reply(0, DEBIAN_12_OS_RELEASE)}


def generate_key(path: Path | None = None) -> paramiko.Ed25519Key:
    """A fresh ed25519 key; written (OpenSSH format, 0600) to `path` when given."""
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    )
    if path is not None:
        path.write_bytes(pem)
        path.chmod(0o600)
    return paramiko.Ed25519Key.from_private_key(io.StringIO(pem.decode()))


def known_hosts_line(host: str, port: int, key: paramiko.PKey) -> str:
    name = host if port == 22 else f"[{host}]:{port}"
    return f"{name} {key.get_name()} {key.get_base64()}\n"


@dataclass
class Journal:
    """What the server saw, for assertions (appends are atomic under the GIL)."""

    logins: list[str] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)
    forwarded: list[tuple[str, int]] = field(default_factory=list)


class _Session(paramiko.ServerInterface):
    """Per-connection policy: one key, canned exec replies, optional forwarding."""

    def __init__(self, server: SSHServer) -> None:
        self.server = server
        self.forwards: dict[int, socket.socket] = {}

    def get_allowed_auths(self, username: str) -> str:
        return "publickey"

    def check_auth_publickey(self, username: str, key: paramiko.PKey) -> int:
        if key.asbytes() == self.server.authorized_key.asbytes():
            self.server.journal.logins.append(username)
            return common.AUTH_SUCCESSFUL
        return common.AUTH_FAILED

    def check_channel_request(self, kind: str, chanid: int) -> int:
        if kind == "session":
            return common.OPEN_SUCCEEDED
        return common.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED

    def check_channel_exec_request(self, channel: paramiko.Channel, command: bytes) -> bool:
        text = command.decode()
        self.server.journal.commands.append(text)
        reply = self.server.replies.get(text, Reply(127, stderr=f"{text}: not found\n".encode()))
        if self.server.journal.commands.count(text) <= reply.dropped:
            threading.Thread(target=_drop, args=(channel,), daemon=True).start()
            return True
        threading.Thread(target=_answer, args=(channel, reply), daemon=True).start()
        return True

    def check_channel_direct_tcpip_request(
        self, chanid: int, origin: tuple[str, int], destination: tuple[str, int]
    ) -> int:
        if not self.server.forward:
            return common.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED
        host, port = self.server.aliases.get(destination[0], destination[0]), destination[1]
        try:
            target = socket.create_connection((host, port), timeout=5)
        except OSError:
            return common.OPEN_FAILED_CONNECT_FAILED
        self.server.journal.forwarded.append((destination[0], port))
        self.forwards[chanid] = target
        return common.OPEN_SUCCEEDED


def _drop(channel: paramiko.Channel) -> None:
    # After the exec request is granted, so the client sees an end with no exit status.
    time.sleep(0.05)
    channel.close()


def _answer(channel: paramiko.Channel, reply: Reply) -> None:
    # Output, exit status, then EOF; the client closes the channel when it has read it.
    channel.sendall(reply.stdout)
    channel.sendall_stderr(reply.stderr)
    channel.send_exit_status(reply.rc)
    channel.shutdown_write()


def _relay(channel: paramiko.Channel, target: socket.socket, stop: threading.Event) -> None:
    """Copy bytes both ways between a forwarded channel and its TCP connection."""
    with contextlib.closing(channel), contextlib.closing(target):
        while not stop.is_set():
            sources: list[paramiko.Channel | socket.socket] = [channel, target]
            readable, _, _ = select.select(sources, [], [], 0.2)
            if channel in readable:
                data = channel.recv(32768)
                if not data:
                    return
                target.sendall(data)
            if target in readable:
                data = target.recv(32768)
                if not data:
                    return
                channel.sendall(data)


class SSHServer:
    """Listens on 127.0.0.1 on an ephemeral port until stopped (use as a context manager).

    `aliases` maps names only this server resolves to addresses: a node named that
    way can be reached through this server as a jump host and in no other way.
    """

    def __init__(
        self,
        host_key: paramiko.PKey,
        authorized_key: paramiko.PKey,
        replies: dict[str, Reply] | None = None,
        *,
        forward: bool = False,
        aliases: dict[str, str] | None = None,
    ) -> None:
        self.host_key = host_key
        self.authorized_key = authorized_key
        self.replies = debian_node_replies() if replies is None else replies
        self.forward = forward
        self.aliases = aliases or {}
        self.journal = Journal()
        self._stop = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.port: int = self._listener.getsockname()[1]
        self._transports: list[paramiko.Transport] = []
        self._threads: list[threading.Thread] = []

    def __enter__(self) -> SSHServer:
        self._spawn(self._accept_loop)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._listener.close()
        for transport in self._transports:
            transport.close()
        for thread in self._threads:
            thread.join(timeout=5)

    def _spawn(self, target: Callable[..., None], *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._spawn(self._serve, conn)

    def _serve(self, conn: socket.socket) -> None:
        transport = paramiko.Transport(conn)
        self._transports.append(transport)
        transport.add_server_key(self.host_key)
        session = _Session(self)
        try:
            transport.start_server(server=session)
        except (paramiko.SSHException, EOFError, OSError):
            transport.close()
            return
        # Sessions answer from their exec callback; forwarded channels need a relay.
        while transport.is_active() and not self._stop.is_set():
            channel = transport.accept(timeout=0.2)
            if channel is None:
                continue
            target = session.forwards.pop(channel.get_id(), None)
            if target is not None:
                self._spawn(_relay, channel, target, self._stop)
        transport.close()
