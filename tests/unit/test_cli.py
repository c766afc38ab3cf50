"""The real `taco` command, run as a process: help, version, exit codes, plan, inventory."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from taco import __version__

REPO = Path(__file__).resolve().parents[2]
MULTINODE = REPO / "inventories" / "multinode" / "site.yml"

COMMANDS = [
    [], ["aio"], ["site"], ["preflight"], ["plan"], ["inventory"], ["reset"], ["runs"],
    ["runs", "show"], ["lab"], ["lab", "image"], ["lab", "up"], ["lab", "down"], ["lab", "ls"],
    ["lab", "ssh"],
]


def taco(*args: str, state: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200"}
    if state is not None:
        env["TACO_STATE_DIR"] = str(state)
    return subprocess.run([sys.executable, "-m", "taco.cli.main", *args], capture_output=True,
                          text=True, timeout=120, env=env, check=False)


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "taco")
def test_every_command_has_help(command: list[str]) -> None:
    result = taco(*command, "--help")
    assert result.returncode == 0, result.stderr
    assert "Usage: taco" in result.stdout


def test_version() -> None:
    result = taco("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"taco {__version__}"


def test_invalid_site_exits_2_and_names_every_problem(tmp_path: Path) -> None:
    site = yaml.safe_load(MULTINODE.read_text())
    site["nodes"][0]["address"] = "10.99.0.11"
    site["kubernetes"]["pod_cidr"] = site["kubernetes"]["service_cidr"]
    path = tmp_path / "bad.yml"
    path.write_text(yaml.safe_dump(site, sort_keys=False))
    result = taco("site", "-c", str(path), state=tmp_path)
    assert result.returncode == 2
    assert f"{path}:" in result.stderr
    assert "nodes[0].address" in result.stderr
    assert "kubernetes.pod_cidr" in result.stderr or "kubernetes.service_cidr" in result.stderr
    assert not (tmp_path / "runs").exists(), "an invalid site must not start a run record"


def test_missing_ssh_key_is_reported_before_any_connection(tmp_path: Path) -> None:
    result = taco("site", "-c", str(MULTINODE), state=tmp_path)
    assert result.returncode == 2
    assert "ssh.private_key" in result.stderr
    assert "does not exist" in result.stderr


def test_plan_shows_phases_groups_and_sources(tmp_path: Path) -> None:
    env_result = subprocess.run(
        [sys.executable, "-m", "taco.cli.main", "plan", "-c", str(MULTINODE), "--only",
         "os_bootstrap"],
        capture_output=True, text=True, timeout=120, check=False,
        env={**os.environ, "TACO_STATE_DIR": str(tmp_path), "TACO_FORKS": "7",
             "COLUMNS": "200", "NO_COLOR": "1"})
    assert env_result.returncode == 0, env_result.stderr
    out = env_result.stdout
    assert "Site lab-multinode" in out
    assert "kube_control_plane" in out
    forks = next(line for line in out.splitlines() if line.strip().startswith("forks"))
    assert "7" in forks
    assert "env TACO_FORKS" in forks
    preflight = next(line for line in out.splitlines() if "Preflight checks" in line)
    assert "yes" in preflight, "preflight runs even with --only"
    assert not (tmp_path / "runs").exists(), "plan touches nothing"


def test_plan_rejects_an_unknown_phase(tmp_path: Path) -> None:
    result = taco("plan", "-c", str(MULTINODE), "--only", "bootstrap", state=tmp_path)
    assert result.returncode == 2
    assert "unknown phase 'bootstrap'" in result.stderr


def test_inventory_matches_the_golden_file() -> None:
    result = taco("inventory", "-c", str(MULTINODE))
    assert result.returncode == 0, result.stderr
    golden = REPO / "tests" / "fixtures" / "inventory" / "multinode.yml"
    assert result.stdout == golden.read_text()


def test_reset_needs_the_confirmation_flag(tmp_path: Path) -> None:
    result = taco("reset", "-c", str(MULTINODE), state=tmp_path)
    assert result.returncode == 2
    assert "--yes-really-reset" in result.stderr


def test_resume_without_a_previous_run_is_refused(tmp_path: Path) -> None:
    result = taco("plan", "-c", str(MULTINODE), "--resume", state=tmp_path)
    assert result.returncode == 2
    assert "nothing to resume" in result.stderr


def test_aio_rejects_a_host_that_is_not_an_address(tmp_path: Path) -> None:
    result = taco("aio", "--host", "not-an-ip", state=tmp_path)
    assert result.returncode == 2
    assert "not-an-ip" in result.stderr


def test_runs_lists_nothing_on_a_fresh_state_dir(tmp_path: Path) -> None:
    result = taco("runs", state=tmp_path)
    assert result.returncode == 0
    assert "no runs recorded yet" in result.stdout


def test_aio_set_changes_the_embedded_site_and_is_validated_like_it(tmp_path: Path) -> None:
    wrong_value = taco("aio", "--host", "10.1.2.3", "--set", "kubernetes.cni=flannel",
                       state=tmp_path)
    assert wrong_value.returncode == 2
    assert "kubernetes.cni" in wrong_value.stderr and "host-gw" in wrong_value.stderr
    unknown_field = taco("aio", "--host", "10.1.2.3", "--set", "kubernetes.cnii=host-gw",
                         state=tmp_path)
    assert unknown_field.returncode == 2
    assert "kubernetes.cnii" in unknown_field.stderr
    no_value = taco("aio", "--host", "10.1.2.3", "--set", "kubernetes.cni", state=tmp_path)
    assert no_value.returncode == 2
    assert "PATH=VALUE" in no_value.stderr
    assert not (tmp_path / "runs").exists(), "a refused --set must not start a run"


def test_apply_override_reads_values_as_yaml() -> None:
    from taco.deploy import apply_override

    data: dict[str, object] = {"kubernetes": {"cni": "calico"}, "nodes": [{"name": "aio"}]}
    apply_override(data, "kubernetes.cni=host-gw")
    apply_override(data, "extra_vars.kubernetes_ignore_preflight_errors=[SystemVerification]")
    apply_override(data, "extra_vars.kubernetes_kubelet_fail_cgroup_v1=false")
    apply_override(data, "nodes.0.name=lab")
    assert data == {
        "kubernetes": {"cni": "host-gw"},
        "nodes": [{"name": "lab"}],
        "extra_vars": {"kubernetes_ignore_preflight_errors": ["SystemVerification"],
                       "kubernetes_kubelet_fail_cgroup_v1": False},
    }
