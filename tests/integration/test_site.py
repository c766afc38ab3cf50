"""`taco site` for real: three lab nodes reached only through a jump host, checked afterwards."""

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


@pytest.fixture(scope="module")
def site_lab(lab_factory: Callable[..., Lab]) -> Lab:
    return lab_factory(3, jump=True)


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
    assert phases["preflight"]["status"] == "succeeded"
    assert phases["os_bootstrap"]["status"] == "succeeded"
    assert set(phases["os_bootstrap"]["hosts"]) == {"node1", "node2", "node3"}
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
    assert statuses == {"preflight": "failed", "os_bootstrap": "not-run"}


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
    statuses = {phase["name"]: phase["status"]
                for phase in latest_summary(site_lab, "resume")["phases"]}  # type: ignore[union-attr]
    assert statuses == {"preflight": "succeeded", "os_bootstrap": "failed"}

    site["mirrors"] = {"apt": "http://deb.debian.org/debian"}
    path.write_text(yaml.safe_dump(site))
    resumed = taco(site_lab, "site", "-c", str(path), "--resume", "--output", "plain")
    assert resumed.returncode == 0, resumed.stdout[-4000:]
    assert "resuming site 'resume' at phase os_bootstrap" in resumed.stdout
    assert latest_summary(site_lab, "resume")["status"] == "succeeded"
    nothing_left = taco(site_lab, "site", "-c", str(path), "--resume")
    assert nothing_left.returncode == 2
    assert "nothing to resume" in nothing_left.stderr
