"""Reach checks: every node answers SSH, sudo works without a password, the OS is supported.

They run from the deploy host over paramiko before Ansible starts, so an unreachable
node, an unknown host key or a password-prompting sudo is reported per host with the
fix instead of as an Ansible traceback. Read-only: a login, `sudo -n true` and a read
of /etc/os-release.
"""

from __future__ import annotations

import logging
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import paramiko

from taco.preflight.checks import HostCheck, Status
from taco.preflight.osrelease import os_support

if TYPE_CHECKING:
    from collections.abc import Callable

    from taco.site.model import JumpHost, Node, Site

# paramiko logs transport failures on its own; they come back to the operator as rows.
logging.getLogger("paramiko").addHandler(logging.NullHandler())

CHECKS = ("ssh", "sudo", "os")


class ReachError(Exception):
    """A node (or the jump host) could not be reached; the message says why and what to do."""


@dataclass(frozen=True)
class Endpoint:
    """Where to log in and as whom."""

    host: str
    port: int
    user: str

    @property
    def label(self) -> str:
        return f"{self.user}@{self.host}:{self.port}"


@dataclass(frozen=True)
class SSHOptions:
    """The site's SSH settings, resolved once for every connection."""

    private_key: Path | None
    known_hosts: Path
    host_key_checking: bool
    timeout: float

    @classmethod
    def from_site(cls, site: Site, timeout: float) -> SSHOptions:
        ssh = site.ssh
        known_hosts = Path(ssh.known_hosts or "~/.ssh/known_hosts").expanduser()
        key = Path(ssh.private_key).expanduser() if ssh.private_key else None
        return cls(key, known_hosts, ssh.host_key_checking, timeout)


class _UnknownHostKey(Exception):
    def __init__(self, key: paramiko.PKey) -> None:
        super().__init__("host key unknown")
        self.key = key


class _RejectUnknown(paramiko.MissingHostKeyPolicy):
    """RejectPolicy that hands the offered key back, so the message can show its fingerprint."""

    def missing_host_key(
        self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey
    ) -> None:
        raise _UnknownHostKey(key)


def _keyscan_hint(endpoint: Endpoint, known_hosts: Path, jump: Endpoint | None) -> str:
    port = f"-p {endpoint.port} " if endpoint.port != 22 else ""
    scan = f"ssh-keyscan {port}{endpoint.host}"
    if jump is not None:
        jump_port = f"-p {jump.port} " if jump.port != 22 else ""
        scan = f"ssh {jump_port}{jump.user}@{jump.host} {scan}"
    return f"check the fingerprint, then add it: {scan} >> {known_hosts}"


def _open_socket(endpoint: Endpoint, timeout: float) -> socket.socket:
    host, port = endpoint.host, endpoint.port
    try:
        return socket.create_connection((host, port), timeout=timeout)
    except socket.gaierror as exc:
        raise ReachError(f"cannot resolve {host}: {exc.strerror}; check the node address") from exc
    except ConnectionRefusedError as exc:
        raise ReachError(
            f"connection refused on {host}:{port}: is sshd running and listening on port {port}?"
        ) from exc
    except TimeoutError as exc:
        raise ReachError(
            f"no answer from {host}:{port} within {timeout:g}s: "
            "check the address, routes and firewall"
        ) from exc
    except OSError as exc:
        raise ReachError(f"cannot connect to {host}:{port}: {exc.strerror or exc}") from exc


def _open_forward(jump: paramiko.SSHClient, jump_at: Endpoint, endpoint: Endpoint,
                  timeout: float) -> paramiko.Channel:
    """A direct-tcpip channel from the jump host to the node, used as the node's socket."""
    transport = jump.get_transport()
    if transport is None or not transport.is_active():
        raise ReachError(f"the connection to jump host {jump_at.label} was lost")
    target = f"{endpoint.host}:{endpoint.port}"
    try:
        return transport.open_channel(
            "direct-tcpip", (endpoint.host, endpoint.port), ("127.0.0.1", 0), timeout=timeout
        )
    except paramiko.ChannelException as exc:
        if exc.code == paramiko.common.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED:
            hint = "allow TCP forwarding there (sshd AllowTcpForwarding yes)"
        else:
            hint = f"check that {target} is reachable from the jump host"
        raise ReachError(
            f"jump host {jump_at.label} could not open {target} ({exc.text}): {hint}"
        ) from exc
    except (paramiko.SSHException, EOFError, OSError) as exc:
        raise ReachError(f"jump host {jump_at.label} could not open {target}: {exc}") from exc


def _connect(endpoint: Endpoint, options: SSHOptions, *, sock: socket.socket | paramiko.Channel,
             jump: Endpoint | None = None) -> paramiko.SSHClient:
    """Log in over `sock`, checking the host key; every failure becomes a ReachError."""
    client = paramiko.SSHClient()
    if options.host_key_checking:
        if options.known_hosts.is_file():
            # Read-only load: taco never writes the operator's known_hosts.
            client.load_system_host_keys(str(options.known_hosts))
        client.set_missing_host_key_policy(_RejectUnknown())
    else:
        # Only an explicit `host_key_checking: false` in the site gets here.
        client.set_missing_host_key_policy(paramiko.AutoAddPolicy())  # noqa: S507
    key = str(options.private_key) if options.private_key else None
    try:
        client.connect(
            endpoint.host,
            port=endpoint.port,
            username=endpoint.user,
            key_filename=key,
            # With an explicit key only that key is tried: what the inventory uses too.
            allow_agent=key is None,
            look_for_keys=key is None,
            sock=sock,
            # `timeout` bounds the whole key exchange here (the socket is ours already);
            # the banner gets its own, shorter wait so that failure names itself.
            timeout=2 * options.timeout,
            banner_timeout=options.timeout,
            auth_timeout=options.timeout,
            channel_timeout=options.timeout,
        )
    except Exception as exc:
        client.close()
        sock.close()
        explained = _explain(exc, endpoint, options, jump)
        if explained is None:
            raise
        raise explained from exc
    return client


def _explain(exc: Exception, endpoint: Endpoint, options: SSHOptions,
             jump: Endpoint | None) -> ReachError | None:
    """Turn paramiko's exception into a ReachError that says what to change."""
    where = endpoint.label
    if isinstance(exc, _UnknownHostKey):
        exists = options.known_hosts.is_file()
        missing = "" if exists else f" ({options.known_hosts} does not exist)"
        return ReachError(
            f"host key unknown: {where} offered {exc.key.get_name()} {exc.key.fingerprint}, "
            f"which is not in {options.known_hosts}{missing}; "
            f"{_keyscan_hint(endpoint, options.known_hosts, jump)}"
        )
    if isinstance(exc, paramiko.BadHostKeyException):
        return ReachError(
            f"host key mismatch: {where} offered {exc.key.get_name()} {exc.key.fingerprint} but "
            f"{options.known_hosts} has {exc.expected_key.fingerprint}; if the host was "
            f"reinstalled, remove the old key (ssh-keygen -R {endpoint.host} -f "
            f"{options.known_hosts}) and add the new one; otherwise find out who answers there"
        )
    if isinstance(exc, paramiko.PasswordRequiredException):
        return ReachError(f"private key {options.private_key} is passphrase-protected: "
                          "use a key without a passphrase for taco")
    if isinstance(exc, paramiko.AuthenticationException):
        key = options.private_key or "the keys from ssh-agent and ~/.ssh"
        return ReachError(
            f"authentication failed for {where} with {key}: add the public key to "
            f"~{endpoint.user}/.ssh/authorized_keys on the node, or fix ssh.user / ssh.private_key"
        )
    if isinstance(exc, TimeoutError) or "No existing session" in str(exc):
        return ReachError(f"{where} did not finish the SSH handshake within {options.timeout:g}s")
    if isinstance(exc, paramiko.SSHException) and "banner" in str(exc):
        return ReachError(
            f"{where} sent no SSH banner within {options.timeout:g}s: "
            "is an SSH server on that port?"
        )
    if isinstance(exc, (paramiko.SSHException, EOFError, OSError)):
        return ReachError(f"SSH to {where} failed: {exc or type(exc).__name__}")
    return None


@dataclass(frozen=True)
class _Result:
    rc: int
    stdout: str
    stderr: str


# paramiko's exit status when the channel closed without the server sending one.
_NO_EXIT_STATUS = -1


def _run(client: paramiko.SSHClient, command: str, timeout: float, attempts: int = 3) -> _Result:
    """Run one read-only command; a hang is a TimeoutError, never a blocked thread.

    A busy sshd now and then closes a fresh channel before it sends an exit status; the
    commands here only read, so such a channel is retried on a new one.
    """
    for attempt in range(1, attempts + 1):
        result = _run_once(client, command, timeout)
        if result.rc != _NO_EXIT_STATUS or attempt == attempts:
            break
        time.sleep(0.5 * attempt)
    if result.rc == _NO_EXIT_STATUS:
        return _Result(result.rc, result.stdout, result.stderr.strip() or
                       f"the SSH channel closed without an exit status {attempts} times")
    return result


def _run_once(client: paramiko.SSHClient, command: str, timeout: float) -> _Result:
    transport = client.get_transport()
    if transport is None or not transport.is_active():
        raise ReachError("the SSH session closed")
    with closing(transport.open_session(timeout=timeout)) as channel:
        channel.settimeout(timeout)
        channel.exec_command(command)
        stdout = channel.makefile("rb").read()
        stderr = channel.makefile_stderr("rb").read()
        if not channel.status_event.wait(timeout):
            raise TimeoutError(f"'{command}' gave no exit status within {timeout:g}s")
        return _Result(
            channel.recv_exit_status(),
            stdout.decode(errors="replace"),
            stderr.decode(errors="replace"),
        )


def _check_sudo(host: str, client: paramiko.SSHClient, user: str, timeout: float) -> HostCheck:
    if user == "root":
        return HostCheck(host, "sudo", Status.PASS, "root")
    result = _run(client, "sudo -n true", timeout)
    said = result.stderr.strip().splitlines()[-1] if result.stderr.strip() else ""
    if result.rc == 0:
        return HostCheck(host, "sudo", Status.PASS, f"passwordless sudo for {user}")
    if "password" in said:
        return HostCheck(host, "sudo", Status.FAIL,
                         f"sudo asks {user} for a password: allow it without one, e.g. "
                         f"'{user} ALL=(ALL) NOPASSWD: ALL' in /etc/sudoers.d/taco")
    if result.rc == 127:
        return HostCheck(host, "sudo", Status.FAIL,
                         "sudo is not installed: install it, or log in as root (ssh.user)")
    return HostCheck(host, "sudo", Status.FAIL,
                     f"'sudo -n true' failed for {user} (rc {result.rc}): {said or 'no message'}")


def _check_os(host: str, client: paramiko.SSHClient, timeout: float) -> HostCheck:
    result = _run(client, "cat /etc/os-release", timeout)
    if result.rc != 0:
        return HostCheck(host, "os", Status.FAIL,
                         f"cannot read /etc/os-release (rc {result.rc}): {result.stderr.strip()}")
    status, detail = os_support(result.stdout)
    return HostCheck(host, "os", status, detail)


def _not_checked(host: str, why: str) -> list[HostCheck]:
    return [HostCheck(host, check, Status.FAIL, f"not checked: {why}") for check in CHECKS[1:]]


def _all_unreachable(site: Site, why: str) -> list[HostCheck]:
    return [row for node in site.nodes
            for row in [HostCheck(node.name, "ssh", Status.FAIL, why),
                        *_not_checked(node.name, "no SSH session")]]


def _endpoint(site: Site, node: Node) -> Endpoint:
    return Endpoint(node.address, node.ssh_port or site.ssh.port, node.ssh_user or site.ssh.user)


def _check_node(
    site: Site,
    node: Node,
    options: SSHOptions,
    jump: tuple[Endpoint, paramiko.SSHClient] | None,
) -> list[HostCheck]:
    endpoint = _endpoint(site, node)
    try:
        if jump is None:
            sock: socket.socket | paramiko.Channel = _open_socket(endpoint, options.timeout)
        else:
            sock = _open_forward(jump[1], jump[0], endpoint, options.timeout)
        client = _connect(endpoint, options, sock=sock, jump=jump[0] if jump else None)
    except ReachError as exc:
        return [HostCheck(node.name, "ssh", Status.FAIL, str(exc)),
                *_not_checked(node.name, "no SSH session")]
    via = f" via {jump[0].label}" if jump else ""
    rows = [HostCheck(node.name, "ssh", Status.PASS, f"{endpoint.label}{via}")]
    with closing(client):
        rows.append(_probe(node.name, "sudo",
                           lambda: _check_sudo(node.name, client, endpoint.user, options.timeout)))
        rows.append(_probe(node.name, "os", lambda: _check_os(node.name, client, options.timeout)))
    return rows


def _probe(host: str, check: str, run: Callable[[], HostCheck]) -> HostCheck:
    """Run one check over an open session; a dropped session or a hang is that check's fail."""
    try:
        return run()
    except (ReachError, paramiko.SSHException, EOFError, OSError) as exc:
        return HostCheck(host, check, Status.FAIL,
                         f"{check} check did not finish: {exc or type(exc).__name__}")


def _connect_jump(jump: JumpHost, options: SSHOptions) -> tuple[Endpoint, paramiko.SSHClient]:
    """One connection to the jump host, shared by every node's forward (channels are
    thread-safe, and one login keeps clear of the jump's sshd MaxStartups limit)."""
    endpoint = Endpoint(jump.address, jump.port, jump.user)
    try:
        sock = _open_socket(endpoint, options.timeout)
        return endpoint, _connect(endpoint, options, sock=sock)
    except ReachError as exc:
        raise ReachError(f"jump host {endpoint.label} unreachable: {exc}") from exc


def check_reach(site: Site, *, timeout: float = 10, workers: int = 16) -> list[HostCheck]:
    """SSH, sudo and OS rows for every node, in site order, checked in parallel threads.

    Never raises for a host problem: each becomes a fail row saying what to change.
    """
    options = SSHOptions.from_site(site, timeout)
    if options.private_key is not None and not options.private_key.is_file():
        return _all_unreachable(site, f"private key {options.private_key} not found: "
                                      "fix ssh.private_key")
    jump: tuple[Endpoint, paramiko.SSHClient] | None = None
    if site.ssh.jump_host is not None:
        try:
            jump = _connect_jump(site.ssh.jump_host, options)
        except ReachError as exc:
            return _all_unreachable(site, str(exc))

    def check(node: Node) -> list[HostCheck]:
        try:
            return _check_node(site, node, options, jump)
        except Exception as exc:  # a bug must cost one host's rows, not the whole report
            return [HostCheck(node.name, "ssh", Status.FAIL, f"unexpected error: {exc!r}"),
                    *_not_checked(node.name, "unexpected error")]

    try:
        with ThreadPoolExecutor(max_workers=max(1, workers),
                                thread_name_prefix="taco-reach") as pool:
            per_node = list(pool.map(check, site.nodes))
    finally:
        if jump is not None:
            jump[1].close()
    return [row for rows in per_node for row in rows]
