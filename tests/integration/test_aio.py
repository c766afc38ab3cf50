"""`taco aio --host` on a lab node: the embedded default site, aimed at a disposable node."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest
import yaml

if TYPE_CHECKING:
    from collections.abc import Callable

    from tests.integration.conftest import Lab

# One worker runs this module in order: its tests share a lab and build on each other.
pytestmark = [pytest.mark.lab, pytest.mark.xdist_group("test_aio")]


def test_aio_on_a_lab_node(lab_factory: Callable[..., Lab]) -> None:
    lab = lab_factory(1)
    site = yaml.safe_load(lab.site_file.read_text())
    node = site["nodes"][0]
    argv = [sys.executable, "-m", "taco.cli.main", "aio", "--host", node["address"],
            "--cidr", site["networks"]["management"]["cidr"],
            "--key", site["ssh"]["private_key"], "--known-hosts", site["ssh"]["known_hosts"],
            "--output", "plain"]
    result = subprocess.run(argv, env=lab.env, capture_output=True, text=True, timeout=1200,
                            check=False)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]

    runs = sorted((lab.state_dir / "runs" / "aio").iterdir())
    summary = json.loads((runs[-1] / "summary.json").read_text())
    assert summary["command"] == "aio"
    assert [phase["name"] for phase in summary["phases"]] == [
        "preflight", "os_bootstrap", "network", "openvswitch", "storage"]
    assert all(phase["status"] == "succeeded" for phase in summary["phases"]), summary

    def on_node(*command: str) -> str:
        return subprocess.run(["podman", "exec", f"taco-{lab.name}-node1", *command],
                              capture_output=True, text=True, check=True, timeout=60).stdout

    # The embedded site names its one node "aio"; os_bootstrap wrote it into /etc/hosts.
    assert f"{node['address']}" in on_node("grep", "-w", "aio", "/etc/hosts")
    assert on_node("cat", "/proc/sys/net/ipv4/ip_forward").strip() == "1"
