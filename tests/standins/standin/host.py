"""The host a stand-in acts on: filesystem root, systemd, ports, swap, cgroups, the CRI socket.

TACO_STANDIN_ROOT moves every path under another directory so tests can run the stand-ins
on the test machine without touching it. On a lab node it is unset and paths are the real
ones. systemd is only used when <root>/run/systemd/system exists, so a test root never
reaches the test machine's init system.
"""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

ROOT_ENV = "TACO_STANDIN_ROOT"


class Failure(Exception):
    """A stand-in refuses: the message is what the user sees, the code is the exit status."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def root() -> Path:
    return Path(os.environ.get(ROOT_ENV) or "/")


def path(absolute: str) -> Path:
    """A host path (always written absolute, as on a node) under the current root."""
    base = root()
    if str(base) == "/":
        return Path(absolute)
    return base / absolute.lstrip("/")


def display(host_path: Path) -> str:
    """How a rooted path appears in messages: as the node path, without the test root."""
    base = root()
    if str(base) == "/":
        return str(host_path)
    try:
        return "/" + str(host_path.relative_to(base))
    except ValueError:
        return str(host_path)


def write_file(target: Path, content: str | bytes, mode: int = 0o644) -> None:
    """Write atomically with the given mode (secrets never exist world-readable)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.tmp{os.getpid()}")
    data = content.encode() if isinstance(content, str) else content
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.write(descriptor, data)
    finally:
        os.close(descriptor)
    os.chmod(temporary, mode)
    os.replace(temporary, target)


def hostname() -> str:
    if str(root()) != "/":
        named = path("/etc/hostname")
        if named.is_file():
            return named.read_text().strip()
    return socket.gethostname()


def systemd_running() -> bool:
    return path("/run/systemd/system").is_dir()


def systemctl(*args: str) -> subprocess.CompletedProcess[str] | None:
    """Run systemctl when this root has a running systemd; None when it has none."""
    if not systemd_running():
        return None
    return subprocess.run(["systemctl", *args], capture_output=True, text=True, check=False)


def port_in_use(port: int) -> bool:
    """True when something already listens on the port (the check kubeadm makes by binding)."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        probe.bind(("", port))
    except OSError:
        return True
    finally:
        probe.close()
    return False


def swap_on() -> bool:
    swaps = path("/proc/swaps")
    if not swaps.is_file():
        return False
    return len([line for line in swaps.read_text().splitlines() if line.strip()]) > 1


def cgroup_v2() -> bool:
    """The unified hierarchy is mounted at /sys/fs/cgroup (what kubelet calls cgroup v2)."""
    return path("/sys/fs/cgroup/cgroup.controllers").exists()


def read_sysctl(name: str) -> str | None:
    target = path("/proc/sys/" + name.replace(".", "/"))
    return target.read_text().strip() if target.is_file() else None


def socket_path(endpoint: str) -> Path:
    """The file of a CRI endpoint such as unix:///run/containerd/containerd.sock."""
    if not endpoint.startswith("unix://"):
        raise Failure(f"unsupported CRI endpoint {endpoint!r}: only unix:// sockets on Linux")
    return path(endpoint[len("unix://"):])


def cri_answers(endpoint: str) -> str | None:
    """None when the runtime socket accepts connections, else why it does not."""
    try:
        target = socket_path(endpoint)
    except Failure as exc:
        return exc.message
    try:
        mode = target.stat().st_mode
    except OSError:
        return f"{endpoint}: no such socket ({display(target)} does not exist)"
    if not stat.S_ISSOCK(mode):
        return f"{endpoint}: {display(target)} is not a socket"
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    client.settimeout(2)
    try:
        client.connect(str(target))
    except OSError as exc:
        return f"{endpoint}: connection refused ({exc.strerror})"
    finally:
        client.close()
    return None


def default_address() -> str:
    """The address of the interface with the default route (kubeadm's and kubelet's guess)."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("10.255.255.255", 1))
        return str(probe.getsockname()[0])
    except OSError:
        return "127.0.0.1"
    finally:
        probe.close()


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def warn(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
