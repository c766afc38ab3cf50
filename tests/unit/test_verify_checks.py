"""The verify role's judges: kubectl, helm, systemd and ovs-vsctl results into rows.

Inputs are what Ansible registers for the role's commands (rc, stdout, stderr; uri's
status). The role runs for real against the stand-in cluster in roles/verify/molecule.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rolecode import load_module

ROOT = Path(__file__).resolve().parents[2]
checks = load_module(ROOT / "roles" / "verify" / "filter_plugins" / "verify_checks.py",
                     "taco_test_verify_checks")


def ran(data: Any) -> dict[str, Any]:
    return {"rc": 0, "stdout": json.dumps(data), "stderr": ""}


def node(name: str, ready: str = "True", **labels: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, **labels}},
            "status": {"conditions": [{"type": "Ready", "status": ready,
                                       "reason": "KubeletReady" if ready == "True"
                                       else "KubeletNotReady",
                                       "message": "container runtime network not ready"}]}}


def test_nodes_ready_with_their_labels_pass_and_name_the_host() -> None:
    rows = checks.verify_nodes(ran({"items": [node("node1", openvswitch="enabled")]}),
                               {"Node1": {"openvswitch": "enabled"}})
    assert rows == [{"check": "node", "phase": "cni_labels", "status": "pass", "host": "Node1",
                     "detail": "node node1 Ready with the 1 label(s) the inventory wants"}]


def test_nodes_fail_naming_what_is_wrong() -> None:
    nodes = ran({"items": [node("node1", ready="False", openvswitch="disabled"), node("node2")]})
    rows = checks.verify_nodes(nodes, {"node1": {"openvswitch": "enabled", "l3-agent": "enabled"},
                                       "node2": {"ceph-osd": "enabled"}, "node3": {}})
    assert [row["status"] for row in rows] == ["fail", "fail", "fail"]
    assert rows[0]["detail"] == (
        "node node1: not Ready (Ready=False: KubeletNotReady: container runtime network not "
        "ready); label(s) missing or different: l3-agent (want 'enabled', has none), "
        "openvswitch (want 'enabled', has 'disabled')")
    assert rows[1]["detail"] == ("node node2: label(s) missing or different: ceph-osd "
                                 "(want 'enabled', has none)")
    assert rows[2]["detail"] == "node node3 is not in the cluster (nodes: node1, node2)"


def test_a_kubectl_failure_fails_every_row_with_its_words() -> None:
    broken = {"rc": 1, "stdout": "", "stderr": "The connection to the server 10.0.0.1:6443 was "
              "refused - did you specify the right host or port?"}
    rows = checks.verify_nodes(broken, {"node1": {}, "node2": {}})
    assert [(row["host"], row["status"]) for row in rows] == [("node1", "fail"), ("node2", "fail")]
    assert rows[0]["detail"].startswith("kubectl get nodes failed: The connection to the server")


def pod(name: str, phase: str, ready: str = "True", **scheduled: str) -> dict[str, Any]:
    conditions = [{"type": "Ready", "status": ready}]
    if scheduled:
        conditions.append({"type": "PodScheduled", **scheduled})
    return {"metadata": {"name": name}, "status": {"phase": phase, "conditions": conditions}}


def test_system_pods() -> None:
    good = ran({"items": [pod("etcd-node1", "Running"), pod("job-x", "Succeeded", "False")]})
    assert checks.verify_pods(good, "kube-system") == {
        "check": "system_pods", "phase": "kubernetes", "status": "pass",
        "detail": "2 pod(s) in kube-system Running"}
    bad = ran({"items": [
        pod("etcd-node1", "Running"),
        pod("coredns-abc", "Pending", "False", status="False", reason="Unschedulable",
            message="0/1 nodes are available"),
        pod("kube-proxy-x", "Running", "False")]})
    row = checks.verify_pods(bad, "kube-system")
    assert row["status"] == "fail"
    assert row["detail"] == (
        "2 of 3 pod(s) in kube-system not running: coredns-abc Pending (PodScheduled=False: "
        "Unschedulable: 0/1 nodes are available); kube-proxy-x Running but not Ready "
        "(Ready=False)")
    assert checks.verify_pods(ran({"items": []}), "kube-system")["status"] == "fail"


def test_services() -> None:
    facts = {"containerd.service": {"state": "running", "status": "enabled"},
             "kubelet.service": {"state": "stopped", "status": "enabled"}}
    rows = checks.verify_services(facts, {"containerd": "container_runtime",
                                          "kubelet": "kubernetes", "crio": "container_runtime"})
    assert [(r["check"], r["phase"], r["status"]) for r in rows] == [
        ("containerd", "container_runtime", "pass"), ("kubelet", "kubernetes", "fail"),
        ("crio", "container_runtime", "fail")]
    assert rows[1]["detail"].startswith("kubelet is stopped")
    assert rows[2]["detail"] == "crio is not installed (no systemd unit)"


def test_skipped_rows_carry_the_reason() -> None:
    wanted = [{"check": "containerd", "phase": "container_runtime"},
              {"check": "kubelet", "phase": "kubernetes"}]
    assert checks.verify_skipped(wanted, {"kubernetes": "the kubernetes phase has not run"}) == [
        {"check": "kubelet", "phase": "kubernetes", "status": "skip",
         "detail": "the kubernetes phase has not run"}]


def test_bridges() -> None:
    def result(name: str, rc: int, msg: str = "non-zero return code") -> dict[str, Any]:
        return {"item": {"name": name}, "rc": rc, "stderr": "", "msg": msg if rc else ""}

    assert checks.verify_bridges([result("br-ex", 0), result("br-tun", 0)])["detail"] == \
        "present: br-ex, br-tun"
    row = checks.verify_bridges([result("br-ex", 0), result("br-tun", 2)])
    assert (row["status"], row["detail"]) == ("fail", "bridge(s) missing: br-tun")
    gone = checks.verify_bridges([result("br-ex", 2, "[Errno 2] No such file or directory: "
                                                     "b'ovs-vsctl'")])
    assert gone["detail"].startswith("ovs-vsctl failed: br-ex: [Errno 2]")


def deployment(name: str, available: str = "True") -> dict[str, Any]:
    return {"metadata": {"name": name}, "status": {"conditions": [
        {"type": "Available", "status": available, "reason": "MinimumReplicasAvailable"
         if available == "True" else "MinimumReplicasUnavailable"}]}}


def test_deployments() -> None:
    found = ran({"items": [deployment("tekton-pipelines-controller"),
                           deployment("tekton-events-controller", "False")]})
    row = checks.verify_deployments(found, ["tekton-pipelines-controller",
                                            "tekton-pipelines-webhook"],
                                    check="tekton_controllers", phase="tekton",
                                    namespace="tekton-pipelines")
    assert row["detail"] == (
        "missing in tekton-pipelines: tekton-pipelines-webhook; not available: "
        "tekton-events-controller (Available=False: MinimumReplicasUnavailable)")
    good = checks.verify_deployments(found, ["tekton-pipelines-controller"], check="c",
                                     phase="tekton", namespace="ns")
    assert good["status"] == "fail"  # every Deployment of the namespace must be Available
    fine = checks.verify_deployments(ran({"items": [deployment("a")]}), ["a"], check="c",
                                     phase="tekton", namespace="ns")
    assert fine == {"check": "c", "phase": "tekton", "status": "pass",
                    "detail": "1 Deployment(s) Available in ns: a"}


def taskrun(*conditions: dict[str, str]) -> dict[str, Any]:
    run: dict[str, Any] = {"metadata": {"name": "taco-verify-hello-x2b4d",
                                        "namespace": "default"}}
    if conditions:
        run["status"] = {"conditions": list(conditions)}
    return run


CREATED = {"rc": 0, "stdout": "taco-verify-hello-x2b4d", "stderr": ""}


def test_taskrun_verdicts() -> None:
    done = ran(taskrun({"type": "Succeeded", "status": "True", "reason": "Succeeded",
                        "message": "All Steps have completed executing"}))
    assert checks.verify_taskrun_done(done)
    assert checks.verify_taskrun(CREATED, done, 60)["detail"] == (
        "TaskRun default/taco-verify-hello-x2b4d succeeded (All Steps have completed executing)")
    missing = ran(taskrun({"type": "Succeeded", "status": "False",
                           "reason": "TaskRunResolutionFailed", "message": "error when listing"}))
    assert checks.verify_taskrun(CREATED, missing, 60) == {
        "check": "tekton_taskrun", "phase": "tekton", "status": "fail",
        "detail": "TaskRun default/taco-verify-hello-x2b4d failed: Succeeded=False: "
                  "TaskRunResolutionFailed: error when listing"}


def test_an_unreconciled_taskrun_says_why() -> None:
    waiting = ran(taskrun())
    assert not checks.verify_taskrun_done(waiting)
    controllers = {"status": "fail", "detail": "missing in tekton-pipelines: "
                   "tekton-pipelines-controller"}
    assert checks.verify_taskrun(CREATED, waiting, 30, controllers)["detail"] == (
        "TaskRun default/taco-verify-hello-x2b4d not reconciled within 30s: "
        "tekton-pipelines-controller not available (missing in tekton-pipelines: "
        "tekton-pipelines-controller)")
    assert checks.verify_taskrun(CREATED, waiting, 30, {"status": "pass"})["detail"].endswith(
        "not reconciled within 30s: no status; is tekton-pipelines-controller running?")
    running = ran(taskrun({"type": "Succeeded", "status": "Unknown", "reason": "Running"}))
    assert checks.verify_taskrun(CREATED, running, 30)["detail"].endswith(
        "still Succeeded=Unknown: Running")
    refused = {"rc": 1, "stderr": 'error: resource mapping not found for name: "" namespace: '
               '"default": no matches for kind "TaskRun" in version "tekton.dev/v1"'}
    assert checks.verify_taskrun(refused, None, 30)["detail"].startswith(
        "TaskRun not created: error: resource mapping not found")


def test_helm_and_its_repositories() -> None:
    version = {"rc": 0, "stdout": "v3.18.4+g0000000\n"}
    listed = ran([{"name": "openstack-helm", "url": "https://charts.example/osh/"}])
    fetched = [
        {"item": {"name": "openstack-helm", "url": "https://charts.example/osh"}, "status": 200},
        {"item": {"name": "local", "url": "http://10.0.0.5:8080/charts"}, "status": -1,
         "msg": "Status code was -1 and not [200]: Request failed: <urlopen error [Errno 111] "
                "Connection refused>"},
    ]
    rows = checks.verify_helm(version, listed, fetched)
    assert [(row["check"], row["status"]) for row in rows] == [
        ("helm", "pass"), ("helm_repo_openstack-helm", "pass"), ("helm_repo_local", "fail")]
    assert rows[2]["detail"] == (
        "repository local: not configured in helm (helm repo list: absent); "
        "http://10.0.0.5:8080/charts/index.yaml answered -1: Status code was -1 and not [200]: "
        "Request failed: <urlopen error [Errno 111] Connection refused>")
    no_helm = checks.verify_helm({"rc": 2, "msg": "[Errno 2] No such file or directory"},
                                 listed, fetched)
    assert no_helm == [{"check": "helm", "phase": "helm", "status": "fail",
                        "detail": "helm does not run: [Errno 2] No such file or directory"}]


def test_prow_hook() -> None:
    hook = ran(deployment("hook"))
    answered = {"rc": 1, "stderr": "Error from server (MethodNotAllowed): the server does not "
                "allow this method on the requested resource"}
    assert checks.verify_prow_hook(hook, answered, "prow")["status"] == "pass"
    silent = {"rc": 1, "stderr": 'Error from server (ServiceUnavailable): no endpoints '
              'available for service "hook"'}
    assert checks.verify_prow_hook(hook, silent, "prow")["detail"] == (
        "hook does not answer through the API server: Error from server (ServiceUnavailable): "
        'no endpoints available for service "hook"')
    assert checks.verify_prow_hook(ran(deployment("hook", "False")), answered, "prow")[
        "detail"] == "deployment hook not available (Available=False: MinimumReplicasUnavailable)"


def test_storage_classes() -> None:
    assert checks.verify_storage_classes(ran({"items": []}))["status"] == "fail"
    classes = ran({"items": [
        {"metadata": {"name": "general", "annotations": {
            "storageclass.kubernetes.io/is-default-class": "true"}}},
        {"metadata": {"name": "local-path"}}]})
    assert checks.verify_storage_classes(classes)["detail"] == \
        "StorageClass: general (default), local-path"
