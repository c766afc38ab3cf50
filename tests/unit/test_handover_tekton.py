"""The generated Tekton objects against the structure tekton.dev/v1 documents.

Pipeline: spec.params, spec.workspaces, spec.tasks[].name/taskRef/runAfter/params/
workspaces/timeout, spec.finally (no runAfter there); Task: params, workspaces, steps
(name, image, script or command); PipelineRun: generateName, pipelineRef, params,
workspaces (configMap), taskRunTemplate.serviceAccountName, timeouts.pipeline.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from taco.handover import tekton
from taco.handover.bundle import render
from taco.site.load import load_site_text

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
PARAM_REF = re.compile(r"\$\(params\.([A-Za-z0-9_.-]+)\)")

SITE = """
name: demo
networks: {management: {purpose: management, cidr: 10.77.0.0/24}}
nodes: [{name: node1, address: 10.77.0.11, roles: [control-plane]}]
charts:
  environments: {dev: {}, prod: {timeout: 3h, service_account: deployer}}
  groups:
    - name: infra
      charts:
        - {name: mariadb, chart: openstack-helm/mariadb, timeout: 5m}
        - {name: openvswitch, chart: openstack-helm/openvswitch}
    - name: openstack
      charts:
        - {name: keystone, chart: openstack-helm/keystone, version: 2025.1.0, timeout: 20m}
        - {name: neutron, chart: openstack-helm/neutron, depends_on: [keystone],
           namespace: networking}
"""


@pytest.fixture
def objects() -> dict[str, Any]:
    site = load_site_text(SITE, "site.yml")
    bundle = render(site, {"roles": {}}, Path("/kube.conf"))
    docs = list(yaml.safe_load_all(bundle.files["pipeline.yaml"]))
    found: dict[str, Any] = {f"{d['kind']}/{d['metadata']['name']}": d for d in docs}
    for env in ("dev", "prod"):
        found[f"run/{env}"] = yaml.safe_load(bundle.files[f"runs/{env}.yaml"])
    found["configmap"] = yaml.safe_load(bundle.files["values-configmap.yaml"])
    return found


def test_tasks_have_the_documented_shape(objects: dict[str, Any]) -> None:
    for name in (tekton.HELM_TASK, tekton.FINALLY_TASK):
        task = objects[f"Task/{name}"]
        assert task["apiVersion"] == "tekton.dev/v1"
        spec = task["spec"]
        declared = {p["name"] for p in spec["params"]}
        assert all(p["type"] == "string" for p in spec["params"])
        for step in spec["steps"]:
            assert DNS_LABEL.match(step["name"])
            assert step["image"] == "$(params.image)"
            assert "script" in step and "command" not in step
            # Parameters reach the script through env, never pasted into it.
            assert "$(params." not in step["script"]
            assert set(PARAM_REF.findall(str(step["env"]))) <= declared
    upgrade = objects[f"Task/{tekton.HELM_TASK}"]["spec"]
    assert "helm upgrade --install" in upgrade["steps"][0]["script"]
    assert "--wait --atomic" in upgrade["steps"][0]["script"]
    assert upgrade["workspaces"] == [{"name": "values", "readOnly": True,
                                      "description": "the values files (a ConfigMap)"}]


def test_pipeline_tasks_order_params_and_finally(objects: dict[str, Any]) -> None:
    pipeline = objects["Pipeline/demo"]
    assert pipeline["apiVersion"] == "tekton.dev/v1"
    spec = pipeline["spec"]
    tasks = {t["name"]: t for t in spec["tasks"]}
    assert list(tasks) == ["mariadb", "openvswitch", "keystone", "neutron"]
    assert all(DNS_LABEL.match(name) for name in tasks)
    assert "runAfter" not in tasks["mariadb"]
    assert tasks["keystone"]["runAfter"] == ["mariadb", "openvswitch"]
    assert tasks["neutron"]["runAfter"] == ["keystone"]
    upgrade = objects[f"Task/{tekton.HELM_TASK}"]["spec"]
    task_params = {p["name"] for p in upgrade["params"]}
    pipeline_params = {p["name"] for p in spec["params"]}
    for task in tasks.values():
        assert task["taskRef"] == {"name": tekton.HELM_TASK}
        given = {p["name"] for p in task["params"]}
        assert given <= task_params
        assert {p["name"] for p in upgrade["params"] if "default" not in p} <= given
        assert set(PARAM_REF.findall(str(task["params"]))) <= pipeline_params
        assert task["workspaces"] == [{"name": "values", "workspace": "values"}]
    params = {t: {p["name"]: p["value"] for p in tasks[t]["params"]} for t in tasks}
    assert params["keystone"]["version"] == "2025.1.0"
    assert params["keystone"]["repo-url"] == "https://tarballs.opendev.org/openstack/openstack-helm"
    assert params["neutron"]["namespace"] == "networking"
    # helm's timeout, and the task's with room for --atomic's rollback.
    assert params["mariadb"]["timeout"] == "5m0s"
    assert tasks["mariadb"]["timeout"] == "10m0s"
    final = spec["finally"]
    assert [f["name"] for f in final] == [tekton.FINALLY_NAME]
    assert "runAfter" not in final[0]
    statuses = final[0]["params"][0]["value"]
    assert "neutron:networking:$(tasks.neutron.status)" in statuses
    assert [w["name"] for w in spec["workspaces"]] == ["values"]


def test_a_run_template_per_environment(objects: dict[str, Any]) -> None:
    dev, prod = objects["run/dev"], objects["run/prod"]
    for run in (dev, prod):
        assert run["kind"] == "PipelineRun"
        assert "name" not in run["metadata"]
        assert run["spec"]["pipelineRef"] == {"name": "demo"}
        assert run["spec"]["workspaces"] == [
            {"name": "values", "configMap": {"name": objects["configmap"]["metadata"]["name"]}}]
        pipeline_params = {p["name"] for p in objects["Pipeline/demo"]["spec"]["params"]}
        assert {p["name"] for p in run["spec"]["params"]} <= pipeline_params
    assert dev["metadata"]["generateName"] == "demo-dev-"
    assert prod["spec"]["timeouts"] == {"pipeline": "3h0m0s"}
    assert prod["spec"]["taskRunTemplate"] == {"serviceAccountName": "deployer"}
    # dev has no timeout: the longest chain of task timeouts (openvswitch 15m, keystone 25m,
    # neutron 15m) plus the finally task's 10m.
    assert dev["spec"]["timeouts"] == {"pipeline": "1h5m0s"}


@pytest.mark.parametrize(("text", "total"), [("10m", 600), ("1h30m", 5400), ("90s", 90),
                                              ("2h0m5s", 7205)])
def test_durations_round_trip(text: str, total: int) -> None:
    assert tekton.seconds(text) == total
    assert tekton.seconds(tekton.duration(total)) == total


def test_a_bad_duration_is_refused() -> None:
    with pytest.raises(ValueError, match="not a duration"):
        tekton.seconds("10 minutes")


def test_pipeline_takes_dry_run_and_revision_and_hands_them_on(
        objects: dict[str, Any]) -> None:
    spec = objects["Pipeline/demo"]["spec"]
    params = {p["name"]: p for p in spec["params"]}
    assert params["dry-run"]["default"] == "false"
    assert params["revision"]["default"] == ""
    for task in spec["tasks"]:
        given = {p["name"]: p["value"] for p in task["params"]}
        assert given["dry-run"] == "$(params.dry-run)"
        assert given["revision"] == "$(params.revision)"
    final = {p["name"]: p["value"] for p in spec["finally"][0]["params"]}
    assert final["dry-run"] == "$(params.dry-run)"
    finally_params = {p["name"] for p in objects[f"Task/{tekton.FINALLY_TASK}"]["spec"]["params"]}
    assert set(final) <= finally_params
    # The templates leave both to their defaults: a caller (a Prow job) appends them.
    for env in ("dev", "prod"):
        names = [p["name"] for p in objects[f"run/{env}"]["spec"]["params"]]
        assert "dry-run" not in names and "revision" not in names


def _run_step(task: dict[str, Any], params: dict[str, str], tmp_path: Path,
              helm: str) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """Run a Task's step script under /bin/sh, its env resolved as Tekton would, with a
    stand-in `helm` on PATH that logs its arguments (and answers `helm status`)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    log = tmp_path / "helm.log"
    log.write_text("", encoding="utf-8")
    fake = bin_dir / "helm"
    fake.write_text(f'#!/bin/sh\necho "$*" >> "{log}"\n{helm}\n', encoding="utf-8")
    fake.chmod(0o755)
    defaults = {p["name"]: p.get("default", "") for p in task["spec"]["params"]}
    values = {**defaults, **params, "results.summary.path": str(tmp_path / "summary"),
              "workspaces.values.path": str(tmp_path)}
    step = task["spec"]["steps"][0]
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin"}
    for item in step["env"]:
        env[item["name"]] = re.sub(
            r"\$\((?:params\.)?([A-Za-z0-9_.-]+)\)", lambda m: values[m.group(1)], item["value"])
    done = subprocess.run(["/bin/sh", "-c", step["script"]], env=env, capture_output=True,
                          text=True, check=False)
    return done, log.read_text(encoding="utf-8").splitlines()


def test_helm_step_dry_run_and_real_run(objects: dict[str, Any], tmp_path: Path) -> None:
    task = objects[f"Task/{tekton.HELM_TASK}"]
    base = {"release": "keystone", "chart": "keystone", "namespace": "openstack",
            "values": "keystone.taco.yaml"}
    done, calls = _run_step(task, {**base, "dry-run": "true", "revision": "abc123"},
                            tmp_path, "exit 0")
    assert done.returncode == 0, done.stderr
    assert "revision abc123, dry run: true" in done.stdout
    [call] = calls
    assert call.startswith("upgrade --install keystone keystone --namespace openstack")
    assert "--dry-run=server" in call
    assert "--wait" not in call and "--atomic" not in call
    assert f"--values {tmp_path}/keystone.taco.yaml" in call
    done, calls = _run_step(task, base, tmp_path, "exit 0")
    assert done.returncode == 0, done.stderr
    assert "revision unknown, dry run: false" in done.stdout
    [call] = calls
    assert "--wait --atomic" in call and "--dry-run" not in call


def test_finally_rolls_back_a_pending_release_except_in_a_dry_run(
        objects: dict[str, Any], tmp_path: Path) -> None:
    task = objects[f"Task/{tekton.FINALLY_TASK}"]
    pending = 'case "$1" in status) echo "STATUS: pending-upgrade" ;; esac'
    charts = {"charts": "keystone:openstack:Failed"}
    done, calls = _run_step(task, {**charts, "dry-run": "true"}, tmp_path, pending)
    assert [c.split()[0] for c in calls] == ["status"]
    assert "left alone (dry run)" in done.stdout
    assert done.returncode == 1  # the task failed: the run fails either way
    done, calls = _run_step(task, charts, tmp_path, pending)
    assert [c.split()[0] for c in calls] == ["status", "rollback"]
    assert "pending-upgrade, rolled back" in done.stdout
