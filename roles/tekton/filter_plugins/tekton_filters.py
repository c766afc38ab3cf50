"""tekton_filters: the tekton role's decisions as pure functions (tests/unit/test_tekton.py).

- tekton_manifest: a release manifest with taco's revision annotation on every Deployment,
  the dashboard Service's type (and node port) set, and extra objects (the Ingress) added,
  by parsing the documents, never by editing text.
- tekton_deployments: the Deployments a manifest creates, as {namespace, name}.
- tekton_stale: which of those the cluster does not run at this revision (so: apply).
- tekton_not_ready: which of those are not Available, with their conditions (for messages).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import yaml
from ansible.errors import AnsibleFilterError

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

try:  # libyaml when present: the Pipelines release is large.
    from yaml import CSafeDumper as _Dumper
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeDumper as _Dumper  # type: ignore[assignment]
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]


def _documents(name: str, text: str) -> list[dict[str, Any]]:
    try:
        documents = [doc for doc in yaml.load_all(str(text), Loader=_Loader) if doc is not None]
    except yaml.YAMLError as exc:
        raise AnsibleFilterError(f"{name}: the manifest is not valid YAML: {exc}") from exc
    if not all(isinstance(doc, dict) for doc in documents):
        raise AnsibleFilterError(f"{name}: every document of the manifest must be a mapping "
                                 "(a Kubernetes object)")
    return documents


def _plain(value: Any) -> Any:
    """Ansible's tagged str/dict/list subclasses as plain Python (the dumper refuses them)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    return str(value)


def _is(doc: Mapping[str, Any], kind: str, name: str | None = None,
        namespace: str | None = None) -> bool:
    meta = doc.get("metadata") or {}
    return (doc.get("kind") == kind and (name is None or meta.get("name") == name)
            and (namespace is None or meta.get("namespace", "default") == namespace))


def tekton_manifest(
    text: str,
    annotations: Mapping[str, str] | None = None,
    service: Mapping[str, Any] | None = None,
    extra: Sequence[Mapping[str, Any]] = (),
) -> str:
    """The manifest with `annotations` on each Deployment's metadata (not its pod template:
    no rollout), the Service `service` = {name, namespace, type, node_port} set to that type
    (node_port on its first port for NodePort; none otherwise), and `extra` objects appended.
    """
    name = "tekton_manifest"
    documents = _documents(name, text)
    for doc in documents:
        if _is(doc, "Deployment") and annotations:
            meta = doc.setdefault("metadata", {})
            meta["annotations"] = {**(meta.get("annotations") or {}), **_plain(annotations)}
    if service:
        targets = [doc for doc in documents
                   if _is(doc, "Service", str(service["name"]), str(service["namespace"]))]
        if len(targets) != 1:
            raise AnsibleFilterError(f"{name}: expected one Service {service['namespace']}/"
                                     f"{service['name']}, found {len(targets)}: is this "
                                     "Tekton Dashboard's release manifest?")
        spec = targets[0].setdefault("spec", {})
        ports = spec.get("ports") or []
        if not ports or not isinstance(ports[0], dict):
            raise AnsibleFilterError(f"{name}: Service {service['name']} has no ports")
        spec["type"] = str(service["type"])
        for port in ports:
            port.pop("nodePort", None)
        if service["type"] == "NodePort":
            ports[0]["nodePort"] = int(service["node_port"])
    documents.extend(_plain(list(extra)))
    return yaml.dump_all(documents, Dumper=_Dumper, sort_keys=False, explicit_start=True)


def tekton_deployments(text: str) -> list[dict[str, str]]:
    """{namespace, name} of every Deployment in the manifest, in manifest order."""
    return [{"namespace": str((doc.get("metadata") or {}).get("namespace", "default")),
             "name": str((doc.get("metadata") or {}).get("name"))}
            for doc in _documents("tekton_deployments", text) if _is(doc, "Deployment")]


def _live(items: Sequence[Mapping[str, Any]]) -> dict[tuple[str, str], Mapping[str, Any]]:
    return {(str((i.get("metadata") or {}).get("namespace")),
             str((i.get("metadata") or {}).get("name"))): i for i in items}


def tekton_stale(
    wanted: Sequence[Mapping[str, str]],
    items: Sequence[Mapping[str, Any]],
    annotation: str,
    revision: str,
) -> list[str]:
    """namespace/name of the wanted Deployments missing from `items` (the cluster's, from
    `kubectl get deployments -A -o json`) or not annotated with this revision."""
    live = _live(items)
    stale = []
    for deployment in wanted:
        key = (deployment["namespace"], deployment["name"])
        found = live.get(key)
        annotations = ((found or {}).get("metadata") or {}).get("annotations") or {}
        if annotations.get(annotation) != revision:
            stale.append("/".join(key))
    return stale


def tekton_not_ready(
    wanted: Sequence[Mapping[str, str]],
    items: Sequence[Mapping[str, Any]],
) -> list[str]:
    """'namespace/name (why)' for each wanted Deployment that is not Available."""
    live = _live(items)
    problems = []
    for deployment in wanted:
        key = (deployment["namespace"], deployment["name"])
        found = live.get(key)
        if found is None:
            problems.append(f"{'/'.join(key)} (not in the cluster)")
            continue
        status = found.get("status") or {}
        conditions = status.get("conditions") or []
        available = [c for c in conditions if c.get("type") == "Available"]
        if available and available[0].get("status") == "True":
            continue
        wanted_replicas = (found.get("spec") or {}).get("replicas", 1)
        shown = "; ".join(f"{c.get('type')}={c.get('status')}"
                          + (f" {c.get('reason')}" if c.get("reason") else "")
                          + (f": {c.get('message')}" if c.get("message") else "")
                          for c in conditions) or "no conditions yet"
        problems.append(f"{'/'.join(key)} ({status.get('availableReplicas', 0)}/"
                        f"{wanted_replicas} available; {shown})")
    return problems


class FilterModule:
    """Ansible entry point."""

    def filters(self) -> dict[str, Any]:
        return {
            "tekton_manifest": tekton_manifest,
            "tekton_deployments": tekton_deployments,
            "tekton_stale": tekton_stale,
            "tekton_not_ready": tekton_not_ready,
        }
