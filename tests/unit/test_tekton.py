"""The tekton role's decisions, and the Tekton shape manifests against the stand-in cluster.

Tekton's own release manifests are not reachable here (no internet), so the filters run on
tests/fixtures/tekton/*-shape.yaml: hand-written files with the shape of the real releases.
The same files are applied server-side to a stand-in control plane in release order, which
proves they are what the stand-in API server accepts and that their CRDs serve Tekton kinds.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from ansible.errors import AnsibleFilterError
from rolecode import load_module

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "standins"))

import fixtures
from fixtures import StandinCluster

ROOT = Path(__file__).resolve().parents[2]
SHAPES = ROOT / "tests" / "fixtures" / "tekton"
ORDER = ("pipelines", "triggers", "interceptors", "dashboard")

filters = load_module(ROOT / "roles" / "tekton" / "filter_plugins" / "tekton_filters.py",
                      "taco_test_tekton_filters")
standin_bin = fixtures.standin_bin
standin_cluster = fixtures.standin_cluster


def _shape(name: str) -> str:
    return (SHAPES / f"{name}-shape.yaml").read_text()


def _docs(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text) if d is not None]


# -- the shapes -----------------------------------------------------------------------------


def test_every_shape_says_what_it_is() -> None:
    for path in SHAPES.glob("*-shape.yaml"):
        first = path.read_text().splitlines()[0]
        assert first.startswith("# Hand-written for taco's tests: the SHAPE of Tekton"), path
        assert "NOT" in path.read_text().splitlines()[0] + path.read_text().splitlines()[1]


@pytest.mark.parametrize(("name", "deployments"), [
    ("pipelines", ["tekton-pipelines/tekton-pipelines-controller",
                   "tekton-pipelines/tekton-events-controller",
                   "tekton-pipelines/tekton-pipelines-webhook",
                   "tekton-pipelines-resolvers/tekton-pipelines-remote-resolvers"]),
    ("triggers", ["tekton-pipelines/tekton-triggers-controller",
                  "tekton-pipelines/tekton-triggers-webhook"]),
    ("interceptors", ["tekton-pipelines/tekton-triggers-core-interceptors"]),
    ("dashboard", ["tekton-pipelines/tekton-dashboard"]),
    ("dashboard-full", ["tekton-pipelines/tekton-dashboard"]),
])
def test_deployments_of_each_release(name: str, deployments: list[str]) -> None:
    found = filters.tekton_deployments(_shape(name))
    assert [f"{d['namespace']}/{d['name']}" for d in found] == deployments
    for doc in _docs(_shape(name)):
        if doc["kind"] == "Deployment":
            for container in doc["spec"]["template"]["spec"]["containers"]:
                assert container["image"].startswith("ghcr.io/tektoncd/")


def test_read_only_and_full_dashboards_differ_only_in_rights() -> None:
    def args(name: str) -> list[str]:
        deployment = next(d for d in _docs(_shape(name)) if d["kind"] == "Deployment")
        return list(deployment["spec"]["template"]["spec"]["containers"][0]["args"])

    assert "--read-only=true" in args("dashboard")
    assert "--read-only=false" in args("dashboard-full")


# -- tekton_manifest ------------------------------------------------------------------------

SERVICE = {"name": "tekton-dashboard", "namespace": "tekton-pipelines"}


def test_revision_goes_on_every_deployment_and_nowhere_else() -> None:
    text = filters.tekton_manifest(_shape("pipelines"), {"taco.dev/tekton-revision": "r1"})
    docs = _docs(text)
    assert len(docs) == len(_docs(_shape("pipelines")))
    for doc in docs:
        annotations = doc["metadata"].get("annotations") or {}
        if doc["kind"] == "Deployment":
            assert annotations["taco.dev/tekton-revision"] == "r1"
            template = doc["spec"]["template"]["metadata"].get("annotations") or {}
            assert "taco.dev/tekton-revision" not in template  # no rollout for a revision
        else:
            assert "taco.dev/tekton-revision" not in annotations


def test_dashboard_node_port() -> None:
    text = filters.tekton_manifest(_shape("dashboard"), {},
                                   {**SERVICE, "type": "NodePort", "node_port": 30097})
    service = next(d for d in _docs(text) if d["kind"] == "Service")
    assert service["spec"]["type"] == "NodePort"
    assert service["spec"]["ports"] == [{"name": "http", "port": 9097, "protocol": "TCP",
                                         "targetPort": 9097, "nodePort": 30097}]


def test_dashboard_back_to_cluster_ip_drops_the_node_port() -> None:
    exposed = filters.tekton_manifest(_shape("dashboard"), {},
                                      {**SERVICE, "type": "NodePort", "node_port": 30097})
    text = filters.tekton_manifest(exposed, {}, {**SERVICE, "type": "ClusterIP",
                                                 "node_port": 30097})
    service = next(d for d in _docs(text) if d["kind"] == "Service")
    assert service["spec"]["type"] == "ClusterIP"
    assert "nodePort" not in service["spec"]["ports"][0]


def test_extra_objects_are_appended() -> None:
    ingress = {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
               "metadata": {"name": "tekton-dashboard", "namespace": "tekton-pipelines"}}
    docs = _docs(filters.tekton_manifest(_shape("dashboard"), {}, None, [ingress]))
    assert docs[-1] == ingress


def test_manifest_without_the_dashboard_service_is_refused() -> None:
    with pytest.raises(AnsibleFilterError, match="expected one Service tekton-pipelines/"
                       "tekton-dashboard, found 0"):
        filters.tekton_manifest(_shape("triggers"), {}, {**SERVICE, "type": "NodePort",
                                                         "node_port": 30097})


@pytest.mark.parametrize(("text", "phrase"), [
    ("a: [unclosed\n", "not valid YAML"),
    ("- just\n- a list\n", "must be a mapping"),
])
def test_not_a_manifest(text: str, phrase: str) -> None:
    with pytest.raises(AnsibleFilterError, match=phrase):
        filters.tekton_manifest(text)


# -- tekton_stale / tekton_not_ready --------------------------------------------------------

WANTED = [{"namespace": "tekton-pipelines", "name": "a"},
          {"namespace": "tekton-pipelines", "name": "b"}]


def _deployment(name: str, revision: str | None = None, available: str | None = None,
                ) -> dict[str, Any]:
    item: dict[str, Any] = {"metadata": {"namespace": "tekton-pipelines", "name": name},
                            "spec": {"replicas": 1}, "status": {}}
    if revision:
        item["metadata"]["annotations"] = {"taco.dev/tekton-revision": revision}
    if available:
        item["status"]["conditions"] = [{"type": "Available", "status": available,
                                         "reason": "MinimumReplicasUnavailable",
                                         "message": "Deployment does not have minimum "
                                                    "availability."}]
    return item


def test_stale_names_missing_and_other_revisions() -> None:
    live = [_deployment("a", "r1"), _deployment("b", "r0")]
    assert filters.tekton_stale(WANTED, live, "taco.dev/tekton-revision", "r1") == [
        "tekton-pipelines/b"]
    assert filters.tekton_stale(WANTED, live[:1], "taco.dev/tekton-revision", "r1") == [
        "tekton-pipelines/b"]
    current = [_deployment("a", "r1"), _deployment("b", "r1")]
    assert filters.tekton_stale(WANTED, current, "taco.dev/tekton-revision", "r1") == []


def test_not_ready_says_why() -> None:
    live = [_deployment("a", available="True"), _deployment("b", available="False")]
    assert filters.tekton_not_ready(WANTED, live) == [
        "tekton-pipelines/b (0/1 available; Available=False MinimumReplicasUnavailable: "
        "Deployment does not have minimum availability.)"]
    assert filters.tekton_not_ready(WANTED, [_deployment("a")]) == [
        "tekton-pipelines/a (0/1 available; no conditions yet)",
        "tekton-pipelines/b (not in the cluster)"]


# -- the shapes on the stand-in API server --------------------------------------------------


def _kubectl(cluster: StandinCluster, *args: str, stdin: str | None = None
             ) -> tuple[int, str, str]:
    admin = cluster.host.path("/etc/kubernetes/admin.conf")
    result = cluster.host.run("kubectl", f"--kubeconfig={admin}", *args, stdin=stdin)
    return result.returncode, result.stdout, result.stderr


TASK = """\
apiVersion: tekton.dev/v1
kind: Task
metadata: {name: hello, namespace: default}
spec:
  steps:
    - {name: say, image: docker.io/library/busybox, script: echo hello}
"""


def test_shapes_apply_in_release_order_and_serve_tekton_kinds(
    standin_cluster: StandinCluster, tmp_path: Path
) -> None:
    code, _, error = _kubectl(standin_cluster, "apply", "-f", "-", stdin=TASK)
    assert code == 1
    assert "ensure CRDs are installed first" in error
    for name in ORDER:
        path = tmp_path / f"{name}.yaml"
        path.write_text(filters.tekton_manifest(
            _shape(name), {"taco.dev/tekton-revision": "r1"},
            {**SERVICE, "type": "NodePort", "node_port": 30097} if name == "dashboard" else None))
        code, out, error = _kubectl(standin_cluster, "apply", "--server-side",
                                    "--force-conflicts", "--field-manager=taco", "-f", str(path))
        assert code == 0, error
        assert "serverside-applied" in out
    code, out, _ = _kubectl(standin_cluster, "get", "crd", "-o", "json")
    crds = {item["metadata"]["name"] for item in json.loads(out)["items"]}
    assert {"tasks.tekton.dev", "pipelines.tekton.dev", "pipelineruns.tekton.dev",
            "taskruns.tekton.dev", "customruns.tekton.dev", "stepactions.tekton.dev",
            "eventlisteners.triggers.tekton.dev", "triggerbindings.triggers.tekton.dev",
            "clustertriggerbindings.triggers.tekton.dev", "triggertemplates.triggers.tekton.dev",
            "triggers.triggers.tekton.dev", "interceptors.triggers.tekton.dev",
            "clusterinterceptors.triggers.tekton.dev"} <= crds
    code, out, error = _kubectl(standin_cluster, "apply", "-f", "-", stdin=TASK)
    assert code == 0, error
    assert "task.tekton.dev/hello created" in out
    code, out, _ = _kubectl(standin_cluster, "get", "clusterinterceptors", "-o", "name")
    assert out.split() == [f"clusterinterceptor.triggers.tekton.dev/{n}"
                           for n in ("bitbucket", "cel", "github", "gitlab", "slack")]
    code, out, _ = _kubectl(standin_cluster, "get", "service", "tekton-dashboard", "-n",
                            "tekton-pipelines", "-o", "json")
    assert json.loads(out)["spec"]["ports"][0]["nodePort"] == 30097
