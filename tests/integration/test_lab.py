"""`taco lab` end to end: a 3-node lab behind a jump host, reached only through it."""

from __future__ import annotations

import json
import os
import shlex
import socket
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import pytest
import yaml

from taco.lab.lab import ssh
from taco.site.load import load_site

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from tests.integration.conftest import Lab

# One worker runs this module in order: its tests share a lab and build on each other.
pytestmark = [pytest.mark.lab, pytest.mark.xdist_group("test_lab")]


def ssh_banner(address: str, timeout: float = 2.0) -> bytes:
    """The first bytes an SSH server sends, or b"" if nothing answers.

    A bare TCP connect proves nothing on machines whose gateway accepts every
    connection; an SSH banner is what only a real sshd sends.
    """
    try:
        with socket.create_connection((address, 22), timeout=timeout) as conn:
            conn.settimeout(timeout)
            return conn.recv(64)
    except OSError:
        return b""


def lab_state(lab: Lab) -> dict[str, object]:
    return json.loads((lab.directory / "state.json").read_text())


@pytest.fixture(scope="module")
def jump_lab(lab_factory: Callable[..., Lab]) -> Lab:
    return lab_factory(3, jump=True, disks=1, disk_size="256M")


def test_nodes_are_reachable_only_through_the_jump_host(jump_lab: Lab) -> None:
    site = yaml.safe_load(jump_lab.site_file.read_text())
    jump = site["ssh"]["jump_host"]["address"]
    assert ssh_banner(jump, 10).startswith(b"SSH-2.0-"), "the jump host should answer"
    addresses = [node["address"] for node in site["nodes"]]
    with ThreadPoolExecutor() as pool:
        banners = dict(zip(addresses, pool.map(ssh_banner, addresses), strict=True))
    assert banners == dict.fromkeys(addresses, b""), "a node answered directly"
    for node in site["nodes"]:
        result = jump_lab.cli("ssh", jump_lab.name, node["name"], "--", "hostname", timeout=60)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == node["name"]


def test_host_keys_are_checked(jump_lab: Lab, tmp_path: Path,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    known_hosts = jump_lab.directory / "known_hosts"
    assert len(known_hosts.read_text().splitlines()) == 4  # jump host and three nodes
    monkeypatch.setenv("TACO_STATE_DIR", str(jump_lab.state_dir))
    argv = ssh(jump_lab.name, "node1", ["true"])
    assert subprocess.run(argv, capture_output=True, timeout=60, check=False).returncode == 0
    # The same argv with an empty known_hosts must be refused: checking is on.
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    refused = subprocess.run([a.replace(str(known_hosts), str(empty)) for a in argv],
                             capture_output=True, text=True, timeout=60, check=False)
    assert refused.returncode != 0
    assert "Host key verification failed" in refused.stderr


def test_site_file_describes_the_lab(jump_lab: Lab) -> None:
    site = load_site(jump_lab.site_file)
    state = lab_state(jump_lab)
    assert [n.name for n in site.nodes] == ["node1", "node2", "node3"]
    assert site.ssh.jump_host is not None
    assert site.ssh.jump_host.address == state["jump_address"]
    assert site.ssh.host_key_checking
    assert site.networks["management"].cidr == state["subnets"]["mgmt"]  # type: ignore[index]
    loops = json.loads(subprocess.run(["losetup", "--list", "--json"], capture_output=True,
                                      text=True, check=True).stdout)["loopdevices"]
    backing = {d["name"]: d["back-file"] for d in loops}
    for node in site.nodes:
        assert len(node.disks) == 1
        device = node.disks[0].device
        assert backing[device].startswith(str(jump_lab.directory)), backing[device]
        # The node sees its disk and its three NICs under the names the site gives.
        command = shlex.join(["lsblk", "-bdno", "SIZE", device]) + "; ip -o link show"
        result = jump_lab.cli("ssh", jump_lab.name, node.name, "--", command, timeout=60)
        size, *links = result.stdout.splitlines()
        assert size.strip() == str(256 * 1024 * 1024), result.stderr
        names = {line.split(":")[1].strip().split("@")[0] for line in links}
        assert {"eth0", "eth1", "eth2"} <= names


def test_second_up_of_the_same_name_is_refused(jump_lab: Lab) -> None:
    result = jump_lab.cli("up", jump_lab.name, "--nodes", "1")
    assert result.returncode == 5
    assert f"lab {jump_lab.name} already exists" in result.stderr
    assert lab_state(jump_lab)["status"] == "up"


def test_ls_lists_the_lab(jump_lab: Lab) -> None:
    result = jump_lab.cli("ls")
    assert result.returncode == 0
    row = next(line for line in result.stdout.splitlines() if line.startswith(jump_lab.name))
    assert row.split()[1:4] == ["3", "yes", "up"]
    assert str(jump_lab.site_file) in row


def test_down_leaves_nothing_behind(jump_lab: Lab) -> None:
    devices = [d["device"] for d in lab_state(jump_lab)["loop_devices"]]  # type: ignore[attr-defined]
    assert len(devices) == 3
    result = jump_lab.cli("down", jump_lab.name)
    assert result.returncode == 0, result.stderr
    prefix = f"taco-{jump_lab.name}-"

    def listing(*argv: str) -> str:
        return subprocess.run(list(argv), capture_output=True, text=True, check=True).stdout

    assert prefix not in listing("podman", "ps", "-a", "--format", "{{.Names}}")
    assert prefix not in listing("podman", "network", "ls", "--format", "{{.Name}}")
    assert str(jump_lab.directory) not in listing("losetup", "--list")
    assert not jump_lab.directory.exists()


def test_down_of_a_missing_lab_is_not_an_error(tmp_path: Path) -> None:
    env = {**os.environ, "TACO_STATE_DIR": str(tmp_path)}
    result = subprocess.run([sys.executable, "-m", "taco.cli.lab", "down", "never-made"],
                            env=env, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert "no lab named never-made" in result.stdout


def test_down_detaches_loop_devices_it_never_recorded(tmp_path: Path) -> None:
    # A crash between losetup and saving the state: down still finds the device by
    # its backing file inside the lab directory.
    if os.geteuid() != 0:
        pytest.skip("needs root for losetup")
    backing = tmp_path / "labs" / "crashed" / "disks" / "node1-disk1.img"
    backing.parent.mkdir(parents=True)
    subprocess.run(["truncate", "-s", "16M", str(backing)], check=True)
    device = subprocess.run(["losetup", "--find", "--show", str(backing)], check=True,
                            capture_output=True, text=True).stdout.strip()
    try:
        env = {**os.environ, "TACO_STATE_DIR": str(tmp_path)}
        result = subprocess.run([sys.executable, "-m", "taco.cli.lab", "down", "crashed"],
                                env=env, capture_output=True, text=True, timeout=60,
                                check=False)
        assert result.returncode == 0, result.stderr
        assert "1 loop devices" in result.stdout
        assert str(backing) not in subprocess.run(["losetup", "--list"], capture_output=True,
                                                  text=True, check=True).stdout
        assert not backing.parent.parent.exists()
    finally:
        # Only if still ours: the number may belong to someone else by now.
        still = subprocess.run(["losetup", "--associated", str(backing)], capture_output=True,
                               text=True, check=False).stdout
        if still.startswith(f"{device}:"):
            subprocess.run(["losetup", "--detach", device], check=False)
