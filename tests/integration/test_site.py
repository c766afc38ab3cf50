"""`taco site` for real: three lab nodes reached only through a jump host, checked afterwards.

Every available phase runs (preflight through storage). Nodes get one spare disk each:
node1's becomes the local-path filesystem, node2's and node3's Ceph OSD disks.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest
import yaml

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from tests.integration.conftest import Lab

# One worker runs this module in order: its tests share a lab and build on each other.
pytestmark = [pytest.mark.lab, pytest.mark.xdist_group("test_site")]


def taco(lab: Lab, *args: str, timeout: float = 1200) -> subprocess.CompletedProcess[str]:
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


NODE_PREPARATION = ["preflight", "os_bootstrap", "network", "openvswitch", "storage"]


@pytest.fixture(scope="module")
def site_lab(lab_factory: Callable[..., Lab]) -> Lab:
    return lab_factory(3, jump=True, disks=1)


@pytest.fixture(scope="module")
def first_run(site_lab: Lab) -> subprocess.CompletedProcess[str]:
    return taco(site_lab, "site", "-c", str(site_lab.site_file), "--output", "plain")


def test_site_run_succeeds_through_the_jump_host(site_lab: Lab,
                                                 first_run: subprocess.CompletedProcess[str]
                                                 ) -> None:
    assert first_run.returncode == 0, first_run.stdout[-6000:] + first_run.stderr[-3000:]
    summary = latest_summary(site_lab, site_lab.name)
    assert summary["status"] == "succeeded"
    phases = {phase["name"]: phase for phase in summary["phases"]}  # type: ignore[union-attr]
    assert list(phases) == NODE_PREPARATION
    assert all(phase["status"] == "succeeded" for phase in phases.values()), phases
    for name in ("os_bootstrap", "network", "storage"):
        assert set(phases[name]["hosts"]) == {"node1", "node2", "node3"}, name
    # ovs_nodes: node1 (network role), node2 and node3 (compute).
    assert set(phases["openvswitch"]["hosts"]) == {"node1", "node2", "node3"}
    reach = json.loads((site_lab.state_dir / "runs" / site_lab.name).joinpath(
        summary["run_id"], "reach.json").read_text())  # type: ignore[arg-type]
    assert {row["host"] for row in reach} == {"node1", "node2", "node3"}
    assert all(row["status"] != "fail" for row in reach)


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
    for name in ("node1", "node2", "node3"):
        mappings = json.dumps(handover["openvswitch"][name])
        assert "physnet1" in mappings and "br-ex" in mappings, mappings
    for name in ("node2", "node3"):
        assert devices[name] in json.dumps(handover["storage"][name]), handover["storage"][name]
    assert set(handover["network"]) == {"node1", "node2", "node3"}


def test_second_run_changes_nothing(site_lab: Lab,
                                    first_run: subprocess.CompletedProcess[str]) -> None:
    assert first_run.returncode == 0
    again = taco(site_lab, "site", "-c", str(site_lab.site_file), "--output", "plain")
    assert again.returncode == 0, again.stdout[-6000:]
    summary = latest_summary(site_lab, site_lab.name)
    for phase in summary["phases"]:  # type: ignore[union-attr]
        for host, counts in phase["hosts"].items():
            assert counts["changed"] == 0, f"{phase['name']} changed {host}"


def test_preflight_failure_changes_nothing(site_lab: Lab, tmp_path: Path,
                                          first_run: subprocess.CompletedProcess[str]) -> None:
    """A node declaring a NIC it lacks fails preflight (exit 3); no later phase runs."""
    assert first_run.returncode == 0
    site = yaml.safe_load(site_lab.site_file.read_text())
    site["name"] = "missing-nic"
    site["nodes"][1]["interfaces"].append({"name": "eth9"})
    broken = tmp_path / "missing-nic.yml"
    broken.write_text(yaml.safe_dump(site))
    failed = taco(site_lab, "site", "-c", str(broken), "--output", "plain")
    assert failed.returncode == 3, failed.stdout[-4000:] + failed.stderr[-2000:]
    assert "eth9" in failed.stdout + failed.stderr
    summary = latest_summary(site_lab, "missing-nic")
    statuses = {phase["name"]: phase["status"] for phase in summary["phases"]}  # type: ignore[union-attr]
    assert statuses == {"preflight": "failed",
                        **{name: "not-run" for name in NODE_PREPARATION[1:]}}


def test_resume_starts_at_the_failed_phase(site_lab: Lab, tmp_path: Path,
                                           first_run: subprocess.CompletedProcess[str]) -> None:
    """An unreachable APT mirror fails os_bootstrap; fixed, --resume starts there."""
    assert first_run.returncode == 0
    site = yaml.safe_load(site_lab.site_file.read_text())
    site["name"] = "resume"
    site["mirrors"] = {"apt": "http://127.0.0.1:9/debian"}
    path = tmp_path / "resume.yml"
    path.write_text(yaml.safe_dump(site))
    failed = taco(site_lab, "site", "-c", str(path), "--output", "plain")
    assert failed.returncode == 4, failed.stdout[-4000:] + failed.stderr[-2000:]
    assert statuses_of(site_lab, "resume") == {
        "preflight": "succeeded", "os_bootstrap": "failed",
        **{name: "not-run" for name in NODE_PREPARATION[2:]}}

    site["mirrors"] = {"apt": "http://deb.debian.org/debian"}
    path.write_text(yaml.safe_dump(site))
    resumed = taco(site_lab, "site", "-c", str(path), "--resume", "--output", "plain")
    assert resumed.returncode == 0, resumed.stdout[-4000:]
    assert "resuming site 'resume' at phase os_bootstrap" in resumed.stdout
    assert latest_summary(site_lab, "resume")["status"] == "succeeded"
    nothing_left = taco(site_lab, "site", "-c", str(path), "--resume")
    assert nothing_left.returncode == 2
    assert "nothing to resume" in nothing_left.stderr


def test_disk_in_use_is_wiped_only_when_marked_and_allowed(
        site_lab: Lab, tmp_path: Path, first_run: subprocess.CompletedProcess[str]) -> None:
    """Someone's filesystem on node3's Ceph disk: refused before any change, unless the
    site marks the disk `wipe: true` AND the run passes --wipe-marked-disks."""
    assert first_run.returncode == 0
    site = yaml.safe_load(site_lab.site_file.read_text())
    device = site["nodes"][2]["disks"][0]["device"]
    on_node(site_lab, "node3", "mkfs.ext4", "-q", "-F", "-L", "precious", device)

    site["name"] = "disk-in-use"
    path = tmp_path / "disk-in-use.yml"
    path.write_text(yaml.safe_dump(site))
    refused = taco(site_lab, "site", "-c", str(path), "--output", "plain")
    assert refused.returncode == 3, refused.stdout[-4000:] + refused.stderr[-2000:]
    assert device in refused.stdout and "--wipe-marked-disks" in refused.stdout
    assert statuses_of(site_lab, "disk-in-use")["os_bootstrap"] == "not-run"
    assert on_node(site_lab, "node3", "blkid", "-o", "value", "-s", "LABEL", device).strip() \
        == "precious"

    # Marked, but the run does not allow it: still refused, still untouched.
    site["nodes"][2]["disks"][0]["wipe"] = True
    path.write_text(yaml.safe_dump(site))
    refused = taco(site_lab, "site", "-c", str(path), "--output", "plain")
    assert refused.returncode == 3, refused.stdout[-4000:]
    assert "not started with --wipe-marked-disks" in refused.stdout \
        or "--wipe-marked-disks" in refused.stdout
    assert on_node(site_lab, "node3", "blkid", "-o", "value", "-s", "LABEL", device).strip() \
        == "precious"

    wiped = taco(site_lab, "site", "-c", str(path), "--only", "storage",
                 "--wipe-marked-disks", "--output", "plain")
    assert wiped.returncode == 0, wiped.stdout[-4000:] + wiped.stderr[-2000:]
    labels = subprocess.run(["podman", "exec", f"taco-{site_lab.name}-node3", "blkid", "-o",
                             "value", "-s", "LABEL", device],
                            capture_output=True, text=True, timeout=60, check=False)
    assert "precious" not in labels.stdout
