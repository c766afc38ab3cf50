"""STAND-IN kubectl 1.35: the subcommands installers use, against the stand-in API server.

get (tables, -o json|yaml|name|wide|jsonpath=|custom-columns=, --raw), apply (client-side
three-way and --server-side), create (-f, namespace, secret generic|tls, configmap), delete,
label, annotate, taint, patch, cordon, uncordon, drain, wait, rollout status, cluster-info,
api-resources, version. Types are resolved through the server's discovery, so CRDs work
once applied, and a kind whose CRD is missing fails as it does with real kubectl.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import json
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from standin import (
    KUBERNETES_VERSION,
    STAND_IN_NOTE,
    host,
    jsonpath,
    kinds,
    kubeconfig,
    tokens,
    yamlio,
)
from standin.client import ApiClient, ApiError, Unreachable
from standin.flags import Flag, parse
from standin.host import Failure
from standin.kinds import Resource

if TYPE_CHECKING:
    from collections.abc import Callable

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
GLOBAL_FLAGS = [Flag("kubeconfig"), Flag("namespace", short="n"), Flag("context"),
                Flag("request-timeout"), Flag("v", short="v"), Flag("server", short="s"),
                Flag("insecure-skip-tls-verify", "bool")]


def say(text: str) -> None:
    print(text, flush=True)


def server_error(exc: ApiError, action: str = "") -> Failure:
    if exc.code == 401:
        return Failure("error: You must be logged in to the server (Unauthorized)")
    reason = exc.reason or {403: "Forbidden", 404: "NotFound", 409: "Conflict",
                            422: "Invalid"}.get(exc.code, "InternalError")
    return Failure(f"Error from server ({reason}): {action}{exc.message}")


class Cluster:
    """A kubectl session: the credentials, the discovered types, the namespace."""

    def __init__(self, values: dict[str, Any]) -> None:
        path = values.get("kubeconfig") or (os.environ.get("KUBECONFIG", "").split(":")[0])
        target = Path(path) if path else host.path(str(Path(os.path.expanduser(
            "~/.kube/config"))))
        self.credentials = kubeconfig.load(target)
        self.api = ApiClient(self.credentials)
        self.namespace_flag: str | None = values.get("namespace")
        self.namespace = self.namespace_flag or "default"
        self._resources: list[Resource] | None = None

    def request(self, method: str, path: str, body: Any = None, *, action: str = "",
                **kwargs: Any) -> Any:
        try:
            return self.api.request(method, path, body, **kwargs)
        except ApiError as exc:
            raise server_error(exc, action) from None
        except Unreachable as exc:
            raise Failure(str(exc)) from None

    def resources(self) -> list[Resource]:
        if self._resources is None:
            try:
                self._resources = self._discover()
            except Failure as exc:
                if "(Forbidden)" not in exc.message:
                    raise
                # Like kubectl, fall back to the built-in types when discovery is forbidden,
                # so the error the user sees is about what they asked for.
                self._resources = list(kinds.BUILTIN)
        return self._resources

    def _discover(self) -> list[Resource]:
        found = self._group_version("", "v1")
        for group in self.request("GET", "/apis").get("groups") or []:
            preferred = group["preferredVersion"]["version"]
            ordered = [preferred] + [v["version"] for v in group["versions"]
                                     if v["version"] != preferred]
            for version in ordered:
                found += self._group_version(group["name"], version)
        return found

    def _group_version(self, group: str, version: str) -> list[Resource]:
        path = f"/apis/{group}/{version}" if group else f"/api/{version}"
        listing = self.request("GET", path)
        return [Resource(group, version, entry["kind"], entry["name"], entry["namespaced"],
                         tuple(entry.get("shortNames") or ()))
                for entry in listing.get("resources") or [] if "/" not in entry["name"]]

    def resolve(self, name: str) -> Resource:
        """A type as the user writes it: pods, po, pod, deployments.apps, deploy.v1.apps ..."""
        wanted = name.lower()
        base, _, qualifier = wanted.partition(".")
        for resource in self.resources():
            names = {resource.plural, resource.singular, *resource.short_names}
            if wanted in names:
                return resource
            if base in names and qualifier in (resource.group,
                                               f"{resource.version}.{resource.group}"):
                return resource
        raise Failure(f'error: the server doesn\'t have a resource type "{name}"')

    def for_object(self, obj: dict[str, Any], source: str) -> Resource:
        api_version, kind = obj.get("apiVersion"), obj.get("kind")
        group, _, version = str(api_version).rpartition("/")
        for resource in self.resources():
            if (resource.group, resource.version, resource.kind) == (group, version, kind):
                return resource
        name = (obj.get("metadata") or {}).get("name", "")
        space = (obj.get("metadata") or {}).get("namespace", "")
        raise Failure(f'error: resource mapping not found for name: "{name}" namespace: '
                      f'"{space}" from "{source}": no matches for kind "{kind}" in version '
                      f'"{api_version}"\nensure CRDs are installed first')

    def object_namespace(self, resource: Resource, obj: dict[str, Any]) -> str:
        if not resource.namespaced:
            return ""
        given = (obj.get("metadata") or {}).get("namespace")
        if given and self.namespace_flag and given != self.namespace_flag:
            raise Failure(f'error: the namespace from the provided object "{given}" does not '
                          f'match the namespace "{self.namespace_flag}". You must pass '
                          f"'--namespace={given}' to perform this operation.")
        return str(given or self.namespace)


# -- reading objects from files ------------------------------------------------------------


def read_manifests(files: list[str], recursive: bool) -> list[tuple[str, dict[str, Any]]]:
    """(source, object) for every document; Lists are unpacked; problems are kubectl's."""
    found: list[tuple[str, dict[str, Any]]] = []
    for given in files:
        if given == "-":
            sources = [("STDIN", sys.stdin.read())]
        else:
            path = Path(given)
            if path.is_dir():
                pattern = "**/*" if recursive else "*"
                sources = [(str(p), p.read_text()) for p in sorted(path.glob(pattern))
                           if p.suffix in (".yaml", ".yml", ".json") and p.is_file()]
            elif path.is_file():
                sources = [(given, path.read_text())]
            else:
                raise Failure(f'error: the path "{given}" does not exist')
        for source, text in sources:
            try:
                documents = yamlio.load_all(text, source)
            except ValueError as exc:
                raise Failure(f"error: {exc}") from None
            for document in documents:
                items = document.get("items") if str(document.get("kind", "")).endswith(
                    "List") else None
                for obj in items if isinstance(items, list) else [document]:
                    missing = [f"{field} not set" for field in ("apiVersion", "kind")
                               if not obj.get(field)]
                    if missing:
                        raise Failure(f'error: error validating "{source}": error validating '
                                      f"data: [{', '.join(missing)}]; if you choose to ignore "
                                      "these errors, turn validation off with --validate=false")
                    found.append((source, obj))
    if not found:
        raise Failure("error: no objects passed to apply")
    return found


# -- apply ------------------------------------------------------------------------------------


def _three_way(live: Any, last: Any, desired: Any) -> Any:
    if not (isinstance(live, dict) and isinstance(desired, dict)):
        return copy.deepcopy(desired)
    result = copy.deepcopy(live)
    for key in (last or {}) if isinstance(last, dict) else {}:
        if key not in desired:
            result.pop(key, None)
    for key, value in desired.items():
        previous = last.get(key) if isinstance(last, dict) else None
        result[key] = _three_way(result.get(key), previous, value)
    return result


def _comparable(obj: dict[str, Any]) -> dict[str, Any]:
    shown = copy.deepcopy(obj)
    meta = shown.get("metadata") or {}
    for field in ("resourceVersion", "generation", "managedFields"):
        meta.pop(field, None)
    shown.pop("status", None)
    return shown


def apply(cluster: Cluster, argv: list[str]) -> int:
    values, _ = parse(argv, [*GLOBAL_FLAGS, Flag("filename", "array", short="f"),
                             Flag("recursive", "bool", short="R"),
                             Flag("server-side", "bool", default=False),
                             Flag("force-conflicts", "bool"), Flag("field-manager"),
                             Flag("dry-run"), Flag("output", short="o"), Flag("validate"),
                             Flag("wait", "bool"), Flag("prune", "bool"),
                             Flag("selector", short="l")], command="kubectl apply")
    if not values["filename"]:
        raise Failure("error: must specify one of -f and -k")
    failures: list[str] = []
    dry = values["dry-run"] not in (None, "none")
    suffix = f" ({values['dry-run']} dry run)" if dry else ""
    for source, obj in read_manifests(values["filename"], values["recursive"]):
        try:
            resource = cluster.for_object(obj, source)
            namespace = cluster.object_namespace(resource, obj)
            name = (obj.get("metadata") or {}).get("name")
            if not name:
                raise Failure(f'error: error when retrieving current configuration of:\n'
                              f'Resource: "{resource.group}/{resource.version}, Resource='
                              f'{resource.plural}", GroupVersionKind: "{resource.api_version}, '
                              f'Kind={resource.kind}"\nfrom server for: "{source}": resource '
                              "name may not be empty")
            shown = f"{resource.qualified}/{name}"
            if values["server-side"]:
                query = {"fieldManager": values["field-manager"] or "kubectl"}
                if values["force-conflicts"]:
                    query["force"] = "true"
                if not dry:
                    cluster.request("PATCH", resource.path(namespace, name), obj,
                                    content_type="application/apply-patch+yaml", query=query,
                                    action=f'error when applying "{source}": ')
                say(f"{shown} serverside-applied{suffix}")
                continue
            say(f"{shown} {_client_apply(cluster, resource, namespace, obj, source, dry)}"
                f"{suffix}")
        except Failure as exc:
            failures.append(exc.message)
    for failure in failures:
        print(failure, file=sys.stderr)
    return 1 if failures else 0


def _client_apply(cluster: Cluster, resource: Resource, namespace: str, obj: dict[str, Any],
                  source: str, dry: bool) -> str:
    desired = copy.deepcopy(obj)
    desired.setdefault("metadata", {})
    if resource.namespaced:
        desired["metadata"]["namespace"] = namespace
    annotation = json.dumps({k: v for k, v in desired.items()}, separators=(",", ":"),
                            sort_keys=True)
    desired["metadata"].setdefault("annotations", {})[LAST_APPLIED] = annotation + "\n"
    name = desired["metadata"]["name"]
    try:
        live = cluster.api.request("GET", resource.path(namespace, name))
    except ApiError as exc:
        if exc.code != 404:
            raise server_error(exc) from None
        if not dry:
            cluster.request("POST", resource.path(namespace), desired,
                            action=f'error when creating "{source}": ')
        return "created"
    except Unreachable as exc:
        raise Failure(str(exc)) from None
    last_text = ((live.get("metadata") or {}).get("annotations") or {}).get(LAST_APPLIED)
    last = json.loads(last_text) if last_text else {}
    merged = _three_way(live, last, desired)
    merged["metadata"]["resourceVersion"] = live["metadata"]["resourceVersion"]
    if _comparable(merged) == _comparable(live):
        return "unchanged"
    if not dry:
        cluster.request("PUT", resource.path(namespace, name), merged,
                        action=f'error when applying patch:\n{annotation}\n\nto:\nResource: '
                        f'"{resource.group}/{resource.version}, Resource={resource.plural}", '
                        f'Name: "{name}", Namespace: "{namespace}"\nfor: "{source}": ')
    return "configured"


# -- get --------------------------------------------------------------------------------------


def _age(obj: dict[str, Any]) -> str:
    stamp = (obj.get("metadata") or {}).get("creationTimestamp")
    if not stamp:
        return "<unknown>"
    seconds = int((dt.datetime.now(dt.UTC) - dt.datetime.strptime(
        stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size * (2 if unit != "m" else 1):
            return f"{seconds // size}{unit}"
    return f"{max(seconds, 0)}s"


def _node_row(node: dict[str, Any], wide: bool) -> list[str]:
    ready = "Unknown"
    for condition in (node.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Ready":
            ready = {"True": "Ready", "False": "NotReady"}.get(condition.get("status"), "Unknown")
    if (node.get("spec") or {}).get("unschedulable"):
        ready += ",SchedulingDisabled"
    labels = node["metadata"].get("labels") or {}
    roles = sorted(k.split("/", 1)[1] for k in labels if k.startswith("node-role.kubernetes.io/"))
    info = (node.get("status") or {}).get("nodeInfo") or {}
    row = [node["metadata"]["name"], ready, ",".join(roles) or "<none>", _age(node),
           info.get("kubeletVersion", "")]
    if wide:
        addresses = {a["type"]: a["address"] for a in (node.get("status") or {}).get(
            "addresses") or []}
        row += [addresses.get("InternalIP", "<none>"), addresses.get("ExternalIP", "<none>"),
                info.get("osImage", ""), info.get("kernelVersion", ""),
                info.get("containerRuntimeVersion", "")]
    return row


def _pod_row(pod: dict[str, Any], wide: bool) -> list[str]:
    status = pod.get("status") or {}
    containers = status.get("containerStatuses") or []
    ready = sum(1 for c in containers if c.get("ready"))
    phase = status.get("phase", "Pending")
    for container in containers:
        waiting = (container.get("state") or {}).get("waiting")
        if waiting and waiting.get("reason"):
            phase = waiting["reason"]
    if phase == "Succeeded":
        phase = "Completed"
    restarts = sum(int(c.get("restartCount", 0)) for c in containers)
    total = len((pod.get("spec") or {}).get("containers") or [])
    row = [pod["metadata"]["name"], f"{ready}/{total}", phase, str(restarts), _age(pod)]
    if wide:
        row += [status.get("podIP", "<none>"), (pod.get("spec") or {}).get("nodeName", "<none>")]
    return row


TABLES: dict[str, tuple[list[str], Callable[[dict[str, Any], bool], list[str]]]] = {
    "Node": (["NAME", "STATUS", "ROLES", "AGE", "VERSION"], _node_row),
    "Pod": (["NAME", "READY", "STATUS", "RESTARTS", "AGE"], _pod_row),
    "Deployment": (["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"], lambda o, w: [
        o["metadata"]["name"],
        f"{(o.get('status') or {}).get('readyReplicas', 0)}/"
        f"{(o.get('spec') or {}).get('replicas', 1)}",
        str((o.get("status") or {}).get("updatedReplicas", 0)),
        str((o.get("status") or {}).get("availableReplicas", 0)), _age(o)]),
    "DaemonSet": (["NAME", "DESIRED", "CURRENT", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"],
                  lambda o, w: [o["metadata"]["name"]] + [
                      str((o.get("status") or {}).get(k, 0)) for k in (
                          "desiredNumberScheduled", "currentNumberScheduled", "numberReady",
                          "updatedNumberScheduled", "numberAvailable")] + [_age(o)]),
    "Service": (["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"], lambda o, w: [
        o["metadata"]["name"], (o.get("spec") or {}).get("type", "ClusterIP"),
        (o.get("spec") or {}).get("clusterIP", "<none>"), "<none>",
        ",".join(f"{p.get('port')}/{p.get('protocol', 'TCP')}"
                 for p in (o.get("spec") or {}).get("ports") or []) or "<none>", _age(o)]),
    "Namespace": (["NAME", "STATUS", "AGE"], lambda o, w: [
        o["metadata"]["name"], (o.get("status") or {}).get("phase", "Active"), _age(o)]),
    "Secret": (["NAME", "TYPE", "DATA", "AGE"], lambda o, w: [
        o["metadata"]["name"], o.get("type", "Opaque"), str(len(o.get("data") or {})), _age(o)]),
    "ConfigMap": (["NAME", "DATA", "AGE"], lambda o, w: [
        o["metadata"]["name"], str(len(o.get("data") or {})), _age(o)]),
}


def _table(objects: list[dict[str, Any]], resource: Resource, *, wide: bool, all_namespaces: bool,
           headers: bool, show_labels: bool) -> str:
    columns, row = TABLES.get(resource.kind, (["NAME", "AGE"],
                                              lambda o, w: [o["metadata"]["name"], _age(o)]))
    columns = list(columns)
    if wide and resource.kind == "Node":
        columns += ["INTERNAL-IP", "EXTERNAL-IP", "OS-IMAGE", "KERNEL-VERSION",
                    "CONTAINER-RUNTIME"]
    if wide and resource.kind == "Pod":
        columns += ["IP", "NODE"]
    rows = [row(o, wide) for o in objects]
    if all_namespaces and resource.namespaced:
        columns = ["NAMESPACE", *columns]
        rows = [[o["metadata"].get("namespace", ""), *r] for o, r in zip(objects, rows,
                                                                           strict=True)]
    if show_labels:
        columns.append("LABELS")
        rows = [[*r, ",".join(f"{k}={v}" for k, v in sorted(
            (o["metadata"].get("labels") or {}).items())) or "<none>"]
            for o, r in zip(objects, rows, strict=True)]
    lines = ([columns] if headers else []) + rows
    if not lines:
        return ""
    widths = [max(len(str(line[i])) for line in lines) for i in range(len(columns))]
    return "\n".join("   ".join(str(cell).ljust(widths[i]) for i, cell in enumerate(line)).rstrip()
                     for line in lines)


def render(objects: list[dict[str, Any]], resources: list[Resource], output: str | None, *,
           single: bool, all_namespaces: bool = False, headers: bool = True,
           show_labels: bool = False) -> str:
    """Print objects the way `kubectl get -o ...` does."""
    if output in (None, "", "wide"):
        parts = []
        for resource in dict.fromkeys(resources):
            mine = [o for o, r in zip(objects, resources, strict=True) if r == resource]
            if mine:
                parts.append(_table(mine, resource, wide=output == "wide",
                                    all_namespaces=all_namespaces, headers=headers,
                                    show_labels=show_labels))
        return "\n\n".join(parts)
    if output == "name":
        return "\n".join(f"{r.qualified}/{o['metadata']['name']}"
                         for o, r in zip(objects, resources, strict=True))
    data: Any = objects[0] if single and len(objects) == 1 else {
        "apiVersion": "v1", "items": objects, "kind": "List", "metadata": {"resourceVersion": ""}}
    if output == "json":
        return json.dumps(data, indent=4)
    if output == "yaml":
        return yamlio.dump(data).rstrip("\n")
    for prefix in ("jsonpath=", "jsonpath-as-json="):
        if output.startswith(prefix):
            template = output[len(prefix):]
            try:
                return jsonpath.evaluate(template, data)
            except jsonpath.JsonPathError as exc:
                raise Failure(f'error: error executing jsonpath "{template}": Error executing '
                              f"template: {exc}") from None
    if output.startswith("custom-columns="):
        specs = [spec.split(":", 1) for spec in output[len("custom-columns="):].split(",")]
        rows = [[name for name, _ in specs]] if headers else []
        for obj in objects:
            rows.append([jsonpath.evaluate("{" + path + "}", obj) or "<none>"
                         for _, path in specs])
        widths = [max(len(r[i]) for r in rows) for i in range(len(specs))] if rows else []
        return "\n".join("   ".join(c.ljust(widths[i]) for i, c in enumerate(r)).rstrip()
                         for r in rows)
    raise Failure(f"error: unable to match a printer suitable for the output format "
                  f'"{output}", allowed formats are: custom-columns,json,jsonpath,name,wide,yaml')


def _targets(cluster: Cluster, positional: list[str]) -> list[tuple[Resource, str | None]]:
    """TYPE [NAME...], TYPE/NAME..., TYPE1,TYPE2 -> (resource, name or None for all)."""
    if not positional:
        raise Failure("error: you must specify the type of resource to get. Use \"kubectl "
                      "api-resources\" for a complete list of supported resources.")
    if "/" in positional[0]:
        found: list[tuple[Resource, str | None]] = []
        for item in positional:
            kind, _, name = item.partition("/")
            found.append((cluster.resolve(kind), name))
        return found
    types = [cluster.resolve(t) for t in positional[0].split(",")]
    names = positional[1:]
    return [(t, n) for t in types for n in names] if names else [(t, None) for t in types]


def get(cluster: Cluster, argv: list[str]) -> int:
    from standin.selectors import fields_match, labels_match, parse_label_selector

    values, positional = parse(argv, [*GLOBAL_FLAGS, Flag("output", short="o"),
                                      Flag("all-namespaces", "bool", short="A"),
                                      Flag("selector", short="l"), Flag("field-selector"),
                                      Flag("no-headers", "bool"), Flag("ignore-not-found", "bool"),
                                      Flag("raw"), Flag("show-labels", "bool"),
                                      Flag("watch", "bool", short="w")], command="kubectl get")
    if values["raw"]:
        try:
            code, body = cluster.api.raw("GET", values["raw"])
        except Unreachable as exc:
            raise Failure(str(exc)) from None
        text = body.decode(errors="replace")
        if code >= 400:
            try:
                message = json.loads(text).get("message", text)
            except json.JSONDecodeError:
                message = text
            raise Failure(f"Error from server ({_reason(code)}): {message}")
        sys.stdout.write(text)
        return 0
    if values["watch"]:
        raise Failure("error: the STAND-IN kubectl does not watch; poll with kubectl wait")
    objects: list[dict[str, Any]] = []
    types: list[Resource] = []
    failures: list[str] = []
    single = False
    selector = parse_label_selector(values["selector"]) if values["selector"] else None
    for resource, name in _targets(cluster, positional):
        namespace = None if values["all-namespaces"] else cluster.namespace
        space = (namespace or "") if resource.namespaced else ""
        if name:
            single = True
            try:
                objects.append(cluster.api.request("GET", resource.path(space, name)))
                types.append(resource)
            except ApiError as exc:
                if exc.code == 404 and values["ignore-not-found"]:
                    continue
                failures.append(server_error(exc).message)
            except Unreachable as exc:
                raise Failure(str(exc)) from None
            continue
        listing = cluster.request("GET", resource.path(space or None))
        for item in listing.get("items") or []:
            if selector and not labels_match(selector, item["metadata"].get("labels") or {}):
                continue
            if values["field-selector"] and not fields_match(values["field-selector"], item):
                continue
            objects.append(item)
            types.append(resource)
    if len(positional) == 1 and "/" not in positional[0]:
        single = False
    if objects or values["output"] not in (None, "", "wide"):
        text = render(objects, types, values["output"], single=single and len(objects) == 1,
                      all_namespaces=values["all-namespaces"], headers=not values["no-headers"],
                      show_labels=values["show-labels"])
        if text:
            sys.stdout.write(text + ("" if values["output"] and values["output"].startswith(
                "jsonpath") else "\n"))
    elif not failures and not values["ignore-not-found"]:
        where = "" if values["all-namespaces"] else f" in {cluster.namespace} namespace"
        print(f"No resources found{where}.", file=sys.stderr)
    for failure in failures:
        print(failure, file=sys.stderr)
    return 1 if failures else 0


def _reason(code: int) -> str:
    return {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound",
            409: "Conflict", 422: "Invalid", 500: "InternalError",
            503: "ServiceUnavailable"}.get(code, "Unknown")


# -- changing objects in place ----------------------------------------------------------------


def _objects_named(cluster: Cluster, positional: list[str], values: dict[str, Any],
                   what: str) -> tuple[list[tuple[Resource, dict[str, Any]]], list[str]]:
    """Objects for label/annotate/delete/patch: TYPE NAME..., TYPE/NAME, --all or -l."""
    from standin.selectors import labels_match, parse_label_selector

    if values.get("filename"):
        found = []
        for source, obj in read_manifests(values["filename"], False):
            resource = cluster.for_object(obj, source)
            namespace = cluster.object_namespace(resource, obj)
            found.append((resource, {**obj, "metadata": {**obj.get("metadata", {}),
                                                          "namespace": namespace}}))
        return found, []
    if not positional:
        raise Failure(f"error: you must specify the type of resource to {what}")
    rest: list[str] = []
    if "/" in positional[0]:
        pairs = []
        for index, item in enumerate(positional):
            if "/" not in item:
                rest = positional[index:]
                break
            kind, _, name = item.partition("/")
            pairs.append((cluster.resolve(kind), name))
    else:
        resource = cluster.resolve(positional[0])
        names = []
        for index, item in enumerate(positional[1:], start=1):
            if "=" in item or item.endswith("-") or ":" in item:
                rest = positional[index:]
                break
            names.append(item)
        if values.get("all") or values.get("selector"):
            space = cluster.namespace if resource.namespaced else None
            listing = cluster.request("GET", resource.path(space))
            selector = parse_label_selector(values["selector"]) if values.get("selector") else []
            pairs = [(resource, item["metadata"]["name"]) for item in listing.get("items") or []
                     if labels_match(selector, item["metadata"].get("labels") or {})]
            rest = positional[1 + len(names):]
        else:
            pairs = [(resource, name) for name in names]
    found = []
    for resource, name in pairs:
        space = cluster.namespace if resource.namespaced else ""
        found.append((resource, cluster.request("GET", resource.path(space, name))))
    return found, rest


def _metadata_map(cluster: Cluster, argv: list[str], field: str, verb: str) -> int:
    values, positional = parse(argv, [*GLOBAL_FLAGS, Flag("overwrite", "bool", default=False),
                                      Flag("all", "bool"), Flag("selector", short="l"),
                                      Flag("filename", "array", short="f"),
                                      Flag("dry-run"), Flag("output", short="o"),
                                      Flag("resource-version")], command=f"kubectl {verb}")
    from standin.validation import LABEL_VALUE, label_key_problem

    targets, changes = _objects_named(cluster, positional, values, verb)
    if not changes:
        raise Failure(f"error: at least one {field[:-1]} update is required")
    updates: dict[str, str | None] = {}
    value: str | None
    for change in changes:
        if change.endswith("-") and "=" not in change:
            updates[change[:-1]] = None
            continue
        key, equals, value = change.partition("=")
        if not equals:
            raise Failure(f"error: invalid {field[:-1]} spec: {change}")
        if field == "labels" and (label_key_problem(key) or not LABEL_VALUE.match(value)
                                  or len(value) > 63):
            raise Failure(f"error: invalid label spec: {change}")
        updates[key] = value
    status = 0
    for resource, obj in targets:
        current = dict(obj["metadata"].get(field) or {})
        shown = f"{resource.qualified}/{obj['metadata']['name']}"
        for key, value in updates.items():
            if value is not None and key in current and current[key] != value and \
                    not values["overwrite"]:
                raise Failure(f"error: '{key}' already has a value ({current[key]}), and "
                              "--overwrite is false")
            if value is None and key not in current:
                print(f'{field[:-1]} "{key}" not found.', file=sys.stderr)
        wanted = {**current, **{k: v for k, v in updates.items() if v is not None}}
        for key, value in updates.items():
            if value is None:
                wanted.pop(key, None)
        if wanted == current:
            say(f"{shown} not {'labeled' if field == 'labels' else 'annotated'}")
            continue
        patch = {"metadata": {field: {**{k: None for k in current if k not in wanted},
                                      **wanted}}}
        space = obj["metadata"].get("namespace", "")
        cluster.request("PATCH", resource.path(space, obj["metadata"]["name"]), patch,
                        content_type="application/merge-patch+json")
        removed_only = all(v is None for v in updates.values())
        word = ("unlabeled" if removed_only else "labeled") if field == "labels" else "annotated"
        say(f"{shown} {word}")
    return status


def label(cluster: Cluster, argv: list[str]) -> int:
    return _metadata_map(cluster, argv, "labels", "label")


def annotate(cluster: Cluster, argv: list[str]) -> int:
    return _metadata_map(cluster, argv, "annotations", "annotate")


def taint(cluster: Cluster, argv: list[str]) -> int:
    values, positional = parse(argv, [*GLOBAL_FLAGS, Flag("overwrite", "bool", default=False),
                                      Flag("all", "bool"), Flag("selector", short="l")],
                               command="kubectl taint")
    if not positional or cluster.resolve(positional[0]).kind != "Node":
        raise Failure("error: invalid resource: taints apply to nodes only")
    nodes_type = cluster.resolve("nodes")
    specs = positional[1:] if values["all"] else positional[2:]
    names = None if values["all"] else positional[1:2]
    if values["all"]:
        names = [n["metadata"]["name"] for n in cluster.request("GET", nodes_type.path())[
            "items"]]
    if not specs:
        raise Failure("error: at least one taint update is required")
    for name in names or []:
        node = cluster.request("GET", nodes_type.path(name=name))
        current = list((node.get("spec") or {}).get("taints") or [])
        result = list(current)
        removed = added = False
        for spec in specs:
            if spec.endswith("-"):
                key, _, effect = spec[:-1].partition(":")
                key = key.partition("=")[0]
                matching = [t for t in result if t.get("key") == key and
                            (not effect or t.get("effect") == effect)]
                if not matching:
                    raise Failure(f'error: taint "{spec[:-1]}" not found')
                result = [t for t in result if t not in matching]
                removed = True
                continue
            key_value, _, effect = spec.partition(":")
            key, _, value = key_value.partition("=")
            if effect not in ("NoSchedule", "PreferNoSchedule", "NoExecute"):
                raise Failure(f'error: invalid taint effect: {effect}, unsupported taint effect')
            existing = [t for t in result if t.get("key") == key and t.get("effect") == effect]
            if existing and not values["overwrite"]:
                raise Failure(f"error: node {name} already has {key} taint(s) with same "
                              "effect(s) and --overwrite is false")
            result = [t for t in result if t not in existing]
            entry = {"key": key, "effect": effect}
            if value:
                entry["value"] = value
            result.append(entry)
            added = True
        cluster.request("PATCH", nodes_type.path(name=name), {"spec": {"taints": result}},
                        content_type="application/merge-patch+json")
        say(f"node/{name} {'untainted' if removed and not added else 'tainted'}")
    return 0


def patch(cluster: Cluster, argv: list[str]) -> int:
    values, positional = parse(argv, [*GLOBAL_FLAGS, Flag("patch", short="p"), Flag("type"),
                                      Flag("filename", "array", short="f"), Flag("dry-run"),
                                      Flag("subresource")], command="kubectl patch")
    if not values["patch"]:
        raise Failure("error: must specify -p to patch")
    targets, _ = _objects_named(cluster, positional, values, "patch")
    try:
        body = json.loads(values["patch"])
    except json.JSONDecodeError:
        body = yamlio.load_one(values["patch"], "patch")
    kind = values["type"] or "strategic"
    if kind == "json":
        raise Failure("error: the STAND-IN kubectl supports --type merge and strategic only")
    for resource, obj in targets:
        space = obj["metadata"].get("namespace", "")
        path = resource.path(space, obj["metadata"]["name"])
        if values["subresource"]:
            path += f"/{values['subresource']}"
        before = _comparable(obj)
        after = cluster.request("PATCH", path, body, content_type="application/merge-patch+json")
        changed = _comparable(after) != before
        say(f"{resource.qualified}/{obj['metadata']['name']} "
            f"{'patched' if changed else 'patched (no change)'}")
    return 0


def delete(cluster: Cluster, argv: list[str]) -> int:
    values, positional = parse(argv, [*GLOBAL_FLAGS, Flag("filename", "array", short="f"),
                                      Flag("ignore-not-found", "bool"), Flag("all", "bool"),
                                      Flag("selector", short="l"), Flag("wait", "bool"),
                                      Flag("grace-period"), Flag("force", "bool"),
                                      Flag("timeout"), Flag("now", "bool"),
                                      Flag("cascade")], command="kubectl delete")
    failures: list[str] = []
    if values["filename"]:
        pairs = []
        for source, obj in read_manifests(values["filename"], False):
            resource = cluster.for_object(obj, source)
            pairs.append((resource, cluster.object_namespace(resource, obj),
                          obj["metadata"]["name"]))
    else:
        if not positional:
            raise Failure("error: You must provide one or more resources by argument or "
                          "filename.")
        if "/" in positional[0]:
            pairs = []
            for item in positional:
                kind, _, name = item.partition("/")
                resource = cluster.resolve(kind)
                pairs.append((resource, cluster.namespace if resource.namespaced else "", name))
        else:
            resource = cluster.resolve(positional[0])
            space = cluster.namespace if resource.namespaced else ""
            names = positional[1:]
            if values["all"] or values["selector"]:
                from standin.selectors import labels_match, parse_label_selector

                selector = parse_label_selector(values["selector"] or "")
                listing = cluster.request("GET", resource.path(space or None))
                names = [i["metadata"]["name"] for i in listing.get("items") or []
                         if labels_match(selector, i["metadata"].get("labels") or {})]
            pairs = [(resource, space, name) for name in names]
    for resource, space, name in pairs:
        try:
            cluster.api.request("DELETE", resource.path(space, name))
            say(f'{resource.qualified} "{name}" deleted')
        except ApiError as exc:
            if exc.code == 404 and values["ignore-not-found"]:
                continue
            failures.append(server_error(exc).message)
        except Unreachable as exc:
            raise Failure(str(exc)) from None
    for failure in failures:
        print(failure, file=sys.stderr)
    return 1 if failures else 0


# -- create -----------------------------------------------------------------------------------


def _from_sources(values: dict[str, Any]) -> dict[str, bytes]:
    data: dict[str, bytes] = {}
    for literal in values.get("from-literal") or []:
        key, equals, value = literal.partition("=")
        if not equals or not key:
            raise Failure(f"error: invalid literal source {literal}, expected key=value")
        data[key] = value.encode()
    for item in values.get("from-file") or []:
        key, equals, path = item.partition("=")
        if not equals:
            key, path = Path(item).name, item
        try:
            data[key] = Path(path).read_bytes()
        except OSError as exc:
            raise Failure(f"error: error reading {path}: {exc.strerror}") from None
    for path in values.get("from-env-file") or []:
        for line in Path(path).read_text().splitlines():
            if line.strip() and not line.startswith("#"):
                key, _, value = line.partition("=")
                data[key.strip()] = value.encode()
    return data


def create(cluster: Cluster, argv: list[str]) -> int:
    flags = [*GLOBAL_FLAGS, Flag("filename", "array", short="f"), Flag("dry-run"),
             Flag("output", short="o"), Flag("from-literal", "array"), Flag("from-file", "array"),
             Flag("from-env-file", "array"), Flag("type"), Flag("cert"), Flag("key"),
             Flag("save-config", "bool")]
    values, positional = parse(argv, flags, command="kubectl create")
    dry = values["dry-run"] not in (None, "none")
    if values["filename"]:
        for source, document in read_manifests(values["filename"], False):
            resource = cluster.for_object(document, source)
            namespace = cluster.object_namespace(resource, document)
            created = document
            if not dry:
                # The server names objects that carry only metadata.generateName.
                created = cluster.request("POST", resource.path(namespace), document,
                                          action=f'error when creating "{source}": ')
            if values["output"]:
                text = render([created], [resource], values["output"], single=True)
                sys.stdout.write(text + ("" if values["output"].startswith("jsonpath")
                                         else "\n"))
                continue
            meta = created.get("metadata") or {}
            say(f"{resource.qualified}/{meta.get('name') or meta.get('generateName', '')} "
                "created")
        return 0
    if not positional:
        raise Failure("error: must specify one of -f and -k, or a subcommand")
    what = positional[0]
    obj: dict[str, Any]
    if what in ("namespace", "ns") and len(positional) == 2:
        obj = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": positional[1]}}
    elif what == "secret" and len(positional) == 3 and positional[1] == "generic":
        data = _from_sources(values)
        obj = {"apiVersion": "v1", "kind": "Secret", "type": values["type"] or "Opaque",
               "metadata": {"name": positional[2], "namespace": cluster.namespace},
               "data": {k: base64.b64encode(v).decode() for k, v in data.items()}}
    elif what == "secret" and len(positional) == 3 and positional[1] == "tls":
        if not values["cert"] or not values["key"]:
            raise Failure("error: --cert and --key are required")
        obj = {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
               "metadata": {"name": positional[2], "namespace": cluster.namespace},
               "data": {"tls.crt": base64.b64encode(Path(values["cert"]).read_bytes()).decode(),
                        "tls.key": base64.b64encode(Path(values["key"]).read_bytes()).decode()}}
    elif what in ("configmap", "cm") and len(positional) == 2:
        data = _from_sources(values)
        obj = {"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"name": positional[1], "namespace": cluster.namespace},
               "data": {k: v.decode() for k, v in data.items()}}
    else:
        raise Failure(f"error: the STAND-IN kubectl cannot create {' '.join(positional)}")
    resource = cluster.for_object(obj, "command line")
    if dry and values["output"]:
        sys.stdout.write(render([obj], [resource], values["output"], single=True) + "\n")
        return 0
    if not dry:
        try:
            cluster.api.request("POST", resource.path(obj["metadata"].get("namespace")), obj)
        except ApiError as exc:
            if exc.code == 409:
                raise Failure(f"error: failed to create {resource.singular}: {exc.message}"
                              ) from None
            raise server_error(exc) from None
        except Unreachable as exc:
            raise Failure(str(exc)) from None
    suffix = f" ({values['dry-run']} dry run)" if dry else ""
    say(f"{resource.singular}/{obj['metadata']['name']} created{suffix}")
    return 0


# -- nodes ------------------------------------------------------------------------------------


def _set_schedulable(cluster: Cluster, name: str, unschedulable: bool) -> bool:
    nodes_type = cluster.resolve("nodes")
    node = cluster.request("GET", nodes_type.path(name=name))
    if bool((node.get("spec") or {}).get("unschedulable")) == unschedulable:
        return False
    cluster.request("PATCH", nodes_type.path(name=name), {"spec": {
        "unschedulable": True if unschedulable else None}},
        content_type="application/merge-patch+json")
    return True


def cordon(cluster: Cluster, argv: list[str], unschedulable: bool = True) -> int:
    _, positional = parse(argv, [*GLOBAL_FLAGS, Flag("dry-run"), Flag("selector", short="l")],
                          command="kubectl cordon")
    for name in positional:
        changed = _set_schedulable(cluster, name, unschedulable)
        verb = "cordoned" if unschedulable else "uncordoned"
        say(f"node/{name} {verb}" if changed else f"node/{name} already {verb}")
    return 0


def drain(cluster: Cluster, argv: list[str]) -> int:
    values, positional = parse(argv, [*GLOBAL_FLAGS, Flag("ignore-daemonsets", "bool"),
                                      Flag("delete-emptydir-data", "bool"),
                                      Flag("delete-local-data", "bool"), Flag("force", "bool"),
                                      Flag("timeout"), Flag("grace-period"),
                                      Flag("disable-eviction", "bool"),
                                      Flag("skip-wait-for-delete-timeout"),
                                      Flag("selector", short="l"), Flag("pod-selector")],
                               command="kubectl drain")
    pods_type = cluster.resolve("pods")
    for name in positional:
        changed = _set_schedulable(cluster, name, True)
        say(f"node/{name} cordoned" if changed else f"node/{name} already cordoned")
        listing = cluster.request("GET", pods_type.path(), query={
            "fieldSelector": f"spec.nodeName={name}"})
        daemons, unmanaged, local, evict = [], [], [], []
        for pod in listing.get("items") or []:
            meta = pod["metadata"]
            shown = f"{meta.get('namespace')}/{meta['name']}"
            if "kubernetes.io/config.mirror" in (meta.get("annotations") or {}):
                continue
            if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
                evict.append(pod)
                continue
            owners = meta.get("ownerReferences") or []
            if any(o.get("kind") == "DaemonSet" for o in owners):
                daemons.append(shown)
                continue
            if not owners:
                unmanaged.append(shown)
            if any("emptyDir" in v for v in (pod.get("spec") or {}).get("volumes") or []):
                local.append(shown)
            evict.append(pod)
        problems = []
        if daemons and not values["ignore-daemonsets"]:
            problems.append("cannot delete DaemonSet-managed Pods (use --ignore-daemonsets to "
                            f"ignore): {', '.join(daemons)}")
        if unmanaged and not values["force"]:
            problems.append("cannot delete Pods that declare no controller (use --force to "
                            f"override): {', '.join(unmanaged)}")
        if local and not (values["delete-emptydir-data"] or values["delete-local-data"]):
            problems.append("cannot delete Pods with local storage (use --delete-emptydir-data "
                            f"to override): {', '.join(local)}")
        if problems:
            raise Failure(f'error: unable to drain node "{name}" due to error: '
                          f"[{', '.join(problems)}], continuing command...\nThere are pending "
                          f"nodes to be drained:\n {name}\n" + "\n".join(problems))
        if daemons:
            print(f"Warning: ignoring DaemonSet-managed Pods: {', '.join(daemons)}",
                  file=sys.stderr)
        for pod in evict:
            meta = pod["metadata"]
            say(f"evicting pod {meta.get('namespace')}/{meta['name']}")
            cluster.request("POST", pods_type.path(meta.get("namespace"), meta["name"]) +
                            "/eviction", {"apiVersion": "policy/v1", "kind": "Eviction",
                                          "metadata": {"name": meta["name"],
                                                       "namespace": meta.get("namespace")}})
            say(f"pod/{meta['name']} evicted")
        say(f"node/{name} drained")
    return 0


# -- waiting ---------------------------------------------------------------------------------


def _seconds(text: str | None, default: float) -> float:
    if not text:
        return default
    try:
        return tokens.parse_duration(text).total_seconds()
    except ValueError:
        try:
            return float(text)
        except ValueError:
            raise Failure(f'error: invalid argument "{text}" for "--timeout" flag: time: '
                          f'invalid duration "{text}"') from None


def _condition_met(obj: dict[str, Any], condition: str) -> bool:
    kind, _, wanted = condition.partition("=")
    wanted = (wanted or "true").lower()
    for entry in (obj.get("status") or {}).get("conditions") or []:
        if str(entry.get("type", "")).lower() == kind.lower():
            return str(entry.get("status", "")).lower() == wanted
    return False


def wait(cluster: Cluster, argv: list[str]) -> int:
    values, positional = parse(argv, [*GLOBAL_FLAGS, Flag("for"), Flag("timeout"),
                                      Flag("all", "bool"), Flag("selector", short="l"),
                                      Flag("all-namespaces", "bool", short="A"),
                                      Flag("filename", "array", short="f")],
                               command="kubectl wait")
    target = values["for"]
    if not target:
        raise Failure("error: --for must be set")
    timeout = _seconds(values["timeout"], 30.0)
    if positional and "/" not in positional[0] and not (values["all"] or values["selector"]) \
            and len(positional) == 1:
        raise Failure("error: resource(s) were provided, but no name was specified")
    if positional and "/" not in positional[0] and (values["all"] or values["selector"]):
        resource = cluster.resolve(positional[0])
        space = cluster.namespace if resource.namespaced else None
        from standin.selectors import labels_match, parse_label_selector

        selector = parse_label_selector(values["selector"] or "")
        listing = cluster.request("GET", resource.path(space))
        pairs = [(resource, i["metadata"]["name"]) for i in listing.get("items") or []
                 if labels_match(selector, i["metadata"].get("labels") or {})]
        if not pairs:
            raise Failure("error: no matching resources found")
    else:
        pairs = [(r, n or "") for r, n in _targets(cluster, positional)]
    deadline = time.monotonic() + timeout
    for resource, name in pairs:
        space = cluster.namespace if resource.namespaced else ""
        shown = f"{resource.qualified}/{name}"
        while True:
            try:
                obj: dict[str, Any] | None = cluster.api.request("GET", resource.path(space, name))
            except ApiError as exc:
                if exc.code != 404:
                    raise server_error(exc) from None
                obj = None
            except Unreachable as exc:
                raise Failure(str(exc)) from None
            if target == "delete":
                if obj is None:
                    say(f"{shown} condition met")
                    break
            elif obj is None:
                raise Failure(f'Error from server (NotFound): {resource.plural}'
                              f'{"." + resource.group if resource.group else ""} "{name}" not '
                              "found")
            elif target.startswith("condition="):
                if _condition_met(obj, target[len("condition="):]):
                    say(f"{shown} condition met")
                    break
            elif target.startswith("jsonpath="):
                expression = target[len("jsonpath="):]
                template, _, expected = expression.rpartition("=") if "}=" in expression \
                    else (expression, "", "")
                got = jsonpath.evaluate(template.strip("'"), obj)
                if (expected and got == expected.strip("'")) or (not expected and got):
                    say(f"{shown} condition met")
                    break
            else:
                raise Failure(f"error: unrecognized condition: {target!r}")
            if time.monotonic() > deadline:
                raise Failure(f"error: timed out waiting for the condition on "
                              f"{resource.plural}/{name}")
            time.sleep(1)
    return 0


def rollout(cluster: Cluster, argv: list[str]) -> int:
    values, positional = parse(argv, [*GLOBAL_FLAGS, Flag("timeout"),
                                      Flag("watch", "bool", short="w")],
                               command="kubectl rollout status")
    if positional[:1] != ["status"]:
        raise Failure("error: the STAND-IN kubectl implements only `kubectl rollout status`")
    positional = positional[1:]
    timeout = _seconds(values["timeout"], 0) or 600.0
    deadline = time.monotonic() + timeout
    for resource, name in _targets(cluster, positional):
        if not name:
            raise Failure("error: rollout status needs TYPE/NAME")
        while True:
            obj = cluster.request("GET", resource.path(cluster.namespace, name))
            status, spec = obj.get("status") or {}, obj.get("spec") or {}
            if resource.kind == "DaemonSet":
                desired = status.get("desiredNumberScheduled", 0)
                ready = status.get("numberAvailable", 0)
                done = ready >= desired
                message = (f'daemon set "{name}" successfully rolled out' if done else
                           f'Waiting for daemon set "{name}" rollout to finish: {ready} of '
                           f"{desired} updated pods are available...")
            else:
                desired = spec.get("replicas", 1)
                ready = status.get("availableReplicas" if resource.kind == "Deployment"
                                   else "readyReplicas", 0)
                done = ready >= desired
                word = "deployment" if resource.kind == "Deployment" else "statefulset"
                message = (f'{word} "{name}" successfully rolled out' if done else
                           f'Waiting for {word} "{name}" rollout to finish: {ready} of '
                           f"{desired} updated replicas are available...")
            say(message)
            if done:
                break
            if time.monotonic() > deadline:
                raise Failure("error: timed out waiting for the condition")
            time.sleep(2)
    return 0


# -- informational ---------------------------------------------------------------------------


def version(argv: list[str]) -> int:
    values, _ = parse(argv, [*GLOBAL_FLAGS, Flag("client", "bool"), Flag("output", short="o"),
                             Flag("short", "bool")], command="kubectl version")
    from standin.apiserver import version_info

    client_info = version_info()
    document: dict[str, Any] = {"clientVersion": client_info, "kustomizeVersion": "v5.7.1"}
    server_line = ""
    if not values["client"]:
        try:
            cluster = Cluster(values)
            server = cluster.request("GET", "/version")
            document["serverVersion"] = server
            server_line = f"Server Version: {server.get('gitVersion')}"
        except Failure as exc:
            server_line = exc.message
    if values["output"] == "json":
        say(json.dumps(document, indent=2))
    elif values["output"] == "yaml":
        say(yamlio.dump(document).rstrip())
    else:
        say(f"Client Version: v{KUBERNETES_VERSION} ({STAND_IN_NOTE})\nKustomize Version: v5.7.1")
        if server_line:
            say(server_line)
    return 0


def cluster_info(cluster: Cluster, argv: list[str]) -> int:
    parse(argv, GLOBAL_FLAGS, command="kubectl cluster-info")
    cluster.request("GET", "/version")
    server = cluster.credentials.server
    say(f"Kubernetes control plane is running at {server}")
    try:
        cluster.api.request("GET", "/api/v1/namespaces/kube-system/services/kube-dns")
        say(f"CoreDNS is running at {server}/api/v1/namespaces/kube-system/services/"
            "kube-dns:dns/proxy")
    except (ApiError, Unreachable):
        pass
    say("\nTo further debug and diagnose cluster problems, use 'kubectl cluster-info dump'.")
    return 0


def api_resources(cluster: Cluster, argv: list[str]) -> int:
    values, _ = parse(argv, [*GLOBAL_FLAGS, Flag("api-group"), Flag("namespaced"),
                             Flag("output", short="o"), Flag("no-headers", "bool")],
                      command="kubectl api-resources")
    rows = [["NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"]]
    seen = set()
    for resource in cluster.resources():
        if (resource.group, resource.plural) in seen:
            continue
        seen.add((resource.group, resource.plural))
        if values["api-group"] is not None and resource.group != values["api-group"]:
            continue
        rows.append([resource.plural, ",".join(resource.short_names), resource.api_version,
                     str(resource.namespaced).lower(), resource.kind])
    if values["output"] == "name":
        say("\n".join(r[0] + (f".{r[2].rpartition('/')[0]}" if "/" in r[2] else "")
                      for r in rows[1:]))
        return 0
    if values["no-headers"]:
        rows = rows[1:]
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    say("\n".join("   ".join(c.ljust(widths[i]) for i, c in enumerate(r)).rstrip() for r in rows))
    return 0


def unsupported(name: str) -> Callable[[Cluster, list[str]], int]:
    def refuse(cluster: Cluster, argv: list[str]) -> int:
        raise Failure(f"error: `kubectl {name}` needs running containers; the STAND-IN cluster "
                      "runs none")
    return refuse


COMMANDS: dict[str, Callable[[Cluster, list[str]], int]] = {
    "get": get, "apply": apply, "create": create, "delete": delete, "label": label,
    "annotate": annotate, "taint": taint, "patch": patch, "cordon": cordon,
    "uncordon": lambda c, a: cordon(c, a, unschedulable=False), "drain": drain, "wait": wait,
    "rollout": rollout, "cluster-info": cluster_info, "api-resources": api_resources,
    "logs": unsupported("logs"), "exec": unsupported("exec"),
    "port-forward": unsupported("port-forward"),
}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help", "help"):
        say(f"kubectl ({STAND_IN_NOTE})\n\nCommands: {', '.join(sorted([*COMMANDS, 'version']))}")
        return 0
    name, rest = _split_command(args)
    try:
        if name == "version":
            return version(rest)
        command = COMMANDS.get(name or "")
        if command is None:
            raise Failure(f'error: unknown command "{name}" for "kubectl"')
        global_values, _ = _global_only(rest)
        cluster = Cluster(global_values)
        return command(cluster, rest)
    except Failure as exc:
        print(exc.message, file=sys.stderr, flush=True)
        return exc.code
    except BrokenPipeError:
        return 0


def _split_command(args: list[str]) -> tuple[str | None, list[str]]:
    """The subcommand and everything else: global flags may come before the subcommand."""
    with_value = {"--kubeconfig", "-n", "--namespace", "--context", "--request-timeout", "-s",
                  "--server", "-v"}
    index = 0
    while index < len(args) and args[index].startswith("-"):
        index += 2 if args[index] in with_value else 1
    if index >= len(args):
        return None, args
    return args[index], args[:index] + args[index + 1:]


def _global_only(argv: list[str]) -> tuple[dict[str, Any], list[str]]:
    """Pick --kubeconfig and --namespace out of a command line without judging the rest."""
    found: dict[str, Any] = {"kubeconfig": None, "namespace": None}
    for index, arg in enumerate(argv):
        for name, short in (("kubeconfig", ""), ("namespace", "-n")):
            if arg == f"--{name}" or (short and arg == short):
                if index + 1 < len(argv):
                    found[name] = argv[index + 1]
            elif arg.startswith(f"--{name}="):
                found[name] = arg.split("=", 1)[1]
            elif short and arg.startswith(short) and len(arg) > 2 and not arg.startswith("--"):
                found[name] = arg[2:]
    return found, argv


if __name__ == "__main__":
    raise SystemExit(main())
