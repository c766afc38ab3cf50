"""A Prow job's script, run under /bin/sh against the handover phase's real run templates.

The cluster is a stand-in `kubectl` on PATH (it answers `get configmap` with the ConfigMap
taco renders, records what `create -f -` receives, reports the run's Succeeded status);
jq is the real one, as in the job image (docker.io/alpine/k8s carries jq).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from rolecode import load_module

from taco.handover.bundle import render
from taco.site.load import load_site_text

ROOT = Path(__file__).resolve().parents[2]
FILTERS = load_module(ROOT / "roles" / "prow" / "filter_plugins" / "prow_filters.py",
                      "prow_filters")
SITE = """
name: demo
networks: {management: {purpose: management, cidr: 10.77.0.0/24}}
nodes: [{name: node1, address: 10.77.0.11, roles: [control-plane]}]
charts:
  environment: prod
  pipeline_namespace: deploys
  apply_pipeline: true
  environments: {dev: {}, prod: {service_account: deployer}}
  groups:
    - name: openstack
      charts: [{name: keystone, chart: openstack-helm/keystone}]
"""
PROW = {"host": "prow.example.com", "org": "acme", "repos": ["site-config"],
        "job_image": "docker.io/alpine/k8s:1.35.4",
        "jobs": {"timeout": "1h", "periodic_interval": "24h"}}
# The stand-in cluster: every call is logged; state files steer the answers.
KUBECTL = """#!/bin/sh
echo "$*" >> "$STATE/calls"
case "$1 $2" in
  "get configmap") [ -f "$STATE/configmap.json" ] || { echo 'not found' >&2; exit 1; }
                   cat "$STATE/configmap.json" ;;
  "create -f") cat > "$STATE/created.json"; echo pipelinerun.tekton.dev/demo-prod-x1 ;;
  "get -n") cat "$STATE/status" ;;
esac
"""

# scripts/setup-machine.sh installs jq; CI must run this test, elsewhere it may skip.
pytestmark = pytest.mark.skipif(shutil.which("jq") is None and not os.environ.get("CI"),
                                reason="needs jq (scripts/setup-machine.sh installs it)")


def _job(site_name: str, charts: dict[str, Any], kind: str) -> dict[str, Any]:
    conf = FILTERS.prow_config(PROW, site_name, charts, "v1")
    jobs = [*conf["presubmits"]["acme/site-config"], *conf["postsubmits"]["acme/site-config"],
            *conf["periodics"]]
    job: dict[str, Any] = next(j for j in jobs if j["name"].endswith(kind))
    return job


def _run(job: dict[str, Any], state: Path,
         extra: dict[str, str]) -> subprocess.CompletedProcess[str]:
    bin_dir = state / "bin"
    bin_dir.mkdir()
    (bin_dir / "kubectl").write_text(KUBECTL, encoding="utf-8")
    (bin_dir / "kubectl").chmod(0o755)
    container = job["spec"]["containers"][0]
    env = {item["name"]: item["value"] for item in container["env"]}
    env.update({"PATH": f"{bin_dir}:/usr/bin:/bin", "STATE": str(state), **extra})
    return subprocess.run([*container["command"], *container["args"]], env=env,
                          capture_output=True, text=True, timeout=60, check=False)


@pytest.fixture
def cluster(tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    """The state directory with the run templates the handover phase applies."""
    site = load_site_text(SITE, "site.yml")
    bundle = render(site, {"roles": {}}, Path("/kube.conf"))
    templates = yaml.safe_load(bundle.files["run-templates.yaml"])
    (tmp_path / "configmap.json").write_text(json.dumps(templates), encoding="utf-8")
    (tmp_path / "status").write_text("True", encoding="utf-8")
    return tmp_path, site.charts.model_dump(mode="json")


def test_a_presubmit_starts_a_dry_run_of_the_handover_pipeline(
        cluster: tuple[Path, dict[str, Any]]) -> None:
    state, charts = cluster
    done = _run(_job("demo", charts, "dry-run"), state, {"PULL_PULL_SHA": "abc123"})
    assert done.returncode == 0, done.stdout + done.stderr
    assert "pipelinerun.tekton.dev/demo-prod-x1 succeeded" in done.stdout
    calls = (state / "calls").read_text().splitlines()
    assert calls[0] == "get configmap -n deploys demo-run-templates -o json"
    run = json.loads((state / "created.json").read_text())
    # The environment's template, as the handover phase rendered it, plus what Prow adds.
    template = json.loads(json.loads((state / "configmap.json").read_text())["data"]["prod.json"])
    assert run["spec"]["pipelineRef"] == {"name": "demo"} == template["spec"]["pipelineRef"]
    assert run["metadata"]["namespace"] == "deploys"
    assert run["spec"]["workspaces"] == template["spec"]["workspaces"]
    assert run["spec"]["taskRunTemplate"] == {"serviceAccountName": "deployer"}
    assert run["metadata"]["labels"] == {**template["metadata"]["labels"],
                                         "taco.dev/prow-job": "taco-demo-dry-run"}
    params = {p["name"]: p["value"] for p in run["spec"]["params"]}
    assert params == {**{p["name"]: p["value"] for p in template["spec"]["params"]},
                      "dry-run": "true", "revision": "abc123"}


def test_a_postsubmit_deploys_and_reports_a_failed_run(
        cluster: tuple[Path, dict[str, Any]]) -> None:
    state, charts = cluster
    (state / "status").write_text("False", encoding="utf-8")
    done = _run(_job("demo", charts, "deploy"), state, {"PULL_BASE_SHA": "def456"})
    assert done.returncode == 1
    assert "demo-prod-x1 failed" in done.stdout
    params = {p["name"]: p["value"]
              for p in json.loads((state / "created.json").read_text())["spec"]["params"]}
    assert (params["dry-run"], params["revision"]) == ("false", "def456")


def test_without_the_templates_the_job_says_what_to_do(
        cluster: tuple[Path, dict[str, Any]]) -> None:
    state, charts = cluster
    (state / "configmap.json").unlink()
    done = _run(_job("demo", charts, "drift-check"), state, {})
    assert done.returncode == 1
    assert "charts.apply_pipeline: true" in done.stdout
    assert not (state / "created.json").exists()


def test_an_environment_without_a_template_is_named(
        cluster: tuple[Path, dict[str, Any]]) -> None:
    state, charts = cluster
    done = _run(_job("demo", {**charts, "environment": "stage"}, "drift-check"), state, {})
    assert done.returncode != 0
    assert "has no template stage.json" in done.stderr
    assert not (state / "created.json").exists()
