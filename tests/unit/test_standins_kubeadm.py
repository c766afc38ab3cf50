"""The kubeadm and kubelet stand-ins, run as executables against node roots on this machine.

Nothing is installed here: each test node lives under a temporary TACO_STANDIN_ROOT, and the
processes a test starts are stopped when it ends (tests/standins/fixtures.py).
"""

from __future__ import annotations

import socket
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "standins"))

import fixtures
from fixtures import (
    CRI_SOCKET,
    StandinCluster,
    StandinHost,
    free_port,
    init_config,
    initialise,
)

if TYPE_CHECKING:
    from collections.abc import Callable

# The stand-in fixtures (tests/standins/fixtures.py), made visible to pytest by name.
standin_bin = fixtures.standin_bin
standin_cluster = fixtures.standin_cluster
standin_host = fixtures.standin_host
standin_host_factory = fixtures.standin_host_factory


def write_config(standin: StandinHost, text: str) -> str:
    path = standin.root / "kubeadm.yaml"
    path.write_text(text)
    return str(path)


def left_nothing(standin: StandinHost) -> bool:
    """A refused init/join changed nothing under /etc/kubernetes or /var/lib/kubelet."""
    return not any(standin.path("/etc/kubernetes").rglob("*")) and not standin.path(
        "/var/lib/kubelet").exists()


# -- what the executables say they are -------------------------------------------------------


@pytest.mark.parametrize("tool", ["kubeadm", "kubelet", "kubectl", "helm"])
def test_each_standin_says_what_it_is(standin_bin: Path, tool: str) -> None:
    lines = (standin_bin / tool).read_bytes().split(b"\n", 2)
    assert lines[0] == b"#!/usr/bin/python3"
    assert lines[1].startswith(f"# STAND-IN for {tool} ".encode())
    version_args = {"kubeadm": ["version"], "kubelet": ["--version"],
                    "kubectl": ["version", "--client"], "helm": ["version"]}[tool]
    result = subprocess.run([sys.executable, str(standin_bin / tool), *version_args],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert "STAND-IN" in result.stdout


def test_kubeadm_version_short_is_parseable(standin_host: StandinHost) -> None:
    result = standin_host.run("kubeadm", "version", "-o", "short")
    assert result.stdout.strip() == "v1.35.4"


# -- configuration: what kubeadm 1.35 refuses -----------------------------------------------


def test_valid_config_validates(standin_host: StandinHost) -> None:
    config = write_config(standin_host, init_config(6443))
    result = standin_host.run("kubeadm", "config", "validate", "--config", config)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


@pytest.mark.parametrize(("change", "expected"), [
    (("kubeadm.k8s.io/v1beta4\nkind: InitConfiguration", "kubeadm.k8s.io/v1beta3\nkind: "
      "InitConfiguration"), 'uses a deprecated API spec: "kubeadm.k8s.io/v1beta3"'),
    (("kubeadm.k8s.io/v1beta4\nkind: InitConfiguration", "kubeadm.k8s.io/v1beta2\nkind: "
      "InitConfiguration"), "Please use kubeadm v1.22 instead"),
    (("kind: ClusterConfiguration", "kind: ClusterConfig"), 'no kind "ClusterConfig" is '
     'registered for version "kubeadm.k8s.io/v1beta4"'),
    (("podSubnet: 10.244.0.0/16", "podCIDR: 10.244.0.0/16"),
     'strict decoding error: unknown field "networking.podCIDR"'),
    (("cgroupDriver: systemd", "cgroupDriver: systemd\nfailSwapOff: true"),
     'strict decoding error: unknown field "failSwapOff"'),
    (("kubernetesVersion: v1.35.4", "kubernetesVersion: v1.35.4\napiServer:\n  extraArgs:\n"
      "    audit-log-maxage: '30'"), "cannot unmarshal object into Go struct field "
     "apiServer.extraArgs of type []v1beta4.Arg"),
    (("podSubnet: 10.244.0.0/16", "podSubnet: 10.96.0.0/16"),
     'networking.podSubnet: Invalid value: "10.96.0.0/16": overlaps with '
     'networking.serviceSubnet "10.96.0.0/12"'),
    (("podSubnet: 10.244.0.0/16", "podSubnet: 10.244.0.0/33"), "couldn't parse subnet"),
    (("serviceSubnet: 10.96.0.0/12", "serviceSubnet: 10.0.0.0/8"),
     "specified service subnet is too large"),
    (("kubernetesVersion: v1.35.4", "kubernetesVersion: v1.34.2"),
     'kubernetesVersion: Invalid value: "v1.34.2"'),
    (("name: node1", "name: Node_1"), 'nodeRegistration.name: Invalid value: "Node_1"'),
    (("value: 127.0.0.1}]", "value: 127.0.0.300}]"),
     "nodeRegistration.kubeletExtraArgs.node-ip: Invalid value"),
    (("advertiseAddress: 127.0.0.1", "advertiseAddress: 10.1.1"),
     "localAPIEndpoint.advertiseAddress: Invalid value"),
    (("cgroupDriver: systemd", "cgroupDriver: systemD"),
     'KubeletConfiguration.cgroupDriver: Invalid value: "systemD"'),
])
def test_config_validate_refuses(standin_host: StandinHost, change: tuple[str, str],
                                 expected: str) -> None:
    text = init_config(6443)
    assert change[0] in text
    config = write_config(standin_host, text.replace(change[0], change[1], 1))
    result = standin_host.run("kubeadm", "config", "validate", "--config", config)
    assert result.returncode != 0
    assert expected in result.stderr


def test_init_refuses_v1beta3_and_changes_nothing(standin_host: StandinHost) -> None:
    text = init_config(free_port()).replace("kubeadm.k8s.io/v1beta4", "kubeadm.k8s.io/v1beta3")
    result = standin_host.run("kubeadm", "init", "--config", write_config(standin_host, text))
    assert result.returncode == 1
    assert "kubeadm.k8s.io/v1beta4" in result.stderr
    assert left_nothing(standin_host)


def test_init_refuses_unknown_field(standin_host: StandinHost) -> None:
    text = init_config(free_port()).replace("bindPort:", "bindport: 1, bindPort:")
    result = standin_host.run("kubeadm", "init", "--config", write_config(standin_host, text))
    assert result.returncode == 1
    assert 'unknown field "localAPIEndpoint.bindport"' in result.stderr
    assert left_nothing(standin_host)


def test_upload_certs_needs_control_plane_endpoint(standin_host: StandinHost) -> None:
    config = write_config(standin_host, init_config(free_port(), endpoint=False))
    result = standin_host.run("kubeadm", "init", "--config", config, "--upload-certs")
    assert result.returncode == 1
    assert "controlPlaneEndpoint: Required value" in result.stderr
    assert left_nothing(standin_host)


def test_init_flags_are_validated_like_a_config(standin_host: StandinHost) -> None:
    result = standin_host.run("kubeadm", "init", "--pod-network-cidr", "10.96.0.0/16",
                              "--upload-certs")
    assert result.returncode == 1
    assert "overlaps with networking.serviceSubnet" in result.stderr
    assert "controlPlaneEndpoint: Required value" in result.stderr
    mixed = standin_host.run("kubeadm", "init", "--config", "/nonexistent.yaml",
                             "--pod-network-cidr", "10.244.0.0/16")
    assert "can not mix '--config' with arguments ['pod-network-cidr']" in mixed.stderr
    assert left_nothing(standin_host)


def test_join_config_needs_ca_pinning(standin_host: StandinHost) -> None:
    config = write_config(standin_host, (
        "apiVersion: kubeadm.k8s.io/v1beta4\nkind: JoinConfiguration\n"
        "discovery:\n  bootstrapToken: {token: abcdef.0123456789abcdef, "
        "apiServerEndpoint: '10.0.0.1:6443'}\n"))
    result = standin_host.run("kubeadm", "join", "--config", config)
    assert result.returncode == 1
    assert "using token-based discovery without caCertHashes can be unsafe" in result.stderr
    assert left_nothing(standin_host)


# -- preflight --------------------------------------------------------------------------------


def test_preflight_names_each_host_problem(standin_host_factory: Callable[..., StandinHost]
                                           ) -> None:
    standin = standin_host_factory("node1", cgroup_v2=False, cri=False)
    standin.path("/proc/sys/net/ipv4/ip_forward").write_text("0\n")
    swaps = standin.path("/proc/swaps")
    swaps.write_text("Filename Type Size Used Priority\n/swapfile file 1024 0 -2\n")
    busy = socket.socket()
    busy.bind(("", 0))
    busy.listen(1)
    port = busy.getsockname()[1]
    try:
        config = write_config(standin, init_config(port))
        result = standin.run("kubeadm", "init", "--config", config)
    finally:
        busy.close()
    assert result.returncode == 1
    for name in (f"[ERROR Port-{port}]", "[ERROR CRI]",
                 "[ERROR FileContent--proc-sys-net-ipv4-ip_forward]", "[ERROR SystemVerification]",
                 "[WARNING Swap]"):
        assert name in result.stderr, name
    assert "--ignore-preflight-errors" in result.stderr
    assert left_nothing(standin)


def test_kubelet_refuses_cgroup_v1_unless_allowed(
        standin_host_factory: Callable[..., StandinHost]) -> None:
    standin = standin_host_factory("node1", cgroup_v2=False)
    config = standin.path("/var/lib/kubelet/config.yaml")
    config.parent.mkdir(parents=True)
    config.write_text("apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n"
                      "healthzPort: 0\n")
    refused = standin.run("kubelet", "--config=/var/lib/kubelet/config.yaml",
                          f"--container-runtime-endpoint={CRI_SOCKET}", timeout=30)
    assert refused.returncode == 1
    assert "cgroup v1" in refused.stderr
    missing = standin.run("kubelet", "--config=/var/lib/kubelet/nothere.yaml", timeout=30)
    assert missing.returncode == 1
    assert "failed to load kubelet config file" in missing.stderr


# -- init, join, reset -------------------------------------------------------------------------


def test_init_leaves_what_kubeadm_leaves(standin_cluster: StandinCluster) -> None:
    standin = standin_cluster.host
    admin = standin.path("/etc/kubernetes/admin.conf")
    assert stat.S_IMODE(admin.stat().st_mode) == 0o600
    for node_path in ("/etc/kubernetes/super-admin.conf", "/etc/kubernetes/kubelet.conf",
                      "/etc/kubernetes/pki/ca.crt", "/etc/kubernetes/pki/ca.key",
                      "/etc/kubernetes/pki/sa.pub", "/etc/kubernetes/pki/etcd/ca.crt",
                      "/etc/kubernetes/manifests/kube-apiserver.yaml",
                      "/etc/kubernetes/manifests/etcd.yaml", "/var/lib/kubelet/config.yaml",
                      "/var/lib/kubelet/kubeadm-flags.env",
                      "/var/lib/kubelet/pki/kubelet-client-current.pem"):
        assert standin.path(node_path).exists(), node_path
    assert stat.S_IMODE(standin.path("/etc/kubernetes/pki/ca.key").stat().st_mode) == 0o600
    flags = standin.path("/var/lib/kubelet/kubeadm-flags.env").read_text()
    assert f"--container-runtime-endpoint={CRI_SOCKET}" in flags
    assert "--node-ip=127.0.0.1" in flags
    pki = standin.path("/etc/kubernetes/pki")
    verified = subprocess.run(["openssl", "verify", "-CAfile", str(pki / "ca.crt"),
                               str(pki / "apiserver.crt")], capture_output=True, text=True,
                              check=False)
    assert verified.returncode == 0, verified.stderr
    assert "--discovery-token-ca-cert-hash sha256:" in standin_cluster.init_output
    assert len(standin_cluster.certificate_key) == 64


def test_second_init_is_refused_by_preflight(standin_cluster: StandinCluster) -> None:
    standin = standin_cluster.host
    result = standin.run("kubeadm", "init", "--config", str(standin.root / "kubeadm.yaml"))
    assert result.returncode == 1
    assert "[ERROR FileAvailable--etc-kubernetes-manifests-kube-apiserver.yaml]" in result.stderr
    assert f"[ERROR Port-{standin_cluster.port}]" in result.stderr
    assert "[ERROR DirAvailable--var-lib-etcd]: /var/lib/etcd is not empty" in result.stderr


def test_apiserver_answers_and_node_registers(standin_cluster: StandinCluster) -> None:
    standin = standin_cluster.host
    ready = standin.kubectl("get", "--raw", "/readyz")
    assert ready.stdout == "ok", ready.stderr
    nodes = standin.kubectl("get", "nodes", "-o", "name")
    assert nodes.stdout.strip() == "node/node1", nodes.stderr
    roles = standin.kubectl("get", "node", "node1", "-o",
                            "jsonpath={.metadata.labels.node-role\\.kubernetes\\.io/control-plane}"
                            "|{.spec.taints[*].key}")
    assert roles.stdout == "|node-role.kubernetes.io/control-plane"


def test_node_ready_follows_the_cni_config(
        standin_host_factory: Callable[..., StandinHost]) -> None:
    cluster = initialise(standin_host_factory("node1"), upload_certs=False)
    standin = cluster.host
    template = 'jsonpath={.items[0].status.conditions[?(@.type=="Ready")].status}'
    assert standin.kubectl("get", "nodes", "-o", template).stdout == "False"
    cni = standin.path("/etc/cni/net.d/10-bridge.conflist")
    cni.parent.mkdir(parents=True)
    cni.write_text('{"cniVersion": "1.0.0", "name": "bridge", "plugins": []}')
    waited = standin.kubectl("wait", "--for=condition=Ready", "node/node1", "--timeout=30s")
    assert waited.returncode == 0, waited.stderr
    available = standin.kubectl("wait", "--for=condition=Available", "deployment/coredns",
                                "-n", "kube-system", "--timeout=30s")
    assert available.stdout.strip() == "deployment.apps/coredns condition met", available.stderr


def test_worker_join_and_bad_tokens(standin_cluster: StandinCluster,
                                    standin_host_factory: Callable[..., StandinHost]) -> None:
    join = standin_cluster.join_command()
    assert join[:2] == ["kubeadm", "join"]
    worker = standin_host_factory("node2")
    worker.supervise_kubelet()
    result = worker.run(*join, timeout=120)
    assert result.returncode == 0, result.stderr + worker.logs()
    assert "This node has joined the cluster" in result.stdout
    assert worker.path("/etc/kubernetes/kubelet.conf").exists()
    assert not worker.path("/etc/kubernetes/bootstrap-kubelet.conf").exists()
    listed = standin_cluster.host.kubectl("get", "node", "node2", "-o", "name")
    assert listed.stdout.strip() == "node/node2", listed.stderr

    stranger = standin_host_factory("node3")
    wrong = list(join)
    wrong[wrong.index("--token") + 1] = "abcdef.0123456789abcdef"
    refused = stranger.run(*wrong)
    assert refused.returncode == 1
    assert 'token id "abcdef" is invalid for this cluster or it has expired' in refused.stderr

    short = standin_cluster.join_command("--ttl", "1s")
    time.sleep(2)
    expired = stranger.run(*short)
    assert expired.returncode == 1
    assert "is invalid for this cluster or it has expired" in expired.stderr

    pinned = list(join)
    pinned[pinned.index("--discovery-token-ca-cert-hash") + 1] = "sha256:" + "0" * 64
    mismatch = stranger.run(*pinned)
    assert mismatch.returncode == 1
    assert "none of the public keys" in mismatch.stderr
    assert left_nothing(stranger)


def test_control_plane_join_needs_the_certificate_key(
        standin_cluster: StandinCluster,
        standin_host_factory: Callable[..., StandinHost]) -> None:
    join = standin_cluster.join_command()
    token = join[join.index("--token") + 1]
    pin = join[join.index("--discovery-token-ca-cert-hash") + 1]

    def config(name: str, port: int, key: str) -> str:
        return ("apiVersion: kubeadm.k8s.io/v1beta4\nkind: JoinConfiguration\n"
                f"discovery:\n  bootstrapToken: {{token: {token}, apiServerEndpoint: "
                f"'127.0.0.1:{standin_cluster.port}', caCertHashes: ['{pin}']}}\n"
                f"nodeRegistration: {{name: {name}, criSocket: {CRI_SOCKET}}}\n"
                f"controlPlane:\n  localAPIEndpoint: {{advertiseAddress: 127.0.0.1, "
                f"bindPort: {port}}}\n  certificateKey: {key}\n"
                "timeouts: {controlPlaneComponentHealthCheck: 60s, tlsBootstrap: 60s}\n")

    wrong = standin_host_factory("node5")
    refused = wrong.run("kubeadm", "join", "--config",
                        write_config(wrong, config("node5", free_port(), "ab" * 32)))
    assert refused.returncode == 1
    assert "message authentication failed" in refused.stderr

    second = standin_host_factory("node4")
    second.supervise_kubelet()
    port = free_port()
    result = second.run("kubeadm", "join", "--config",
                        write_config(second, config("node4", port,
                                                    standin_cluster.certificate_key)),
                        timeout=180)
    assert result.returncode == 0, result.stderr + second.logs()
    assert "a new control plane instance was created" in result.stdout
    # The joined apiserver serves the same cluster (it forwards to the first one's store).
    through_second = second.run("kubectl", "--kubeconfig",
                                str(second.path("/etc/kubernetes/admin.conf")), "--server",
                                f"https://127.0.0.1:{port}", "get", "nodes", "node1", "-o",
                                "name")
    assert through_second.stdout.strip() == "node/node1", through_second.stderr
    labels = standin_cluster.host.kubectl("get", "node", "node4", "-o", "jsonpath={.spec.taints}")
    assert "node-role.kubernetes.io/control-plane" in labels.stdout


def test_reset_removes_what_init_left(standin_host_factory: Callable[..., StandinHost]
                                      ) -> None:
    cluster = initialise(standin_host_factory("node1"), upload_certs=False)
    standin = cluster.host
    cni = standin.path("/etc/cni/net.d/10-bridge.conflist")
    cni.parent.mkdir(parents=True)
    cni.write_text("{}")
    refused = standin.run("kubeadm", "reset", stdin="n\n")
    assert refused.returncode == 1
    assert standin.path("/etc/kubernetes/admin.conf").exists()
    result = standin.run("kubeadm", "reset", "-f")
    assert result.returncode == 0, result.stderr
    assert "does not clean CNI configuration" in result.stdout
    assert "iptables" in result.stdout
    for gone in ("/etc/kubernetes/admin.conf", "/etc/kubernetes/kubelet.conf",
                 "/etc/kubernetes/manifests/kube-apiserver.yaml", "/etc/kubernetes/pki/ca.crt",
                 "/var/lib/kubelet/config.yaml"):
        assert not standin.path(gone).exists(), gone
    assert not any(standin.path("/var/lib/etcd").iterdir())
    assert cni.exists()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", cluster.port), timeout=1).close()
        except OSError:
            break
        time.sleep(0.5)
    else:
        pytest.fail("the apiserver still answers after reset")
