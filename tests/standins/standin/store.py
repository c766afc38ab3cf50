"""The stand-in cluster's state (what etcd holds) and its controllers, in one JSON file.

Only the API server on the first control plane opens the store; the others forward to it
(see README.md). The "controllers" here stand in for kube-controller-manager, the scheduler
and the kubelets' pod workers: Deployments, DaemonSets, StatefulSets and Jobs get Pods, Pods
get a node and a phase, workloads get a status, CSRs from joining kubelets get signed,
Tekton TaskRuns are resolved and finished while Tekton's controller Deployment is Available.
Nothing runs in those Pods (they carry the annotation taco.stand-in/simulated) and no step
script of a TaskRun is executed.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import hashlib
import ipaddress
import json
import os
import secrets
import threading
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from standin import kinds, validation

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from standin.kinds import Resource

SIMULATED = "taco.stand-in/simulated"
MIRROR = "kubernetes.io/config.mirror"
HEARTBEAT_GRACE = dt.timedelta(seconds=40)
NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")

Key = tuple[str, str, str, str]  # group, plural, namespace, name
Obj = dict[str, Any]


class StoreError(Exception):
    """A request the store refuses, with the HTTP code and reason an apiserver would send."""

    def __init__(self, code: int, reason: str, message: str,
                 details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details or {}


def now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> dt.datetime:
    return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)


def type_name(resource: Resource) -> str:
    return f"{resource.plural}.{resource.group}" if resource.group else resource.plural


def kind_name(resource: Resource) -> str:
    return f"{resource.kind}.{resource.group}" if resource.group else resource.kind


def not_found(resource: Resource, name: str) -> StoreError:
    return StoreError(404, "NotFound", f'{type_name(resource)} "{name}" not found',
                      {"name": name, "group": resource.group, "kind": resource.plural})


def invalid(resource: Resource, name: str, errors: list[str]) -> StoreError:
    if resource.group in validation.TEKTON_GROUPS:
        webhook = ("validation.webhook.triggers.tekton.dev" if resource.group.startswith("triggers")
                   else "validation.webhook.pipeline.tekton.dev")
        return StoreError(400, "BadRequest", f'admission webhook "{webhook}" denied the request: '
                          f"validation failed: {'; '.join(errors)}")
    listed = errors[0] if len(errors) == 1 else "[" + ", ".join(errors) + "]"
    return StoreError(422, "Invalid", f'{kind_name(resource)} "{name}" is invalid: {listed}',
                      {"name": name, "group": resource.group, "kind": resource.kind})


def random_suffix(length: int = 5) -> str:
    return "".join(secrets.choice(NAME_ALPHABET) for _ in range(length))


def template_hash(template: Any) -> str:
    digest = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).digest()
    return "".join(NAME_ALPHABET[byte % len(NAME_ALPHABET)] for byte in digest[:10])


def merge(base: Any, patch: Any) -> Any:
    """JSON merge patch (RFC 7386): maps merge, null deletes, everything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(base) if isinstance(base, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge(result.get(key), value)
    return result


@dataclass
class Settings:
    """What the store needs from the API server's command line."""

    service_range: str = "10.96.0.0/12"
    node_port_range: tuple[int, int] = (30000, 32767)
    ca_pem: str = ""
    signer: Callable[[dict[str, Any]], str] | None = None  # CSR spec -> certificate PEM


class Store:
    """Every object of the cluster, persisted after each change."""

    def __init__(self, file: Path, settings: Settings) -> None:
        self.file = file
        self.settings = settings
        self.lock = threading.RLock()
        self.objects: dict[Key, Obj] = {}
        self.revision = 0
        self._crd_resources: list[Resource] = []
        if file.exists():
            state = json.loads(file.read_text())
            self.revision = state["revision"]
            for obj in state["objects"]:
                group, plural, namespace, name = obj.pop("__key")
                self.objects[(group, plural, namespace, name)] = obj
        self._refresh_crds()
        self._bootstrap()

    # -- persistence ---------------------------------------------------------------------

    def _save(self) -> None:
        state = {"revision": self.revision,
                 "objects": [{**obj, "__key": list(key)} for key, obj in self.objects.items()]}
        self.file.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.file.with_suffix(".tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            json.dump(state, handle)
        os.replace(temporary, self.file)

    # -- types -----------------------------------------------------------------------------

    def resources(self) -> list[Resource]:
        return list(kinds.BUILTIN) + self._crd_resources

    def _refresh_crds(self) -> None:
        found: list[Resource] = []
        for key, obj in self.objects.items():
            if key[0] == "apiextensions.k8s.io" and key[1] == "customresourcedefinitions":
                found.extend(kinds.from_crd(obj))
        self._crd_resources = found

    def resource(self, group: str, version: str, plural: str) -> Resource | None:
        for resource in self.resources():
            if (resource.group, resource.version, resource.plural) == (group, version, plural):
                return resource
        return None

    def resource_for_kind(self, api_version: str, kind: str) -> Resource | None:
        group, _, version = api_version.rpartition("/")
        for resource in self.resources():
            if (resource.group, resource.version, resource.kind) == (group, version, kind):
                return resource
        return None

    # -- reading -----------------------------------------------------------------------------

    def get(self, resource: Resource, namespace: str, name: str) -> Obj:
        with self.lock:
            obj = self.objects.get(self._key(resource, namespace, name))
            if obj is None:
                raise not_found(resource, name)
            return self._present(resource, obj)

    def find(self, resource: Resource, namespace: str, name: str) -> Obj | None:
        with self.lock:
            obj = self.objects.get(self._key(resource, namespace, name))
            return None if obj is None else self._present(resource, obj)

    def select(self, resource: Resource, namespace: str | None = None) -> list[Obj]:
        with self.lock:
            found = [self._present(resource, obj) for key, obj in self.objects.items()
                     if key[:2] == (resource.group, resource.plural)
                     and (namespace is None or key[2] == namespace)]
        return sorted(found, key=lambda o: (o["metadata"].get("namespace", ""),
                                            o["metadata"]["name"]))

    def _present(self, resource: Resource, obj: Obj) -> Obj:
        shown = copy.deepcopy(obj)
        shown["apiVersion"] = resource.api_version
        shown["kind"] = resource.kind
        if resource.kind == "Node":
            _age_node(shown)
        return shown

    @staticmethod
    def _key(resource: Resource, namespace: str, name: str) -> Key:
        return (resource.group, resource.plural, namespace if resource.namespaced else "", name)

    # -- writing -----------------------------------------------------------------------------

    def create(self, resource: Resource, obj: Obj, namespace: str = "") -> Obj:
        with self.lock:
            created = self._create(resource, copy.deepcopy(obj), namespace)
            self._after_change()
            return self._present(resource, created)

    def replace(self, resource: Resource, obj: Obj, namespace: str, name: str,
                *, status_only: bool = False) -> Obj:
        with self.lock:
            key = self._key(resource, namespace, name)
            current = self.objects.get(key)
            if current is None:
                raise not_found(resource, name)
            incoming = copy.deepcopy(obj)
            sent_version = (incoming.get("metadata") or {}).get("resourceVersion")
            if sent_version and sent_version != current["metadata"]["resourceVersion"]:
                raise StoreError(409, "Conflict", f'Operation cannot be fulfilled on '
                                 f'{type_name(resource)} "{name}": the object has been modified; '
                                 "please apply your changes to the latest version and try again")
            if status_only:
                updated = copy.deepcopy(current)
                updated["status"] = incoming.get("status", {})
            else:
                updated = incoming
                if "status" in current and resource.subresources:
                    updated["status"] = current["status"]
            self._write(resource, key, updated, current)
            self._after_change()
            return self._present(resource, self.objects[key])

    def patch(self, resource: Resource, namespace: str, name: str, patch: Obj,
              *, status_only: bool = False) -> Obj:
        with self.lock:
            current = self.objects.get(self._key(resource, namespace, name))
            if current is None:
                raise not_found(resource, name)
            merged = merge(current, patch)
            merged.setdefault("metadata", {})["resourceVersion"] = current["metadata"][
                "resourceVersion"]
            return self.replace(resource, merged, namespace, name, status_only=status_only)

    def apply(self, resource: Resource, obj: Obj, namespace: str, name: str) -> tuple[Obj, bool]:
        """Server-side apply (simplified: the applied fields win); (object, created)."""
        with self.lock:
            key = self._key(resource, namespace, name)
            current = self.objects.get(key)
            if current is None:
                return self.create(resource, obj, namespace), True
            applied = copy.deepcopy(obj)
            updated = copy.deepcopy(current)
            meta = applied.pop("metadata", {}) or {}
            for field in ("labels", "annotations"):
                if field in meta:
                    updated["metadata"][field] = {**(current["metadata"].get(field) or {}),
                                                  **(meta.get(field) or {})}
            for field, value in applied.items():
                if field not in ("status", "apiVersion", "kind"):
                    updated[field] = value
            self._write(resource, key, updated, current)
            self._after_change()
            return self._present(resource, self.objects[key]), False

    def delete(self, resource: Resource, namespace: str, name: str) -> Obj:
        with self.lock:
            key = self._key(resource, namespace, name)
            obj = self.objects.pop(key, None)
            if obj is None:
                raise not_found(resource, name)
            self.revision += 1
            self._cascade(resource, obj)
            self._after_change()
            return self._present(resource, obj)

    def _create(self, resource: Resource, obj: Obj, namespace: str) -> Obj:
        meta = obj.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise invalid(resource, "", ["metadata: Invalid value: must be an object"])
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = f"{meta['generateName']}{random_suffix()}"
        name = str(meta.get("name") or "")
        if resource.namespaced:
            sent = meta.get("namespace")
            if sent and namespace and sent != namespace:
                raise StoreError(400, "BadRequest", "the namespace of the provided object does "
                                 "not match the namespace sent on the request")
            namespace = namespace or sent or "default"
            meta["namespace"] = namespace
            if not self._namespace_exists(namespace):
                raise StoreError(404, "NotFound", f'namespaces "{namespace}" not found',
                                 {"name": namespace, "kind": "namespaces"})
        else:
            meta.pop("namespace", None)
            namespace = ""
        key = self._key(resource, namespace, name)
        if key in self.objects:
            raise StoreError(409, "AlreadyExists", f'{type_name(resource)} "{name}" already exists',
                             {"name": name, "group": resource.group, "kind": resource.plural})
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = now()
        self._write(resource, key, obj, None)
        return self.objects[key]

    def _namespace_exists(self, namespace: str) -> bool:
        return ("", "namespaces", "", namespace) in self.objects

    def _write(self, resource: Resource, key: Key, obj: Obj, current: Obj | None) -> None:
        obj.pop("apiVersion", None)
        obj.pop("kind", None)
        meta = obj.setdefault("metadata", {})
        if current is not None:
            for field in ("uid", "creationTimestamp", "namespace", "name"):
                if field in current["metadata"]:
                    meta[field] = current["metadata"][field]
        self._default(resource, obj, current)
        errors = validation.validate(resource.group, resource.kind,
                                     {**obj, "apiVersion": resource.api_version,
                                      "kind": resource.kind})
        errors.extend(self._check(resource, obj, current))
        if errors:
            raise invalid(resource, str(meta.get("name", "")), errors)
        if current is None or _spec(current) != _spec(obj):
            meta["generation"] = (current or {}).get("metadata", {}).get("generation", 0) + 1
        else:
            meta["generation"] = current["metadata"].get("generation", 1)
        self.revision += 1
        meta["resourceVersion"] = str(self.revision)
        self.objects[key] = obj
        if resource.kind == "CustomResourceDefinition":
            self._establish(obj)
            self._refresh_crds()
        if resource.kind == "Namespace" and current is None:
            self._populate_namespace(meta["name"])

    # -- defaults and cross-object checks ---------------------------------------------------

    def _default(self, resource: Resource, obj: Obj, current: Obj | None) -> None:
        kind = resource.kind
        if kind == "Namespace":
            obj.setdefault("spec", {"finalizers": ["kubernetes"]})
            obj["status"] = {"phase": "Active"}
            obj["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = \
                obj["metadata"].get("name", "")
        elif kind == "Secret":
            obj.setdefault("type", "Opaque")
            string_data = obj.pop("stringData", None)
            if isinstance(string_data, dict):
                data = obj.setdefault("data", {}) or {}
                for key, value in string_data.items():
                    data[key] = base64.b64encode(str(value).encode()).decode()
                obj["data"] = data
        elif kind in ("Deployment", "StatefulSet", "ReplicaSet"):
            spec = obj.get("spec")
            if isinstance(spec, dict):
                spec.setdefault("replicas", 1)
        elif kind == "Service":
            self._allocate_cluster_ip(obj, current)

    def _allocate_cluster_ip(self, obj: Obj, current: Obj | None) -> None:
        spec = obj.setdefault("spec", {})
        if not isinstance(spec, dict) or spec.get("type") == "ExternalName":
            return
        if current and (current.get("spec") or {}).get("clusterIP") and not spec.get("clusterIP"):
            spec["clusterIP"] = current["spec"]["clusterIP"]
        network = ipaddress.ip_network(self.settings.service_range)
        used = {(o.get("spec") or {}).get("clusterIP") for k, o in self.objects.items()
                if k[1] == "services" and o is not current}
        wanted = spec.get("clusterIP")
        if wanted and wanted != "None":
            try:
                inside = ipaddress.ip_address(wanted) in network
            except ValueError:
                inside = False
            if not inside:
                raise StoreError(422, "Invalid", f'Service "{obj["metadata"].get("name")}" is '
                                 f'invalid: spec.clusterIPs: Invalid value: ["{wanted}"]: failed '
                                 f"to allocate IP {wanted}: the provided IP ({wanted}) is not in "
                                 f"the valid range. The range of valid IPs is {network}")
            if wanted in used:
                raise StoreError(422, "Invalid", f'Service "{obj["metadata"].get("name")}" is '
                                 f'invalid: spec.clusterIPs: Invalid value: ["{wanted}"]: failed '
                                 f"to allocate IP {wanted}: provided IP is already allocated")
            return
        if wanted == "None":
            return
        for offset, address in enumerate(network.hosts()):
            if offset > 4096:
                break
            if str(address) not in used:
                spec["clusterIP"] = str(address)
                spec["clusterIPs"] = [str(address)]
                return

    def _check(self, resource: Resource, obj: Obj, current: Obj | None) -> list[str]:
        errors = []
        if resource.kind == "Service":
            low, high = self.settings.node_port_range
            for index, port in enumerate((obj.get("spec") or {}).get("ports") or []):
                node_port = port.get("nodePort") if isinstance(port, dict) else None
                if node_port is not None and not low <= int(node_port) <= high:
                    errors.append(f"spec.ports[{index}].nodePort: Invalid value: {node_port}: "
                                  f"provided port is not in the valid range. The range of "
                                  f"valid ports is {low}-{high}")
        if current is not None and resource.kind in ("Deployment", "DaemonSet", "StatefulSet"):
            old = (current.get("spec") or {}).get("selector")
            new = (obj.get("spec") or {}).get("selector")
            if old != new:
                errors.append(f"spec.selector: Invalid value: {new}: field is immutable")
        return errors

    def _establish(self, crd: Obj) -> None:
        names = (crd.get("spec") or {}).get("names") or {}
        crd["status"] = {
            "acceptedNames": names,
            "conditions": [
                {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts",
                 "lastTransitionTime": now()},
                {"type": "Established", "status": "True", "reason": "InitialNamesAccepted",
                 "lastTransitionTime": now()},
            ],
            "storedVersions": [v.get("name") for v in (crd.get("spec") or {}).get("versions") or []
                               if isinstance(v, dict) and v.get("storage")],
        }

    def _populate_namespace(self, namespace: str) -> None:
        """What the service account and root-CA publisher controllers add to a namespace."""
        account = kinds.builtin("ServiceAccount")
        configmap = kinds.builtin("ConfigMap")
        if self.find(account, namespace, "default") is None:
            self._create(account, {"metadata": {"name": "default"}}, namespace)
        if self.settings.ca_pem and self.find(configmap, namespace, "kube-root-ca.crt") is None:
            self._create(configmap, {"metadata": {"name": "kube-root-ca.crt"},
                                     "data": {"ca.crt": self.settings.ca_pem}}, namespace)

    def _cascade(self, resource: Resource, obj: Obj) -> None:
        """Namespace deletion, CRD deletion and owner references, as the garbage collector."""
        if resource.kind == "Namespace":
            name = obj["metadata"]["name"]
            for key in [k for k in self.objects if k[2] == name]:
                del self.objects[key]
        if resource.kind == "CustomResourceDefinition":
            spec = obj.get("spec") or {}
            for key in [k for k in self.objects
                        if k[:2] == (spec.get("group"), (spec.get("names") or {}).get("plural"))]:
                del self.objects[key]
            self._refresh_crds()
        uid = obj["metadata"].get("uid")
        owned = [k for k, o in self.objects.items()
                 if any(ref.get("uid") == uid
                        for ref in (o.get("metadata") or {}).get("ownerReferences") or [])]
        for key in owned:
            self.objects.pop(key, None)

    def _bootstrap(self) -> None:
        """What a fresh kube-apiserver creates: system namespaces and the kubernetes Service."""
        changed = False
        namespace = kinds.builtin("Namespace")
        for name in SYSTEM_NAMESPACES:
            if self.find(namespace, "", name) is None:
                self._create(namespace, {"metadata": {"name": name}}, "")
                changed = True
        service = kinds.builtin("Service")
        if self.find(service, "default", "kubernetes") is None:
            first = str(next(ipaddress.ip_network(self.settings.service_range).hosts()))
            self._create(service, {
                "metadata": {"name": "kubernetes", "labels": {
                    "component": "apiserver", "provider": "kubernetes"}},
                "spec": {"clusterIP": first, "ports": [
                    {"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}]},
            }, "default")
            changed = True
        if changed or self._reconcile():
            self._save()

    def _after_change(self) -> None:
        self._reconcile()
        self._save()

    # -- controllers ------------------------------------------------------------------------

    def reconcile(self) -> None:
        with self.lock:
            if self._reconcile():
                self._save()

    def _reconcile(self) -> bool:
        before = self.revision
        self._sign_requests()
        nodes = {key[3]: _age_node(copy.deepcopy(obj)) for key, obj in self.objects.items()
                 if key[:2] == ("", "nodes")}
        for key in [k for k, o in self.objects.items() if k[:2] == ("", "pods")]:
            pod = self.objects.get(key)
            if pod is None or _is_mirror(pod):
                continue
            node = (pod.get("spec") or {}).get("nodeName")
            if node and node not in nodes and _owner_kind(pod):
                del self.objects[key]  # pod garbage collection of a deleted node's pods
                self.revision += 1
        workloads = ("deployments", "statefulsets", "daemonsets", "jobs", "replicasets")
        for key in [k for k in self.objects if k[0] in ("apps", "batch") and k[1] in workloads]:
            self._pods_for(key, nodes)
        for key in [k for k in self.objects if k[:2] == ("", "pods")]:
            pod = self.objects[key]
            if not _is_mirror(pod):
                self._schedule(pod, nodes)
        for key in [k for k in self.objects if k[0] in ("apps", "batch") and k[1] in workloads]:
            self._workload_status(key, nodes)
        self._run_tasks()
        return self.revision != before

    def _owned_pods(self, uid: str) -> list[tuple[Key, Obj]]:
        return [(k, o) for k, o in self.objects.items() if k[:2] == ("", "pods")
                and any(r.get("uid") == uid for r in o["metadata"].get("ownerReferences") or [])]

    def _pods_for(self, key: Key, nodes: dict[str, Obj]) -> None:
        workload = self.objects[key]
        meta = workload["metadata"]
        spec = workload.get("spec") or {}
        template = spec.get("template") or {}
        kind = {"deployments": "Deployment", "statefulsets": "StatefulSet",
                "daemonsets": "DaemonSet", "jobs": "Job", "replicasets": "ReplicaSet"}[key[1]]
        revision = template_hash(template)
        owned = self._owned_pods(meta["uid"])
        current = {k: o for k, o in owned
                   if o["metadata"].get("labels", {}).get("pod-template-hash") == revision}
        for stale in set(dict(owned)) - set(current):
            del self.objects[stale]
            self.revision += 1
        wanted: list[tuple[str, str | None]] = []  # (name, node) the controller wants
        names: list[str]
        if kind == "DaemonSet":
            have = {o["spec"].get("nodeName"): k[3] for k, o in current.items()}
            for node_name, node in sorted(nodes.items()):
                if _daemon_fits(template, node):
                    wanted.append((have.get(node_name) or f"{meta['name']}-{random_suffix()}",
                                   node_name))
        elif kind == "StatefulSet":
            wanted = [(f"{meta['name']}-{i}", None) for i in range(int(spec.get("replicas", 1)))]
        elif kind == "Job":
            names = [k[3] for k in current]
            wanted = [(names[0] if names else f"{meta['name']}-{random_suffix()}", None)]
        else:
            names = sorted(k[3] for k in current)
            count = int(spec.get("replicas", 1))
            names = names[:count] + [f"{meta['name']}-{revision}-{random_suffix()}"
                                     for _ in range(count - len(names[:count]))]
            wanted = [(name, None) for name in names]
        wanted_names = {name for name, _ in wanted}
        for stale in [k for k in current if k[3] not in wanted_names]:
            del self.objects[stale]
            self.revision += 1
        for pod_name, pod_node in wanted:
            pod_key = ("", "pods", key[2], pod_name)
            if pod_key in self.objects:
                continue
            pod_meta = copy.deepcopy(template.get("metadata") or {})
            pod_meta.update({
                "name": pod_name, "namespace": key[2], "uid": str(uuid.uuid4()),
                "creationTimestamp": now(),
                "ownerReferences": [{"apiVersion": "batch/v1" if kind == "Job" else "apps/v1",
                                     "kind": kind, "name": meta["name"], "uid": meta["uid"],
                                     "controller": True, "blockOwnerDeletion": True}],
            })
            pod_meta.setdefault("labels", {})["pod-template-hash"] = revision
            pod_meta.setdefault("annotations", {})[SIMULATED] = "true"
            pod_spec = copy.deepcopy(template.get("spec") or {})
            if pod_node:
                pod_spec["nodeName"] = pod_node
            self.revision += 1
            pod_meta["resourceVersion"] = str(self.revision)
            self.objects[pod_key] = {"metadata": pod_meta, "spec": pod_spec, "status": {}}

    def _schedule(self, pod: Obj, nodes: dict[str, Obj]) -> None:
        spec = pod.setdefault("spec", {})
        before = json.dumps([spec.get("nodeName"), pod.get("status")], sort_keys=True)
        if not spec.get("nodeName"):
            candidates = [n for n in sorted(nodes) if _schedulable(spec, nodes[n])]
            if candidates:
                load = {n: 0 for n in candidates}
                for key, other in self.objects.items():
                    placed = (other.get("spec") or {}).get("nodeName")
                    if key[:2] == ("", "pods") and placed in load:
                        load[placed] += 1
                spec["nodeName"] = min(candidates, key=lambda n: (load[n], n))
        pod["status"] = _pod_status(pod, nodes.get(spec.get("nodeName") or ""), len(nodes),
                                    pod.get("status") or {})
        if json.dumps([spec.get("nodeName"), pod.get("status")], sort_keys=True) != before:
            self.revision += 1
            pod["metadata"]["resourceVersion"] = str(self.revision)

    def _workload_status(self, key: Key, nodes: dict[str, Obj]) -> None:
        workload = self.objects[key]
        spec = workload.get("spec") or {}
        pods = [o for _, o in self._owned_pods(workload["metadata"]["uid"])]
        ready = sum(1 for p in pods if _pod_ready(p))
        generation = workload["metadata"].get("generation", 1)
        if key[1] == "daemonsets":
            status: Obj = {"currentNumberScheduled": len(pods), "desiredNumberScheduled": len(pods),
                           "numberMisscheduled": 0, "numberReady": ready,
                           "numberAvailable": ready, "updatedNumberScheduled": len(pods),
                           "observedGeneration": generation}
            if ready < len(pods):
                status["numberUnavailable"] = len(pods) - ready
        elif key[1] == "jobs":
            done = sum(1 for p in pods if (p.get("status") or {}).get("phase") == "Succeeded")
            old = workload.get("status") or {}
            status = {"startTime": old.get("startTime", now()), "succeeded": done,
                      "active": len(pods) - done, "ready": 0}
            if done:
                status["completionTime"] = old.get("completionTime", now())
                status["conditions"] = [{"type": "Complete", "status": "True",
                                         "lastTransitionTime": status["completionTime"]}]
        else:
            desired = int(spec.get("replicas", 1))
            status = {"observedGeneration": generation, "replicas": len(pods),
                      "updatedReplicas": len(pods), "readyReplicas": ready,
                      "availableReplicas": ready}
            if key[1] == "deployments":
                unavailable = _max_unavailable(spec, desired)
                available = ready >= desired - unavailable
                status["unavailableReplicas"] = max(desired - ready, 0)
                status["conditions"] = [
                    _condition(workload, "Available", available,
                               "MinimumReplicasAvailable" if available
                               else "MinimumReplicasUnavailable",
                               "Deployment has minimum availability." if available
                               else "Deployment does not have minimum availability."),
                    _condition(workload, "Progressing", True,
                               "NewReplicaSetAvailable" if ready >= desired
                               else "ReplicaSetUpdated",
                               f'ReplicaSet "{workload["metadata"]["name"]}" has '
                               + ("successfully progressed." if ready >= desired
                                  else "is progressing.")),
                ]
            if key[1] == "statefulsets":
                status["currentReplicas"] = len(pods)
            status = {k: v for k, v in status.items() if v != 0 or k == "observedGeneration"}
        if status != workload.get("status"):
            workload["status"] = status
            self.revision += 1
            workload["metadata"]["resourceVersion"] = str(self.revision)

    def _run_tasks(self) -> None:
        """Tekton's TaskRun reconciler, while its controller Deployment is Available.

        It resolves the task (taskRef to a Task in the run's namespace, or taskSpec) and
        marks the run as Tekton does: a missing Task fails it with TaskRunResolutionFailed,
        otherwise every step "runs" (nothing is executed: step scripts are not run) and the
        run succeeds. Without an Available controller, runs stay without status.
        """
        controller = self.objects.get(TEKTON_CONTROLLER)
        if controller is None or not _deployment_available(controller):
            return
        for key, run in self.objects.items():
            if key[:2] != ("tekton.dev", "taskruns") or _tekton_done(run):
                continue
            status = _taskrun_status(run, self._resolve_task(key[2], run.get("spec") or {}))
            if status != run.get("status"):
                run["status"] = status
                self.revision += 1
                run["metadata"]["resourceVersion"] = str(self.revision)

    def _resolve_task(self, namespace: str, spec: Obj) -> Obj | str:
        """The TaskRun's task spec, or why it cannot be had (Tekton's message)."""
        if isinstance(spec.get("taskSpec"), dict):
            return dict(spec["taskSpec"])
        ref = spec.get("taskRef") or {}
        name = str(ref.get("name") or "")
        if ref.get("resolver"):
            return f"resolver {ref['resolver']!r} is not available (stand-in: no remote resolution)"
        if ref.get("kind") == "ClusterTask":
            task = self.objects.get(("tekton.dev", "clustertasks", "", name))
            plural = "clustertasks"
        else:
            task = self.objects.get(("tekton.dev", "tasks", namespace, name))
            plural = "tasks"
        if task is None:
            return f'{plural}.tekton.dev "{name}" not found'
        return dict(task.get("spec") or {})

    def _sign_requests(self) -> None:
        """The csrapprover and csrsigning controllers, for kubelet client certificates."""
        if self.settings.signer is None:
            return
        for key, csr in self.objects.items():
            if key[1] != "certificatesigningrequests" or (csr.get("status") or {}).get(
                    "certificate"):
                continue
            spec = csr.get("spec") or {}
            if spec.get("signerName") != "kubernetes.io/kube-apiserver-client-kubelet":
                continue
            try:
                certificate = self.settings.signer(spec)
            except ValueError as exc:
                csr["status"] = {"conditions": [{"type": "Failed", "status": "True",
                                                 "reason": "SignerValidationFailure",
                                                 "message": str(exc)}]}
            else:
                csr["status"] = {
                    "conditions": [{"type": "Approved", "status": "True",
                                    "reason": "AutoApproved",
                                    "message": "Auto approving kubelet client certificate "
                                               "after SubjectAccessReview.",
                                    "lastUpdateTime": now()}],
                    "certificate": base64.b64encode(certificate.encode()).decode(),
                }
            self.revision += 1
            csr["metadata"]["resourceVersion"] = str(self.revision)


# -- helpers for the controllers ----------------------------------------------------------


TEKTON_CONTROLLER: Key = ("apps", "deployments", "tekton-pipelines", "tekton-pipelines-controller")


def _deployment_available(deployment: Obj) -> bool:
    return any(c.get("type") == "Available" and c.get("status") == "True"
               for c in (deployment.get("status") or {}).get("conditions") or [])


def _tekton_done(run: Obj) -> bool:
    """A run whose Succeeded condition is True or False is finished: Tekton leaves it."""
    return any(c.get("type") == "Succeeded" and c.get("status") in ("True", "False")
               for c in (run.get("status") or {}).get("conditions") or [])


def _taskrun_status(run: Obj, task: Obj | str) -> Obj:
    """The status Tekton's reconciler writes once a run is resolved and its pod is done."""
    name = run["metadata"]["name"]
    old = run.get("status") or {}
    started = old.get("startTime") or now()
    if isinstance(task, str):
        return {"startTime": started, "completionTime": now(), "podName": "",
                "conditions": [{"type": "Succeeded", "status": "False",
                                "reason": "TaskRunResolutionFailed",
                                "message": f"error when listing tasks for taskRun {name}: {task}",
                                "lastTransitionTime": now()}]}
    steps = [s for s in task.get("steps") or [] if isinstance(s, dict)]
    imageless = [str(s.get("name") or index) for index, s in enumerate(steps)
                 if not s.get("image")]
    if not steps or imageless:
        why = (f"steps {', '.join(imageless)} have no image" if imageless
               else "the task has no steps")
        return {"startTime": started, "completionTime": now(), "podName": "",
                "conditions": [{"type": "Succeeded", "status": "False",
                                "reason": "TaskRunValidationFailed",
                                "message": f"invalid TaskSpec: {why}",
                                "lastTransitionTime": now()}]}
    finished = now()
    return {
        "startTime": started, "completionTime": finished, "podName": f"{name}-pod",
        "taskSpec": task,
        "steps": [{"name": str(s.get("name") or f"unnamed-{index}"),
                   "container": f"step-{s.get('name') or f'unnamed-{index}'}",
                   "imageID": str(s.get("image")),
                   "terminated": {"exitCode": 0, "reason": "Completed",
                                  "startedAt": started, "finishedAt": finished}}
                  for index, s in enumerate(steps)],
        "conditions": [{"type": "Succeeded", "status": "True", "reason": "Succeeded",
                        "message": "All Steps have completed executing",
                        "lastTransitionTime": finished}],
    }


def _spec(obj: Obj) -> Any:
    return {k: v for k, v in obj.items() if k not in ("metadata", "status")}


def _is_mirror(pod: Obj) -> bool:
    return MIRROR in (pod.get("metadata", {}).get("annotations") or {})


def _owner_kind(pod: Obj) -> str | None:
    refs = pod.get("metadata", {}).get("ownerReferences") or []
    return refs[0].get("kind") if refs else None


def _condition(owner: Obj, kind: str, state: bool, reason: str, message: str) -> Obj:
    status = "True" if state else "False"
    for old in (owner.get("status") or {}).get("conditions") or []:
        if old.get("type") == kind and old.get("status") == status and old.get("reason") == reason:
            return dict(old)
    stamp = now()
    return {"type": kind, "status": status, "reason": reason, "message": message,
            "lastTransitionTime": stamp, "lastUpdateTime": stamp}


def _max_unavailable(spec: Obj, desired: int) -> int:
    rolling = ((spec.get("strategy") or {}).get("rollingUpdate") or {})
    value = rolling.get("maxUnavailable", "25%")
    if isinstance(value, str) and value.endswith("%"):
        return desired * int(value[:-1]) // 100
    return int(value)


def node_ready(node: Obj) -> str:
    for condition in (node.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Ready":
            return str(condition.get("status"))
    return "Unknown"


def _age_node(node: Obj) -> Obj:
    """The node lifecycle controller: no heartbeat for 40 s makes Ready Unknown."""
    for condition in (node.get("status") or {}).get("conditions") or []:
        beat = condition.get("lastHeartbeatTime")
        if beat and dt.datetime.now(dt.UTC) - parse_time(beat) > HEARTBEAT_GRACE:
            condition.update({"status": "Unknown", "reason": "NodeStatusUnknown",
                              "message": "Kubelet stopped posting node status."})
    return node


def effective_taints(node: Obj) -> list[Obj]:
    taints = list((node.get("spec") or {}).get("taints") or [])
    ready = node_ready(node)
    if ready == "False":
        taints.append({"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"})
    elif ready == "Unknown":
        taints.append({"key": "node.kubernetes.io/unreachable", "effect": "NoSchedule"})
    if (node.get("spec") or {}).get("unschedulable"):
        taints.append({"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"})
    return taints


def tolerates(tolerations: list[Obj], taint: Obj) -> bool:
    for toleration in tolerations:
        if toleration.get("effect") and toleration.get("effect") != taint.get("effect"):
            continue
        operator = toleration.get("operator", "Equal")
        if operator == "Exists" and toleration.get("key") in (None, "", taint.get("key")):
            return True
        if operator == "Equal" and toleration.get("key") == taint.get("key") and \
                toleration.get("value", "") == taint.get("value", ""):
            return True
    return False


def _blocking(taints: list[Obj], tolerations: list[Obj]) -> list[Obj]:
    return [t for t in taints if t.get("effect") in ("NoSchedule", "NoExecute")
            and not tolerates(tolerations, t)]


def _selects(spec: Obj, node: Obj) -> bool:
    labels = node["metadata"].get("labels") or {}
    for key, value in (spec.get("nodeSelector") or {}).items():
        if labels.get(key) != value:
            return False
    affinity = ((spec.get("affinity") or {}).get("nodeAffinity") or {})
    required = affinity.get("requiredDuringSchedulingIgnoredDuringExecution") or {}
    terms = required.get("nodeSelectorTerms") or []
    if terms:
        return any(validation.selector_matches(
            {"matchExpressions": term.get("matchExpressions") or []}, labels) for term in terms)
    return True


def _schedulable(spec: Obj, node: Obj) -> bool:
    return _selects(spec, node) and not _blocking(effective_taints(node),
                                                  spec.get("tolerations") or [])


def _daemon_fits(template: Obj, node: Obj) -> bool:
    """DaemonSet pods tolerate not-ready, unreachable and unschedulable nodes by default."""
    spec = template.get("spec") or {}
    return _selects(spec, node) and not _blocking(
        list((node.get("spec") or {}).get("taints") or []), spec.get("tolerations") or [])


def _pod_ready(pod: Obj) -> bool:
    for condition in (pod.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Ready":
            return bool(condition.get("status") == "True")
    return False


def _node_ip(node: Obj) -> str | None:
    for address in (node.get("status") or {}).get("addresses") or []:
        if address.get("type") == "InternalIP":
            return str(address.get("address"))
    return None


def _pod_status(pod: Obj, node: Obj | None, node_count: int, old: Obj) -> Obj:
    spec = pod.get("spec") or {}
    started = old.get("startTime") or now()
    if node is None:
        reason = (f"0/{node_count} nodes are available: no node matches the Pod's node "
                  "selector, affinity and tolerations (or none is Ready).")
        return {"phase": "Pending", "conditions": [
            {"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
             "message": reason}]}
    job = _owner_kind(pod) == "Job"
    runs = bool(spec.get("hostNetwork")) or node_ready(node) == "True"
    status: Obj = {"hostIP": _node_ip(node), "startTime": started, "qosClass": "BestEffort"}
    if spec.get("hostNetwork"):
        status["podIP"] = _node_ip(node)
    if not runs:
        status["phase"] = "Pending"
        status["conditions"] = [{"type": "PodScheduled", "status": "True"},
                                {"type": "Ready", "status": "False",
                                 "reason": "ContainersNotReady"}]
        status["containerStatuses"] = [
            {"name": c.get("name"), "image": c.get("image"), "ready": False, "restartCount": 0,
             "state": {"waiting": {"reason": "ContainerCreating"}}}
            for c in spec.get("containers") or []]
        return status
    status["phase"] = "Succeeded" if job else "Running"
    state = ({"terminated": {"exitCode": 0, "reason": "Completed"}} if job
             else {"running": {"startedAt": started}})
    status["conditions"] = [
        {"type": kind, "status": "False" if job and kind != "PodScheduled" else "True"}
        for kind in ("PodScheduled", "Initialized", "ContainersReady", "Ready")]
    status["containerStatuses"] = [
        {"name": c.get("name"), "image": c.get("image"), "ready": not job, "started": not job,
         "restartCount": 0, "state": state} for c in spec.get("containers") or []]
    return status
