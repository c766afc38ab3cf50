"""STAND-IN kubelet 1.35: a daemon that registers its Node and runs the control plane pods.

Started by systemd with the flags kubeadm's drop-in passes (--config, --kubeconfig,
--bootstrap-kubeconfig and KUBELET_KUBEADM_ARGS). Like the real kubelet it exits when its
config file is missing (systemd restarts it until kubeadm writes one), refuses cgroup v1
unless failCgroupV1 is false, refuses swap unless failSwapOn is false, needs the container
runtime's socket, does the TLS bootstrap of a joining node, and reports Ready only once a
CNI configuration exists in /etc/cni/net.d. It runs the kube-apiserver static Pod as the
stand-in apiserver process; etcd, the controller manager and the scheduler are reported
Running because the stand-in apiserver does their work. Other images cannot run here.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import hashlib
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from standin import KUBERNETES_VERSION, STAND_IN_NOTE, host, kinds, kubeconfig, pki, yamlio
from standin.apiserver import parse_flags
from standin.client import ApiClient, ApiError, Unreachable
from standin.host import Failure

RUN_DIR = "/run/taco-standin"
CNI_DIR = "/etc/cni/net.d"
CONTROL_PLANE = ("kube-apiserver", "etcd", "kube-controller-manager", "kube-scheduler")
KNOWN_FLAGS = {
    "config", "kubeconfig", "bootstrap-kubeconfig", "container-runtime-endpoint",
    "hostname-override", "node-ip", "node-labels", "register-with-taints",
    "pod-infra-container-image", "v", "cert-dir", "root-dir", "runtime-request-timeout",
    "cgroup-driver", "fail-swap-on", "max-pods", "cluster-dns", "cluster-domain",
    "provider-id", "cloud-provider", "image-credential-provider-config",
    "image-credential-provider-bin-dir", "resolv-conf", "rotate-certificates", "feature-gates",
    "logging-format", "seccomp-default", "kube-reserved", "system-reserved", "eviction-hard",
    "node-status-update-frequency", "volume-plugin-dir", "image-service-endpoint",
    "register-node", "address", "tls-cert-file", "tls-private-key-file",
}


def log(message: str) -> None:
    stamp = dt.datetime.now().strftime("%m%d %H:%M:%S")
    print(f"I{stamp} {message}", file=sys.stderr, flush=True)


def fatal(message: str) -> Failure:
    stamp = dt.datetime.now().strftime("%m%d %H:%M:%S")
    return Failure(f'E{stamp} "command failed" err="{message}"')


def now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def own_archive() -> str:
    """The zipapp this code runs from (the stand-in apiserver is started from it too)."""
    return str(Path(__file__).resolve().parents[1])


def cni_configured() -> bool:
    directory = host.path(CNI_DIR)
    return directory.is_dir() and any(
        entry.suffix in (".conf", ".conflist", ".json") and not entry.name.startswith(".")
        for entry in directory.iterdir())


def runtime_version() -> str:
    binary = shutil.which("containerd")
    if binary:
        answer = subprocess.run([binary, "--version"], capture_output=True, text=True, check=False)
        parts = answer.stdout.split()
        if len(parts) >= 3:
            return f"containerd://{parts[2]}"
    return "containerd://unknown"


def _meminfo_kib() -> int:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _os_image() -> str:
    release = host.path("/etc/os-release")
    if release.is_file():
        match = re.search(r'^PRETTY_NAME="?([^"\n]*)"?', release.read_text(), re.MULTILINE)
        if match:
            return match.group(1)
    return "Linux"


class Pod:
    """One static Pod from the manifest directory and the process behind it, if any."""

    def __init__(self, manifest: dict[str, Any], digest: str, node: str) -> None:
        self.manifest = manifest
        self.digest = digest
        self.name = f"{manifest['metadata']['name']}-{node}"
        self.namespace = manifest["metadata"].get("namespace", "default")
        container = (manifest.get("spec", {}).get("containers") or [{}])[0]
        self.container = container
        image = str(container.get("image", ""))
        self.component = image.rsplit("/", 1)[-1].split(":")[0].split("@")[0]
        self.restarts = 0
        self.started = now()

    @property
    def runnable(self) -> bool:
        return self.component in CONTROL_PLANE

    @property
    def executes(self) -> bool:
        return self.component == "kube-apiserver"


class Kubelet:
    def __init__(self, flags: dict[str, str]) -> None:
        self.flags = flags
        self.config_path = flags.get("config")
        self.config = self._load_config()
        self.node_name = (flags.get("hostname-override") or host.hostname()).lower()
        self.endpoint = (flags.get("container-runtime-endpoint")
                         or self.config.get("containerRuntimeEndpoint")
                         or "unix:///run/containerd/containerd.sock")
        self.cert_dir = host.path(flags.get("cert-dir", "/var/lib/kubelet/pki"))
        self.pods: dict[str, Pod] = {}
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.api: ApiClient | None = None
        self.registered = False
        self.last_status = 0.0
        self.last_ready: bool | None = None
        self.stopping = threading.Event()

    # -- start-up checks, in the order the real kubelet fails them ---------------------------

    def _load_config(self) -> dict[str, Any]:
        if not self.config_path:
            return {}
        target = host.path(self.config_path)
        shown = self.config_path
        try:
            text = target.read_text()
        except OSError:
            raise fatal(f"failed to load kubelet config file, path: {shown}, error: failed to "
                        f"load Kubelet config file {shown}, error failed to read kubelet config "
                        f'file "{shown}", error: open {shown}: no such file or directory') from None
        try:
            document = yamlio.load_one(text, shown)
        except ValueError as exc:
            raise fatal(f"failed to load kubelet config file, path: {shown}, error: {exc}"
                        ) from None
        if not isinstance(document, dict) or document.get("kind") != "KubeletConfiguration" or \
                document.get("apiVersion") != "kubelet.config.k8s.io/v1beta1":
            raise fatal(f"failed to load kubelet config file, path: {shown}, error: not a "
                        "kubelet.config.k8s.io/v1beta1 KubeletConfiguration")
        return document

    def preflight(self) -> None:
        if not host.cgroup_v2() and self.config.get("failCgroupV1", True) is not False:
            raise fatal("failed to run Kubelet: kubelet is configured to not run on a host using "
                        "cgroup v1. cgroup v1 support is unsupported and will be removed in a "
                        "future release (set failCgroupV1: false in the KubeletConfiguration to "
                        "run on cgroup v1)")
        fail_swap = self.flags.get("fail-swap-on", str(self.config.get("failSwapOn", True)))
        if host.swap_on() and str(fail_swap).lower() != "false":
            raise fatal("failed to run Kubelet: running with swap on is not supported, please "
                        "disable swap or set --fail-swap-on flag to false")
        problem = host.cri_answers(self.endpoint)
        if problem is not None:
            raise fatal(f'failed to run Kubelet: validate service connection: validate CRI v1 '
                        f'runtime API for endpoint "{self.endpoint}": rpc error: code = '
                        f"Unavailable desc = connection error: {problem}")

    # -- credentials -----------------------------------------------------------------------

    def connect(self) -> None:
        kubeconfig_flag = self.flags.get("kubeconfig")
        if not kubeconfig_flag:
            log("no --kubeconfig: running in standalone mode (static pods only)")
            return
        target = host.path(kubeconfig_flag)
        if not target.exists():
            bootstrap = self.flags.get("bootstrap-kubeconfig")
            if not bootstrap or not host.path(bootstrap).exists():
                raise fatal(f"failed to run Kubelet: unable to load bootstrap kubeconfig: stat "
                            f"{bootstrap or '<none>'}: no such file or directory")
            self.tls_bootstrap(host.path(bootstrap), target)
        self.api = ApiClient(kubeconfig.load(target), timeout=10)

    def tls_bootstrap(self, bootstrap: Path, target: Path) -> None:
        """Ask the cluster for a client certificate with the bootstrap token, then keep it."""
        credentials = kubeconfig.load(bootstrap)
        api = ApiClient(credentials, timeout=10)
        key = pki.Key.generate()
        request = pki.certificate_request(key, f"system:node:{self.node_name}", ("system:nodes",))
        resource = kinds.builtin("CertificateSigningRequest", "certificates.k8s.io")
        body = {"apiVersion": resource.api_version, "kind": resource.kind,
                "metadata": {"generateName": "csr-"},
                "spec": {"request": base64.b64encode(request.encode()).decode(),
                         "signerName": "kubernetes.io/kube-apiserver-client-kubelet",
                         "usages": ["digital signature", "client auth"]}}
        log("TLS bootstrap: requesting a client certificate")
        try:
            created = api.request("POST", resource.path(), body)
        except (ApiError, Unreachable) as exc:
            raise fatal(f"failed to run Kubelet: failed to bootstrap client certificate: "
                        f"{exc}") from None
        name = created["metadata"]["name"]
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            try:
                current = api.request("GET", resource.path(name=name))
            except (ApiError, Unreachable):
                current = {}
            status = current.get("status") or {}
            if status.get("certificate"):
                pem = base64.b64decode(status["certificate"]).decode()
                break
            if any(c.get("type") in ("Denied", "Failed") for c in status.get("conditions") or []):
                raise fatal(f"failed to run Kubelet: certificate request {name} was refused: "
                            f"{status}")
            time.sleep(1)
        else:
            raise fatal("failed to run Kubelet: timed out waiting for the client certificate")
        stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d-%H-%M-%S")
        pair = self.cert_dir / f"kubelet-client-{stamp}.pem"
        host.write_file(pair, pem + key.pem(), 0o600)
        current_link = self.cert_dir / "kubelet-client-current.pem"
        current_link.unlink(missing_ok=True)
        current_link.symlink_to(pair.name)
        node_path = f"{host.display(self.cert_dir)}/kubelet-client-current.pem"
        parsed = yamlio.load_one(bootstrap.read_text(), str(bootstrap))
        cluster = parsed["clusters"][0]
        kubeconfig.write(target, kubeconfig.build(
            cluster=str(cluster["name"]), server=credentials.server,
            ca_pem=credentials.ca_pem or "", user="default-auth", cert_file=node_path))
        log(f"TLS bootstrap done: {host.display(target)} written")

    # -- static pods -----------------------------------------------------------------------

    def manifests(self) -> dict[str, Pod]:
        path = self.config.get("staticPodPath")
        found: dict[str, Pod] = {}
        if not path:
            return found
        directory = host.path(path)
        if not directory.is_dir():
            return found
        for entry in sorted(directory.iterdir()):
            if entry.name.startswith(".") or entry.suffix not in (".yaml", ".yml", ".json"):
                continue
            text = entry.read_text()
            try:
                manifest = yamlio.load_one(text, str(entry))
            except ValueError as exc:
                log(f"could not read static pod {entry.name}: {exc}")
                continue
            if not isinstance(manifest, dict) or manifest.get("kind") != "Pod":
                continue
            pod = Pod(manifest, hashlib.sha256(text.encode()).hexdigest()[:16], self.node_name)
            found[pod.name] = pod
        return found

    def _record(self, pod: Pod) -> Path:
        return host.path(f"{RUN_DIR}/pods/{pod.name}.json")

    def _command(self, pod: Pod) -> list[str]:
        words = [str(w) for w in (pod.container.get("command") or [])] + [
            str(w) for w in (pod.container.get("args") or [])]
        return [sys.executable, "-m", "standin.apiserver", *words[1:]]

    def _alive(self, pod: Pod) -> bool:
        record = self._record(pod)
        if not record.exists():
            return False
        info = json.loads(record.read_text())
        if info.get("digest") != pod.digest:
            return False
        if info.get("unit"):
            answer = host.systemctl("is-active", info["unit"])
            return answer is not None and answer.stdout.strip() == "active"
        process = self.processes.get(pod.name)
        if process is not None:
            return process.poll() is None
        return bool(info.get("pid")) and host.pid_alive(int(info["pid"]))

    def _stop(self, name: str) -> None:
        record = host.path(f"{RUN_DIR}/pods/{name}.json")
        if record.exists():
            info = json.loads(record.read_text())
            if info.get("unit"):
                host.systemctl("stop", info["unit"])
            elif info.get("pid") and host.pid_alive(int(info["pid"])):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(info["pid"]), signal.SIGTERM)
            record.unlink(missing_ok=True)
        process = self.processes.pop(name, None)
        if process is not None:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()

    def _start(self, pod: Pod) -> None:
        self._stop(pod.name)
        command = self._command(pod)
        environment = {**os.environ, "PYTHONPATH": own_archive()}
        record: dict[str, Any] = {"name": pod.name, "digest": pod.digest}
        if host.systemd_running():
            unit = f"taco-standin-{pod.name}"
            host.systemctl("reset-failed", f"{unit}.service")
            subprocess.run(["systemd-run", f"--unit={unit}", "--quiet", "--collect",
                            f"--setenv=PYTHONPATH={own_archive()}",
                            f"--description=STAND-IN static pod {pod.name}", "--", *command],
                           check=True)
            record["unit"] = unit
        else:
            logs = host.path(f"/var/log/pods/{pod.namespace}_{pod.name}")
            logs.mkdir(parents=True, exist_ok=True)
            with (logs / f"{pod.component}.log").open("ab") as output:
                process = subprocess.Popen(command, env=environment, stdout=output,
                                           stderr=output, start_new_session=True)
            self.processes[pod.name] = process
            record["pid"] = process.pid
        host.write_file(self._record(pod), json.dumps(record), 0o600)
        pod.started = now()
        log(f"started static pod {pod.name} ({' '.join(command[3:5])} ...)")

    def sync_pods(self) -> None:
        wanted = self.manifests()
        for name in set(self.pods) - set(wanted):
            log(f"static pod {name} removed from the manifests: stopping it")
            self._stop(name)
            self._delete_mirror(self.pods[name])
        for name, pod in wanted.items():
            known = self.pods.get(name)
            if known is not None and known.digest == pod.digest:
                pod.restarts, pod.started = known.restarts, known.started
            if pod.executes and not self._alive(pod):
                if known is not None and known.digest == pod.digest:
                    pod.restarts += 1
                self._start(pod)
        self.pods = wanted

    # -- the API side ---------------------------------------------------------------------

    def node_object(self) -> dict[str, Any]:
        arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
        labels = {"beta.kubernetes.io/arch": arch, "beta.kubernetes.io/os": "linux",
                  "kubernetes.io/arch": arch, "kubernetes.io/hostname": self.node_name,
                  "kubernetes.io/os": "linux"}
        for item in filter(None, self.flags.get("node-labels", "").split(",")):
            key, _, value = item.partition("=")
            labels[key] = value
        taints = list(self.config.get("registerWithTaints") or [])
        for item in filter(None, self.flags.get("register-with-taints", "").split(",")):
            key_value, _, effect = item.partition(":")
            key, _, value = key_value.partition("=")
            taints.append({"key": key, "value": value, "effect": effect} if value
                          else {"key": key, "effect": effect})
        return {"apiVersion": "v1", "kind": "Node",
                "metadata": {"name": self.node_name, "labels": labels, "annotations": {
                    "kubeadm.alpha.kubernetes.io/cri-socket": self.endpoint,
                    "node.alpha.kubernetes.io/ttl": "0",
                    "volumes.kubernetes.io/controller-managed-attach-detach": "true"}},
                "spec": {"taints": taints} if taints else {},
                "status": self.node_status()}

    def node_status(self) -> dict[str, Any]:
        ready = cni_configured()
        stamp = now()
        address = self.flags.get("node-ip", "").split(",")[0] or host.default_address()
        cpus = str(os.cpu_count() or 1)
        memory = f"{_meminfo_kib()}Ki"
        pods = str(self.config.get("maxPods", 110))

        def condition(kind: str, status: str, reason: str, message: str) -> dict[str, str]:
            return {"type": kind, "status": status, "reason": reason, "message": message,
                    "lastHeartbeatTime": stamp, "lastTransitionTime": stamp}

        return {
            "addresses": [{"type": "InternalIP", "address": address},
                          {"type": "Hostname", "address": self.node_name}],
            "capacity": {"cpu": cpus, "memory": memory, "pods": pods,
                         "ephemeral-storage": "20Gi"},
            "allocatable": {"cpu": cpus, "memory": memory, "pods": pods,
                            "ephemeral-storage": "20Gi"},
            "conditions": [
                condition("MemoryPressure", "False", "KubeletHasSufficientMemory",
                          "kubelet has sufficient memory available"),
                condition("DiskPressure", "False", "KubeletHasNoDiskPressure",
                          "kubelet has no disk pressure"),
                condition("PIDPressure", "False", "KubeletHasSufficientPID",
                          "kubelet has sufficient PID available"),
                condition("Ready", "True", "KubeletReady", "kubelet is posting ready status")
                if ready else
                condition("Ready", "False", "KubeletNotReady", "container runtime network not "
                          "ready: NetworkReady=false reason:NetworkPluginNotReady message:Network "
                          "plugin returns error: cni plugin not initialized"),
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": int(self.config.get("port", 10250))}},
            "nodeInfo": {"architecture": platform.machine(), "bootID": "",
                         "containerRuntimeVersion": runtime_version(),
                         "kernelVersion": platform.release(), "kubeProxyVersion": "",
                         "kubeletVersion": f"v{KUBERNETES_VERSION}", "machineID": "",
                         "operatingSystem": "linux", "osImage": _os_image(), "systemUUID": ""},
        }

    def sync_node(self) -> None:
        if self.api is None:
            return
        nodes = kinds.builtin("Node")
        ready = cni_configured()
        try:
            if not self.registered:
                try:
                    self.api.request("POST", nodes.path(), self.node_object())
                    log(f'Successfully registered node "{self.node_name}"')
                except ApiError as exc:
                    if exc.code != 409:
                        raise
                self.registered = True
                self.last_status = 0.0
            interval = 10.0
            if time.monotonic() - self.last_status > interval or ready != self.last_ready:
                current = self.api.request("GET", nodes.path(name=self.node_name))
                current["status"] = self.node_status()
                self.api.request("PUT", nodes.path(name=self.node_name) + "/status", current)
                self.last_status = time.monotonic()
                if ready != self.last_ready:
                    log(f'Node "{self.node_name}" is {"Ready" if ready else "NotReady"}')
                self.last_ready = ready
        except ApiError as exc:
            if exc.code == 404:
                self.registered = False  # deleted (kubectl delete node): register again
            log(f"node status: {exc.message}")
        except Unreachable as exc:
            log(f"node status: {exc}")

    def _mirror(self, pod: Pod) -> dict[str, Any]:
        manifest = pod.manifest
        meta = dict(manifest["metadata"])
        meta["name"] = pod.name
        meta["annotations"] = {**(meta.get("annotations") or {}),
                               "kubernetes.io/config.hash": pod.digest,
                               "kubernetes.io/config.mirror": pod.digest,
                               "kubernetes.io/config.source": "file",
                               "kubernetes.io/config.seen": pod.started}
        meta["ownerReferences"] = [{"apiVersion": "v1", "kind": "Node", "name": self.node_name,
                                    "uid": "", "controller": True}]
        spec = dict(manifest.get("spec") or {})
        spec["nodeName"] = self.node_name
        return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec,
                "status": self._pod_status(pod)}

    def _pod_status(self, pod: Pod) -> dict[str, Any]:
        address = self.flags.get("node-ip", "").split(",")[0] or host.default_address()
        container = pod.container.get("name", pod.component)
        base = {"hostIP": address, "podIP": address, "startTime": pod.started,
                "qosClass": "Burstable"}
        if not pod.runnable:
            return {**base, "phase": "Pending", "conditions": [
                {"type": "PodScheduled", "status": "True"},
                {"type": "Ready", "status": "False", "reason": "ContainersNotReady"}],
                "containerStatuses": [{"name": container, "ready": False, "restartCount": 0,
                                       "image": pod.container.get("image"), "state": {"waiting": {
                                           "reason": "ErrImagePull",
                                           "message": "the STAND-IN kubelet runs only the "
                                                      "control plane images "
                                                      f"({', '.join(CONTROL_PLANE)})"}}}]}
        running = not pod.executes or self._alive(pod)
        return {**base, "phase": "Running" if running else "Pending",
                "conditions": [{"type": kind, "status": "True" if running else "False"}
                               for kind in ("PodScheduled", "Initialized", "ContainersReady",
                                            "Ready")],
                "containerStatuses": [{"name": container, "ready": running, "started": running,
                                       "restartCount": pod.restarts,
                                       "image": pod.container.get("image"),
                                       "state": {"running": {"startedAt": pod.started}}
                                       if running else {"waiting": {
                                           "reason": "CrashLoopBackOff"}}}]}

    def sync_mirrors(self) -> None:
        if self.api is None or not self.registered:
            return
        resource = kinds.builtin("Pod")
        for pod in self.pods.values():
            path = resource.path(pod.namespace, pod.name)
            try:
                try:
                    current = self.api.request("GET", path)
                except ApiError as exc:
                    if exc.code != 404:
                        raise
                    self.api.request("POST", resource.path(pod.namespace), self._mirror(pod))
                    continue
                annotations = current["metadata"].get("annotations") or {}
                if annotations.get("kubernetes.io/config.mirror") != pod.digest:
                    self.api.request("DELETE", path)
                    self.api.request("POST", resource.path(pod.namespace), self._mirror(pod))
                    continue
                status = self._pod_status(pod)
                if current.get("status") != status:
                    current["status"] = status
                    self.api.request("PUT", path + "/status", current)
            except (ApiError, Unreachable) as exc:
                log(f"mirror pod {pod.name}: {exc}")

    def _delete_mirror(self, pod: Pod) -> None:
        if self.api is None:
            return
        with contextlib.suppress(ApiError, Unreachable):
            self.api.request("DELETE", kinds.builtin("Pod").path(pod.namespace, pod.name))

    # -- the loop ---------------------------------------------------------------------------

    def serve_health(self) -> None:
        port = int(self.config.get("healthzPort", 10248))
        if port == 0:
            return
        address = self.config.get("healthzBindAddress", "127.0.0.1")

        class Health(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = b"ok"
                self.send_response(200 if self.path.startswith("/healthz") else 404)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return

        try:
            server = ThreadingHTTPServer((address, port), Health)
        except OSError as exc:
            raise fatal(f"failed to run Kubelet: failed to listen on {address}:{port}: {exc}"
                        ) from None
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()

    def run(self) -> None:
        log(f"STAND-IN kubelet v{KUBERNETES_VERSION} starting for node {self.node_name}")
        self.preflight()
        self.serve_health()
        self.sync_pods()
        self.connect()
        while not self.stopping.is_set():
            self.sync_pods()
            self.sync_node()
            self.sync_mirrors()
            self.stopping.wait(2)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["--version"]:
        print(f"Kubernetes v{KUBERNETES_VERSION} ({STAND_IN_NOTE})")
        return 0
    try:
        flags = parse_flags(args, KNOWN_FLAGS, "kubelet")
        kubelet = Kubelet(flags)

        def stop(signum: int, frame: Any) -> None:
            kubelet.stopping.set()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        kubelet.run()
    except Failure as exc:
        print(exc.message, file=sys.stderr, flush=True)
        return exc.code
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
