"""kubectl against the stand-in cluster: what installers do, and the errors they must see.

One control plane for the module (its own, so node changes here do not leak into other
modules), made Ready with a CNI configuration file, as a CNI plugin would.
"""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "standins"))

import fixtures
from fixtures import StandinCluster, initialise, make_host

if TYPE_CHECKING:
    from collections.abc import Iterator

standin_bin = fixtures.standin_bin


@pytest.fixture(scope="module")
def cluster(standin_bin: Path, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[StandinCluster]:
    import tempfile

    directory = Path(tempfile.mkdtemp(prefix="stk-"))
    standin = make_host(directory, standin_bin, "node1")
    try:
        made = initialise(standin, upload_certs=False)
        cni = standin.path("/etc/cni/net.d/10-bridge.conflist")
        cni.parent.mkdir(parents=True)
        cni.write_text('{"cniVersion": "1.0.0", "name": "bridge", "plugins": []}')
        ready = standin.kubectl("wait", "--for=condition=Ready", "node/node1", "--timeout=30s")
        assert ready.returncode == 0, ready.stderr
        yield made
    finally:
        standin.stop()
        import shutil

        shutil.rmtree(directory, ignore_errors=True)


def kubectl(cluster: StandinCluster, *args: str, stdin: str | None = None) -> tuple[int, str, str]:
    standin = cluster.host
    result = standin.run("kubectl", f"--kubeconfig={standin.path('/etc/kubernetes/admin.conf')}",
                         *args, stdin=stdin)
    return result.returncode, result.stdout, result.stderr


def manifest(tmp_path: Path, *documents: dict[str, Any]) -> str:
    path = tmp_path / "objects.yaml"
    path.write_text(yaml.safe_dump_all(documents))
    return str(path)


def deployment(name: str, namespace: str = "default", **spec: object) -> dict[str, Any]:
    labels = {"app": name}
    pod: dict[str, Any] = {"containers": [{"name": "main", "image": "registry.local/x:1"}]}
    pod.update(spec)
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels}, "spec": pod}}}


TOLERATE_CONTROL_PLANE = [{"key": "node-role.kubernetes.io/control-plane", "operator": "Exists",
                           "effect": "NoSchedule"}]


# -- reading ---------------------------------------------------------------------------------


def test_get_formats(cluster: StandinCluster) -> None:
    code, table, _ = kubectl(cluster, "get", "nodes")
    assert code == 0
    assert table.splitlines()[0].split() == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
    assert table.splitlines()[1].split()[:3] == ["node1", "Ready", "control-plane"]
    _, as_json, _ = kubectl(cluster, "get", "node", "node1", "-o", "json")
    assert json.loads(as_json)["status"]["nodeInfo"]["kubeletVersion"] == "v1.35.4"
    _, listed, _ = kubectl(cluster, "get", "pods", "-n", "kube-system", "-o", "yaml")
    assert yaml.safe_load(listed)["kind"] == "List"
    _, names, _ = kubectl(cluster, "get", "pods", "-n", "kube-system", "-l", "component=etcd",
                          "-o", "name")
    assert names.strip() == "pod/etcd-node1"
    _, columns, _ = kubectl(cluster, "get", "ns", "-o",
                            "custom-columns=NAME:.metadata.name,PHASE:.status.phase")
    assert ["kube-system", "Active"] in [line.split() for line in columns.splitlines()]
    code, _, missing = kubectl(cluster, "get", "node", "node9")
    assert code == 1
    assert 'Error from server (NotFound): nodes "node9" not found' in missing
    code, out, _ = kubectl(cluster, "get", "node", "node9", "--ignore-not-found")
    assert (code, out) == (0, "")
    code, _, unknown = kubectl(cluster, "get", "pipelines")
    assert code == 1
    assert 'the server doesn\'t have a resource type "pipelines"' in unknown


def test_credentials_are_checked(cluster: StandinCluster, tmp_path: Path) -> None:
    admin = yaml.safe_load(cluster.host.path("/etc/kubernetes/admin.conf").read_text())
    admin["users"][0]["user"] = {}
    anonymous = tmp_path / "anonymous.conf"
    anonymous.write_text(yaml.safe_dump(admin))
    result = cluster.host.run("kubectl", f"--kubeconfig={anonymous}", "get", "nodes")
    assert result.returncode == 1
    assert 'nodes is forbidden: User "system:anonymous" cannot list resource "nodes"' in \
        result.stderr
    admin["users"][0]["user"] = {"token": "abcdef.0123456789abcdef"}
    anonymous.write_text(yaml.safe_dump(admin))
    result = cluster.host.run("kubectl", f"--kubeconfig={anonymous}", "get", "nodes")
    assert "error: You must be logged in to the server (Unauthorized)" in result.stderr


# -- apply -------------------------------------------------------------------------------------


def test_apply_is_idempotent_and_reports_changes(cluster: StandinCluster, tmp_path: Path) -> None:
    objects = manifest(tmp_path, {"apiVersion": "v1", "kind": "Namespace",
                                  "metadata": {"name": "apply-test"}},
                       {"apiVersion": "v1", "kind": "ConfigMap",
                        "metadata": {"name": "settings", "namespace": "apply-test"},
                        "data": {"a": "1", "b": "2"}})
    assert kubectl(cluster, "apply", "-f", objects)[1].splitlines() == [
        "namespace/apply-test created", "configmap/settings created"]
    assert kubectl(cluster, "apply", "-f", objects)[1].splitlines() == [
        "namespace/apply-test unchanged", "configmap/settings unchanged"]
    changed = manifest(tmp_path, {"apiVersion": "v1", "kind": "ConfigMap",
                                  "metadata": {"name": "settings", "namespace": "apply-test"},
                                  "data": {"a": "1"}})
    assert kubectl(cluster, "apply", "-f", changed)[1].strip() == "configmap/settings configured"
    _, data, _ = kubectl(cluster, "get", "cm", "settings", "-n", "apply-test", "-o",
                         "jsonpath={.data}")
    assert json.loads(data) == {"a": "1"}, "a key dropped from the manifest is removed"
    code, out, _ = kubectl(cluster, "apply", "-n", "apply-test", "-f", "-", stdin=yaml.safe_dump(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "from-stdin"},
         "data": {"x": "y"}}))
    assert (code, out.strip()) == (0, "configmap/from-stdin created")


@pytest.mark.parametrize(("document", "expected"), [
    ({"apiVersion": "tekton.dev/v1", "kind": "Pipeline", "metadata": {"name": "p"},
      "spec": {"tasks": []}},
     'no matches for kind "Pipeline" in version "tekton.dev/v1"\nensure CRDs are installed first'),
    ({"apiVersion": "v1", "kind": "ConfigMap",
      "metadata": {"name": "c", "namespace": "nowhere"}},
     'Error from server (NotFound): error when creating "'),
    ({"kind": "ConfigMap", "metadata": {"name": "c"}},
     "error validating data: [apiVersion not set]"),
    ({"apiVersion": "batch/v1beta1", "kind": "CronJob", "metadata": {"name": "c"}},
     'no matches for kind "CronJob" in version "batch/v1beta1"'),
    ({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "Bad_Name"}},
     'metadata.name: Invalid value: "Bad_Name"'),
    ({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
      "data": {"k": "not base64!"}},
     "data[k]: Invalid value: illegal base64 data"),
])
def test_apply_refuses(cluster: StandinCluster, tmp_path: Path, document: dict[str, Any],
                       expected: str) -> None:
    code, _, error = kubectl(cluster, "apply", "-f", manifest(tmp_path, document))
    assert code == 1
    assert expected in error


def test_apply_refuses_yaml_that_does_not_parse(cluster: StandinCluster, tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  name: y\n")
    code, _, error = kubectl(cluster, "apply", "-f", str(broken))
    assert code == 1
    assert f"error parsing {broken}" in error
    assert 'mapping key "name" already defined' in error


def test_deployment_selector_must_match_its_template(cluster: StandinCluster,
                                                     tmp_path: Path) -> None:
    broken = deployment("mismatch")
    broken["spec"]["template"]["metadata"]["labels"] = {"app": "other"}
    code, _, error = kubectl(cluster, "apply", "-f", manifest(tmp_path, broken))
    assert code == 1
    assert 'Deployment.apps "mismatch" is invalid' in error
    assert "`selector` does not match template `labels`" in error


def crd(group: str, kind: str, plural: str, description: str = "") -> dict[str, Any]:
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": f"{plural}.{group}"},
            "spec": {"group": group, "scope": "Namespaced",
                     "names": {"kind": kind, "plural": plural, "singular": kind.lower()},
                     "versions": [{"name": "v1", "served": True, "storage": True,
                                   "schema": {"openAPIV3Schema": {
                                       "type": "object", "description": description,
                                       "x-kubernetes-preserve-unknown-fields": True}}}]}}


def test_tekton_kinds_once_their_crds_exist(cluster: StandinCluster, tmp_path: Path) -> None:
    code, out, error = kubectl(cluster, "apply", "-f", manifest(
        tmp_path, crd("tekton.dev", "Task", "tasks"), crd("tekton.dev", "Pipeline", "pipelines"),
        crd("tekton.dev", "PipelineRun", "pipelineruns")))
    assert code == 0, error
    assert "customresourcedefinition.apiextensions.k8s.io/pipelines.tekton.dev created" in out
    good = {"apiVersion": "tekton.dev/v1", "kind": "Pipeline", "metadata": {"name": "charts"},
            "spec": {"tasks": [{"name": "infra", "taskRef": {"name": "helm-upgrade"}},
                               {"name": "openstack", "taskRef": {"name": "helm-upgrade"},
                                "runAfter": ["infra"]}],
                     "finally": [{"name": "cleanup", "taskRef": {"name": "cleanup"}}]}}
    code, out, error = kubectl(cluster, "apply", "-f", manifest(tmp_path, good))
    assert (code, out.strip()) == (0, "pipeline.tekton.dev/charts created"), error
    cyclic = json.loads(json.dumps(good))
    cyclic["metadata"]["name"] = "cyclic"
    cyclic["spec"]["tasks"][0]["runAfter"] = ["openstack"]
    code, _, error = kubectl(cluster, "apply", "-f", manifest(tmp_path, cyclic))
    assert code == 1
    assert 'admission webhook "validation.webhook.pipeline.tekton.dev" denied the request' in error
    assert "cycle detected" in error
    run = {"apiVersion": "tekton.dev/v1", "kind": "PipelineRun", "metadata": {"name": "r"},
           "spec": {"params": []}}
    code, _, error = kubectl(cluster, "apply", "-f", manifest(tmp_path, run))
    assert code == 1
    assert "expected exactly one, got neither: pipelineRef, pipelineSpec" in error
    _, listed, _ = kubectl(cluster, "get", "pipelines", "-o", "name")
    assert listed.strip() == "pipeline.tekton.dev/charts"


def test_big_crds_need_server_side_apply(cluster: StandinCluster, tmp_path: Path) -> None:
    big = crd("prow.k8s.io", "ProwJob", "prowjobs", description="x" * 300_000)
    code, _, error = kubectl(cluster, "apply", "-f", manifest(tmp_path, big))
    assert code == 1
    assert "metadata.annotations: Too long: must have at most 262144 bytes" in error
    code, out, error = kubectl(cluster, "apply", "--server-side", "-f", manifest(tmp_path, big))
    assert (code, out.strip()) == (0, "customresourcedefinition.apiextensions.k8s.io/"
                                      "prowjobs.prow.k8s.io serverside-applied"), error
    job = {"apiVersion": "prow.k8s.io/v1", "kind": "ProwJob", "metadata": {"name": "j"},
           "spec": {"type": "nightly", "job": "deploy"}}
    code, _, error = kubectl(cluster, "apply", "-f", manifest(tmp_path, job))
    assert code == 1
    assert 'spec.type: Unsupported value: "nightly"' in error


def test_create_names_objects_from_generate_name(cluster: StandinCluster,
                                                 tmp_path: Path) -> None:
    """What `taco verify` does with its hello TaskRun: create with generateName, read, delete.

    No tekton-pipelines-controller runs in this cluster, so the run is never reconciled.
    """
    code, _, error = kubectl(cluster, "apply", "-f", manifest(
        tmp_path, crd("tekton.dev", "TaskRun", "taskruns")))
    assert code == 0, error
    run = {"apiVersion": "tekton.dev/v1", "kind": "TaskRun",
           "metadata": {"generateName": "hello-", "namespace": "default"},
           "spec": {"taskSpec": {"steps": [{"name": "hello", "image": "registry.local/b:1",
                                            "script": "echo hello"}]}}}
    code, name, error = kubectl(cluster, "create", "-f", "-", "-o", "jsonpath={.metadata.name}",
                                stdin=json.dumps(run))
    assert code == 0, error
    assert name.startswith("hello-") and len(name) == len("hello-") + 5
    code, out, error = kubectl(cluster, "create", "-f", "-", stdin=json.dumps(run))
    assert code == 0, error
    assert out.startswith("taskrun.tekton.dev/hello-") and out.strip().endswith(" created")
    assert out.split()[0] != f"taskrun.tekton.dev/{name}"
    code, out, error = kubectl(cluster, "get", "taskruns.tekton.dev", name, "-o", "json")
    assert code == 0, error
    assert "status" not in json.loads(out) or not json.loads(out)["status"].get("conditions")
    code, out, error = kubectl(cluster, "delete", "taskruns.tekton.dev", name, "-n", "default")
    assert (code, out.strip()) == (0, f'taskrun.tekton.dev "{name}" deleted'), error


# -- nodes, labels, scheduling -------------------------------------------------------------------


def test_labels_need_overwrite_to_change(cluster: StandinCluster) -> None:
    assert kubectl(cluster, "label", "nodes", "node1", "openvswitch=enabled")[1].strip() == \
        "node/node1 labeled"
    assert kubectl(cluster, "label", "nodes", "node1", "openvswitch=enabled")[1].strip() == \
        "node/node1 not labeled"
    code, _, error = kubectl(cluster, "label", "nodes", "node1", "openvswitch=disabled")
    assert code == 1
    assert "'openvswitch' already has a value (enabled), and --overwrite is false" in error
    assert kubectl(cluster, "label", "node/node1", "openvswitch=disabled", "--overwrite")[0] == 0
    _, value, _ = kubectl(cluster, "get", "node", "node1", "-o",
                          "jsonpath={.metadata.labels.openvswitch}")
    assert value == "disabled"
    assert kubectl(cluster, "label", "nodes", "node1", "openvswitch-")[1].strip() == \
        "node/node1 unlabeled"


def test_workloads_wait_for_a_node_that_fits(cluster: StandinCluster, tmp_path: Path) -> None:
    picky = deployment("picky", nodeSelector={"openstack-compute-node": "enabled"},
                       tolerations=TOLERATE_CONTROL_PLANE)
    assert kubectl(cluster, "apply", "-f", manifest(tmp_path, picky))[0] == 0
    code, _, error = kubectl(cluster, "wait", "--for=condition=Available", "deployment/picky",
                             "--timeout=3s")
    assert code == 1
    assert "timed out waiting for the condition on deployments/picky" in error
    kubectl(cluster, "label", "nodes", "node1", "openstack-compute-node=enabled")
    code, out, error = kubectl(cluster, "rollout", "status", "deployment/picky", "--timeout=30s")
    assert code == 0, error
    assert 'deployment "picky" successfully rolled out' in out
    _, phase, _ = kubectl(cluster, "get", "pods", "-l", "app=picky", "-o",
                          "jsonpath={.items[*].status.phase}")
    assert phase == "Running"


def test_drain_and_cordon(cluster: StandinCluster, tmp_path: Path) -> None:
    movable = deployment("movable", tolerations=TOLERATE_CONTROL_PLANE)
    assert kubectl(cluster, "apply", "-f", manifest(tmp_path, movable))[0] == 0
    assert kubectl(cluster, "rollout", "status", "deployment/movable", "--timeout=30s")[0] == 0
    code, _, error = kubectl(cluster, "drain", "node1")
    assert code == 1
    assert "cannot delete DaemonSet-managed Pods (use --ignore-daemonsets to ignore)" in error
    code, out, error = kubectl(cluster, "drain", "node1", "--ignore-daemonsets",
                               "--delete-emptydir-data")
    assert code == 0, error
    assert "node/node1 drained" in out
    assert "evicting pod default/movable-" in out
    _, status, _ = kubectl(cluster, "get", "nodes", "node1", "--no-headers")
    assert "Ready,SchedulingDisabled" in status
    _, phase, _ = kubectl(cluster, "get", "pods", "-l", "app=movable", "-o",
                          "jsonpath={.items[*].status.phase}")
    assert phase == "Pending", "the replacement pod has nowhere to go"
    assert kubectl(cluster, "uncordon", "node1")[1].strip() == "node/node1 uncordoned"
    assert kubectl(cluster, "rollout", "status", "deployment/movable", "--timeout=30s")[0] == 0


def test_taints(cluster: StandinCluster) -> None:
    assert kubectl(cluster, "taint", "nodes", "node1", "dedicated=infra:NoSchedule")[1].strip() \
        == "node/node1 tainted"
    code, _, error = kubectl(cluster, "taint", "nodes", "node1", "dedicated=other:NoSchedule")
    assert code == 1
    assert "--overwrite is false" in error
    assert kubectl(cluster, "taint", "nodes", "node1", "dedicated-")[1].strip() == \
        "node/node1 untainted"
    code, _, error = kubectl(cluster, "taint", "nodes", "node1", "dedicated-")
    assert code == 1
    assert 'taint "dedicated" not found' in error


# -- secrets and deletion ----------------------------------------------------------------------


def test_secret_values_are_never_echoed(cluster: StandinCluster) -> None:
    code, out, error = kubectl(cluster, "create", "secret", "generic", "github-token",
                               "--from-literal=token=s3cr3t-value", "-n", "default")
    assert (code, out.strip()) == (0, "secret/github-token created"), error
    assert "s3cr3t-value" not in out + error
    code, _, error = kubectl(cluster, "create", "secret", "generic", "github-token",
                             "--from-literal=token=other")
    assert code == 1
    assert "already exists" in error
    assert "other" not in error
    _, stored, _ = kubectl(cluster, "get", "secret", "github-token", "-o",
                           "jsonpath={.data.token}")
    assert base64.b64decode(stored) == b"s3cr3t-value"


def test_delete(cluster: StandinCluster, tmp_path: Path) -> None:
    objects = manifest(tmp_path, {"apiVersion": "v1", "kind": "ConfigMap",
                                  "metadata": {"name": "doomed"}})
    kubectl(cluster, "apply", "-f", objects)
    assert kubectl(cluster, "delete", "-f", objects)[1].strip() == 'configmap "doomed" deleted'
    code, _, error = kubectl(cluster, "delete", "configmap", "doomed")
    assert code == 1
    assert 'configmaps "doomed" not found' in error
    assert kubectl(cluster, "delete", "configmap", "doomed", "--ignore-not-found")[0] == 0
