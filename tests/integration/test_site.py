"""`taco site` for real: five lab nodes reached only through a jump host, checked afterwards.

Every available phase runs, preflight through CNI and node labels: three control planes
behind the API VIP and two workers. Nodes get one spare disk each: the control planes' become
local-path filesystems, the workers' Ceph OSD disks. kubeadm, kubelet and kubectl are the
STAND-INs (tests/standins) from the test artifact mirror; containerd, runc and the CNI
plugins are Debian's real packages from the same mirror.
"""

from __future__ import annotations

import ipaddress
import json
import stat
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "standins"))

import fixtures
from fixtures import Mirror

if TYPE_CHECKING:
    from collections.abc import Callable

    from tests.integration.conftest import Lab

standin_mirror = fixtures.standin_mirror

# One worker runs this module in order: its tests share a lab and build on each other.
pytestmark = [pytest.mark.lab, pytest.mark.xdist_group("test_site")]


def taco(lab: Lab, *args: str, timeout: float = 2400) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "taco.cli.main", *args], env=lab.env,
                          capture_output=True, text=True, timeout=timeout, check=False)


def on_node(lab: Lab, node: str, *argv: str) -> str:
    """Inspect a node from outside, not through taco: the container's own view."""
    result = subprocess.run(["podman", "exec", f"taco-{lab.name}-{node}", *argv],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout


def latest_summary(lab: Lab, site: str) -> dict[str, object]:
    runs = sorted((lab.state_dir / "runs" / site).iterdir())
    return json.loads((runs[-1] / "summary.json").read_text())


def statuses_of(lab: Lab, site: str) -> dict[str, str]:
    return {phase["name"]: phase["status"]
            for phase in latest_summary(lab, site)["phases"]}  # type: ignore[union-attr]


PHASES = ["preflight", "os_bootstrap", "network", "openvswitch", "storage",
          "container_runtime", "kubernetes", "cni_labels", "helm", "tekton", "prow", "handover"]
NODES = ["node1", "node2", "node3", "node4", "node5"]
CONTROL_PLANES, WORKERS = NODES[:3], NODES[3:]


@pytest.fixture(scope="module")
def site_lab(lab_factory: Callable[..., Lab]) -> Lab:
    return lab_factory(5, jump=True, disks=1)


def kubernetes_site(lab: Lab, mirror: Mirror, artifacts_url: str) -> dict[str, Any]:
    """The lab's site with the test artifact mirror and the host-gw CNI (no images here)."""
    site = yaml.safe_load(lab.site_file.read_text())
    site["mirrors"] = {"artifacts": artifacts_url, "artifact_manifest": str(mirror.manifest)}
    site["kubernetes"]["cni"] = "host-gw"
    return dict(site)


@pytest.fixture(scope="module")
def site_file(site_lab: Lab, standin_mirror: Mirror) -> Path:
    path = site_lab.directory / "kubernetes-site.yml"
    path.write_text(yaml.safe_dump(kubernetes_site(site_lab, standin_mirror, standin_mirror.url)))
    return path


@pytest.fixture(scope="module")
def interrupted_run(site_lab: Lab, standin_mirror: Mirror) -> subprocess.CompletedProcess[str]:
    """The first run, with the artifact mirror down: node preparation happens, then the
    container runtime phase retries its downloads and stops with a clear error."""
    dead = site_lab.directory / "mirror-down.yml"
    dead.write_text(yaml.safe_dump(kubernetes_site(site_lab, standin_mirror,
                                                   "http://127.0.0.1:9")))
    return taco(site_lab, "site", "-c", str(dead), "--output", "plain")


@pytest.fixture(scope="module")
def first_run(site_lab: Lab, site_file: Path,
              interrupted_run: subprocess.CompletedProcess[str]
              ) -> subprocess.CompletedProcess[str]:
    """The mirror is back: --resume finishes the site from the phase that failed."""
    return taco(site_lab, "site", "-c", str(site_file), "--resume", "--output", "plain")


def test_mirror_down_stops_the_run_and_resume_finishes_it(
        site_lab: Lab, interrupted_run: subprocess.CompletedProcess[str],
        first_run: subprocess.CompletedProcess[str]) -> None:
    assert interrupted_run.returncode == 4, \
        interrupted_run.stdout[-6000:] + interrupted_run.stderr[-3000:]
    output = interrupted_run.stdout + interrupted_run.stderr
    assert "127.0.0.1:9" in output, output[-4000:]
    runs = sorted((site_lab.state_dir / "runs" / site_lab.name).iterdir())
    failed = json.loads((runs[0] / "summary.json").read_text())
    assert {p["name"]: p["status"] for p in failed["phases"]} == {
        **{name: "succeeded" for name in PHASES[:5]},
        "container_runtime": "failed", **{name: "not-run" for name in PHASES[6:]}}

    assert first_run.returncode == 0, first_run.stdout[-6000:] + first_run.stderr[-3000:]
    assert f"resuming site '{site_lab.name}' at phase container_runtime" in first_run.stdout


def test_site_run_succeeds_through_the_jump_host(site_lab: Lab,
                                                 first_run: subprocess.CompletedProcess[str]
                                                 ) -> None:
    assert first_run.returncode == 0, first_run.stdout[-6000:] + first_run.stderr[-3000:]
    summary = latest_summary(site_lab, site_lab.name)
    assert summary["status"] == "succeeded"
    phases = {phase["name"]: phase for phase in summary["phases"]}  # type: ignore[union-attr]
    assert list(phases) == ["preflight", *PHASES[5:]]
    assert all(phase["status"] == "succeeded" for phase in phases.values()), phases
    # Each phase ran on the hosts it is for: the cluster, its control planes, or the first
    # control plane for what goes through the API once.
    for name in PHASES[5:]:
        expected = {"helm": CONTROL_PLANES, "tekton": CONTROL_PLANES[:1],
                    "prow": CONTROL_PLANES[:1], "handover": CONTROL_PLANES[:1]}.get(name, NODES)
        assert set(phases[name]["hosts"]) >= set(expected), (name, phases[name]["hosts"])
    reach = json.loads((site_lab.state_dir / "runs" / site_lab.name).joinpath(
        summary["run_id"], "reach.json").read_text())  # type: ignore[arg-type]
    assert {row["host"] for row in reach} == set(NODES)
    assert all(row["status"] != "fail" for row in reach)
    # keepalived and haproxy were not there yet: apt installed them by name on the control
    # planes. The Kubernetes host tools came with os_bootstrap, so that apt task was skipped.
    installs = apt_installs_by_name(site_lab, site_lab.name)
    assert {host for host, _ in installs} == set(CONTROL_PLANES), installs
    assert {task for _, task in installs} == {"Packages | Install keepalived, haproxy and curl"}


def test_nodes_were_bootstrapped(site_lab: Lab,
                                 first_run: subprocess.CompletedProcess[str]) -> None:
    assert first_run.returncode == 0
    site = yaml.safe_load(site_lab.site_file.read_text())
    for node in site["nodes"]:
        hosts = on_node(site_lab, node["name"], "cat", "/etc/hosts")
        for other in site["nodes"]:
            assert f"{other['address']} " in hosts or f"{other['address']}\t" in hosts
        assert on_node(site_lab, node["name"], "cat",
                       "/proc/sys/net/ipv4/ip_forward").strip() == "1"
        assert on_node(site_lab, node["name"], "systemctl", "is-active", "chrony").strip() \
            == "active"


def test_nodes_were_prepared(site_lab: Lab,
                             first_run: subprocess.CompletedProcess[str]) -> None:
    assert first_run.returncode == 0
    site = yaml.safe_load(site_lab.site_file.read_text())
    for node in site["nodes"]:
        name = node["name"]
        # networkd now owns the declared links, and they kept their addresses.
        assert "configured" in on_node(site_lab, name, "networkctl", "status", "eth0")
        assert f"{node['address']}/" in on_node(site_lab, name, "ip", "-4", "-o", "addr",
                                                "show", "eth0")
        assert on_node(site_lab, name, "ovs-vsctl", "get", "bridge", "br-ex",
                       "datapath_type").strip() == "netdev"
        assert "eth2" in on_node(site_lab, name, "ovs-vsctl", "list-ports", "br-ex").split()
    assert "/var/lib/local-path-provisioner" in on_node(
        site_lab, "node1", "findmnt", "-n", "-o", "TARGET", "/var/lib/local-path-provisioner")


def test_handover_data_is_in_the_run_record(site_lab: Lab,
                                            first_run: subprocess.CompletedProcess[str]
                                            ) -> None:
    assert first_run.returncode == 0
    summary = latest_summary(site_lab, site_lab.name)
    record = site_lab.state_dir / "runs" / site_lab.name / str(summary["run_id"])
    handover = json.loads((record / "handover.json").read_text())["roles"]
    assert set(handover) >= {"network", "openvswitch", "storage"}
    site = yaml.safe_load(site_lab.site_file.read_text())
    devices = {node["name"]: node["disks"][0]["device"] for node in site["nodes"]}
    for name in NODES:
        mappings = json.dumps(handover["openvswitch"][name])
        assert "physnet1" in mappings and "br-ex" in mappings, mappings
    for name in WORKERS:
        assert devices[name] in json.dumps(handover["storage"][name]), handover["storage"][name]
    assert set(handover["network"]) == set(NODES)
    assert set(handover) >= {"container_runtime", "kubernetes", "cni", "node_labels"}
    cluster = json.dumps(handover["kubernetes_cluster"])
    assert site["kubernetes"]["api_vip"] in cluster, cluster


def kubectl_json(lab: Lab, *argv: str) -> Any:
    """kubectl on the first control plane with its admin kubeconfig."""
    return json.loads(on_node(lab, "node1", "kubectl", "--kubeconfig",
                              "/etc/kubernetes/admin.conf", *argv, "-o", "json"))


def test_cluster_has_every_node_ready_and_labelled(
        site_lab: Lab, site_file: Path, first_run: subprocess.CompletedProcess[str]) -> None:
    assert first_run.returncode == 0
    nodes = {item["metadata"]["name"]: item
             for item in kubectl_json(site_lab, "get", "nodes")["items"]}
    assert sorted(nodes) == NODES
    for name, node in nodes.items():
        ready = {c["type"]: c["status"] for c in node["status"]["conditions"]}["Ready"]
        assert ready == "True", (name, node["status"]["conditions"])
        labels = node["metadata"]["labels"]
        if name in CONTROL_PLANES:
            assert "node-role.kubernetes.io/control-plane" in labels, labels
            assert labels.get("openstack-control-plane") == "enabled", labels
            assert labels.get("openstack-network-node") == "enabled", labels
        else:
            assert labels.get("openstack-compute-node") == "enabled", labels
            assert labels.get("ceph-osd") == "enabled", labels
    # Every control plane holds the apiserver and etcd static pods; the VIP answers on one.
    site = yaml.safe_load(site_file.read_text())
    for name in CONTROL_PLANES:
        manifests = on_node(site_lab, name, "ls", "/etc/kubernetes/manifests").split()
        assert {"kube-apiserver.yaml", "etcd.yaml"} <= set(manifests), manifests
    vip = site["kubernetes"]["api_vip"]
    holders = [name for name in CONTROL_PLANES
               if f"{vip}/" in on_node(site_lab, name, "ip", "-4", "-o", "addr", "show")]
    assert len(holders) == 1, holders
    # host-gw: one route per other node, to a pod subnet inside the site's pod range, through
    # that node's management address; none to itself.
    addresses = {node["name"]: node["address"] for node in site["nodes"]}
    routes = on_node(site_lab, "node4", "ip", "-4", "route", "show", "proto", "201").splitlines()
    via = {line.split()[2]: ipaddress.ip_network(line.split()[0]) for line in routes}
    assert sorted(via) == sorted(addresses[name] for name in NODES if name != "node4"), routes
    pod_range = ipaddress.ip_network(site["kubernetes"].get("pod_cidr", "10.244.0.0/16"))
    assert all(subnet.subnet_of(pod_range) for subnet in via.values()), routes


def test_admin_kubeconfig_is_on_the_deploy_host(
        site_lab: Lab, site_file: Path, first_run: subprocess.CompletedProcess[str]) -> None:
    assert first_run.returncode == 0
    kubeconfig = site_lab.state_dir / "kubeconfig" / f"{site_lab.name}.conf"
    assert stat.S_IMODE(kubeconfig.stat().st_mode) == 0o600
    vip = yaml.safe_load(site_file.read_text())["kubernetes"]["api_vip"]
    assert yaml.safe_load(kubeconfig.read_text())["clusters"][0]["cluster"]["server"] \
        == f"https://{vip}:6443"
    assert f"kubeconfig: {kubeconfig}" in first_run.stdout


def test_second_run_changes_nothing(site_lab: Lab, site_file: Path,
                                    first_run: subprocess.CompletedProcess[str]) -> None:
    assert first_run.returncode == 0
    again = taco(site_lab, "site", "-c", str(site_file), "--output", "plain")
    assert again.returncode == 0, again.stdout[-6000:]
    summary = latest_summary(site_lab, site_lab.name)
    assert [phase["name"] for phase in summary["phases"]] == PHASES  # type: ignore[union-attr]
    for phase in summary["phases"]:  # type: ignore[union-attr]
        for host, counts in phase["hosts"].items():
            assert counts["changed"] == 0, f"{phase['name']} changed {host}"
    # Every package was in preflight's list, so no phase ran apt to install by name.
    assert apt_installs_by_name(site_lab, site_lab.name) == []


def apt_installs_by_name(lab: Lab, site: str) -> list[tuple[str, str]]:
    """(host, task) of each apt call that installed packages by name in the latest run."""
    latest = sorted((lab.state_dir / "runs" / site).iterdir())[-1]
    ran = []
    for event_file in sorted(latest.glob("phases/*/job_events/*.json")):
        event = json.loads(event_file.read_text())
        data = event.get("event_data", {})
        if event.get("event") != "runner_on_ok" or data.get("task_action") != "ansible.builtin.apt":
            continue
        if data.get("res", {}).get("invocation", {}).get("module_args", {}).get("name"):
            ran.append((data["host"], data["task"]))
    return ran


def test_preflight_failure_changes_nothing(site_lab: Lab, site_file: Path, tmp_path: Path,
                                          first_run: subprocess.CompletedProcess[str]) -> None:
    """A node declaring a NIC it lacks fails preflight (exit 3); no later phase runs."""
    assert first_run.returncode == 0
    site = yaml.safe_load(site_file.read_text())
    site["name"] = "missing-nic"
    site["nodes"][1]["interfaces"].append({"name": "eth9"})
    broken = tmp_path / "missing-nic.yml"
    broken.write_text(yaml.safe_dump(site))
    failed = taco(site_lab, "site", "-c", str(broken), "--output", "plain")
    assert failed.returncode == 3, failed.stdout[-4000:] + failed.stderr[-2000:]
    assert "eth9" in failed.stdout + failed.stderr
    summary = latest_summary(site_lab, "missing-nic")
    statuses = {phase["name"]: phase["status"] for phase in summary["phases"]}  # type: ignore[union-attr]
    assert statuses == {"preflight": "failed", **{name: "not-run" for name in PHASES[1:]}}


def test_disk_in_use_is_wiped_only_when_marked_and_allowed(
        site_lab: Lab, site_file: Path, tmp_path: Path,
        first_run: subprocess.CompletedProcess[str]) -> None:
    """Someone's filesystem on node5's Ceph disk: refused before any change, unless the
    site marks the disk `wipe: true` AND the run passes --wipe-marked-disks."""
    assert first_run.returncode == 0
    site = yaml.safe_load(site_file.read_text())
    device = site["nodes"][4]["disks"][0]["device"]
    on_node(site_lab, "node5", "mkfs.ext4", "-q", "-F", "-L", "precious", device)

    site["name"] = "disk-in-use"
    path = tmp_path / "disk-in-use.yml"
    path.write_text(yaml.safe_dump(site))
    refused = taco(site_lab, "site", "-c", str(path), "--output", "plain")
    assert refused.returncode == 3, refused.stdout[-4000:] + refused.stderr[-2000:]
    assert device in refused.stdout and "--wipe-marked-disks" in refused.stdout
    assert statuses_of(site_lab, "disk-in-use")["os_bootstrap"] == "not-run"
    assert on_node(site_lab, "node5", "blkid", "-o", "value", "-s", "LABEL", device).strip() \
        == "precious"

    # Marked, but the run does not allow it: still refused, still untouched.
    site["nodes"][4]["disks"][0]["wipe"] = True
    path.write_text(yaml.safe_dump(site))
    refused = taco(site_lab, "site", "-c", str(path), "--output", "plain")
    assert refused.returncode == 3, refused.stdout[-4000:]
    assert "not started with --wipe-marked-disks" in refused.stdout \
        or "--wipe-marked-disks" in refused.stdout
    assert on_node(site_lab, "node5", "blkid", "-o", "value", "-s", "LABEL", device).strip() \
        == "precious"

    wiped = taco(site_lab, "site", "-c", str(path), "--only", "storage",
                 "--wipe-marked-disks", "--output", "plain")
    assert wiped.returncode == 0, wiped.stdout[-4000:] + wiped.stderr[-2000:]
    labels = subprocess.run(["podman", "exec", f"taco-{site_lab.name}-node5", "blkid", "-o",
                             "value", "-s", "LABEL", device],
                            capture_output=True, text=True, timeout=60, check=False)
    assert "precious" not in labels.stdout


def test_reset_then_site_again(site_lab: Lab, site_file: Path,
                               first_run: subprocess.CompletedProcess[str]) -> None:
    """Reset takes the cluster away (not the node preparation, which it does not touch);
    the Kubernetes phases then build it again."""
    assert first_run.returncode == 0
    refused = taco(site_lab, "reset", "-c", str(site_file))
    assert refused.returncode == 2 and "--yes-really-reset" in refused.stderr
    assert on_node(site_lab, "node1", "test", "-e", "/etc/kubernetes/admin.conf") == ""

    reset = taco(site_lab, "reset", "-c", str(site_file), "--yes-really-reset",
                 "--output", "plain")
    assert reset.returncode == 0, reset.stdout[-6000:] + reset.stderr[-3000:]
    for name in NODES:
        left = subprocess.run(
            ["podman", "exec", f"taco-{site_lab.name}-{name}", "ls", "-d",
             "/etc/kubernetes/kubelet.conf", "/etc/kubernetes/admin.conf", "/var/lib/etcd",
             "/var/lib/kubelet", "/etc/cni/net.d/10-taco-host-gw.conflist",
             "/sys/class/net/cni0", "/var/lib/containerd"], capture_output=True, text=True,
            timeout=60, check=False)
        assert left.stdout == "", (name, left.stdout)
        assert on_node(site_lab, name, "ip", "-4", "route", "show", "proto", "201") == ""
        active = subprocess.run(["podman", "exec", f"taco-{site_lab.name}-{name}", "systemctl",
                                 "is-active", "kubelet"], capture_output=True, text=True,
                                timeout=60, check=False)
        assert active.stdout.strip() != "active", name
    assert not (site_lab.state_dir / "kubeconfig" / f"{site_lab.name}.conf").exists()

    again = taco(site_lab, "site", "-c", str(site_file), "--from", "container_runtime",
                 "--output", "plain")
    assert again.returncode == 0, again.stdout[-6000:] + again.stderr[-3000:]
    nodes = kubectl_json(site_lab, "get", "nodes")["items"]
    assert sorted(node["metadata"]["name"] for node in nodes) == NODES
