"""Reach checks against real SSH servers (paramiko's server side, in process, on 127.0.0.1)."""

from __future__ import annotations

import socket
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import yaml
from rich.console import Console
from sshserver import DEBIAN_12_OS_RELEASE, Reply, SSHServer, generate_key, known_hosts_line

from taco.errors import PreflightFailed
from taco.preflight import (
    HostCheck,
    Status,
    check_reach,
    checks_table,
    ensure_passed,
    from_results,
    render_text,
)
from taco.preflight.osrelease import SUPPORTED_OS, os_support
from taco.site.model import JumpHost, Network, NetworkPurpose, Node, Site, SSHSettings

if TYPE_CHECKING:
    from collections.abc import Iterator

    import paramiko


class Keys:
    """A client key on disk and a host key per server."""

    def __init__(self, tmp_path: Path) -> None:
        self.client_path = tmp_path / "id_ed25519"
        self.client = generate_key(self.client_path)
        self.host = generate_key()
        self.jump_host = generate_key()
        self.known_hosts = tmp_path / "known_hosts"


@pytest.fixture
def keys(tmp_path: Path) -> Keys:
    return Keys(tmp_path)


@pytest.fixture
def server(keys: Keys) -> Iterator[SSHServer]:
    with SSHServer(keys.host, keys.client) as srv:
        yield srv


def make_site(keys: Keys, nodes: list[Node], **ssh: object) -> Site:
    settings = {"private_key": str(keys.client_path), "known_hosts": str(keys.known_hosts), **ssh}
    return Site(
        name="reach",
        ssh=SSHSettings.model_validate(settings),
        networks={"management": Network(purpose=NetworkPurpose.MANAGEMENT, cidr="127.0.0.0/8")},
        nodes=nodes,
    )


def node(port: int, *, name: str = "node1", address: str = "127.0.0.1",
         user: str | None = None) -> Node:
    return Node.model_validate(
        {"name": name, "address": address, "roles": ["worker"], "ssh_port": port,
         "ssh_user": user}
    )


def by_check(rows: list[HostCheck], host: str = "node1") -> dict[str, HostCheck]:
    return {row.check: row for row in rows if row.host == host}


def trust(keys: Keys, host: str, port: int, key: paramiko.PKey) -> None:
    with keys.known_hosts.open("a") as handle:
        handle.write(known_hosts_line(host, port, key))


def test_known_host_passes_ssh_sudo_and_os(keys: Keys, server: SSHServer) -> None:
    trust(keys, "127.0.0.1", server.port, keys.host)
    rows = check_reach(make_site(keys, [node(server.port, user="deploy")]), timeout=5)

    checks = by_check(rows)
    assert [row.check for row in rows] == ["ssh", "sudo", "os"]
    assert all(row.status is Status.PASS for row in rows), render_text(rows)
    assert checks["ssh"].detail == f"deploy@127.0.0.1:{server.port}"
    assert checks["sudo"].detail == "passwordless sudo for deploy"
    assert checks["os"].detail == "Debian GNU/Linux 12 (bookworm)"
    # The per-node ssh_user override logged in, and the probes really ran remotely.
    assert server.journal.logins == ["deploy"]
    assert server.journal.commands == ["sudo -n true", "cat /etc/os-release"]
    ensure_passed(rows)


def test_root_skips_sudo_and_records_root(keys: Keys, server: SSHServer) -> None:
    trust(keys, "127.0.0.1", server.port, keys.host)
    rows = check_reach(make_site(keys, [node(server.port)], user="root"), timeout=5)

    assert by_check(rows)["sudo"] == HostCheck("node1", "sudo", Status.PASS, "root")
    assert server.journal.commands == ["cat /etc/os-release"]


def test_empty_known_hosts_fails_with_keyscan_hint(keys: Keys, server: SSHServer) -> None:
    keys.known_hosts.write_text("")
    rows = check_reach(make_site(keys, [node(server.port)]), timeout=5)

    ssh = by_check(rows)["ssh"]
    assert ssh.status is Status.FAIL
    assert ssh.detail.startswith("host key unknown")
    assert keys.host.fingerprint in ssh.detail
    assert f"ssh-keyscan -p {server.port} 127.0.0.1 >> {keys.known_hosts}" in ssh.detail
    assert {row.status for row in rows} == {Status.FAIL}
    assert server.journal.logins == []  # rejected before authenticating
    with pytest.raises(PreflightFailed, match="host key unknown"):
        ensure_passed(rows)


def test_missing_known_hosts_file_is_named(keys: Keys, server: SSHServer) -> None:
    rows = check_reach(make_site(keys, [node(server.port)]), timeout=5)

    assert f"{keys.known_hosts} does not exist" in by_check(rows)["ssh"].detail


def test_changed_host_key_is_a_mismatch(keys: Keys, server: SSHServer) -> None:
    trust(keys, "127.0.0.1", server.port, generate_key())
    rows = check_reach(make_site(keys, [node(server.port)]), timeout=5)

    ssh = by_check(rows)["ssh"]
    assert ssh.status is Status.FAIL
    assert ssh.detail.startswith("host key mismatch")
    assert "ssh-keygen -R 127.0.0.1" in ssh.detail


def test_checking_off_accepts_unknown_key_without_writing_known_hosts(
    keys: Keys, server: SSHServer
) -> None:
    rows = check_reach(make_site(keys, [node(server.port)], host_key_checking=False), timeout=5)

    assert by_check(rows)["ssh"].status is Status.PASS
    assert not keys.known_hosts.exists()


def test_wrong_client_key_fails_authentication(keys: Keys, server: SSHServer,
                                                tmp_path: Path) -> None:
    trust(keys, "127.0.0.1", server.port, keys.host)
    other = tmp_path / "other_key"
    generate_key(other)
    rows = check_reach(make_site(keys, [node(server.port)], private_key=str(other)), timeout=5)

    ssh = by_check(rows)["ssh"]
    assert ssh.status is Status.FAIL
    assert ssh.detail.startswith(f"authentication failed for root@127.0.0.1:{server.port}")
    assert "authorized_keys" in ssh.detail
    assert by_check(rows)["sudo"].detail == "not checked: no SSH session"


def test_missing_private_key_file(keys: Keys, server: SSHServer, tmp_path: Path) -> None:
    rows = check_reach(
        make_site(keys, [node(server.port)], private_key=str(tmp_path / "nope")), timeout=5
    )

    assert by_check(rows)["ssh"].detail.startswith(f"private key {tmp_path / 'nope'} not found")


def test_closed_port_is_refused_quickly(keys: Keys) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    started = time.monotonic()
    rows = check_reach(make_site(keys, [node(closed_port)]), timeout=5)

    assert time.monotonic() - started < 2
    ssh = by_check(rows)["ssh"]
    assert ssh.status is Status.FAIL
    assert ssh.detail.startswith(f"connection refused on 127.0.0.1:{closed_port}")


def test_silent_port_times_out(keys: Keys) -> None:
    # The kernel completes the TCP handshake for a listening socket nobody accepts on.
    with socket.create_server(("127.0.0.1", 0)) as silent:
        started = time.monotonic()
        rows = check_reach(make_site(keys, [node(silent.getsockname()[1])]), timeout=0.5)
        elapsed = time.monotonic() - started

    assert elapsed < 3
    assert "no SSH banner within 0.5s" in by_check(rows)["ssh"].detail


def test_sudo_asking_for_password_fails_with_fix(keys: Keys) -> None:
    replies = {
        "sudo -n true": Reply(1, stderr=b"sudo: a password is required\n"),
        "cat /etc/os-release": Reply(0, DEBIAN_12_OS_RELEASE),
    }
    with SSHServer(keys.host, keys.client, replies) as srv:
        trust(keys, "127.0.0.1", srv.port, keys.host)
        rows = check_reach(make_site(keys, [node(srv.port)], user="deploy"), timeout=5)

    sudo = by_check(rows)["sudo"]
    assert sudo.status is Status.FAIL
    assert "deploy ALL=(ALL) NOPASSWD: ALL" in sudo.detail
    assert by_check(rows)["os"].status is Status.PASS


def test_channel_closed_without_exit_status_is_retried(keys: Keys) -> None:
    replies = {"cat /etc/os-release": Reply(0, DEBIAN_12_OS_RELEASE, dropped=2)}
    with SSHServer(keys.host, keys.client, replies) as srv:
        trust(keys, "127.0.0.1", srv.port, keys.host)
        rows = check_reach(make_site(keys, [node(srv.port)]), timeout=5)
        commands = list(srv.journal.commands)

    assert by_check(rows)["os"].status is Status.PASS
    assert commands.count("cat /etc/os-release") == 3


def test_channel_that_never_sends_an_exit_status_fails_with_why(keys: Keys) -> None:
    replies = {"cat /etc/os-release": Reply(0, DEBIAN_12_OS_RELEASE, dropped=99)}
    with SSHServer(keys.host, keys.client, replies) as srv:
        trust(keys, "127.0.0.1", srv.port, keys.host)
        rows = check_reach(make_site(keys, [node(srv.port)]), timeout=5)

    os_row = by_check(rows)["os"]
    assert os_row.status is Status.FAIL
    assert "closed without an exit status 3 times" in os_row.detail


def test_unsupported_os_names_what_is_supported(keys: Keys) -> None:
    centos = b'NAME="CentOS Stream"\nVERSION_ID="9"\nID="centos"\nPRETTY_NAME="CentOS Stream 9"\n'
    replies = {"cat /etc/os-release": Reply(0, centos)}
    with SSHServer(keys.host, keys.client, replies) as srv:
        trust(keys, "127.0.0.1", srv.port, keys.host)
        rows = check_reach(make_site(keys, [node(srv.port)]), timeout=5)

    os_row = by_check(rows)["os"]
    assert os_row.status is Status.FAIL
    assert os_row.detail == (
        "CentOS Stream 9 is not supported; install one of: "
        "Debian 12, Debian 13, Ubuntu 22.04, Ubuntu 24.04"
    )


@pytest.mark.parametrize(
    ("text", "status"),
    [
        ('ID=debian\nVERSION_ID="13"\n', Status.PASS),
        ('ID=ubuntu\nVERSION_ID="24.04"\nPRETTY_NAME="Ubuntu 24.04.1 LTS"\n', Status.PASS),
        ('ID=ubuntu\nVERSION_ID="20.04"\n', Status.FAIL),
        ('ID=debian\nVERSION_ID="11"\n', Status.FAIL),
        ("ID=debian\n", Status.FAIL),  # testing/sid carry no VERSION_ID
        ("", Status.FAIL),
    ],
)
def test_os_support_policy(text: str, status: Status) -> None:
    assert os_support(text)[0] is status


def test_nodes_are_checked_in_parallel_and_reported_in_site_order(keys: Keys) -> None:
    with SSHServer(keys.host, keys.client) as one, SSHServer(keys.host, keys.client) as two:
        trust(keys, "127.0.0.1", one.port, keys.host)
        trust(keys, "127.0.0.1", two.port, keys.host)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            closed = probe.getsockname()[1]
        site = make_site(keys, [node(one.port, name="a"), node(closed, name="b"),
                                node(two.port, name="c")])
        rows = check_reach(site, timeout=5)

    assert [row.host for row in rows] == ["a"] * 3 + ["b"] * 3 + ["c"] * 3
    assert {row.status for row in rows if row.host != "b"} == {Status.PASS}
    assert by_check(rows, "b")["ssh"].status is Status.FAIL


def test_node_reached_only_through_the_jump_host(keys: Keys) -> None:
    # "node1.internal" resolves only on the jump server, so a pass proves the path.
    with SSHServer(keys.host, keys.client) as target, SSHServer(
        keys.jump_host, keys.client, {}, forward=True, aliases={"node1.internal": "127.0.0.1"}
    ) as jump:
        trust(keys, "node1.internal", target.port, keys.host)
        trust(keys, "127.0.0.1", jump.port, keys.jump_host)
        behind = node(target.port, address="node1.internal")
        jump_host = JumpHost(address="127.0.0.1", port=jump.port, user="hop")
        rows = check_reach(make_site(keys, [behind], jump_host=jump_host), timeout=5)
        direct = check_reach(make_site(keys, [behind]), timeout=5)

    assert all(row.status is Status.PASS for row in rows), render_text(rows)
    assert by_check(rows)["ssh"].detail == (
        f"root@node1.internal:{target.port} via hop@127.0.0.1:{jump.port}"
    )
    assert jump.journal.logins == ["hop"]
    assert jump.journal.forwarded == [("node1.internal", target.port)]
    assert target.journal.commands == ["cat /etc/os-release"]
    assert by_check(direct)["ssh"].detail.startswith("cannot resolve node1.internal")


def test_jump_host_unreachable_fails_every_node(keys: Keys, server: SSHServer) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    jump_host = JumpHost(address="127.0.0.1", port=closed)
    site = make_site(keys, [node(server.port), node(server.port, name="node2")],
                     jump_host=jump_host)
    rows = check_reach(site, timeout=5)

    ssh_rows = [row for row in rows if row.check == "ssh"]
    assert len(ssh_rows) == 2
    for row in ssh_rows:
        assert row.status is Status.FAIL
        assert row.detail.startswith(f"jump host root@127.0.0.1:{closed} unreachable: "
                                     "connection refused")
    assert server.journal.logins == []


def test_jump_host_that_cannot_reach_the_node(keys: Keys) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    with SSHServer(keys.jump_host, keys.client, {}, forward=True) as jump:
        trust(keys, "127.0.0.1", jump.port, keys.jump_host)
        site = make_site(keys, [node(closed)],
                         jump_host=JumpHost(address="127.0.0.1", port=jump.port))
        rows = check_reach(site, timeout=5)

    ssh = by_check(rows)["ssh"]
    assert ssh.status is Status.FAIL
    assert f"could not open 127.0.0.1:{closed}" in ssh.detail
    assert "reachable from the jump host" in ssh.detail


def test_from_results_and_rendering() -> None:
    role_rows = from_results("node1", [
        {"check": "os", "status": "pass", "detail": "Debian 12"},
        {"check": "swap", "status": "warn", "detail": "swap is on"},
        {"check": "interfaces", "status": "fail", "detail": "eth9 not found"},
        {"check": "ports", "status": "bogus", "detail": "x"},
    ])
    rows = [HostCheck("node2", "ssh", Status.PASS, "root@10.0.0.2:22"), *role_rows]

    assert [row.status for row in role_rows] == [Status.PASS, Status.WARN, Status.FAIL,
                                                 Status.FAIL]
    assert role_rows[3].detail.startswith("unknown status 'bogus'")
    text = render_text(rows)
    assert "node1  interfaces  fail  eth9 not found" in text
    assert text.endswith("2 host(s): 2 pass, 1 warn, 2 fail")

    console = Console(width=200, record=True, color_system=None)
    console.print(checks_table(rows))
    grid = console.export_text()
    header = next(line for line in grid.splitlines() if "host" in line)
    for column in ("ssh", "os", "swap", "interfaces", "ports"):
        assert column in header
    assert "eth9 not found" in grid
    assert "Debian 12" not in grid  # pass cells stay short


def test_reach_check_and_preflight_role_support_the_same_systems() -> None:
    """Two judges of one rule (SSH reach check, preflight role): they must not drift."""
    defaults = Path(__file__).resolve().parents[2] / "roles/preflight/defaults/main.yml"
    role = yaml.safe_load(defaults.read_text())["preflight_supported_os"]
    assert {name.lower(): tuple(versions) for name, versions in role.items()} == SUPPORTED_OS
