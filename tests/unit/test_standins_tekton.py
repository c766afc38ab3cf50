"""The stand-in cluster's Tekton TaskRun controller, driven through the store as the API does.

One Ready node, Tekton's CRDs and its controller Deployment: TaskRuns succeed while the
controller is Available, fail as Tekton writes when their Task is missing, and are left
without status (never reconciled) once the controller is gone.
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "standins"))

from standin import kinds
from standin.store import Settings, Store, StoreError


def crd(kind: str, plural: str) -> dict[str, Any]:
    return {"metadata": {"name": f"{plural}.tekton.dev"},
            "spec": {"group": "tekton.dev", "scope": "Namespaced",
                     "names": {"kind": kind, "plural": plural, "singular": kind.lower()},
                     "versions": [{"name": "v1", "served": True, "storage": True,
                                   "subresources": {"status": {}},
                                   "schema": {"openAPIV3Schema": {
                                       "type": "object",
                                       "x-kubernetes-preserve-unknown-fields": True}}}]}}


def controller(name: str = "tekton-pipelines-controller") -> dict[str, Any]:
    labels = {"app": name}
    return {"metadata": {"name": name, "namespace": "tekton-pipelines"},
            "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels}, "spec": {
                         "containers": [{"name": "controller",
                                         "image": "ghcr.io/tektoncd/pipeline/controller:v1"}]}}}}


@pytest.fixture
def store(tmp_path: Path) -> Store:
    made = Store(tmp_path / "store.json", Settings())
    beat = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    made.create(kinds.builtin("Node"), {
        "metadata": {"name": "node1", "labels": {"kubernetes.io/hostname": "node1"}},
        "status": {"conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                                   "lastHeartbeatTime": beat}],
                   "addresses": [{"type": "InternalIP", "address": "10.0.0.11"}]}})
    made.create(kinds.builtin("Namespace"), {"metadata": {"name": "tekton-pipelines"}})
    for kind, plural in (("Task", "tasks"), ("TaskRun", "taskruns")):
        made.create(kinds.builtin("CustomResourceDefinition", "apiextensions.k8s.io"),
                    crd(kind, plural))
    made.create(kinds.builtin("Deployment", "apps"), controller(), "tekton-pipelines")
    return made


def resource(store: Store, kind: str) -> kinds.Resource:
    found = store.resource_for_kind("tekton.dev/v1", kind)
    assert found is not None
    return found


def run_of(store: Store, spec: dict[str, Any]) -> dict[str, Any]:
    """Create a TaskRun (generateName, as verify does) and return it after a reconcile."""
    taskruns = resource(store, "TaskRun")
    created = store.create(taskruns, {"metadata": {"generateName": "hello-"}, "spec": spec},
                           "default")
    store.reconcile()
    return store.get(taskruns, "default", created["metadata"]["name"])


def succeeded(run: dict[str, Any]) -> dict[str, Any]:
    conditions = [c for c in (run.get("status") or {}).get("conditions") or []
                  if c.get("type") == "Succeeded"]
    assert len(conditions) == 1, run.get("status")
    condition: dict[str, Any] = conditions[0]
    return condition


HELLO = {"steps": [{"name": "hello", "image": "registry.local/busybox:1",
                    "script": "echo hello"}]}


def test_a_taskrun_with_a_task_spec_succeeds(store: Store) -> None:
    run = run_of(store, {"taskSpec": HELLO})
    assert run["metadata"]["name"].startswith("hello-")
    condition = succeeded(run)
    assert (condition["status"], condition["reason"]) == ("True", "Succeeded")
    assert condition["message"] == "All Steps have completed executing"
    status = run["status"]
    assert [step["name"] for step in status["steps"]] == ["hello"]
    assert status["steps"][0]["terminated"]["exitCode"] == 0
    assert status["taskSpec"] == HELLO
    assert status["completionTime"] >= status["startTime"]


def test_a_taskrun_referring_to_a_task_resolves_it(store: Store) -> None:
    store.create(resource(store, "Task"), {"metadata": {"name": "hello"}, "spec": HELLO},
                 "default")
    run = run_of(store, {"taskRef": {"name": "hello"}})
    assert succeeded(run)["status"] == "True"
    assert run["status"]["taskSpec"] == HELLO


def test_a_missing_task_fails_the_run_as_tekton_says(store: Store) -> None:
    run = run_of(store, {"taskRef": {"name": "nope"}})
    condition = succeeded(run)
    assert (condition["status"], condition["reason"]) == ("False", "TaskRunResolutionFailed")
    assert condition["message"] == (f"error when listing tasks for taskRun "
                                    f'{run["metadata"]["name"]}: tasks.tekton.dev "nope" '
                                    "not found")
    # A Task in another namespace does not count.
    store.create(kinds.builtin("Namespace"), {"metadata": {"name": "other"}})
    store.create(resource(store, "Task"), {"metadata": {"name": "elsewhere"}, "spec": HELLO},
                 "other")
    assert succeeded(run_of(store, {"taskRef": {"name": "elsewhere"}}))["status"] == "False"


def test_a_finished_run_is_left_alone(store: Store) -> None:
    run = run_of(store, {"taskRef": {"name": "late"}})
    assert succeeded(run)["status"] == "False"
    store.create(resource(store, "Task"), {"metadata": {"name": "late"}, "spec": HELLO},
                 "default")
    store.reconcile()
    again = store.get(resource(store, "TaskRun"), "default", run["metadata"]["name"])
    assert again["status"] == run["status"]


def test_steps_need_an_image(store: Store) -> None:
    with pytest.raises(StoreError) as refused:
        run_of(store, {"taskSpec": {"steps": [{"name": "hello", "script": "echo"}]}})
    assert "spec.taskSpec.steps[0].image: missing field(s)" in refused.value.message


def test_nothing_reconciles_without_an_available_controller(store: Store) -> None:
    deployments = kinds.builtin("Deployment", "apps")
    store.delete(deployments, "tekton-pipelines", "tekton-pipelines-controller")
    run = run_of(store, {"taskSpec": HELLO})
    assert "status" not in run or not run["status"].get("conditions")
    # A controller that cannot be scheduled (its node selector fits no node) is not Available.
    unschedulable = controller()
    unschedulable["spec"]["template"]["spec"]["nodeSelector"] = {"no-such": "label"}
    store.create(deployments, unschedulable, "tekton-pipelines")
    store.reconcile()
    waiting = store.get(resource(store, "TaskRun"), "default", run["metadata"]["name"])
    assert not (waiting.get("status") or {}).get("conditions")
    # Once it is Available, the waiting run is reconciled.
    store.patch(deployments, "tekton-pipelines", "tekton-pipelines-controller",
                {"spec": {"template": {"spec": {"nodeSelector": None}}}})
    store.reconcile()
    done = store.get(resource(store, "TaskRun"), "default", run["metadata"]["name"])
    assert succeeded(done)["status"] == "True"
