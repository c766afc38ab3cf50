"""STAND-IN kubeadm 1.35: init, join, token, upload-certs, reset, config validate, version.

Writes what real kubeadm writes (PKI, kubeconfigs, static Pod manifests, kubelet config and
flags), starts the kubelet through systemd when there is one, waits for the control plane
the kubelet stand-in runs, and creates the same API objects (kubeadm-config, kubelet-config,
bootstrap tokens, cluster-info, RBAC, CoreDNS, kube-proxy). The preflight checks are the ones
installers meet: files left by an earlier run, ports, swap, ip_forward, cgroup v1, the CRI.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

from standin import (
    KUBERNETES_VERSION,
    STAND_IN_NOTE,
    host,
    kinds,
    kubeconfig,
    patches,
    pki,
    seal,
    tokens,
    yamlio,
)
from standin import kubeadm_config as config
from standin.client import ApiClient, ApiError, Unreachable
from standin.flags import Flag, parse
from standin.host import Failure
from standin.patches import PatchError, Patches

if TYPE_CHECKING:
    from collections.abc import Callable

K8S = "/etc/kubernetes"
MANIFESTS = "/etc/kubernetes/manifests"
KUBELET_DIR = "/var/lib/kubelet"
RUN_DIR = "/run/taco-standin"
CONTROL_PLANE_LABELS = ("node-role.kubernetes.io/control-plane",
                        "node.kubernetes.io/exclude-from-external-load-balancers")
CONTROL_PLANE_TAINT = {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}
COREDNS_IMAGE = "coredns/coredns:v1.12.4"
STACK_HINT = "To see the stack trace of this error execute with --v=5 or higher"
UPLOADED = {"ca.crt": "ca.crt", "ca.key": "ca.key", "sa.key": "sa.key", "sa.pub": "sa.pub",
            "front-proxy-ca.crt": "front-proxy-ca.crt", "front-proxy-ca.key": "front-proxy-ca.key",
            "etcd-ca.crt": "etcd/ca.crt", "etcd-ca.key": "etcd/ca.key"}


def say(text: str) -> None:
    print(text, flush=True)


def phase_error(phase: str, message: str) -> Failure:
    return Failure(f"error execution phase {phase}: {message}\n{STACK_HINT}")


# -- the API, through a kubeconfig ----------------------------------------------------------


def cli_path(value: str | None, default: str) -> Path:
    """A path from the command line is taken as given; a default is a node path (rooted)."""
    return Path(value) if value else host.path(default)


def client_from(path: Path, timeout: float = 30, retry_window: float = 0.0) -> ApiClient:
    return ApiClient(kubeconfig.load(path), timeout=timeout, retry_window=retry_window)


def call(api: ApiClient, method: str, path: str, body: Any = None, **kwargs: Any) -> Any:
    try:
        return api.request(method, path, body, **kwargs)
    except ApiError as exc:
        raise Failure(exc.message) from None
    except Unreachable as exc:
        raise Failure(str(exc)) from None


def ensure(api: ApiClient, obj: dict[str, Any]) -> None:
    """Create the object, or replace it when it exists (kubeadm's CreateOrUpdate)."""
    resource = kinds.builtin(obj["kind"], obj["apiVersion"].rpartition("/")[0])
    namespace = obj["metadata"].get("namespace")
    try:
        api.request("POST", resource.path(namespace), obj)
    except ApiError as exc:
        if exc.code != 409:
            raise Failure(exc.message) from None
        current = call(api, "GET", resource.path(namespace, obj["metadata"]["name"]))
        obj = {**obj, "metadata": {**obj["metadata"],
                                   "resourceVersion": current["metadata"]["resourceVersion"]}}
        call(api, "PUT", resource.path(namespace, obj["metadata"]["name"]), obj)
    except Unreachable as exc:
        raise Failure(str(exc)) from None


def wait_for(what: str, probe: Callable[[], bool], timeout: float, phase: str) -> float:
    start = time.monotonic()
    while True:
        if probe():
            return time.monotonic() - start
        if time.monotonic() - start > timeout:
            raise phase_error(phase, f"timed out waiting for {what} after {_duration(timeout)}")
        time.sleep(0.5)


def _duration(seconds: float) -> str:
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes}m{rest}s" if minutes else f"{rest}s"


# -- preflight ------------------------------------------------------------------------------


class Preflight:
    def __init__(self, ignored: list[str]) -> None:
        self.ignored = {name.lower() for name in ignored}
        self.errors: list[tuple[str, str]] = []
        self.warnings: list[tuple[str, str]] = []

    def check(self, name: str, problem: str | None, *, warning: bool = False) -> None:
        if problem is None:
            return
        if warning or name.lower() in self.ignored or "all" in self.ignored:
            self.warnings.append((name, problem))
        else:
            self.errors.append((name, problem))

    def finish(self) -> None:
        for name, problem in self.warnings:
            print(f"\t[WARNING {name}]: {problem}", file=sys.stderr, flush=True)
        if self.errors:
            lines = "\n".join(f"\t[ERROR {name}]: {problem}" for name, problem in self.errors)
            raise Failure("error execution phase preflight: [preflight] Some fatal errors "
                          f"occurred:\n{lines}\n[preflight] If you know what you are doing, you "
                          "can make a check non-fatal with `--ignore-preflight-errors=...`\n"
                          f"{STACK_HINT}")


def _file_available(preflight: Preflight, path: str) -> None:
    name = "FileAvailable-" + path.replace("/", "-")
    preflight.check(name, f"{path} already exists" if host.path(path).exists() else None)


def _dir_available(preflight: Preflight, path: str) -> None:
    target = host.path(path)
    busy = target.is_dir() and any(target.iterdir())
    preflight.check("DirAvailable-" + path.replace("/", "-"), f"{path} is not empty" if busy
                    else None)


def _port(preflight: Preflight, port: int) -> None:
    preflight.check(f"Port-{port}", f"Port {port} is in use" if host.port_in_use(port) else None)


def _common_checks(preflight: Preflight, cri_socket: str) -> None:
    preflight.check("IsPrivilegedUser", None if os.geteuid() == 0 else
                    "user is not running as root")
    problem = host.cri_answers(cri_socket)
    preflight.check("CRI", None if problem is None else
                    f"container runtime is not running: output: , error: {problem}")
    forward = host.read_sysctl("net.ipv4.ip_forward")
    if forward is None:
        preflight.check("FileContent--proc-sys-net-ipv4-ip_forward",
                        "/proc/sys/net/ipv4/ip_forward does not exist")
    elif forward != "1":
        preflight.check("FileContent--proc-sys-net-ipv4-ip_forward",
                        "/proc/sys/net/ipv4/ip_forward contents are not set to 1")
    if host.swap_on():
        preflight.check("Swap", "swap is supported for cgroup v2 only. The kubelet must be "
                        "properly configured to use swap. Please refer to https://kubernetes.io/"
                        "docs/concepts/architecture/nodes/#swap-memory, or disable swap on the "
                        "node", warning=True)
    if not host.cgroup_v2():
        preflight.check("SystemVerification", "cgroups v1 support is deprecated and will be "
                        "removed in a future release. Please migrate to cgroups v2. To "
                        "explicitly enable cgroups v1 support for kubelet v1.35 or newer, you "
                        "must set the kubelet configuration option 'FailCgroupV1' to 'false'. "
                        "You must also explicitly skip this validation. For more information, "
                        "see https://git.k8s.io/enhancements/keps/sig-node/5573-remove-cgroup-v1")
    containerd = shutil.which("containerd")
    if containerd and problem is None:
        answer = subprocess.run([containerd, "--version"], capture_output=True, text=True,
                                check=False)
        found = re.search(r" v?(\d+)\.(\d+)\.\d+", answer.stdout)
        if found and int(found.group(1)) < 2:
            preflight.check("ContainerRuntimeVersion", "You must update your container runtime "
                            "to a version that supports the CRI method RuntimeConfig. Falling "
                            "back to using cgroupDriver from kubelet config will be removed in "
                            "1.36. For more information, see https://git.k8s.io/enhancements/"
                            "keps/sig-node/4033-group-driver-detection-over-cri", warning=True)
    kubelet_binary = shutil.which("kubelet")
    if kubelet_binary is None:
        preflight.check("KubeletVersion", 'couldn\'t get kubelet version: exec: "kubelet": '
                        "executable file not found in $PATH")
    else:
        answer = subprocess.run([kubelet_binary, "--version"], capture_output=True, text=True,
                                check=False)
        match = re.search(r"v(\d+)\.(\d+)\.(\d+)", answer.stdout)
        mine = KUBERNETES_VERSION.split(".")
        if match is None:
            preflight.check("KubeletVersion", f"couldn't parse kubelet version {answer.stdout!r}")
        elif match.group(2) != mine[1] or match.group(1) != mine[0]:
            preflight.check("KubeletVersion", f"the kubelet version {match.group(0)} does not "
                            f"match the control plane version v{KUBERNETES_VERSION}")
    if host.systemd_running():
        enabled = host.systemctl("is-enabled", "kubelet.service")
        if enabled is None or enabled.stdout.strip() != "enabled":
            preflight.check("Service-Kubelet", "kubelet service is not enabled, please run "
                            "'systemctl enable kubelet.service'", warning=True)


# -- certificates and kubeconfig files -------------------------------------------------------


class Pki:
    """The certificate directory (certificatesDir), read and written like kubeadm's certs phase."""

    def __init__(self, directory: str) -> None:
        self.directory = directory

    def file(self, name: str) -> Path:
        return host.path(f"{self.directory}/{name}")

    def has(self, base: str) -> bool:
        return self.file(f"{base}.crt").exists() and self.file(f"{base}.key").exists()

    def load(self, base: str) -> tuple[pki.Key, pki.Certificate]:
        return (pki.Key.from_pem(self.file(f"{base}.key").read_text()),
                pki.Certificate.from_pem(self.file(f"{base}.crt").read_text()))

    def store(self, base: str, key: pki.Key, cert: pki.Certificate) -> None:
        host.write_file(self.file(f"{base}.crt"), cert.pem(), 0o644)
        host.write_file(self.file(f"{base}.key"), key.pem(), 0o600)

    def authority(self, base: str, common_name: str, label: str) -> tuple[pki.Key, pki.Certificate]:
        if self.has(base):
            say(f"[certs] Using existing {label} certificate authority")
            return self.load(base)
        say(f'[certs] Generating "{label}" certificate and key')
        key, cert = pki.new_ca(common_name)
        self.store(base, key, cert)
        return key, cert

    def leaf(self, base: str, label: str, ca: tuple[pki.Key, pki.Certificate], common: str,
             organizations: tuple[str, ...] = (), *, server: bool = False, client: bool = False,
             sans: list[str] | None = None) -> None:
        say(f'[certs] Generating "{label}" certificate and key')
        if sans:
            say(f"[certs] {label} serving cert is signed for DNS names and IPs "
                f"[{' '.join(sans)}]")
        key, cert = pki.new_leaf(ca[0], ca[1], common, organizations, server=server,
                                 client=client, sans=sans)
        self.store(base, key, cert)


def control_plane_certs(pki_dir: Pki, cluster: dict[str, Any], node: str, advertise: str,
                        endpoint_host: str | None) -> None:
    """Everything but the CAs and sa.key/sa.pub, which init creates and a join downloads."""
    ca = pki_dir.authority("ca", "kubernetes", "ca")
    networking = cluster["networking"]
    domain = networking["dnsDomain"]
    sans = [node, "kubernetes", "kubernetes.default", "kubernetes.default.svc",
            f"kubernetes.default.svc.{domain}", config.service_ip(networking["serviceSubnet"], 1),
            advertise]
    if endpoint_host and endpoint_host not in sans:
        sans.append(endpoint_host)
    sans += [s for s in (cluster.get("apiServer") or {}).get("certSANs") or [] if s not in sans]
    pki_dir.leaf("apiserver", "apiserver", ca, "kube-apiserver", server=True, sans=sans)
    pki_dir.leaf("apiserver-kubelet-client", "apiserver-kubelet-client", ca,
                 "kube-apiserver-kubelet-client", ("kubeadm:cluster-admins",), client=True)
    proxy_ca = pki_dir.authority("front-proxy-ca", "front-proxy-ca", "front-proxy-ca")
    pki_dir.leaf("front-proxy-client", "front-proxy-client", proxy_ca, "front-proxy-client",
                 client=True)
    etcd_ca = pki_dir.authority("etcd/ca", "etcd-ca", "etcd/ca")
    local = (cluster.get("etcd") or {}).get("local") or {}
    etcd_sans = [node, "localhost", advertise, "127.0.0.1", "::1"]
    pki_dir.leaf("etcd/server", "etcd/server", etcd_ca, node, server=True, client=True,
                 sans=etcd_sans + list(local.get("serverCertSANs") or []))
    pki_dir.leaf("etcd/peer", "etcd/peer", etcd_ca, node, server=True, client=True,
                 sans=etcd_sans + list(local.get("peerCertSANs") or []))
    pki_dir.leaf("etcd/healthcheck-client", "etcd/healthcheck-client", etcd_ca,
                 "kube-etcd-healthcheck-client", client=True)
    pki_dir.leaf("apiserver-etcd-client", "apiserver-etcd-client", etcd_ca,
                 "kube-apiserver-etcd-client", client=True)


def service_account_keys(pki_dir: Pki) -> None:
    if pki_dir.file("sa.key").exists():
        say('[certs] Using the existing "sa" key')
        return
    say('[certs] Generating "sa" key and public key')
    key = pki.Key.generate()
    host.write_file(pki_dir.file("sa.key"), key.pem(), 0o600)
    host.write_file(pki_dir.file("sa.pub"), key.public_pem(), 0o644)


def write_kubeconfig(name: str, pki_dir: Pki, server: str, cluster_name: str, user: str,
                     organizations: tuple[str, ...] = ()) -> None:
    ca_key, ca_cert = pki_dir.load("ca")
    key, cert = pki.new_leaf(ca_key, ca_cert, user, organizations, client=True)
    say(f'[kubeconfig] Writing "{name}" kubeconfig file')
    kubeconfig.write(host.path(f"{K8S}/{name}"), kubeconfig.build(
        cluster=cluster_name, server=server, ca_pem=ca_cert.pem(), user=user,
        cert_pem=cert.pem(), key_pem=key.pem()))


def write_kubelet_client(pki_dir: Pki, node: str, server: str, cluster_name: str) -> None:
    """kubelet.conf pointing at a rotatable client certificate (after kubelet-finalize)."""
    ca_key, ca_cert = pki_dir.load("ca")
    key, cert = pki.new_leaf(ca_key, ca_cert, f"system:node:{node}", ("system:nodes",),
                             client=True)
    write_kubelet_pem(cert.pem() + key.pem())
    say('[kubeconfig] Writing "kubelet.conf" kubeconfig file')
    kubeconfig.write(host.path(f"{K8S}/kubelet.conf"), kubeconfig.build(
        cluster=cluster_name, server=server, ca_pem=ca_cert.pem(), user="default-auth",
        cert_file=f"{KUBELET_DIR}/pki/kubelet-client-current.pem"))


def write_kubelet_pem(pair: str) -> None:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d-%H-%M-%S")
    directory = host.path(f"{KUBELET_DIR}/pki")
    target = directory / f"kubelet-client-{stamp}.pem"
    host.write_file(target, pair, 0o600)
    current = directory / "kubelet-client-current.pem"
    current.unlink(missing_ok=True)
    current.symlink_to(f"{KUBELET_DIR}/pki/{target.name}" if str(host.root()) == "/"
                       else target.name)


# -- static Pod manifests --------------------------------------------------------------------


def _command(binary: str, defaults: dict[str, str], extra: list[dict[str, Any]] | None
             ) -> list[str]:
    merged = dict(defaults)
    for arg in extra or []:
        merged[str(arg["name"])] = str(arg.get("value", ""))
    return [binary] + [f"--{name}={value}" for name, value in sorted(merged.items())]


def _static_pod(name: str, image: str, command: list[str], annotations: dict[str, str],
                probe: dict[str, Any], mounts: list[tuple[str, str]]) -> dict[str, Any]:
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"annotations": annotations, "labels": {"component": name,
                                                            "tier": "control-plane"},
                     "name": name, "namespace": "kube-system"},
        "spec": {
            "containers": [{
                "command": command, "image": image, "imagePullPolicy": "IfNotPresent",
                "livenessProbe": {"failureThreshold": 8, "httpGet": probe,
                                  "initialDelaySeconds": 10, "periodSeconds": 10,
                                  "timeoutSeconds": 15},
                "name": name, "resources": {"requests": {"cpu": "250m" if name ==
                                                         "kube-apiserver" else "100m"}},
                "volumeMounts": [{"mountPath": path, "name": volume, "readOnly": True}
                                 for volume, path in mounts],
            }],
            "hostNetwork": True,
            "priority": 2000001000,
            "priorityClassName": "system-node-critical",
            "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
            "volumes": [{"hostPath": {"path": path, "type": "DirectoryOrCreate"}, "name": volume}
                        for volume, path in mounts],
        },
    }


def static_pods(cluster: dict[str, Any], node: str, advertise: str, port: int,
                initial_cluster: str, state: str) -> dict[str, dict[str, Any]]:
    """The control plane's static Pods (etcd first), before any patch."""
    pki_dir = cluster["certificatesDir"]
    repository = cluster["imageRepository"]
    version = cluster["kubernetesVersion"]
    networking = cluster["networking"]
    api_server = cluster.get("apiServer") or {}
    apiserver = _command("kube-apiserver", {
        "advertise-address": advertise, "allow-privileged": "true",
        "authorization-mode": "Node,RBAC", "client-ca-file": f"{pki_dir}/ca.crt",
        "enable-admission-plugins": "NodeRestriction", "enable-bootstrap-token-auth": "true",
        "etcd-cafile": f"{pki_dir}/etcd/ca.crt",
        "etcd-certfile": f"{pki_dir}/apiserver-etcd-client.crt",
        "etcd-keyfile": f"{pki_dir}/apiserver-etcd-client.key",
        "etcd-servers": "https://127.0.0.1:2379",
        "kubelet-client-certificate": f"{pki_dir}/apiserver-kubelet-client.crt",
        "kubelet-client-key": f"{pki_dir}/apiserver-kubelet-client.key",
        "kubelet-preferred-address-types": "InternalIP,ExternalIP,Hostname",
        "proxy-client-cert-file": f"{pki_dir}/front-proxy-client.crt",
        "proxy-client-key-file": f"{pki_dir}/front-proxy-client.key",
        "requestheader-allowed-names": "front-proxy-client",
        "requestheader-client-ca-file": f"{pki_dir}/front-proxy-ca.crt",
        "requestheader-extra-headers-prefix": "X-Remote-Extra-",
        "requestheader-group-headers": "X-Remote-Group",
        "requestheader-username-headers": "X-Remote-User",
        "secure-port": str(port),
        "service-account-issuer": f"https://kubernetes.default.svc.{networking['dnsDomain']}",
        "service-account-key-file": f"{pki_dir}/sa.pub",
        "service-account-signing-key-file": f"{pki_dir}/sa.key",
        "service-cluster-ip-range": networking["serviceSubnet"],
        "tls-cert-file": f"{pki_dir}/apiserver.crt",
        "tls-private-key-file": f"{pki_dir}/apiserver.key",
    }, api_server.get("extraArgs"))
    pki_mounts = [("ca-certs", "/etc/ssl/certs"), ("k8s-certs", pki_dir)]
    local = (cluster.get("etcd") or {}).get("local") or {}
    data_dir = local.get("dataDir", "/var/lib/etcd")
    manager_args = {
        "authentication-kubeconfig": f"{K8S}/controller-manager.conf",
        "authorization-kubeconfig": f"{K8S}/controller-manager.conf",
        "bind-address": "127.0.0.1", "client-ca-file": f"{pki_dir}/ca.crt",
        "cluster-name": cluster["clusterName"],
        "cluster-signing-cert-file": f"{pki_dir}/ca.crt",
        "cluster-signing-key-file": f"{pki_dir}/ca.key",
        "controllers": "*,bootstrapsigner,tokencleaner",
        "kubeconfig": f"{K8S}/controller-manager.conf", "leader-elect": "true",
        "requestheader-client-ca-file": f"{pki_dir}/front-proxy-ca.crt",
        "root-ca-file": f"{pki_dir}/ca.crt",
        "service-account-private-key-file": f"{pki_dir}/sa.key",
        "service-cluster-ip-range": networking["serviceSubnet"],
        "use-service-account-credentials": "true",
    }
    if networking.get("podSubnet"):
        manager_args.update({"allocate-node-cidrs": "true",
                             "cluster-cidr": networking["podSubnet"]})
    pods = {
        "etcd": _static_pod("etcd", f"{repository}/etcd:3.6.10-0", _command("etcd", {
            "advertise-client-urls": f"https://{advertise}:2379",
            "cert-file": f"{pki_dir}/etcd/server.crt", "client-cert-auth": "true",
            "data-dir": data_dir, "initial-advertise-peer-urls": f"https://{advertise}:2380",
            "initial-cluster": initial_cluster, "initial-cluster-state": state,
            "key-file": f"{pki_dir}/etcd/server.key",
            "listen-client-urls": f"https://127.0.0.1:2379,https://{advertise}:2379",
            "listen-peer-urls": f"https://{advertise}:2380", "name": node,
            "peer-cert-file": f"{pki_dir}/etcd/peer.crt", "peer-client-cert-auth": "true",
            "peer-key-file": f"{pki_dir}/etcd/peer.key",
            "peer-trusted-ca-file": f"{pki_dir}/etcd/ca.crt",
            "trusted-ca-file": f"{pki_dir}/etcd/ca.crt",
        }, local.get("extraArgs")), {
            "kubeadm.kubernetes.io/etcd.advertise-client-urls": f"https://{advertise}:2379"},
            {"host": "127.0.0.1", "path": "/livez", "port": 2381, "scheme": "HTTP"},
            [("etcd-certs", f"{pki_dir}/etcd"), ("etcd-data", data_dir)]),
        "kube-apiserver": _static_pod(
            "kube-apiserver", f"{repository}/kube-apiserver:{version}", apiserver,
            {"kubeadm.kubernetes.io/kube-apiserver.advertise-address.endpoint":
             f"{advertise}:{port}"},
            {"host": advertise, "path": "/livez", "port": port, "scheme": "HTTPS"}, pki_mounts),
        "kube-controller-manager": _static_pod(
            "kube-controller-manager", f"{repository}/kube-controller-manager:{version}",
            _command("kube-controller-manager", manager_args,
                     (cluster.get("controllerManager") or {}).get("extraArgs")), {},
            {"host": "127.0.0.1", "path": "/healthz", "port": 10257, "scheme": "HTTPS"},
            [*pki_mounts, ("kubeconfig", f"{K8S}/controller-manager.conf")]),
        "kube-scheduler": _static_pod(
            "kube-scheduler", f"{repository}/kube-scheduler:{version}",
            _command("kube-scheduler", {
                "authentication-kubeconfig": f"{K8S}/scheduler.conf",
                "authorization-kubeconfig": f"{K8S}/scheduler.conf",
                "bind-address": "127.0.0.1", "kubeconfig": f"{K8S}/scheduler.conf",
                "leader-elect": "true"}, (cluster.get("scheduler") or {}).get("extraArgs")), {},
            {"host": "127.0.0.1", "path": "/livez", "port": 10259, "scheme": "HTTPS"},
            [("kubeconfig", f"{K8S}/scheduler.conf")]),
    }
    return pods


# The phase each patch target belongs to, at init and at join (for kubeadm's error lines).
INIT_PHASES = {"etcd": "etcd", "control-plane": "control-plane"}
JOIN_PHASES = {"etcd": "control-plane-join/etcd",
               "control-plane": "control-plane-prepare/control-plane"}


def patch(found: Patches | None, target: str, data: Any, phase: str, context: str,
          out: Callable[[str], None] | None) -> Any:
    """Apply the patches for a target (out=None only tries them); kubeadm's error on failure."""
    if found is None:
        return data
    try:
        result = found.apply(target, data, out)
    except PatchError as exc:
        raise phase_error(phase, f"{context}: {exc}") from None
    if not isinstance(result, dict):
        raise phase_error(phase, f"{context}: the patched {target} is not an object")
    return result


def patch_pod(found: Patches | None, name: str, pod: dict[str, Any], phases: dict[str, str],
              out: Callable[[str], None] | None) -> dict[str, Any]:
    phase = phases["etcd" if name == "etcd" else "control-plane"]
    context = f'failed to patch static Pod manifest file for "{name}"'
    result = patch(found, name, pod, phase, context, out)
    if not (isinstance(result, dict) and result.get("apiVersion") == "v1"
            and result.get("kind") == "Pod"):
        raise phase_error(phase, f"{context}: patched manifest is not a valid Pod object")
    return result


def patch_kubelet(found: Patches | None, kubelet: dict[str, Any],
                  out: Callable[[str], None] | None) -> dict[str, Any]:
    result: dict[str, Any] = patch(found, "kubeletconfiguration", kubelet, "kubelet-start",
                                   "could not apply patches to the KubeletConfiguration", out)
    return result


def write_manifests(pods: dict[str, dict[str, Any]], found: Patches | None,
                    phases: dict[str, str]) -> None:
    """Patch each static Pod as kubeadm does (announcing it) and write its manifest."""
    for name, pod in pods.items():
        if name == "etcd":
            say(f'[etcd] Creating static Pod manifest for local etcd in "{MANIFESTS}"')
        else:
            if name == "kube-apiserver":
                say(f'[control-plane] Using manifest folder "{MANIFESTS}"')
            say(f'[control-plane] Creating static Pod manifest for "{name}"')
        patched = patch_pod(found, name, pod, phases, say)
        host.write_file(host.path(f"{MANIFESTS}/{name}.yaml"), yamlio.dump(patched), 0o600)


def read_patches(document: dict[str, Any], phase: str, context: str) -> Patches | None:
    """The patches directory a config names, read (and checked) before anything is written."""
    directory = (document.get("patches") or {}).get("directory")
    if not directory:
        return None
    try:
        return patches.read(directory)
    except PatchError as exc:
        raise phase_error(phase, f"{context}: {exc}") from None


# -- the kubelet ------------------------------------------------------------------------------


def write_kubelet_files(kubelet: dict[str, Any], node: dict[str, Any], hostname: str,
                        found: Patches | None = None) -> dict[str, Any]:
    """kubeadm-flags.env and config.yaml (patched); returns the KubeletConfiguration written."""
    flags = [f"--container-runtime-endpoint={node['criSocket']}"]
    if node["name"] != hostname.lower():
        flags.append(f"--hostname-override={node['name']}")
    flags += [f"--{arg['name']}={arg.get('value', '')}"
              for arg in node.get("kubeletExtraArgs") or []]
    say(f'[kubelet-start] Writing kubelet environment file with flags to file '
        f'"{KUBELET_DIR}/kubeadm-flags.env"')
    host.write_file(host.path(f"{KUBELET_DIR}/kubeadm-flags.env"),
                    f'KUBELET_KUBEADM_ARGS="{" ".join(flags)}"\n', 0o644)
    say(f'[kubelet-start] Writing kubelet configuration to file "{KUBELET_DIR}/config.yaml"')
    patched = patch_kubelet(found, kubelet, say)
    host.write_file(host.path(f"{KUBELET_DIR}/config.yaml"), yamlio.dump(patched), 0o644)
    return patched


def start_kubelet() -> None:
    host.systemctl("stop", "kubelet")
    say("[kubelet-start] Starting the kubelet")
    answer = host.systemctl("restart", "kubelet")
    if answer is None or answer.returncode != 0:
        why = "no systemd on this host" if answer is None else answer.stderr.strip()
        print(f"[kubelet-start] WARNING: unable to start the kubelet service: [{why}]\n"
              "[kubelet-start] Please ensure kubelet is reloaded and running manually.",
              file=sys.stderr, flush=True)


def wait_kubelet(kubelet: dict[str, Any], timeout: float) -> None:
    port = int(kubelet.get("healthzPort", 10248))
    if port == 0:
        say("[kubelet-check] The kubelet healthz endpoint is disabled (healthzPort: 0); "
            "not waiting for it")
        return
    address = kubelet.get("healthzBindAddress", "127.0.0.1")
    url = f"http://{address}:{port}/healthz"
    say(f"[kubelet-check] Waiting for a healthy kubelet at {url}. This can take up to "
        f"{_duration(timeout)}")

    def healthy() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                return bool(answer.status == 200)
        except OSError:
            return False

    start = time.monotonic()
    while not healthy():
        if time.monotonic() - start > timeout:
            raise Failure(f"[kubelet-check] The kubelet is not healthy after {_duration(timeout)}"
                          "\n\nUnfortunately, an error has occurred, likely caused by:\n"
                          "\t- The kubelet is not running\n\t- The kubelet is unhealthy due to a "
                          "misconfiguration of the node in some way (required cgroups disabled)"
                          "\n\nIf you are on a systemd-powered system, you can try to "
                          "troubleshoot the error with the following commands:\n"
                          "\t- 'systemctl status kubelet'\n\t- 'journalctl -xeu kubelet'\n\n"
                          "error execution phase wait-control-plane: failed while waiting for "
                          f"the kubelet: context deadline exceeded\n{STACK_HINT}")
        time.sleep(0.5)
    say(f"[kubelet-check] The kubelet is healthy after {time.monotonic() - start:.3f}s")


def wait_apiserver(advertise: str, port: int, timeout: float) -> None:
    url = f"https://{advertise}:{port}/livez"
    say(f"[control-plane-check] Waiting for healthy control plane components. This can take "
        f"up to {_duration(timeout)}")
    say(f"[control-plane-check] Checking kube-apiserver at {url}")
    probe = kubeconfig.Credentials(server=f"https://{advertise}:{port}", ca_pem=None,
                                   cert_pem=None, key_pem=None, token=None, source="")
    api = ApiClient(probe, timeout=3)

    def healthy() -> bool:
        try:
            return api.raw("GET", "/livez")[0] == 200
        except Unreachable:
            return False

    took = wait_for("the kube-apiserver", healthy, timeout, "wait-control-plane")
    say(f"[control-plane-check] kube-apiserver is healthy after {took:.3f}s")


# -- init -----------------------------------------------------------------------------------


INIT_FLAGS = [
    Flag("config"), Flag("upload-certs", "bool", default=False),
    Flag("ignore-preflight-errors", "list"), Flag("skip-phases", "list"),
    Flag("certificate-key"), Flag("dry-run", "bool", default=False), Flag("v", short="v"),
    Flag("skip-token-print", "bool", default=False),
    Flag("skip-certificate-key-print", "bool", default=False),
    Flag("pod-network-cidr"), Flag("service-cidr"), Flag("control-plane-endpoint"),
    Flag("apiserver-advertise-address"), Flag("apiserver-bind-port", "int"),
    Flag("kubernetes-version"), Flag("node-name"), Flag("cri-socket"),
    Flag("token"), Flag("token-ttl"), Flag("apiserver-cert-extra-sans", "list"),
]


def read_config(path: str) -> config.Documents:
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise Failure(f"unable to read config from \"{path}\" : open {path}: "
                      f"{exc.strerror.lower() if exc.strerror else exc}\n{STACK_HINT}") from None
    try:
        documents = config.parse(text, path)
    except config.ConfigError as exc:
        raise Failure("\n".join(exc.lines) + f"\n{STACK_HINT}") from None
    for warning in documents.warnings:
        print(f"W {warning}", file=sys.stderr)
    return documents


def _endpoint(cluster: dict[str, Any], advertise: str, port: int) -> tuple[str, str, int]:
    """(server URL, host, port) of the cluster: controlPlaneEndpoint, else this node."""
    value = cluster.get("controlPlaneEndpoint") or ""
    if value:
        hostname, _, given = value.rpartition(":") if value.count(":") == 1 else (value, "", "")
        chosen = int(given) if given else port
        hostname = hostname or value
        return f"https://{hostname}:{chosen}", hostname, chosen
    return f"https://{advertise}:{port}", advertise, port


def _init_documents(values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any],
                                                     dict[str, Any], dict[str, Any] | None]:
    if values["config"]:
        mixed = [name for name in ("pod-network-cidr", "service-cidr", "control-plane-endpoint",
                                   "apiserver-advertise-address", "kubernetes-version",
                                   "node-name", "cri-socket", "token")
                 if values.get(name)]
        if mixed:
            raise Failure(f"can not mix '--config' with arguments {mixed}")
        documents = read_config(values["config"])
        return (documents.get("InitConfiguration") or {},
                documents.get("ClusterConfiguration") or {},
                documents.get("KubeletConfiguration") or {},
                documents.get("KubeProxyConfiguration"))
    init: dict[str, Any] = {}
    cluster: dict[str, Any] = {}
    if values["pod-network-cidr"]:
        cluster.setdefault("networking", {})["podSubnet"] = values["pod-network-cidr"]
    if values["service-cidr"]:
        cluster.setdefault("networking", {})["serviceSubnet"] = values["service-cidr"]
    if values["control-plane-endpoint"]:
        cluster["controlPlaneEndpoint"] = values["control-plane-endpoint"]
    if values["kubernetes-version"]:
        cluster["kubernetesVersion"] = values["kubernetes-version"]
    if values["apiserver-cert-extra-sans"]:
        cluster["apiServer"] = {"certSANs": values["apiserver-cert-extra-sans"]}
    endpoint: dict[str, Any] = {}
    if values["apiserver-advertise-address"]:
        endpoint["advertiseAddress"] = values["apiserver-advertise-address"]
    if values["apiserver-bind-port"]:
        endpoint["bindPort"] = values["apiserver-bind-port"]
    init["localAPIEndpoint"] = endpoint
    if values["node-name"] or values["cri-socket"]:
        init["nodeRegistration"] = {k: v for k, v in (("name", values["node-name"]),
                                                      ("criSocket", values["cri-socket"])) if v}
    if values["token"]:
        token: dict[str, Any] = {"token": values["token"]}
        if values["token-ttl"]:
            token["ttl"] = values["token-ttl"]
        init["bootstrapTokens"] = [token]
    return init, cluster, {}, None


def init(argv: list[str]) -> int:
    if argv[:1] == ["phase"]:
        return init_phase(argv[1:])
    values, positional = parse(argv, INIT_FLAGS, command="kubeadm init")
    if positional:
        raise Failure(f'unknown command "{positional[0]}" for "kubeadm init"')
    init_cfg, cluster_cfg, kubelet_cfg, proxy_cfg = _init_documents(values)
    errors: list[str] = []
    config.validate_init(errors, init_cfg)
    config.validate_cluster(errors, cluster_cfg, expect_version=True)
    config.validate_kubelet(errors, kubelet_cfg)
    if proxy_cfg:
        config.validate_proxy(errors, proxy_cfg)
    cluster = config.default_cluster(cluster_cfg)
    if values["upload-certs"] and not cluster.get("controlPlaneEndpoint"):
        errors.append("controlPlaneEndpoint: Required value: --upload-certs shares the "
                      "certificates with further control planes, and a control plane can only "
                      "join a cluster with a stable controlPlaneEndpoint (kubeadm join would "
                      "fail with \"unable to add a new control plane instance to a cluster "
                      "that doesn't have a stable controlPlaneEndpoint address\"); set it to "
                      "the API VIP (STAND-IN check, stricter than kubeadm init)")
    validate_key = values["certificate-key"] or init_cfg.get("certificateKey")
    config.validate_certificate_key(errors, "certificateKey", validate_key)
    if errors:
        raise Failure("\n".join(errors) + f"\n{STACK_HINT}")
    hostname = host.hostname()
    node = config.default_node(init_cfg.get("nodeRegistration"), hostname, control_plane=True)
    endpoint_cfg = init_cfg.get("localAPIEndpoint") or {}
    advertise = endpoint_cfg.get("advertiseAddress") or host.default_address()
    port = int(endpoint_cfg.get("bindPort") or 6443)
    timeouts = config.default_timeouts(init_cfg.get("timeouts"))
    kubelet = config.default_kubelet(kubelet_cfg, cluster)
    server, endpoint_host, _ = _endpoint(cluster, advertise, port)
    ignored = list(values["ignore-preflight-errors"]) + list(node.get(
        "ignorePreflightErrors") or [])

    say(f"[init] Using Kubernetes version: {cluster['kubernetesVersion']}")
    say("[preflight] Running pre-flight checks")
    preflight = Preflight(ignored)
    _common_checks(preflight, node["criSocket"])
    for port_number in (port, 10259, 10257, 10250, 2379, 2380):
        _port(preflight, port_number)
    for name in ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd"):
        _file_available(preflight, f"{MANIFESTS}/{name}.yaml")
    _dir_available(preflight, cluster["etcd"]["local"]["dataDir"])
    preflight.finish()
    say("[preflight] Pulling images required for setting up a Kubernetes cluster")
    say("[preflight] STAND-IN: no images pulled; the kubelet stand-in runs the control plane")
    # kubeadm reads the patches when it first needs them (the etcd phase) and fails there,
    # after writing certificates; the stand-in reads and tries them all now, so a bad patch
    # leaves the node as it was. The lines kubeadm prints still come where kubeadm prints them.
    found = read_patches(init_cfg, "etcd", 'failed to patch static Pod manifest file for "etcd"')
    pods = static_pods(cluster, node["name"], advertise, port,
                       f"{node['name']}=https://{advertise}:2380", "new")
    if found is not None:
        for name, pod in pods.items():
            patch_pod(found, name, pod, INIT_PHASES, None)
        patch_kubelet(found, kubelet, None)
        if not (cluster.get("dns") or {}).get("disabled"):
            patch(found, "corednsdeployment", coredns_deployment(cluster), "addon/coredns",
                  "could not apply patches to the CoreDNS Deployment", None)
    if values["dry-run"] or init_cfg.get("dryRun"):
        say("[dryrun] Finished dry running successfully. Above are the resources that would be "
            "created")
        return 0

    pki_dir = Pki(cluster["certificatesDir"])
    say(f'[certs] Using certificateDir folder "{cluster["certificatesDir"]}"')
    control_plane_certs(pki_dir, cluster, node["name"], advertise, endpoint_host)
    service_account_keys(pki_dir)
    local_server = f"https://{advertise}:{port}"
    say(f'[kubeconfig] Using kubeconfig folder "{K8S}"')
    write_kubeconfig("admin.conf", pki_dir, server, cluster["clusterName"], "kubernetes-admin",
                     ("kubeadm:cluster-admins",))
    write_kubeconfig("super-admin.conf", pki_dir, server, cluster["clusterName"],
                     "kubernetes-super-admin", ("system:masters",))
    write_kubelet_client(pki_dir, node["name"], server, cluster["clusterName"])
    write_kubeconfig("controller-manager.conf", pki_dir, local_server, cluster["clusterName"],
                     "system:kube-controller-manager")
    write_kubeconfig("scheduler.conf", pki_dir, local_server, cluster["clusterName"],
                     "system:kube-scheduler")
    write_manifests(pods, found, INIT_PHASES)
    local_kubelet = write_kubelet_files(kubelet, node, hostname, found)
    start_kubelet()
    say(f'[wait-control-plane] Waiting for the kubelet to boot up the control plane as static '
        f'Pods from directory "{MANIFESTS}"')
    wait_kubelet(local_kubelet, timeouts["kubeletHealthCheck"])
    wait_apiserver(advertise, port, timeouts["controlPlaneComponentHealthCheck"])

    # Through the control-plane endpoint, which may not pass traffic yet (a VIP's haproxy
    # marks the apiserver up only after its health checks): kubeadm retries such calls.
    api_window = timeouts["kubernetesAPICall"]
    super_admin = client_from(host.path(f"{K8S}/super-admin.conf"), retry_window=api_window)
    ensure(super_admin, _binding("ClusterRoleBinding", "kubeadm:cluster-admins", "ClusterRole",
                                 "cluster-admin", [("Group", "kubeadm:cluster-admins")]))
    admin = client_from(host.path(f"{K8S}/admin.conf"), retry_window=api_window)
    upload_config(admin, cluster, kubelet, proxy_cfg)
    key = values["certificate-key"] or init_cfg.get("certificateKey") or secrets.token_hex(32)
    if values["upload-certs"]:
        upload_certs(admin, pki_dir, key)
    mark_control_plane(admin, node, timeouts["kubernetesAPICall"])
    token_specs = init_cfg.get("bootstrapTokens") or [{}]
    first_token = ""
    for spec in token_specs:
        token = spec.get("token") or tokens.generate()
        first_token = first_token or token
        say("[bootstrap-token] Using token: " + ("<value withheld>" if values["skip-token-print"]
                                                 else token))
        create_token(admin, token, spec.get("ttl", "24h0m0s"),
                     spec.get("usages") or ["signing", "authentication"],
                     spec.get("groups") or [tokens.DEFAULT_GROUP], spec.get("description", ""))
    bootstrap_rbac(admin)
    cluster_info(admin, server, pki_dir.load("ca")[1].pem())
    say(f'[kubelet-finalize] Updating "{K8S}/kubelet.conf" to point to a rotatable kubelet client '
        "certificate and key")
    addons(admin, cluster, proxy_cfg, server, found)
    ca_hash = pki_dir.load("ca")[1].spki_sha256()
    shown_token = "<value withheld>" if values["skip-token-print"] else first_token
    shown_key = "<value withheld>" if values["skip-certificate-key-print"] else key
    _, endpoint_name, endpoint_port = _endpoint(cluster, advertise, port)
    join = (f"kubeadm join {endpoint_name}:{endpoint_port} --token {shown_token} \\\n"
            f"\t--discovery-token-ca-cert-hash {ca_hash}")
    say("\nYour Kubernetes control-plane has initialized successfully!\n\n"
        "To start using your cluster, you need to run the following as a regular user:\n\n"
        "  mkdir -p $HOME/.kube\n  sudo cp -i /etc/kubernetes/admin.conf $HOME/.kube/config\n"
        "  sudo chown $(id -u):$(id -g) $HOME/.kube/config\n\n"
        "You should now deploy a pod network to the cluster.\n"
        'Run "kubectl apply -f [podnetwork].yaml" with one of the options listed at:\n'
        "  https://kubernetes.io/docs/concepts/cluster-administration/addons/\n")
    if values["upload-certs"]:
        say("You can now join any number of control-plane nodes running the following command "
            f"on each as root:\n\n  {join} \\\n\t--control-plane --certificate-key {shown_key}\n\n"
            "Please note that the certificate-key gives access to cluster sensitive data, keep "
            "it secret!\nAs a safeguard, uploaded-certs will be deleted in two hours; If "
            'necessary, you can use\n"kubeadm init phase upload-certs --upload-certs" to reload '
            "certs afterward.\n")
    say(f"Then you can join any number of worker nodes by running the following on each as "
        f"root:\n\n{join}")
    return 0


def _binding(kind: str, name: str, role_kind: str, role: str, subjects: list[tuple[str, str]],
             namespace: str = "") -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind, "metadata": {"name": name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": role},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": k, "name": n}
                     for k, n in subjects]}
    if namespace:
        obj["metadata"]["namespace"] = namespace
    return obj


def _role(name: str, namespace: str, resource: str, names: list[str]) -> dict[str, Any]:
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
            "metadata": {"name": name, "namespace": namespace},
            "rules": [{"apiGroups": [""], "resources": [resource], "resourceNames": names,
                       "verbs": ["get"]}]}


def upload_config(admin: ApiClient, cluster: dict[str, Any], kubelet: dict[str, Any],
                  proxy: dict[str, Any] | None) -> None:
    say('[upload-config] Storing the configuration used in ConfigMap "kubeadm-config" in the '
        '"kube-system" Namespace')
    stored = {k: v for k, v in cluster.items()}
    ensure(admin, {"apiVersion": "v1", "kind": "ConfigMap",
                   "metadata": {"name": "kubeadm-config", "namespace": "kube-system"},
                   "data": {"ClusterConfiguration": yamlio.dump(stored)}})
    groups = [("Group", tokens.DEFAULT_GROUP), ("Group", "system:nodes")]
    ensure(admin, _role("kubeadm:nodes-kubeadm-config", "kube-system", "configmaps",
                        ["kubeadm-config"]))
    ensure(admin, _binding("RoleBinding", "kubeadm:nodes-kubeadm-config", "Role",
                           "kubeadm:nodes-kubeadm-config", groups, "kube-system"))
    say('[kubelet] Creating a ConfigMap "kubelet-config" in namespace kube-system with the '
        "configuration for the kubelets in the cluster")
    ensure(admin, {"apiVersion": "v1", "kind": "ConfigMap",
                   "metadata": {"name": "kubelet-config", "namespace": "kube-system"},
                   "data": {"kubelet": yamlio.dump(kubelet)}})
    ensure(admin, _role("kubeadm:kubelet-config", "kube-system", "configmaps", ["kubelet-config"]))
    ensure(admin, _binding("RoleBinding", "kubeadm:kubelet-config", "Role",
                           "kubeadm:kubelet-config", groups, "kube-system"))
    del proxy


def upload_certs(admin: ApiClient, pki_dir: Pki, key: str) -> None:
    say('[upload-certs] Storing the certificates in Secret "kubeadm-certs" in the "kube-system" '
        "Namespace")
    owner_token = tokens.generate()
    owner = tokens.secret_for(owner_token, dt.timedelta(hours=2), [], [],
                              "Proxy for managing TTL for the kubeadm-certs secret")
    ensure(admin, owner)
    created = call(admin, "GET", kinds.builtin("Secret").path("kube-system",
                                                              owner["metadata"]["name"]))
    data = {}
    for entry, name in UPLOADED.items():
        content = pki_dir.file(name).read_bytes()
        data[entry] = base64.b64encode(seal.seal(key, content)).decode()
    ensure(admin, {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                   "metadata": {"name": "kubeadm-certs", "namespace": "kube-system",
                                "ownerReferences": [{
                                    "apiVersion": "v1", "kind": "Secret",
                                    "name": created["metadata"]["name"],
                                    "uid": created["metadata"]["uid"],
                                    "blockOwnerDeletion": True, "controller": True}]},
                   "data": data})
    ensure(admin, _role("kubeadm:kubeadm-certs", "kube-system", "secrets", ["kubeadm-certs"]))
    ensure(admin, _binding("RoleBinding", "kubeadm:kubeadm-certs", "Role",
                           "kubeadm:kubeadm-certs", [("Group", tokens.DEFAULT_GROUP)],
                           "kube-system"))
    say("[upload-certs] Using certificate key:")
    say(key)


def mark_control_plane(admin: ApiClient, node: dict[str, Any], timeout: float) -> None:
    name = node["name"]
    nodes = kinds.builtin("Node")

    def registered() -> bool:
        try:
            admin.request("GET", nodes.path(name=name))
        except (ApiError, Unreachable):
            return False
        return True

    wait_for(f'the Node "{name}" to register', registered, max(timeout, 60), "mark-control-plane")
    say(f"[mark-control-plane] Marking the node {name} as control-plane by adding the labels: "
        f"[{' '.join(CONTROL_PLANE_LABELS)}]")
    current = call(admin, "GET", nodes.path(name=name))
    taints = list((current.get("spec") or {}).get("taints") or [])
    wanted = [t for t in node.get("taints") or [] if t not in taints]
    if wanted:
        shown = " ".join(f"{t['key']}:{t['effect']}" for t in wanted)
        say(f"[mark-control-plane] Marking the node {name} as control-plane by adding the "
            f"taints [{shown}]")
    patch = {"metadata": {"labels": dict.fromkeys(CONTROL_PLANE_LABELS, "")},
             "spec": {"taints": taints + wanted}}
    call(admin, "PATCH", nodes.path(name=name), patch,
         content_type="application/merge-patch+json")


def create_token(admin: ApiClient, token: str, ttl: str, usages: list[str], groups: list[str],
                 description: str = "") -> None:
    try:
        duration = tokens.parse_duration(ttl)
        secret = tokens.secret_for(token, duration, usages, groups, description)
    except ValueError as exc:
        raise Failure(str(exc)) from None
    try:
        admin.request("POST", kinds.builtin("Secret").path("kube-system"), secret)
    except ApiError as exc:
        if exc.code == 409:
            raise Failure(f'a token with id "{token.split(".")[0]}" already exists') from None
        raise Failure(exc.message) from None
    except Unreachable as exc:
        raise Failure(str(exc)) from None


def bootstrap_rbac(admin: ApiClient) -> None:
    say("[bootstrap-token] Configuring bootstrap tokens, cluster-info ConfigMap, RBAC Roles")
    group = [("Group", tokens.DEFAULT_GROUP)]
    say("[bootstrap-token] Configured RBAC rules to allow Node Bootstrap tokens to get nodes")
    ensure(admin, {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                   "metadata": {"name": "kubeadm:get-nodes"},
                   "rules": [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["get"]}]})
    ensure(admin, _binding("ClusterRoleBinding", "kubeadm:get-nodes", "ClusterRole",
                           "kubeadm:get-nodes", group))
    say("[bootstrap-token] Configured RBAC rules to allow Node Bootstrap tokens to post CSRs in "
        "order for nodes to get long term certificate credentials")
    ensure(admin, _binding("ClusterRoleBinding", "kubeadm:kubelet-bootstrap", "ClusterRole",
                           "system:node-bootstrapper", group))
    say("[bootstrap-token] Configured RBAC rules to allow the csrapprover controller "
        "automatically approve CSRs from a Node Bootstrap Token")
    ensure(admin, _binding("ClusterRoleBinding", "kubeadm:node-autoapprove-bootstrap",
                           "ClusterRole",
                           "system:certificates.k8s.io:certificatesigningrequests:nodeclient",
                           group))
    say("[bootstrap-token] Configured RBAC rules to allow certificate rotation for all node "
        "client certificates in the cluster")
    ensure(admin, _binding("ClusterRoleBinding", "kubeadm:node-autoapprove-certificate-rotation",
                           "ClusterRole",
                           "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient",
                           [("Group", "system:nodes")]))


def cluster_info(admin: ApiClient, server: str, ca_pem: str) -> None:
    say('[bootstrap-token] Creating the "cluster-info" ConfigMap in the "kube-public" namespace')
    info: dict[str, Any] = {"apiVersion": "v1", "kind": "Config",
            "clusters": [{"cluster": {"certificate-authority-data": kubeconfig.b64(ca_pem),
                                      "server": server}, "name": ""}],
            "contexts": None, "current-context": "", "preferences": {}, "users": None}
    ensure(admin, {"apiVersion": "v1", "kind": "ConfigMap",
                   "metadata": {"name": "cluster-info", "namespace": "kube-public"},
                   "data": {"kubeconfig": yamlio.dump(info)}})
    ensure(admin, _role("kubeadm:bootstrap-signer-clusterinfo", "kube-public", "configmaps",
                        ["cluster-info"]))
    ensure(admin, _binding("RoleBinding", "kubeadm:bootstrap-signer-clusterinfo", "Role",
                           "kubeadm:bootstrap-signer-clusterinfo", [("User", "system:anonymous")],
                           "kube-public"))


def coredns_deployment(cluster: dict[str, Any]) -> dict[str, Any]:
    labels = {"k8s-app": "kube-dns"}
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "coredns", "namespace": "kube-system", "labels": labels},
        "spec": {"replicas": 2, "selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels}, "spec": {
                     "serviceAccountName": "coredns",
                     "priorityClassName": "system-cluster-critical",
                     "nodeSelector": {"kubernetes.io/os": "linux"},
                     "tolerations": [{"key": "CriticalAddonsOnly", "operator": "Exists"},
                                     {"key": "node-role.kubernetes.io/control-plane",
                                      "effect": "NoSchedule"}],
                     "containers": [{"name": "coredns",
                                     "image": f"{cluster['imageRepository']}/{COREDNS_IMAGE}",
                                     "args": ["-conf", "/etc/coredns/Corefile"]}]}}}}


def addons(admin: ApiClient, cluster: dict[str, Any], proxy: dict[str, Any] | None,
           server: str, found: Patches | None = None) -> None:
    networking = cluster["networking"]
    repository = cluster["imageRepository"]
    if not (cluster.get("dns") or {}).get("disabled"):
        labels = {"k8s-app": "kube-dns"}
        ensure(admin, {"apiVersion": "v1", "kind": "ServiceAccount",
                       "metadata": {"name": "coredns", "namespace": "kube-system"}})
        ensure(admin, {"apiVersion": "v1", "kind": "ConfigMap",
                       "metadata": {"name": "coredns", "namespace": "kube-system"},
                       "data": {"Corefile": ".:53 {\n    errors\n    health\n    ready\n"
                                f"    kubernetes {networking['dnsDomain']} in-addr.arpa ip6.arpa"
                                " {\n       pods insecure\n       fallthrough in-addr.arpa "
                                "ip6.arpa\n    }\n    forward . /etc/resolv.conf\n    cache 30\n"
                                "    loop\n    reload\n}\n"}})
        ensure(admin, patch(found, "corednsdeployment", coredns_deployment(cluster),
                            "addon/coredns", "could not apply patches to the CoreDNS Deployment",
                            say))
        ensure(admin, {"apiVersion": "v1", "kind": "Service",
                       "metadata": {"name": "kube-dns", "namespace": "kube-system",
                                    "labels": {**labels, "kubernetes.io/name": "CoreDNS"}},
                       "spec": {"clusterIP": config.service_ip(networking["serviceSubnet"], 10),
                                "selector": labels,
                                "ports": [{"name": "dns", "port": 53, "protocol": "UDP"},
                                          {"name": "dns-tcp", "port": 53, "protocol": "TCP"},
                                          {"name": "metrics", "port": 9153,
                                           "protocol": "TCP"}]}})
        say("[addons] Applied essential addon: CoreDNS")
    if not (cluster.get("proxy") or {}).get("disabled"):
        proxy_config = {"apiVersion": config.PROXY_API, "kind": "KubeProxyConfiguration",
                        "clusterCIDR": networking.get("podSubnet", ""), "mode": ""}
        proxy_config.update(proxy or {})
        labels = {"k8s-app": "kube-proxy"}
        ensure(admin, {"apiVersion": "v1", "kind": "ServiceAccount",
                       "metadata": {"name": "kube-proxy", "namespace": "kube-system"}})
        ensure(admin, {"apiVersion": "v1", "kind": "ConfigMap",
                       "metadata": {"name": "kube-proxy", "namespace": "kube-system",
                                    "labels": {"app": "kube-proxy"}},
                       "data": {"config.conf": yamlio.dump(proxy_config),
                                "kubeconfig.conf": yamlio.dump({
                                    "apiVersion": "v1", "kind": "Config",
                                    "clusters": [{"name": "default", "cluster": {
                                        "server": server, "certificate-authority":
                                        "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt"}}],
                                })}})
        ensure(admin, {
            "apiVersion": "apps/v1", "kind": "DaemonSet",
            "metadata": {"name": "kube-proxy", "namespace": "kube-system", "labels": labels},
            "spec": {"selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels}, "spec": {
                         "hostNetwork": True, "serviceAccountName": "kube-proxy",
                         "priorityClassName": "system-node-critical",
                         "nodeSelector": {"kubernetes.io/os": "linux"},
                         "tolerations": [{"operator": "Exists"}],
                         "containers": [{"name": "kube-proxy", "image":
                                         f"{repository}/kube-proxy:{cluster['kubernetesVersion']}",
                                         "command": ["/usr/local/bin/kube-proxy",
                                                     "--config=/var/lib/kube-proxy/config.conf",
                                                     "--hostname-override=$(NODE_NAME)"]}]}}}})
        ensure(admin, _role("kube-proxy", "kube-system", "configmaps", ["kube-proxy"]))
        ensure(admin, _binding("RoleBinding", "kube-proxy", "Role", "kube-proxy",
                               [("Group", tokens.DEFAULT_GROUP)], "kube-system"))
        say("[addons] Applied essential addon: kube-proxy")


# -- init phase upload-certs -----------------------------------------------------------------


def init_phase(argv: list[str]) -> int:
    if argv[:1] != ["upload-certs"]:
        raise Failure("the STAND-IN kubeadm implements only `kubeadm init phase upload-certs`")
    values, _ = parse(argv[1:], [Flag("upload-certs", "bool", default=False), Flag("config"),
                                 Flag("certificate-key"), Flag("kubeconfig"),
                                 Flag("skip-certificate-key-print", "bool", default=False),
                                 Flag("v", short="v")],
                      command="kubeadm init phase upload-certs")
    if not values["upload-certs"]:
        say("[upload-certs] Skipping phase. Please see --upload-certs")
        return 0
    errors: list[str] = []
    config.validate_certificate_key(errors, "certificateKey", values["certificate-key"])
    if errors:
        raise Failure("\n".join(errors))
    admin = client_from(cli_path(values["kubeconfig"], f"{K8S}/admin.conf"))
    directory = "/etc/kubernetes/pki"
    if values["config"]:
        cluster = read_config(values["config"]).get("ClusterConfiguration") or {}
        directory = cluster.get("certificatesDir", directory)
    else:
        stored = call(admin, "GET", kinds.builtin("ConfigMap").path("kube-system",
                                                                     "kubeadm-config"))
        cluster = yamlio.load_one(stored["data"]["ClusterConfiguration"], "kubeadm-config")
        directory = cluster.get("certificatesDir", directory)
    upload_certs(admin, Pki(directory), values["certificate-key"] or secrets.token_hex(32))
    return 0


# -- join -----------------------------------------------------------------------------------


JOIN_FLAGS = [
    Flag("config"), Flag("token"), Flag("discovery-token"), Flag("tls-bootstrap-token"),
    Flag("discovery-token-ca-cert-hash", "list"),
    Flag("discovery-token-unsafe-skip-ca-verification", "bool", default=False),
    Flag("control-plane", "bool", default=False), Flag("certificate-key"),
    Flag("apiserver-advertise-address"), Flag("apiserver-bind-port", "int"),
    Flag("node-name"), Flag("cri-socket"), Flag("ignore-preflight-errors", "list"),
    Flag("skip-phases", "list"), Flag("dry-run", "bool", default=False), Flag("v", short="v"),
]


def _join_document(values: dict[str, Any], positional: list[str]) -> dict[str, Any]:
    if values["config"]:
        given = [n for n in ("token", "discovery-token", "control-plane", "node-name",
                             "apiserver-advertise-address") if values.get(n)]
        if given or positional:
            raise Failure(f"can not mix '--config' with arguments {given or positional}")
        documents = read_config(values["config"])
        join = documents.get("JoinConfiguration")
        if join is None:
            raise Failure(f"no JoinConfiguration found in the supplied config\n{STACK_HINT}")
        return join
    token = values["discovery-token"] or values["token"] or ""
    join = {"discovery": {"bootstrapToken": {
        "token": token, "apiServerEndpoint": positional[0] if positional else "",
        "caCertHashes": values["discovery-token-ca-cert-hash"],
        "unsafeSkipCAVerification": values["discovery-token-unsafe-skip-ca-verification"]},
        "tlsBootstrapToken": values["tls-bootstrap-token"] or values["token"] or ""}}
    node = {k: v for k, v in (("name", values["node-name"]), ("criSocket", values["cri-socket"]))
            if v}
    if node:
        join["nodeRegistration"] = node
    if values["control-plane"]:
        endpoint: dict[str, Any] = {}
        if values["apiserver-advertise-address"]:
            endpoint["advertiseAddress"] = values["apiserver-advertise-address"]
        if values["apiserver-bind-port"]:
            endpoint["bindPort"] = values["apiserver-bind-port"]
        join["controlPlane"] = {"localAPIEndpoint": endpoint}
        if values["certificate-key"]:
            join["controlPlane"]["certificateKey"] = values["certificate-key"]
    return join


def discover(token_config: dict[str, Any], timeout: float) -> tuple[str, str]:
    """Token discovery: (server, CA PEM) after the JWS and CA-pin checks kubeadm makes."""
    endpoint = token_config["apiServerEndpoint"]
    token_id, token_secret = token_config["token"].split(".")
    insecure = ApiClient(kubeconfig.Credentials(server=f"https://{endpoint}", ca_pem=None,
                                                cert_pem=None, key_pem=None, token=None,
                                                source=""), timeout=10)
    say(f'[discovery] Created cluster-info discovery client, requesting info from '
        f'"{endpoint}"')
    path = kinds.builtin("ConfigMap").path("kube-public", "cluster-info")
    start = time.monotonic()
    while True:
        try:
            info = insecure.request("GET", path)
            break
        except (ApiError, Unreachable) as exc:
            if time.monotonic() - start > timeout:
                raise phase_error("preflight", f"couldn't validate the identity of the API "
                                  f"Server: failed to request the cluster-info ConfigMap: "
                                  f"{exc}") from None
            time.sleep(1)
    data = info.get("data") or {}
    signature = data.get(f"jws-kubeconfig-{token_id}")
    if not signature:
        raise phase_error("preflight", f"couldn't validate the identity of the API Server: token "
                          f'id "{token_id}" is invalid for this cluster or it has expired. Use '
                          '"kubeadm token create" on the control-plane node to create a new '
                          "valid token")
    if not tokens.verify(data.get("kubeconfig", ""), signature, token_id, token_secret):
        raise phase_error("preflight", "couldn't validate the identity of the API Server: failed "
                          "to verify JWS signature of received cluster info object, can't trust "
                          "this API Server")
    info_config = yamlio.load_one(data["kubeconfig"], "cluster-info")
    cluster = info_config["clusters"][0]["cluster"]
    ca_pem = base64.b64decode(cluster["certificate-authority-data"]).decode()
    pins = token_config.get("caCertHashes") or []
    if pins:
        actual = pki.Certificate.from_pem(ca_pem).spki_sha256()
        if actual not in pins:
            raise phase_error("preflight", "couldn't validate the identity of the API Server: "
                              f"cluster CA found in cluster-info ConfigMap is invalid: none of "
                              f'the public keys "{actual}" are pinned')
    say(f'[discovery] Cluster info signature and contents are valid and TLS certificate '
        f'validates against pinned roots, will use API Server "{endpoint}"')
    return str(cluster["server"]), ca_pem


def join(argv: list[str]) -> int:
    values, positional = parse(argv, JOIN_FLAGS, command="kubeadm join")
    document = _join_document(values, positional)
    errors: list[str] = []
    config.validate_join(errors, document)
    if errors:
        raise Failure("\n".join(errors) + f"\n{STACK_HINT}")
    plane = document.get("controlPlane")
    hostname = host.hostname()
    node = config.default_node(document.get("nodeRegistration"), hostname,
                               control_plane=plane is not None)
    timeouts = config.default_timeouts(document.get("timeouts"))
    discovery = document["discovery"]
    token_config = discovery["bootstrapToken"]
    tls_token = discovery.get("tlsBootstrapToken") or token_config["token"]
    ignored = list(values["ignore-preflight-errors"]) + list(node.get(
        "ignorePreflightErrors") or [])
    local = (plane or {}).get("localAPIEndpoint") or {}
    advertise = local.get("advertiseAddress") or host.default_address()
    port = int(local.get("bindPort") or 6443)

    say("[preflight] Running pre-flight checks")
    preflight = Preflight(ignored)
    _common_checks(preflight, node["criSocket"])
    _dir_available(preflight, MANIFESTS)
    for path in (f"{K8S}/kubelet.conf", f"{K8S}/bootstrap-kubelet.conf", f"{K8S}/pki/ca.crt"):
        _file_available(preflight, path)
    _port(preflight, 10250)
    if plane is not None:
        for port_number in (port, 10259, 10257, 2379, 2380):
            _port(preflight, port_number)
        _dir_available(preflight, "/var/lib/etcd")
    preflight.finish()
    # Read before anything is written (kubeadm reads them in the first phase that patches).
    found = (read_patches(document, JOIN_PHASES["control-plane"],
                          'failed to patch static Pod manifest file for "kube-apiserver"')
             if plane is not None else
             read_patches(document, "kubelet-start",
                          "could not apply patches to the KubeletConfiguration"))

    server, ca_pem = discover(token_config, timeouts["discovery"])
    bootstrap = ApiClient(kubeconfig.Credentials(server=server, ca_pem=ca_pem, cert_pem=None,
                                                 key_pem=None, token=tls_token, source=""))
    say('[preflight] Reading configuration from the "kubeadm-config" ConfigMap in namespace '
        '"kube-system"...')
    configmaps = kinds.builtin("ConfigMap")
    try:
        stored = bootstrap.request("GET", configmaps.path("kube-system", "kubeadm-config"))
        kubelet_map = bootstrap.request("GET", configmaps.path("kube-system", "kubelet-config"))
    except ApiError as exc:
        raise phase_error("preflight", f"unable to fetch the kubeadm-config ConfigMap: "
                          f"{exc.message}") from None
    except Unreachable as exc:
        raise phase_error("preflight", str(exc)) from None
    cluster = config.default_cluster(yamlio.load_one(stored["data"]["ClusterConfiguration"],
                                                     "kubeadm-config"))
    kubelet = yamlio.load_one(kubelet_map["data"]["kubelet"], "kubelet-config")
    pods = static_pods(cluster, node["name"], advertise, port,
                       f"{node['name']}=https://{advertise}:2380", "existing")
    if found is not None:  # try every patch this join applies, before writing anything
        if plane is not None:
            for name, pod in pods.items():
                patch_pod(found, name, pod, JOIN_PHASES, None)
        patch_kubelet(found, kubelet, None)
    try:
        existing = bootstrap.request("GET", kinds.builtin("Node").path(name=node["name"]))
    except (ApiError, Unreachable):
        existing = None
    if existing is not None and any(
            c.get("type") == "Ready" and c.get("status") == "True"
            for c in (existing.get("status") or {}).get("conditions") or []):
        raise phase_error("kubelet-start", f'a Node with name "{node["name"]}" and status '
                          '"Ready" already exists in the cluster. You must delete the existing '
                          "Node or change the name of this new joining Node")
    if plane is not None:
        if not cluster.get("controlPlaneEndpoint"):
            raise phase_error("preflight", "One or more conditions for hosting a new control "
                              "plane instance is not satisfied.\n\nunable to add a new control "
                              "plane instance to a cluster that doesn't have a stable "
                              "controlPlaneEndpoint address\n\nPlease ensure that:\n* The cluster "
                              "has a stable controlPlaneEndpoint address.\n* The certificates "
                              "that must be shared among control plane instances are provided.")
        join_control_plane(bootstrap, cluster, node, advertise, port, plane, server, pods,
                           found)

    local_kubelet = write_kubelet_files(kubelet, node, hostname, found)
    host.write_file(host.path(f"{cluster['certificatesDir']}/ca.crt"), ca_pem, 0o644)
    kubeconfig.write(host.path(f"{K8S}/bootstrap-kubelet.conf"), kubeconfig.build(
        cluster=cluster["clusterName"], server=server, ca_pem=ca_pem,
        user="tls-bootstrap-token-user", token=tls_token))
    start_kubelet()
    say("[kubelet-start] Waiting for the kubelet to perform the TLS Bootstrap")
    wait_for("the kubelet to perform the TLS Bootstrap (/etc/kubernetes/kubelet.conf)",
             lambda: host.path(f"{K8S}/kubelet.conf").exists(), timeouts["tlsBootstrap"],
             "kubelet-start")
    host.path(f"{K8S}/bootstrap-kubelet.conf").unlink(missing_ok=True)
    wait_kubelet(local_kubelet, timeouts["kubeletHealthCheck"])
    if plane is not None:
        wait_apiserver(advertise, port, timeouts["controlPlaneComponentHealthCheck"])
        admin = client_from(host.path(f"{K8S}/admin.conf"),
                            retry_window=timeouts["kubernetesAPICall"])
        mark_control_plane(admin, node, timeouts["kubernetesAPICall"])
        say("\nThis node has joined the cluster and a new control plane instance was created:\n\n"
            "* Certificate signing request was sent to apiserver and approval was received.\n"
            "* The Kubelet was informed of the new secure connection details.\n"
            "* Control plane label and taint were applied to the new node.\n"
            "* The Kubernetes control plane instances scaled up.\n"
            "* A new etcd member was added to the local/stacked etcd cluster.\n\n"
            "To start administering your cluster from this node, you need to run the following "
            "as a regular user:\n\n\tmkdir -p $HOME/.kube\n"
            "\tsudo cp -i /etc/kubernetes/admin.conf $HOME/.kube/config\n"
            "\tsudo chown $(id -u):$(id -g) $HOME/.kube/config\n\n"
            "Run 'kubectl get nodes' to see this node join the cluster.")
    else:
        say("\nThis node has joined the cluster:\n"
            "* Certificate signing request was sent to apiserver and a response was received.\n"
            "* The Kubelet was informed of the new secure connection details.\n\n"
            "Run 'kubectl get nodes' on the control-plane to see this node join the cluster.")
    return 0


def join_control_plane(bootstrap: ApiClient, cluster: dict[str, Any], node: dict[str, Any],
                       advertise: str, port: int, plane: dict[str, Any], server: str,
                       pods: dict[str, dict[str, Any]], found: Patches | None) -> None:
    pki_dir = Pki(cluster["certificatesDir"])
    key = plane.get("certificateKey")
    if key:
        say("[download-certs] Downloading the certificates in Secret \"kubeadm-certs\" in the "
            '"kube-system" Namespace')
        try:
            secret = bootstrap.request("GET", kinds.builtin("Secret").path("kube-system",
                                                                           "kubeadm-certs"))
        except ApiError as exc:
            raise phase_error("control-plane-prepare/download-certs", "error downloading "
                              f"certs: error downloading the secret: {exc.message}") from None
        for entry, name in UPLOADED.items():
            sealed = base64.b64decode((secret.get("data") or {}).get(entry, ""))
            try:
                content = seal.unseal(key, sealed)
            except ValueError as exc:
                raise phase_error("control-plane-prepare/download-certs", "error downloading "
                                  f"certs: error decoding secret data with provided key: "
                                  f"{exc}") from None
            mode = 0o600 if name.endswith(".key") else 0o644
            host.write_file(pki_dir.file(name), content, mode)
    elif not pki_dir.has("ca"):
        raise phase_error("preflight", "One or more conditions for hosting a new control plane "
                          "instance is not satisfied.\n\n[failure loading certificate for CA: "
                          f"couldn't load the certificate file {cluster['certificatesDir']}/"
                          "ca.crt: open: no such file or directory]\n\nPlease ensure that:\n* "
                          "The certificates that must be shared among control plane instances "
                          "are provided (use --certificate-key with the key from `kubeadm init "
                          "phase upload-certs --upload-certs`).")
    say("[control-plane-prepare] Using the existing certificate authorities")
    _, endpoint_host, _ = _endpoint(cluster, advertise, port)
    control_plane_certs(pki_dir, cluster, node["name"], advertise, endpoint_host)
    local_server = f"https://{advertise}:{port}"
    write_kubeconfig("admin.conf", pki_dir, server, cluster["clusterName"], "kubernetes-admin",
                     ("kubeadm:cluster-admins",))
    write_kubeconfig("controller-manager.conf", pki_dir, local_server, cluster["clusterName"],
                     "system:kube-controller-manager")
    write_kubeconfig("scheduler.conf", pki_dir, local_server, cluster["clusterName"],
                     "system:kube-scheduler")
    try:
        owner = bootstrap.request("GET", "/standin/storage")["owner"]
    except (ApiError, Unreachable, KeyError) as exc:
        raise phase_error("control-plane-join/etcd", f"cannot find the etcd cluster: {exc}"
                          ) from None
    write_manifests(pods, found, JOIN_PHASES)
    data_dir = ((cluster.get("etcd") or {}).get("local") or {}).get("dataDir", "/var/lib/etcd")
    host.write_file(host.path(f"{data_dir}/member/taco-standin-peer.json"),
                    json.dumps({"owner": owner}), 0o600)
    say(f"[etcd] Announced new etcd member joining to the existing etcd cluster ({owner} holds "
        "the STAND-IN store)")


# -- token ------------------------------------------------------------------------------------


def token(argv: list[str]) -> int:
    sub = argv[:1]
    rest = argv[1:]
    common = [Flag("kubeconfig"), Flag("v", short="v"),
              Flag("dry-run", "bool", default=False)]
    if sub == ["generate"]:
        say(tokens.generate())
        return 0
    if sub == ["create"]:
        values, positional = parse(rest, [*common, Flag("ttl", default="24h0m0s"),
                                          Flag("print-join-command", "bool", default=False),
                                          Flag("description", default=""),
                                          Flag("usages", "list"), Flag("groups", "list"),
                                          Flag("certificate-key"), Flag("config")],
                                   command="kubeadm token create")
        value = positional[0] if positional else tokens.generate()
        if not tokens.TOKEN.match(value):
            raise Failure(f'the bootstrap token "{value}" was not of the form '
                          '"^([a-z0-9]{6})\\.([a-z0-9]{16})$"')
        api = client_from(cli_path(values["kubeconfig"], f"{K8S}/admin.conf"))
        create_token(api, value, values["ttl"], values["usages"] or ["signing", "authentication"],
                     values["groups"] or [tokens.DEFAULT_GROUP], values["description"])
        if not values["print-join-command"]:
            say(value)
            return 0
        credentials = api.credentials
        if not credentials.ca_pem:
            raise Failure("failed to get the CA from the kubeconfig: no certificate-authority")
        hostname, port = credentials.address
        pin = pki.Certificate.from_pem(credentials.ca_pem).spki_sha256()
        line = (f"kubeadm join {hostname}:{port} --token {value} "
                f"--discovery-token-ca-cert-hash {pin} ")
        if values["certificate-key"]:
            line += f"--control-plane --certificate-key {values['certificate-key']}"
        say(line)
        return 0
    if sub in (["list"], ["delete"]):
        values, positional = parse(rest, [*common, Flag("output", short="o", default="text")],
                                   command=f"kubeadm token {sub[0]}")
        api = client_from(cli_path(values["kubeconfig"], f"{K8S}/admin.conf"))
        secrets_type = kinds.builtin("Secret")
        if sub == ["delete"]:
            for given in positional:
                token_id = given.split(".")[0]
                call(api, "DELETE", secrets_type.path("kube-system", f"bootstrap-token-{token_id}"))
                say(f'bootstrap token "{token_id}" deleted')
            return 0
        listing = call(api, "GET", secrets_type.path("kube-system"))
        say("TOKEN                     TTL         EXPIRES                USAGES                   "
            "DESCRIPTION   EXTRA GROUPS")
        for secret in listing.get("items") or []:
            if secret.get("type") != tokens.SECRET_TYPE:
                continue
            fields = tokens.secret_fields(secret)
            if tokens.expired(fields):
                continue
            usages = ",".join(k.removeprefix("usage-bootstrap-") for k, v in fields.items()
                              if k.startswith("usage-bootstrap-") and v == "true")
            say(f"{fields['token-id']}.<redacted>   {fields.get('expiration', '<forever>'):<22} "
                f"{usages:<24} {fields.get('description', '<none>')}   "
                f"{fields.get('auth-extra-groups', '')}")
        return 0
    raise Failure('the STAND-IN kubeadm implements token create|list|delete|generate')


# -- reset ------------------------------------------------------------------------------------


def stop_pods() -> list[str]:
    """Stop what the kubelet stand-in started (the "containers" reset removes through the CRI)."""
    stopped = []
    for record in sorted(host.path(f"{RUN_DIR}/pods").glob("*.json")):
        try:
            pod = json.loads(record.read_text())
        except (OSError, json.JSONDecodeError):
            record.unlink(missing_ok=True)
            continue
        if pod.get("unit"):
            host.systemctl("stop", pod["unit"])
        elif pod.get("pid") and host.pid_alive(int(pod["pid"])):
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pod["pid"]), 15)
        stopped.append(str(pod.get("name")))
        record.unlink(missing_ok=True)
    return stopped


def _clear(directory: Path) -> None:
    if not directory.is_dir():
        return
    for entry in directory.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)


def reset(argv: list[str]) -> int:
    values, _ = parse(argv, [Flag("force", "bool", short="f", default=False),
                             Flag("cri-socket"), Flag("ignore-preflight-errors", "list"),
                             Flag("cleanup-tmp-dir", "bool", default=False), Flag("config"),
                             Flag("cert-dir", default="/etc/kubernetes/pki"),
                             Flag("kubeconfig"),
                             Flag("dry-run", "bool", default=False), Flag("skip-phases", "list"),
                             Flag("v", short="v")], command="kubeadm reset")
    force = values["force"]
    if values["config"]:
        reset_cfg = read_config(values["config"]).get("ResetConfiguration") or {}
        force = force or bool(reset_cfg.get("force"))
    say("[preflight] Running pre-flight checks")
    if not force:
        print("W The 'reset' command will wipe out all changes done to this host by 'kubeadm init' "
              "or 'kubeadm join'.\n[reset] Are you sure you want to proceed? [y/N]: ", end="",
              flush=True)
        answer = sys.stdin.readline().strip().lower()
        if answer not in ("y", "yes"):
            raise Failure("error execution phase preflight: aborted reset operation\n"
                          f"{STACK_HINT}")
    data_dir = "/var/lib/etcd"
    manifest = host.path(f"{MANIFESTS}/etcd.yaml")
    if manifest.exists():
        for arg in yamlio.load_one(manifest.read_text(), "etcd.yaml")["spec"]["containers"][0][
                "command"]:
            if str(arg).startswith("--data-dir="):
                data_dir = str(arg).split("=", 1)[1]
        _clear(host.path(data_dir))
        say(f"[reset] Deleted contents of the etcd data directory: {data_dir}")
    else:
        say("[reset] No etcd config found. Assuming external etcd")
        say("[reset] Please, manually reset etcd to prevent further issues")
    say("[reset] Stopping the kubelet service")
    host.systemctl("stop", "kubelet")
    say(f'[reset] Unmounting mounted directories in "{KUBELET_DIR}"')
    stopped = stop_pods()
    if stopped:
        say(f"[reset] Removing containers via the stand-in runtime: {' '.join(stopped)}")
    directories = [MANIFESTS, KUBELET_DIR, values["cert-dir"]]
    if values["cleanup-tmp-dir"]:
        directories.append(f"{K8S}/tmp")
    say(f"[reset] Deleting contents of directories: [{' '.join(directories)}]")
    for directory in directories:
        _clear(host.path(directory))
    files = [f"{K8S}/{name}" for name in ("admin.conf", "super-admin.conf", "kubelet.conf",
                                           "bootstrap-kubelet.conf", "controller-manager.conf",
                                           "scheduler.conf")]
    say(f"[reset] Deleting files: [{' '.join(files)}]")
    for name in files:
        host.path(name).unlink(missing_ok=True)
    say("\nThe reset process does not perform cleanup of CNI plugin configuration,\n"
        "network filtering rules and kubeconfig files.\n\n"
        "For information on how to perform this cleanup manually, please see:\n"
        "    https://k8s.io/docs/reference/setup-tools/kubeadm/kubeadm-reset/\n\n"
        "The reset process does not clean CNI configuration. To do so, you must remove "
        "/etc/cni/net.d\n\n"
        "The reset process does not reset or clean up iptables rules or IPVS tables.\n"
        'If you wish to reset iptables, you must do so manually by using the "iptables" '
        "command.\n\nThe reset process does not clean your kubeconfig files and you must remove "
        "them manually.\nPlease, check the contents of the $HOME/.kube/config file.")
    return 0


# -- config, version, certs -------------------------------------------------------------------


def config_command(argv: list[str]) -> int:
    if argv[:1] != ["validate"]:
        raise Failure("the STAND-IN kubeadm implements only `kubeadm config validate`")
    values, _ = parse(argv[1:], [Flag("config"), Flag("allow-experimental-api", "bool"),
                                 Flag("v", short="v")], command="kubeadm config validate")
    if not values["config"]:
        raise Failure("missing --config flag")
    documents = read_config(values["config"])
    errors: list[str] = []
    if "InitConfiguration" in documents.by_kind or "ClusterConfiguration" in documents.by_kind:
        config.validate_init(errors, documents.get("InitConfiguration") or {})
        config.validate_cluster(errors, documents.get("ClusterConfiguration") or {},
                                expect_version=True)
    if "JoinConfiguration" in documents.by_kind:
        config.validate_join(errors, documents.get("JoinConfiguration") or {})
    if "KubeletConfiguration" in documents.by_kind:
        config.validate_kubelet(errors, documents.get("KubeletConfiguration") or {})
    if "KubeProxyConfiguration" in documents.by_kind:
        config.validate_proxy(errors, documents.get("KubeProxyConfiguration") or {})
    if errors:
        raise Failure("\n".join(errors) + f"\n{STACK_HINT}")
    say("ok")
    return 0


def version(argv: list[str]) -> int:
    values, _ = parse(argv, [Flag("output", short="o", default="")], command="kubeadm version")
    major, minor, _ = KUBERNETES_VERSION.split(".")
    info = {"major": major, "minor": minor, "gitVersion": f"v{KUBERNETES_VERSION}",
            "gitCommit": "0" * 40, "gitTreeState": "stand-in", "buildDate": "2026-01-01T00:00:00Z",
            "goVersion": "go1.25.0", "compiler": "gc", "platform": "linux/amd64",
            "note": STAND_IN_NOTE}
    output = values["output"]
    if output == "short":
        say(f"v{KUBERNETES_VERSION}")
    elif output == "json":
        say(json.dumps({"clientVersion": info}, indent=2))
    elif output == "yaml":
        say(yamlio.dump({"clientVersion": info}))
    elif output:
        raise Failure(f'invalid output format: {output}')
    else:
        fields = ", ".join(f'{key[0].upper()}{key[1:]}:"{value}"' for key, value in info.items())
        say(f"kubeadm version: &version.Info{{{fields}}}")
    return 0


def certs(argv: list[str]) -> int:
    if argv[:1] == ["certificate-key"]:
        say(secrets.token_hex(32))
        return 0
    raise Failure("the STAND-IN kubeadm implements only `kubeadm certs certificate-key`")


COMMANDS: dict[str, Callable[[list[str]], int]] = {
    "init": init, "join": join, "token": token, "reset": reset, "config": config_command,
    "version": version, "certs": certs,
}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help", "help"):
        say(f"kubeadm ({STAND_IN_NOTE})\n\nCommands: {', '.join(sorted(COMMANDS))}")
        return 0
    if args[0] == "--version":
        say(f"kubeadm v{KUBERNETES_VERSION} ({STAND_IN_NOTE})")
        return 0
    command = COMMANDS.get(args[0])
    try:
        if command is None:
            raise Failure(f'unknown command "{args[0]}" for "kubeadm"\nRun \'kubeadm --help\' '
                          "for usage.")
        return command(args[1:])
    except Failure as exc:
        print(exc.message, file=sys.stderr, flush=True)
        return exc.code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
