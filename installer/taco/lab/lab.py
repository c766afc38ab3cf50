"""Disposable "bare-metal" labs: privileged systemd containers on podman networks.

A lab is N node containers (node1..N) with three NICs (management eth0, storage
eth1, provider eth2), optional spare disks (loop devices on sparse files), an SSH
key pair and known_hosts, and a site file describing it all. With a jump host the
node networks are isolated bridges without any host address: the only way in is
SSH through the jump container, and the only way out is its HTTP proxy.
"""

from __future__ import annotations

import ipaddress
import json
import random
import re
import shlex
import shutil
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from taco.errors import LabError
from taco.lab import proc
from taco.lab.image import DEFAULT_SUITE, image_exists, image_reference
from taco.lab.sitefile import PROXY_PORT, host_address, write_site
from taco.lab.state import LabState, LoopDevice, NodeRecord, all_labs, check_name, lab_dir

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence
    from types import FrameType

LABEL = "taco.lab"
NETWORK_KEYS = ("mgmt", "storage", "provider")
# Lab subnets come from 10.112.0.0-10.243.255.0: clear of Kubernetes' default
# service (10.96.0.0/12) and pod (10.244.0.0/16) ranges and podman's 10.88.0.0/16.
SUBNET_FIRST = (112 << 8)
SUBNET_LAST = (243 << 8) + 255
NODE_HOST_OFFSET = 10  # node1 is .11, like the example site
JUMP_HOST = 5
BOOT_TIMEOUT = 90.0
PROXY_PATH = "/usr/local/lib/taco-jumpproxy.py"
MAX_NODES = 50
MAX_DISKS = 8

_T = TypeVar("_T")
_R = TypeVar("_R")


@dataclass(frozen=True)
class LabSummary:
    name: str
    nodes: int
    jump: bool
    state: str
    site_file: Path


def container_name(lab: str, node: str) -> str:
    return f"taco-{lab}-{node}"


def network_name(lab: str, key: str) -> str:
    return f"taco-{lab}-{key}"


# -- up ---------------------------------------------------------------------------


def up(
    name: str,
    *,
    nodes: int = 3,
    jump: bool = False,
    suite: str = DEFAULT_SUITE,
    disks: int = 0,
    disk_size: str = "10G",
    log: Callable[[str], None] = print,
) -> LabState:
    """Create a lab; on any failure remove whatever was created, then raise."""
    check_name(name)
    if not 1 <= nodes <= MAX_NODES:
        raise LabError(f"--nodes must be between 1 and {MAX_NODES}, not {nodes}")
    if not 0 <= disks <= MAX_DISKS:
        raise LabError(f"--disks must be between 0 and {MAX_DISKS}, not {disks}")
    if not re.fullmatch(r"[1-9][0-9]*[KMGT]?", disk_size):
        raise LabError(f"--disk-size {disk_size!r} is not a size such as 10G or 512M")
    proc.require("podman", "ssh", "ssh-keygen", "losetup", "truncate")
    if not image_exists(suite):
        raise LabError(f"no node image {image_reference(suite)}; run `taco lab image --suite "
                       f"{suite}` first")
    directory = lab_dir(name)
    exists = LabError(f"lab {name} already exists ({directory}); "
                      f"run `taco lab down {name}` first or choose another name")
    if directory.exists():
        raise exists
    leftovers = _podman_names(["ps", "-a"], name) + _podman_names(["network", "ls"], name)
    if leftovers:
        raise LabError(f"podman already has objects of a lab named {name} "
                       f"({', '.join(leftovers)}), from another state directory; "
                       "remove them or choose another name")

    directory.parent.mkdir(parents=True, exist_ok=True)
    try:
        directory.mkdir()
    except FileExistsError:
        raise exists from None
    state = LabState(name=name, suite=suite, node_count=nodes, jump=jump,
                     disks_per_node=disks, disk_size=disk_size)
    state.save()
    restore = _raise_on_sigterm()
    try:
        _build(state, log)
    except BaseException:
        log(f"lab {name} failed while starting; removing what was created")
        try:
            teardown(state, log)
        except LabError as exc:
            log(f"cleanup incomplete: {exc}")
        raise
    finally:
        restore()
    return state


def _raise_on_sigterm() -> Callable[[], None]:
    """Turn SIGTERM (CI cancelling a job) into an exception, so `up` cleans up after itself.

    Returns the function that puts the previous handler back.
    """
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def interrupted(signum: int, frame: FrameType | None) -> None:
        raise LabError("lab up was terminated")

    previous = signal.signal(signal.SIGTERM, interrupted)

    def restore() -> None:
        signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)

    return restore


def _build(state: LabState, log: Callable[[str], None]) -> None:
    timer = _Timer(log)
    _make_key(state)
    _create_networks(state)
    timer.lap(f"networks {', '.join(state.networks)}")

    for index in range(1, state.node_count + 1):
        node = f"node{index}"
        state.nodes.append(NodeRecord(
            name=node,
            container=container_name(state.name, node),
            addresses={
                "mgmt": host_address(state.subnets["mgmt"], NODE_HOST_OFFSET + index),
                "storage": host_address(state.subnets["storage"], NODE_HOST_OFFSET + index),
            },
        ))
    if state.disks_per_node:
        _attach_disks(state)
        timer.lap(f"{state.node_count * state.disks_per_node} loop devices")

    _create_containers(state)
    timer.lap(f"{len(state.containers)} containers created")
    _parallel(lambda c: proc.run(["podman", "start", c]), state.containers)
    timer.lap("containers started")
    _configure_addresses(state)
    known = _wait_for_sshd(state)
    state.known_hosts.write_text("".join(f"{addr} {key}\n" for addr, key in known))
    state.known_hosts.chmod(0o600)
    timer.lap("systemd booted, sshd up, host keys collected")
    if state.jump:
        _start_proxy(state)
    _check_ssh(state)
    timer.lap("ssh answered from every node" + (" through the jump host" if state.jump else ""))
    write_site(state)
    state.status = "up"
    state.save()
    log(f"lab {state.name} is up: site file {state.site_file}")


class _Timer:
    def __init__(self, log: Callable[[str], None]) -> None:
        self.log = log
        self.start = self.last = time.monotonic()

    def lap(self, what: str) -> None:
        now = time.monotonic()
        self.log(f"  {what} ({now - self.last:.1f} s, {now - self.start:.1f} s total)")
        self.last = now


def _make_key(state: LabState) -> None:
    proc.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"taco-lab-{state.name}",
              "-f", str(state.private_key)])
    state.private_key.chmod(0o600)
    state.private_key.with_suffix(".pub").chmod(0o600)


def _used_subnets() -> list[ipaddress.IPv4Network]:
    """Subnets of podman networks (ours carry a label even without IPAM) and host routes."""
    used: list[ipaddress.IPv4Network] = []
    networks = json.loads(proc.run(["podman", "network", "ls", "--format", "json"]) or "[]")
    for net in networks:
        texts = [s.get("subnet", "") for s in net.get("subnets") or []]
        texts.append((net.get("labels") or {}).get("taco.subnet", ""))
        for text in texts:
            try:
                network = ipaddress.ip_network(text)
            except ValueError:
                continue
            if isinstance(network, ipaddress.IPv4Network):
                used.append(network)
    for route in json.loads(proc.run(["ip", "-j", "route", "show", "table", "all"]) or "[]"):
        try:
            network = ipaddress.ip_network(route.get("dst", ""), strict=False)
        except ValueError:
            continue
        if isinstance(network, ipaddress.IPv4Network) and network.prefixlen > 0:
            used.append(network)
    return used


def _free_subnets(count: int) -> list[str]:
    used = _used_subnets()
    span = SUBNET_LAST - SUBNET_FIRST + 1
    # A random start keeps labs built at the same time from reaching for the same ranges.
    start = random.randrange(span)  # noqa: S311 - spreading, not security
    found: list[str] = []
    for step in range(span):
        number = SUBNET_FIRST + (start + step) % span
        candidate = ipaddress.IPv4Network(f"10.{number >> 8}.{number & 255}.0/24")
        if not any(candidate.overlaps(other) for other in used):
            found.append(str(candidate))
            used.append(candidate)
            if len(found) == count:
                return found
    raise LabError("no free 10.x.y.0/24 subnet left for a lab network")


def _create_networks(state: LabState) -> None:
    keys = [*NETWORK_KEYS, "ext"] if state.jump else list(NETWORK_KEYS)
    for key, cidr in zip(keys, _free_subnets(len(keys)), strict=True):
        state.subnets[key] = cidr
        name = network_name(state.name, key)
        argv = ["podman", "network", "create", "--label", f"{LABEL}={state.name}",
                "--label", f"taco.subnet={cidr}"]
        if key == "ext" or (key == "mgmt" and not state.jump):
            # Routed and masqueraded by podman: the host reaches these addresses.
            argv += ["--subnet", cidr, "--gateway", host_address(cidr, 1)]
        else:
            # No IPAM: the host bridge gets no address, so the host cannot reach the
            # nodes here; taco configures the addresses inside the nodes.
            argv += ["--internal", "--ipam-driver", "none"]
        state.networks.append(name)
        state.save()
        proc.run([*argv, name])


def _attach_disks(state: LabState) -> None:
    disk_dir = state.directory / "disks"
    disk_dir.mkdir()
    for node in state.nodes:
        for k in range(1, state.disks_per_node + 1):
            backing = disk_dir / f"{node.name}-disk{k}.img"
            state.backing_files.append(str(backing))
            state.save()
            proc.run(["truncate", "-s", state.disk_size, str(backing)])
            device = proc.run(["losetup", "--find", "--show", str(backing)]).strip()
            state.loop_devices.append(LoopDevice(device=device, file=str(backing)))
            node.disks.append(device)
            state.save()


def _create_containers(state: LabState) -> None:
    image = image_reference(state.suite)
    pubkey = state.private_key.with_suffix(".pub")
    common = ["--privileged", "--systemd=always", "--label", f"{LABEL}={state.name}"]
    jobs: list[list[str]] = []
    if state.jump:
        jump = container_name(state.name, "jump")
        state.jump_container = jump
        state.jump_address = host_address(state.subnets["ext"], JUMP_HOST)
        jobs.append([
            "--name", jump, "--hostname", "jump", *common,
            "--network", f"{network_name(state.name, 'ext')}:ip={state.jump_address},"
            "interface_name=eth0",
            "--network", f"{network_name(state.name, 'mgmt')}:interface_name=eth1",
        ])
    for node in state.nodes:
        mgmt = f"{network_name(state.name, 'mgmt')}:interface_name=eth0"
        if not state.jump:
            mgmt += f",ip={node.addresses['mgmt']}"
        devices = [arg for disk in node.disks for arg in ("--device", disk)]
        jobs.append([
            "--name", node.container, "--hostname", node.name, *common,
            "--label", f"taco.node={node.name}",
            "--network", mgmt,
            "--network", f"{network_name(state.name, 'storage')}:interface_name=eth1",
            "--network", f"{network_name(state.name, 'provider')}:interface_name=eth2",
            *devices,
        ])
    for job in jobs:
        state.containers.append(job[1])
    state.save()

    def create(job: list[str]) -> None:
        proc.run(["podman", "create", *job, image, "/sbin/init"])
        # The image ships /root/.ssh (0700); the key goes in before first boot.
        proc.run(["podman", "cp", str(pubkey), f"{job[1]}:/root/.ssh/authorized_keys"])

    _parallel(create, jobs)


def _configure_addresses(state: LabState) -> None:
    """Give nodes their addresses on the networks that have no IPAM."""

    def configure(target: tuple[str, list[str]]) -> None:
        container, commands = target
        proc.run(["podman", "exec", "-i", container, "ip", "-batch", "-"],
                 input_text="".join(f"{c}\n" for c in commands))

    targets: list[tuple[str, list[str]]] = []
    for node in state.nodes:
        commands = [f"address add {node.addresses['storage']}/24 dev eth1"]
        if state.jump:
            commands.append(f"address add {node.addresses['mgmt']}/24 dev eth0")
        targets.append((node.container, commands))
    if state.jump_container:
        mgmt = host_address(state.subnets["mgmt"], JUMP_HOST)
        targets.append((state.jump_container, [f"address add {mgmt}/24 dev eth1"]))
    _parallel(configure, targets)


def _wait_for_sshd(state: LabState) -> list[tuple[str, str]]:
    """Wait until each container's systemd has booted and sshd runs; return host keys."""

    def wait(container: str) -> str:
        deadline = time.monotonic() + BOOT_TIMEOUT
        status = ""
        while time.monotonic() < deadline:
            done = proc.probe(["podman", "exec", container, "systemctl", "is-system-running",
                               "--wait"], timeout=BOOT_TIMEOUT)
            status = done.stdout.strip()
            if status in ("running", "degraded"):
                break
            time.sleep(0.3)
        else:
            raise LabError(f"{container} did not finish booting within {BOOT_TIMEOUT:.0f} s "
                           f"(systemd says {status or 'nothing'}); see `podman logs {container}`")
        ssh = proc.probe(["podman", "exec", container, "systemctl", "is-active", "ssh.service"])
        if ssh.stdout.strip() != "active":
            raise LabError(f"sshd is not running in {container} ({ssh.stdout.strip()}); "
                           f"see `podman exec {container} journalctl -u ssh`")
        key = proc.run(["podman", "exec", container, "cat", "/etc/ssh/ssh_host_ed25519_key.pub"])
        return " ".join(key.split()[:2])

    keys = _parallel(wait, state.containers)
    by_container = dict(zip(state.containers, keys, strict=True))
    known = [(node.addresses["mgmt"], by_container[node.container]) for node in state.nodes]
    if state.jump_container and state.jump_address:
        known.insert(0, (state.jump_address, by_container[state.jump_container]))
    return known


def _start_proxy(state: LabState) -> None:
    assert state.jump_container is not None
    source = Path(__file__).with_name("jumpproxy.py")
    proc.run(["podman", "cp", str(source), f"{state.jump_container}:{PROXY_PATH}"])
    listen = host_address(state.subnets["mgmt"], JUMP_HOST)
    proc.run(["podman", "exec", state.jump_container, "systemd-run", "--unit", "taco-proxy",
              "--property", "Restart=always", "python3", PROXY_PATH, "--listen", listen,
              "--port", str(PROXY_PORT)])


def _check_ssh(state: LabState) -> None:
    """Prove the path taco will use: real SSH, checked host keys, through the jump host."""

    def check(node: NodeRecord) -> None:
        last = ""
        for _ in range(20):
            done = proc.probe([*ssh_argv(state, node.name), "true"], timeout=30)
            if done.returncode == 0:
                return
            last = done.stderr.strip()
            time.sleep(0.5)
        raise LabError(f"ssh to {node.name} ({node.addresses['mgmt']}) failed: {last}")

    _parallel(check, state.nodes)


# -- ssh --------------------------------------------------------------------------


def ssh_options(state: LabState) -> list[str]:
    return [
        "-i", str(state.private_key),
        "-o", "IdentitiesOnly=yes",
        "-o", f"UserKnownHostsFile={state.known_hosts}",
        "-o", "StrictHostKeyChecking=yes",
        "-o", "BatchMode=yes",
        "-o", "ConnectTimeout=10",
        "-o", "LogLevel=ERROR",
    ]


def ssh_argv(state: LabState, node: str, command: Sequence[str] = ()) -> list[str]:
    """ssh argv for a node (through the jump host if the lab has one)."""
    record = state.node(node)
    options = ssh_options(state)
    if state.jump_address:
        hop = ["ssh", *options, "-W", "%h:%p", f"root@{state.jump_address}"]
        options += ["-o", f"ProxyCommand={shlex.join(hop)}"]
    return ["ssh", *options, f"root@{record.addresses['mgmt']}", *command]


def ssh(name: str, node: str, command: Sequence[str] = ()) -> list[str]:
    state = LabState.load(name)
    if state is None:
        raise LabError(f"no lab named {name}; `taco lab ls` lists the labs")
    return ssh_argv(state, node, command)


# -- down -------------------------------------------------------------------------


def down(name: str, log: Callable[[str], None] = print) -> bool:
    """Remove a lab; False if there was none (not an error: the goal is reached)."""
    state = LabState.load(name)
    if state is None:
        if not lab_dir(name).exists():
            return False
        # No state file: nothing recorded, but loop devices on its files still go.
        teardown(LabState(name=name, suite="", node_count=0, jump=False,
                          disks_per_node=0, disk_size=""), log)
        return True
    teardown(state, log)
    return True


def teardown(state: LabState, log: Callable[[str], None]) -> None:
    """Remove everything the state records; keep going past failures, report them all."""
    problems: list[str] = []
    if state.containers:
        done = proc.probe(["podman", "rm", "--force", "--ignore", "--time", "0",
                           *state.containers], timeout=120)
        if done.returncode != 0:
            problems.append(done.stderr.strip())
    for network in reversed(state.networks):
        done = proc.probe(["podman", "network", "rm", "--force", network], timeout=60)
        if done.returncode != 0 and "network not found" not in done.stderr:
            problems.append(done.stderr.strip())
    # Recorded devices still backed by our file, plus any backed by a file in the lab
    # directory (a crash between losetup and saving the state). A recorded number now
    # backed by another file was reused by someone else: left alone.
    # The kernel reports the resolved path of a backing file.
    ours = {str(Path(loop.file).resolve()) for loop in state.loop_devices}
    inside = str(state.directory.resolve()) + "/"
    detached = 0
    for device, backing in _loop_devices().items():
        path = backing.removesuffix(" (deleted)")
        if path in ours or path.startswith(inside):
            done = proc.probe(["losetup", "--detach", device])
            if done.returncode != 0:
                problems.append(f"losetup -d {device}: {done.stderr.strip()}")
            detached += 1
    if problems:
        state.save()
        raise LabError(f"lab {state.name} was not fully removed: " + "; ".join(problems))
    shutil.rmtree(state.directory)
    log(f"lab {state.name} removed ({len(state.containers)} containers, "
        f"{len(state.networks)} networks, {detached} loop devices)")


def _loop_devices() -> dict[str, str]:
    """Attached loop devices and their backing files, from the kernel."""
    out = proc.run(["losetup", "--list", "--json", "--output", "NAME,BACK-FILE"])
    rows = json.loads(out or "{}").get("loopdevices", [])
    return {row["name"]: row.get("back-file") or "" for row in rows}


# -- ls ---------------------------------------------------------------------------


def list_labs() -> list[LabSummary]:
    summaries = []
    for state in all_labs():
        running = _podman_names(["ps", "--filter", "status=running"], state.name)
        expected = len(state.containers)
        if state.status == "up":
            condition = "up" if len(running) == expected else f"{len(running)}/{expected} running"
        else:
            condition = state.status
        summaries.append(LabSummary(state.name, state.node_count, state.jump, condition,
                                    state.site_file))
    return summaries


def _podman_names(command: list[str], lab: str) -> list[str]:
    """Names of podman containers or networks labelled as belonging to a lab."""
    out = proc.run(["podman", *command, "--filter", f"label={LABEL}={lab}",
                    "--format", "{{.Name}}" if command[0] == "network" else "{{.Names}}"])
    return out.split()


def _parallel(work: Callable[[_T], _R], items: Iterable[_T]) -> list[_R]:
    """Run podman calls side by side (podman locks per container), keep the order."""
    listed = list(items)
    if not listed:
        return []
    with ThreadPoolExecutor(max_workers=min(8, len(listed))) as pool:
        return list(pool.map(work, listed))
