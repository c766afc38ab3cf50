"""The network phase's dead-man switch, for real: a management prefix typed too narrow.

The broken site is one the site model accepts: the management network written as the /29
around the node's address, without a gateway. The node's address and interface are right,
but the controller (the lab host, .1 on the /24) is now off-link with no route to it: the
switch-over cuts the node off. `taco site --only network` must fail naming what failed, and
the node must come back on its own, over SSH, with the configuration it had - first from a
host networkd never managed, then from a good taco configuration.

(Swapped NIC names, the more obvious typo, do not cut a lab node: the host answers ARP on
every lab bridge and forwards between them, so the node stays reachable through eth1.)
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import subprocess
import sys
from typing import TYPE_CHECKING, Any

import pytest
import yaml

from taco.engine.phases import phase_by_name

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from tests.integration.conftest import Lab

# One worker runs this module in order: its tests share a lab and build on each other.
pytestmark = [pytest.mark.lab, pytest.mark.xdist_group("test_network_rollback")]

NODE = "node1"
# Where the role keeps the helper and the rollback state on a node (its defaults).
HELPER = "/usr/local/libexec/taco/taco-network"
ROLLBACK_DIR = "/var/lib/taco/network/rollback"
# Short timers keep the test quick (a cut-off node waits for the timer); they are the
# operator's knobs, passed as the site's extra_vars like any site would. The delay covers a
# good switch-over on a loaded 2-core CI machine (38 s idle; 120 s was once too short).
TIMERS = {"network_rollback_delay": 200, "network_reachability_timeout": 30,
          "network_apply_timeout": 45}


def taco(lab: Lab, *args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "taco.cli.main", *args], env=lab.env,
                          capture_output=True, text=True, timeout=timeout, check=False)


def on_node(lab: Lab, *argv: str) -> str:
    """The container's own view, independent of the node's network."""
    result = subprocess.run(["podman", "exec", f"taco-{lab.name}-{NODE}", *argv],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout


def ssh_answers(lab: Lab) -> bool:
    """A fresh SSH login from the controller, host key checked."""
    return lab.cli("ssh", lab.name, NODE, "--", "true", timeout=60).returncode == 0


def network_state(lab: Lab) -> dict[str, Any]:
    """Addresses, routes, networkd and the taco files: what a rollback must give back."""
    links = {}
    for entry in json.loads(on_node(lab, "ip", "-j", "address", "show")):
        if entry["ifname"] in ("eth0", "eth1", "eth2"):
            links[entry["ifname"]] = sorted(
                f"{a['local']}/{a['prefixlen']}" for a in entry.get("addr_info", [])
                if a.get("scope") == "global")
    routes = sorted(
        (r.get("dst"), r.get("gateway"), r.get("dev"), r.get("metric"))
        for r in json.loads(on_node(lab, "ip", "-j", "route", "show")))
    listing = on_node(lab, "find", "/etc/systemd/network", "-name", "*-taco-*", "-type", "f")
    files = {
        path: hashlib.sha256(on_node(lab, "cat", path).encode()).hexdigest()
        for path in sorted(listing.split())
    }
    networkd = subprocess.run(
        ["podman", "exec", f"taco-{lab.name}-{NODE}", "systemctl", "is-active",
         "systemd-networkd"], capture_output=True, text=True, timeout=60, check=False
    ).stdout.strip()
    return {"links": links, "routes": routes, "files": files, "networkd": networkd}


def write_sites(lab: Lab) -> tuple[Path, Path]:
    site = yaml.safe_load(lab.site_file.read_text())
    site["extra_vars"] = {**site.get("extra_vars", {}), **TIMERS}
    good = lab.directory / "network-good.yml"
    good.write_text(yaml.safe_dump(site, sort_keys=False))
    address = ipaddress.ip_address(site["nodes"][0]["address"])
    # /29 instead of /24: the node keeps its address, the controller falls outside.
    site["networks"]["management"] = {
        "purpose": "management",
        "cidr": str(ipaddress.ip_network(f"{address}/29", strict=False)),
    }
    site["kubernetes"]["api_vip"] = str(address + 1)
    broken = lab.directory / "network-broken.yml"
    broken.write_text(yaml.safe_dump(site, sort_keys=False))
    return good, broken


def assert_rolled_back(result: subprocess.CompletedProcess[str]) -> None:
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-4000:]
    assert "failed its checks and was rolled back" in output, output[-6000:]
    assert "WITH ERRORS" not in output, output[-6000:]
    # It names the check that failed (which one depends on when the cut landed: the
    # controller losing the node, or the node's own address check after the timer fired).
    assert "What failed - Verify | " in output, output[-6000:]


@pytest.fixture(scope="module")
def rollback_lab(lab_factory: Callable[..., Lab]) -> tuple[Lab, Path, Path]:
    phase = phase_by_name("network")
    if phase.pending:
        pytest.skip(f"the network phase is not enabled yet (pending: {phase.pending})")
    lab = lab_factory(1)
    good, broken = write_sites(lab)
    return lab, good, broken


def test_broken_site_on_a_fresh_node_is_rolled_back(
    rollback_lab: tuple[Lab, Path, Path],
) -> None:
    lab, _, broken = rollback_lab
    before = network_state(lab)
    assert before["files"] == {} and before["networkd"] != "active"

    result = taco(lab, "site", "-c", str(broken), "--only", "network", "--output", "plain")

    assert_rolled_back(result)
    assert ssh_answers(lab)
    assert network_state(lab) == before


def test_good_site_switches_over(rollback_lab: tuple[Lab, Path, Path]) -> None:
    lab, good, _ = rollback_lab
    site = yaml.safe_load(good.read_text())
    address = site["nodes"][0]["address"]
    storage = site["nodes"][0]["interfaces"][1]["address"]

    result = taco(lab, "site", "-c", str(good), "--only", "network", "--output", "plain")

    assert result.returncode == 0, (result.stdout + result.stderr)[-6000:]
    state = network_state(lab)
    assert state["networkd"] == "active"
    assert state["links"]["eth0"] == [f"{address}/24"]
    assert state["links"]["eth1"] == [f"{storage}/24"]
    assert sorted(state["files"]) == [f"/etc/systemd/network/10-taco-{nic}.network"
                                      for nic in ("eth0", "eth1", "eth2")]
    assert ssh_answers(lab)
    # The switch-over was confirmed, so the rollback firing late (a slow run) is a no-op.
    switch_over = json.loads(on_node(lab, "cat", f"{ROLLBACK_DIR}/manifest.json"))["id"]
    assert on_node(lab, "cat", f"{ROLLBACK_DIR}/confirmed") == switch_over
    late = json.loads(on_node(lab, "/usr/bin/python3", HELPER, "rollback",
                              f"--state-dir={ROLLBACK_DIR}"))
    assert late == {"ok": True, "id": switch_over, "skipped": "confirmed"}
    assert network_state(lab) == state


def test_broken_site_after_a_good_one_restores_the_good_files(
    rollback_lab: tuple[Lab, Path, Path],
) -> None:
    lab, _, broken = rollback_lab
    before = network_state(lab)
    assert before["files"], "needs the good configuration of the previous test"

    result = taco(lab, "site", "-c", str(broken), "--only", "network", "--output", "plain")

    assert_rolled_back(result)
    assert ssh_answers(lab)
    assert network_state(lab) == before
    timers = on_node(lab, "systemctl", "list-timers", "--all", "--no-legend",
                     "taco-network-rollback.timer")
    assert timers.strip() == ""
