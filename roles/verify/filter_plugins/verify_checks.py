"""verify_checks: judge what kubectl and systemd report into verify rows.

Tested in tests/unit/test_verify_checks.py.

A row is {check, phase, status, detail} plus `host` when it concerns another host than the
one reporting it (node rows come from the first control plane). `phase` names the phase the
check proves (the JUnit suite); `status` is pass, fail or skip; `detail` says what was seen
or, for a failure, what is wrong.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

Row = dict[str, str]


def _row(check: str, phase: str, status: str, detail: str, host: str | None = None) -> Row:
    row = {"check": check, "phase": phase, "status": status, "detail": detail}
    if host:
        row["host"] = host
    return row


def _condition(obj: Mapping[str, Any], kind: str) -> Mapping[str, Any] | None:
    for condition in (obj.get("status") or {}).get("conditions") or []:
        if isinstance(condition, dict) and condition.get("type") == kind:
            return condition
    return None


def _why(condition: Mapping[str, Any] | None) -> str:
    if condition is None:
        return "no condition"
    parts = [f"{condition.get('type')}={condition.get('status')}"]
    if condition.get("reason"):
        parts.append(str(condition["reason"]))
    if condition.get("message"):
        parts.append(str(condition["message"]))
    return ": ".join(parts)


def _read(result: Mapping[str, Any], what: str) -> tuple[dict[str, Any], str]:
    """The JSON a command printed, or why there is none (its stderr, as kubectl said it)."""
    if result.get("rc") != 0:
        text = str(result.get("stderr") or result.get("msg") or "").strip()
        return {}, f"{what} failed: {text or 'rc=' + str(result.get('rc'))}"
    try:
        data = json.loads(str(result.get("stdout") or ""))
    except ValueError as exc:
        return {}, f"{what} printed no JSON: {exc}"
    return (data, "") if isinstance(data, dict) else ({}, f"{what} printed no JSON object")


def verify_skipped(checks: Iterable[Mapping[str, str]], not_run: Mapping[str, str],
                   host: str | None = None) -> list[Row]:
    """Skip rows for the checks whose phase is in `not_run` (phase -> the reason)."""
    return [_row(check["check"], check["phase"], "skip", not_run[check["phase"]], host)
            for check in checks if check["phase"] in not_run]


def verify_services(services: Mapping[str, Any], units: Mapping[str, str]) -> list[Row]:
    """One row per unit (unit -> phase): active (running) or not, from service_facts."""
    rows = []
    for unit, phase in units.items():
        check = unit.removesuffix(".service")
        seen = services.get(unit if unit.endswith(".service") else f"{unit}.service")
        if not seen:
            rows.append(_row(check, phase, "fail", f"{unit} is not installed (no systemd unit)"))
        elif seen.get("state") != "running":
            rows.append(_row(check, phase, "fail",
                             f"{unit} is {seen.get('state')} (systemd; enabled: "
                             f"{seen.get('status')}); see journalctl -u {check}"))
        else:
            rows.append(_row(check, phase, "pass", f"{unit} active (running)"))
    return rows


def verify_bridges(results: Iterable[Mapping[str, Any]]) -> Row:
    """The OVS bridge row from `ovs-vsctl br-exists` results (rc 0 yes, 2 no)."""
    present, missing, errors = [], [], []
    for result in results:
        name = str(result.get("item", {}).get("name", "?"))
        rc = result.get("rc")
        # A missing ovs-vsctl also ends with rc 2, but with an OSError message.
        if rc == 0:
            present.append(name)
        elif rc == 2 and "Errno" not in str(result.get("msg") or ""):
            missing.append(name)
        else:
            text = str(result.get("stderr") or result.get("msg") or f"rc={rc}").strip()
            errors.append(f"{name}: {text}")
    if missing or errors:
        detail = "; ".join(
            ([f"bridge(s) missing: {', '.join(missing)}"] if missing else [])
            + ([f"ovs-vsctl failed: {'; '.join(errors)}"] if errors else []))
        return _row("ovs_bridges", "openvswitch", "fail", detail)
    return _row("ovs_bridges", "openvswitch", "pass", f"present: {', '.join(present)}")


def verify_nodes(result: Mapping[str, Any], wanted: Mapping[str, Mapping[str, str]]
                 ) -> list[Row]:
    """One row per inventory host: its node is Ready and carries the labels it should.

    `result`: `kubectl get nodes -o json`; `wanted`: inventory host -> {label: value}; the
    node is the host's name in lower case.
    """
    nodes, error = _read(result, "kubectl get nodes")
    if error:
        return [_row("node", "cni_labels", "fail", error, host) for host in wanted]
    found = {str(item["metadata"]["name"]): item for item in nodes.get("items") or []}
    rows = []
    for host, want in wanted.items():
        name = host.lower()
        node = found.get(name)
        if node is None:
            listed = ", ".join(sorted(found)) or "none"
            rows.append(_row("node", "cni_labels", "fail",
                             f"node {name} is not in the cluster (nodes: {listed})", host))
            continue
        problems = []
        ready = _condition(node, "Ready")
        if ready is None or ready.get("status") != "True":
            problems.append(f"not Ready ({_why(ready)})")
        labels = node["metadata"].get("labels") or {}
        wrong = [f"{key} (want {value!r}, has "
                 + (repr(labels[key]) if key in labels else "none") + ")"
                 for key, value in sorted((want or {}).items())
                 if labels.get(key) != value]
        if wrong:
            problems.append(f"label(s) missing or different: {', '.join(wrong)}")
        if problems:
            rows.append(_row("node", "cni_labels", "fail", f"node {name}: {'; '.join(problems)}",
                             host))
        else:
            rows.append(_row("node", "cni_labels", "pass",
                             f"node {name} Ready with the {len(want or {})} label(s) the "
                             "inventory wants", host))
    return rows


def verify_pods(result: Mapping[str, Any], namespace: str) -> Row:
    """Every pod of the namespace Running and Ready (or Succeeded, for a job's pod)."""
    pods, error = _read(result, f"kubectl get pods -n {namespace}")
    if error:
        return _row("system_pods", "kubernetes", "fail", error)
    items = pods.get("items") or []
    bad = []
    for pod in items:
        phase = (pod.get("status") or {}).get("phase", "Unknown")
        name = pod["metadata"]["name"]
        if phase == "Succeeded":
            continue
        if phase != "Running":
            scheduled = _condition(pod, "PodScheduled")
            why = f" ({_why(scheduled)})" if scheduled and scheduled.get("status") != "True" else ""
            bad.append(f"{name} {phase}{why}")
            continue
        ready = _condition(pod, "Ready")
        if ready is None or ready.get("status") != "True":
            bad.append(f"{name} Running but not Ready ({_why(ready)})")
    if not items:
        return _row("system_pods", "kubernetes", "fail", f"no pods in namespace {namespace}")
    if bad:
        return _row("system_pods", "kubernetes", "fail",
                    f"{len(bad)} of {len(items)} pod(s) in {namespace} not running: "
                    + "; ".join(bad))
    return _row("system_pods", "kubernetes", "pass",
                f"{len(items)} pod(s) in {namespace} Running")


def verify_deployments(result: Mapping[str, Any], required: Iterable[str], *,
                       check: str, phase: str, namespace: str) -> Row:
    """The required Deployments exist and every Deployment of the namespace is Available."""
    deployments, error = _read(result, f"kubectl get deployments -n {namespace}")
    if error:
        return _row(check, phase, "fail", error)
    found = {str(d["metadata"]["name"]): d for d in deployments.get("items") or []}
    missing = [name for name in required if name not in found]
    unavailable = [f"{name} ({_why(_condition(d, 'Available'))})"
                   for name, d in sorted(found.items())
                   if (_condition(d, "Available") or {}).get("status") != "True"]
    problems = ([f"missing in {namespace}: {', '.join(missing)}"] if missing else []) + (
        [f"not available: {'; '.join(unavailable)}"] if unavailable else [])
    if problems:
        return _row(check, phase, "fail", "; ".join(problems))
    return _row(check, phase, "pass",
                f"{len(found)} Deployment(s) Available in {namespace}: {', '.join(sorted(found))}")


def verify_taskrun_done(result: Mapping[str, Any]) -> bool:
    """Stop waiting: kubectl failed, or the run's Succeeded condition is True or False."""
    run, error = _read(result, "kubectl get taskrun")
    return bool(error) or (_condition(run, "Succeeded") or {}).get("status") in ("True", "False")


def verify_taskrun(created: Mapping[str, Any], result: Mapping[str, Any] | None, waited_s: int,
                   controllers: Mapping[str, str] | None = None) -> Row:
    """The hello TaskRun's verdict from its Succeeded condition.

    `created`: `kubectl create -f - -o name`; `result`: the last `kubectl get -o json` of it;
    `controllers`: the tekton_controllers row, to say why a run was never reconciled.
    """
    if created.get("rc") != 0:
        text = str(created.get("stderr") or created.get("msg") or "").strip()
        return _row("tekton_taskrun", "tekton", "fail", f"TaskRun not created: {text}")
    run, error = _read(result or {"rc": None, "msg": "never read"}, "kubectl get taskrun")
    if error:
        return _row("tekton_taskrun", "tekton", "fail", error)
    where = f"{run['metadata'].get('namespace', '')}/{run['metadata']['name']}"
    done = _condition(run, "Succeeded")
    if done is None or done.get("status") not in ("True", "False"):
        if controllers is not None and controllers.get("status") == "fail":
            because = f"tekton-pipelines-controller not available ({controllers['detail']})"
        elif done is None:
            because = "no status; is tekton-pipelines-controller running?"
        else:
            because = f"still {_why(done)}"
        return _row("tekton_taskrun", "tekton", "fail",
                    f"TaskRun {where} not reconciled within {waited_s}s: {because}")
    if done["status"] == "False":
        return _row("tekton_taskrun", "tekton", "fail", f"TaskRun {where} failed: {_why(done)}")
    return _row("tekton_taskrun", "tekton", "pass",
                f"TaskRun {where} succeeded ({done.get('message') or done.get('reason')})")


def verify_helm(version: Mapping[str, Any], listed: Mapping[str, Any],
                fetched: Iterable[Mapping[str, Any]]) -> list[Row]:
    """helm answers; each site repository is configured in helm and its index.yaml answers.

    `version`: `helm version --short`; `listed`: `helm repo list -o json` (exit 1 when there
    are none); `fetched`: the uri results for `<url>/index.yaml`, one per site repository.
    """
    if version.get("rc") != 0:
        text = str(version.get("stderr") or version.get("msg") or "").strip()
        return [_row("helm", "helm", "fail", f"helm does not run: {text}")]
    rows = [_row("helm", "helm", "pass", f"helm {str(version.get('stdout', '')).strip()}")]
    configured: dict[str, str] = {}
    if listed.get("rc") == 0:
        try:
            entries = json.loads(str(listed.get("stdout") or "[]"))
        except ValueError:
            entries = []
        configured = {str(e.get("name")): str(e.get("url")) for e in entries
                      if isinstance(e, dict)}
    for result in fetched:
        repo = result.get("item") or {}
        name, url = str(repo.get("name", "?")), str(repo.get("url", "")).rstrip("/")
        check = f"helm_repo_{name}"
        problems = []
        if configured.get(name, "").rstrip("/") != url:
            have = configured.get(name)
            problems.append(f"not configured in helm (helm repo list: {have or 'absent'})")
        status = result.get("status")
        if status != 200:
            problems.append(f"{url}/index.yaml answered {status}: "
                            f"{str(result.get('msg') or '').strip()}")
        if problems:
            rows.append(_row(check, "helm", "fail", f"repository {name}: {'; '.join(problems)}"))
        else:
            rows.append(_row(check, "helm", "pass", f"repository {name}: {url}/index.yaml answers"))
    return rows


def verify_prow_hook(deployment: Mapping[str, Any], answer: Mapping[str, Any],
                     namespace: str) -> Row:
    """hook's Deployment is Available and hook answers through the API server's proxy.

    hook answers anything but a webhook POST with 405, so a 405 counts as answering.
    """
    hook, error = _read(deployment, f"kubectl get deployment hook -n {namespace}")
    if error:
        return _row("prow_hook", "prow", "fail", error)
    available = _condition(hook, "Available")
    if (available or {}).get("status") != "True":
        return _row("prow_hook", "prow", "fail", f"deployment hook not available "
                    f"({_why(available)})")
    said = str(answer.get("stderr") or "")
    if answer.get("rc") == 0 or "MethodNotAllowed" in said or "405" in said:
        return _row("prow_hook", "prow", "pass", "hook Available and answering")
    return _row("prow_hook", "prow", "fail",
                f"hook does not answer through the API server: {said.strip() or answer.get('msg')}")


def verify_storage_classes(result: Mapping[str, Any]) -> Row:
    """At least one StorageClass; the default one (annotation) is named when there is one."""
    classes, error = _read(result, "kubectl get storageclasses")
    if error:
        return _row("storage_class", "storage", "fail", error)
    items = classes.get("items") or []
    if not items:
        return _row("storage_class", "storage", "fail",
                    "no StorageClass in the cluster: the site's storage backend has none yet")
    default_key = "storageclass.kubernetes.io/is-default-class"
    names = [
        str(c["metadata"]["name"])
        + (" (default)" if (c["metadata"].get("annotations") or {}).get(default_key) == "true"
           else "")
        for c in items]
    return _row("storage_class", "storage", "pass", f"StorageClass: {', '.join(names)}")


class FilterModule:
    """Ansible entry point."""

    def filters(self) -> dict[str, Any]:
        return {
            "verify_skipped": verify_skipped,
            "verify_services": verify_services,
            "verify_bridges": verify_bridges,
            "verify_nodes": verify_nodes,
            "verify_pods": verify_pods,
            "verify_deployments": verify_deployments,
            "verify_taskrun_done": verify_taskrun_done,
            "verify_taskrun": verify_taskrun,
            "verify_helm": verify_helm,
            "verify_prow_hook": verify_prow_hook,
            "verify_storage_classes": verify_storage_classes,
        }
