"""pytest fixtures for the stand-ins: built executables, fake node roots, the test mirror.

- `standin_bin`: the four stand-in executables, built once per session.
- `standin_host_factory` / `standin_host`: a node on this machine under a temporary root
  (TACO_STANDIN_ROOT): /etc/hostname, ip_forward=1, cgroup v2, and a listening socket where
  containerd's would be. Nothing outside the root is touched; every process a test starts
  there is stopped at teardown.
- `standin_mirror`: the test artifact mirror (stand-ins + real Debian packages, with their
  artifacts.yml), built once and cached by content hash, served over HTTP on loopback.

Import them into a test module with `from fixtures import ...` after putting tests/standins
on sys.path (see tests/unit/test_standins_*.py).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml
import zipapps

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

CRI_SOCKET = "unix:///var/run/containerd/containerd.sock"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="session")
def standin_bin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding kubeadm, kubelet, kubectl and helm (the stand-ins)."""
    directory = tmp_path_factory.mktemp("standin-bin")
    zipapps.build(directory)
    return directory


class _CriSocket:
    """A unix socket that accepts connections, where containerd's socket would be."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(str(path))
        self.server.listen(16)
        self.server.settimeout(0.5)
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stopped.is_set():
            try:
                connection, _ = self.server.accept()
            except (TimeoutError, OSError):
                continue
            connection.close()

    def close(self) -> None:
        self.stopped.set()
        self.thread.join(timeout=2)
        self.server.close()


@dataclass
class StandinHost:
    """A node root on this machine: run the stand-ins against it like on a lab node."""

    root: Path
    bin: Path
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    cri: _CriSocket | None = None
    stopping: threading.Event = field(default_factory=threading.Event)
    supervisors: list[threading.Thread] = field(default_factory=list)

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "TACO_STANDIN_ROOT": str(self.root),
                "PATH": f"{self.bin}:{os.environ.get('PATH', '')}",
                "HOME": "/root"}  # a node path, as on a node: the stand-ins root it

    def path(self, node_path: str) -> Path:
        return self.root / node_path.lstrip("/")

    def run(self, tool: str, *args: str, stdin: str | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, str(self.bin / tool), *args], env=self.env,
                              capture_output=True, text=True, input=stdin, timeout=timeout,
                              check=False)

    def start(self, tool: str, *args: str) -> subprocess.Popen[bytes]:
        log = self.path(f"/var/log/{tool}.log")
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as output:
            process = subprocess.Popen([sys.executable, str(self.bin / tool), *args],
                                       env=self.env, stdout=output, stderr=output,
                                       start_new_session=True)
        self.processes.append(process)
        return process

    def kubelet_args(self) -> list[str]:
        """What kubeadm's systemd drop-in (10-kubeadm.conf) passes to the kubelet."""
        flags = ["--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf",
                 "--kubeconfig=/etc/kubernetes/kubelet.conf",
                 "--config=/var/lib/kubelet/config.yaml"]
        environment = self.path("/var/lib/kubelet/kubeadm-flags.env")
        if environment.exists():
            line = environment.read_text().strip()
            flags += shlex.split(line.partition("=")[2].strip('"'))
        return flags

    def supervise_kubelet(self, restart_after: float = 1.0) -> threading.Thread:
        """Keep a kubelet running once kubeadm configured one: systemd's Restart=always
        (RestartSec shortened), with the flags of kubeadm's drop-in read at each start."""
        def loop() -> None:
            kubelet: subprocess.Popen[bytes] | None = None
            config = self.path("/var/lib/kubelet/config.yaml")
            flags = self.path("/var/lib/kubelet/kubeadm-flags.env")
            while not self.stopping.is_set():
                if (kubelet is None or kubelet.poll() is not None) and config.exists() \
                        and flags.exists():
                    kubelet = self.start("kubelet", *self.kubelet_args())
                self.stopping.wait(restart_after)

        thread = threading.Thread(target=loop, daemon=True)
        thread.start()
        self.supervisors.append(thread)
        return thread

    def kubectl(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return self.run("kubectl", f"--kubeconfig={self.path('/etc/kubernetes/admin.conf')}",
                        *args, timeout=timeout)

    def stop(self) -> None:
        self.stopping.set()
        for thread in self.supervisors:
            thread.join(timeout=5)
        pods = self.path("/run/taco-standin/pods")
        for record in pods.glob("*.json") if pods.is_dir() else []:
            with contextlib.suppress(OSError, ValueError, KeyError):
                pid = int(json.loads(record.read_text())["pid"])
                os.killpg(pid, signal.SIGTERM)
        for process in self.processes:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
        if self.cri is not None:
            self.cri.close()

    def logs(self) -> str:
        found = []
        for log in sorted(self.root.glob("var/log/**/*.log")):
            found.append(f"--- {log.relative_to(self.root)}\n{log.read_text()[-4000:]}")
        return "\n".join(found)


def make_host(root: Path, bin_dir: Path, name: str = "node1", *, cgroup_v2: bool = True,
              cri: bool = True) -> StandinHost:
    """Lay out a node root: hostname, /var/run -> /run, ip_forward=1, cgroups, the CRI socket."""
    (root / "etc").mkdir(parents=True, exist_ok=True)
    (root / "etc/hostname").write_text(name + "\n")
    (root / "run").mkdir(exist_ok=True)
    (root / "var").mkdir(exist_ok=True)
    if not (root / "var/run").exists():
        (root / "var/run").symlink_to("../run")
    forward = root / "proc/sys/net/ipv4/ip_forward"
    forward.parent.mkdir(parents=True, exist_ok=True)
    forward.write_text("1\n")
    if cgroup_v2:
        controllers = root / "sys/fs/cgroup/cgroup.controllers"
        controllers.parent.mkdir(parents=True, exist_ok=True)
        controllers.write_text("cpu memory pids\n")
    standin = StandinHost(root=root, bin=bin_dir)
    if cri:
        standin.cri = _CriSocket(root / "run/containerd/containerd.sock")
    return standin


@pytest.fixture
def standin_host_factory(standin_bin: Path) -> Iterator[Callable[..., StandinHost]]:
    """Make node roots (short paths: unix sockets allow 108 bytes); all stopped at teardown."""
    made: list[StandinHost] = []
    directories: list[str] = []

    def factory(name: str = "node1", **options: Any) -> StandinHost:
        directory = tempfile.mkdtemp(prefix="sti-")
        directories.append(directory)
        standin = make_host(Path(directory), standin_bin, name, **options)
        made.append(standin)
        return standin

    yield factory
    for standin in made:
        standin.stop()
    for directory in directories:
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def standin_host(standin_host_factory: Callable[..., StandinHost]) -> StandinHost:
    return standin_host_factory("node1")


def init_config(port: int, *, endpoint: bool = True, extra: str = "") -> str:
    """A valid kubeadm config for a stand-in control plane on 127.0.0.1:port."""
    cluster_endpoint = f"controlPlaneEndpoint: 127.0.0.1:{port}\n" if endpoint else ""
    return (
        "apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\n"
        f"localAPIEndpoint: {{advertiseAddress: 127.0.0.1, bindPort: {port}}}\n"
        "nodeRegistration:\n  name: node1\n  criSocket: " + CRI_SOCKET + "\n"
        "  kubeletExtraArgs: [{name: node-ip, value: 127.0.0.1}]\n"
        "timeouts: {controlPlaneComponentHealthCheck: 60s, kubeletHealthCheck: 60s}\n---\n"
        "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\n"
        "kubernetesVersion: v1.35.4\n" + cluster_endpoint +
        "networking: {podSubnet: 10.244.0.0/16, serviceSubnet: 10.96.0.0/12}\n---\n"
        "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n"
        "cgroupDriver: systemd\nhealthzPort: 0\n" + extra)


@dataclass(frozen=True)
class StandinCluster:
    """A stand-in control plane initialised with `kubeadm init --upload-certs`."""

    host: StandinHost
    port: int
    init_output: str
    certificate_key: str

    def join_command(self, *extra: str) -> list[str]:
        """`kubeadm token create --print-join-command` split into argv."""
        result = self.host.run("kubeadm", "token", "create", "--print-join-command",
                               "--kubeconfig", str(self.host.path("/etc/kubernetes/admin.conf")),
                               *extra)
        assert result.returncode == 0, result.stderr
        return result.stdout.split()


def initialise(standin: StandinHost, *, upload_certs: bool = True,
               extra: str = "") -> StandinCluster:
    """kubeadm init on a node root, with a kubelet kept running as systemd would."""
    port = free_port()
    config = standin.root / "kubeadm.yaml"
    config.write_text(init_config(port, extra=extra))
    standin.supervise_kubelet()
    args = ["init", "--config", str(config)] + (["--upload-certs"] if upload_certs else [])
    result = standin.run("kubeadm", *args, timeout=180)
    if result.returncode != 0:
        pytest.fail(f"kubeadm init failed:\n{result.stdout}\n{result.stderr}\n{standin.logs()}")
    match = re.search(r"certificate key:\n([0-9a-f]{64})", result.stdout)
    return StandinCluster(host=standin, port=port, init_output=result.stdout,
                          certificate_key=match.group(1) if match else "")


@pytest.fixture(scope="session")
def standin_cluster(standin_bin: Path) -> Iterator[StandinCluster]:
    """One initialised control plane (node1) shared by the tests of a session."""
    directory = tempfile.mkdtemp(prefix="stc-")
    standin = make_host(Path(directory), standin_bin, "node1")
    try:
        yield initialise(standin)
    finally:
        standin.stop()
        shutil.rmtree(directory, ignore_errors=True)


# -- the test mirror ------------------------------------------------------------------------


@dataclass(frozen=True)
class Mirror:
    """A served artifact mirror: its directory, base URL and manifest."""

    directory: Path
    url: str

    @property
    def manifest(self) -> Path:
        return self.directory / "artifacts.yml"

    def load(self) -> dict[str, Any]:
        return dict(yaml.safe_load(self.manifest.read_text()))


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return


@contextlib.contextmanager
def serve_directory(directory: Path, host: str = "127.0.0.1") -> Iterator[str]:
    """A plain threaded HTTP server for a directory, on a free port of `host` (loopback
    unless lab nodes must reach it: then the lab network's host address)."""
    def handler(*args: Any, **kwargs: Any) -> _QuietHandler:
        return _QuietHandler(*args, directory=str(directory), **kwargs)

    server = ThreadingHTTPServer((host, 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="session")
def standin_mirror() -> Iterator[Mirror]:
    """The test mirror, built once per content hash (kept in the temp dir between sessions)."""
    import build_mirror

    cache = Path(tempfile.gettempdir()) / f"taco-standin-mirror-{build_mirror.cache_key()[:16]}"
    if not (cache / "artifacts.yml").exists():
        for stale in cache.parent.glob("taco-standin-mirror-*"):
            if "." not in stale.name and stale != cache:  # finished mirrors of older sources
                shutil.rmtree(stale, ignore_errors=True)
        partial = cache.with_name(cache.name + f".partial{os.getpid()}")
        shutil.rmtree(partial, ignore_errors=True)
        build_mirror.build(partial)
        try:
            partial.rename(cache)
        except OSError:  # another session finished the same mirror first
            shutil.rmtree(partial, ignore_errors=True)
    with serve_directory(cache) as url:
        yield Mirror(directory=cache, url=url)
