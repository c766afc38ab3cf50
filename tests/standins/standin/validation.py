"""Object validation the stand-in API server applies, in Kubernetes' own wording.

Built-in kinds get the checks installers trip over (names, labels, selectors that do not
match their template, containers without images, bad Secret data). Tekton and Prow kinds
get the structure their documentation requires, as their admission webhooks would check,
once their CRDs are installed.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
CONFIG_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
TOTAL_ANNOTATION_BYTES = 256 * 1024

Errors = list[str]

_DNS_SUBDOMAIN_TEXT = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
                       "characters, '-' or '.', and must start and end with an alphanumeric "
                       "character")
_DNS_LABEL_TEXT = ("a lowercase RFC 1123 label must consist of lower case alphanumeric "
                   "characters or '-', and must start and end with an alphanumeric character")


def dns_subdomain(value: str) -> bool:
    return len(value) <= 253 and bool(DNS_SUBDOMAIN.match(value))


def dns_label(value: str) -> bool:
    return len(value) <= 63 and bool(DNS_LABEL.match(value))


def label_key_problem(key: str) -> str | None:
    prefix, _, name = key.rpartition("/")
    if prefix and not dns_subdomain(prefix):
        return f"prefix part {_DNS_SUBDOMAIN_TEXT}"
    if not name or len(name) > 63 or not LABEL_NAME.match(name):
        return ("name part must consist of alphanumeric characters, '-', '_' or '.', and must "
                "start and end with an alphanumeric character")
    return None


def _labels(errors: Errors, where: str, labels: Any) -> None:
    if labels is None:
        return
    if not isinstance(labels, dict):
        errors.append(f"{where}: Invalid value: must be a map of strings")
        return
    for key, value in labels.items():
        problem = label_key_problem(str(key))
        if problem:
            errors.append(f'{where}: Invalid value: "{key}": {problem}')
        if not isinstance(value, str):
            errors.append(f'{where}[{key}]: Invalid value: {value!r}: label values must be strings')
        elif len(value) > 63 or not LABEL_VALUE.match(value):
            errors.append(f'{where}: Invalid value: "{value}": a valid label must be an empty '
                          "string or consist of alphanumeric characters, '-', '_' or '.', and "
                          "must start and end with an alphanumeric character (at most 63)")


def metadata(obj: dict[str, Any], *, name_rule: str = "subdomain") -> Errors:
    errors: Errors = []
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        return ["metadata: Required value"]
    name = meta.get("name")
    if not name:
        errors.append("metadata.name: Required value: name or generateName is required")
    elif not isinstance(name, str):
        errors.append(f"metadata.name: Invalid value: {name!r}: must be a string")
    elif name_rule == "label" and not dns_label(name):
        errors.append(f'metadata.name: Invalid value: "{name}": {_DNS_LABEL_TEXT}')
    elif name_rule == "subdomain" and not dns_subdomain(name):
        errors.append(f'metadata.name: Invalid value: "{name}": {_DNS_SUBDOMAIN_TEXT}')
    elif name_rule == "path" and (name in (".", "..") or "/" in name or "%" in name):
        errors.append(f'metadata.name: Invalid value: "{name}": may not contain "/" or "%"')
    _labels(errors, "metadata.labels", meta.get("labels"))
    annotations = meta.get("annotations")
    if annotations is not None:
        if not isinstance(annotations, dict):
            errors.append("metadata.annotations: Invalid value: must be a map of strings")
        else:
            size = sum(len(str(k)) + len(str(v)) for k, v in annotations.items())
            if size > TOTAL_ANNOTATION_BYTES:
                errors.append(f"metadata.annotations: Too long: must have at most "
                              f"{TOTAL_ANNOTATION_BYTES} bytes")
            errors.extend(f'metadata.annotations: Invalid value: "{key}": must be a string'
                          for key, value in annotations.items() if not isinstance(value, str))
    return errors


# -- core and apps ------------------------------------------------------------------------


def _containers(errors: Errors, where: str, spec: Any) -> None:
    if not isinstance(spec, dict):
        errors.append(f"{where}: Required value")
        return
    containers = spec.get("containers")
    if not containers:
        errors.append(f"{where}.containers: Required value")
        return
    seen: set[str] = set()
    for group in ("initContainers", "containers"):
        for index, container in enumerate(spec.get(group) or []):
            at = f"{where}.{group}[{index}]"
            if not isinstance(container, dict):
                errors.append(f"{at}: Invalid value: must be an object")
                continue
            name = container.get("name")
            if not name:
                errors.append(f"{at}.name: Required value")
            elif not dns_label(str(name)):
                errors.append(f'{at}.name: Invalid value: "{name}": {_DNS_LABEL_TEXT}')
            elif name in seen:
                errors.append(f'{at}.name: Duplicate value: "{name}"')
            else:
                seen.add(str(name))
            if not container.get("image"):
                errors.append(f"{at}.image: Required value")
            for port_index, port in enumerate(container.get("ports") or []):
                number = port.get("containerPort") if isinstance(port, dict) else None
                if not isinstance(number, int) or not 0 < number < 65536:
                    errors.append(f"{at}.ports[{port_index}].containerPort: Invalid value: "
                                  f"{number!r}: must be between 1 and 65535, inclusive")


def _selector_matches(selector: dict[str, Any], labels: dict[str, Any]) -> bool:
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        key, operator = expression.get("key"), expression.get("operator")
        values = expression.get("values") or []
        present = key in labels
        if (operator == "In" and labels.get(key) not in values) or \
           (operator == "NotIn" and present and labels.get(key) in values) or \
           (operator == "Exists" and not present) or (operator == "DoesNotExist" and present):
            return False
    return True


def selector_matches(selector: dict[str, Any], labels: dict[str, Any]) -> bool:
    return _selector_matches(selector, labels)


def _workload(obj: dict[str, Any], errors: Errors, *, job: bool = False) -> None:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        errors.append("spec: Required value")
        return
    template = spec.get("template")
    if not isinstance(template, dict):
        errors.append("spec.template: Required value")
        return
    labels = (template.get("metadata") or {}).get("labels") or {}
    selector = spec.get("selector")
    if not job:
        if not isinstance(selector, dict) or not (selector.get("matchLabels")
                                                  or selector.get("matchExpressions")):
            errors.append("spec.selector: Required value")
        elif not _selector_matches(selector, labels):
            errors.append(f"spec.template.metadata.labels: Invalid value: {labels}: "
                          "`selector` does not match template `labels`")
    _labels(errors, "spec.template.metadata.labels", labels)
    pod = template.get("spec")
    _containers(errors, "spec.template.spec", pod)
    if isinstance(pod, dict):
        restart = pod.get("restartPolicy", "Always")
        if job and restart not in ("OnFailure", "Never"):
            errors.append('spec.template.spec.restartPolicy: Required value: valid values: '
                          '"OnFailure", "Never"')
        if not job and restart != "Always":
            errors.append(f'spec.template.spec.restartPolicy: Unsupported value: "{restart}": '
                          'supported values: "Always"')
    replicas = spec.get("replicas")
    if replicas is not None and (not isinstance(replicas, int) or replicas < 0):
        errors.append(f"spec.replicas: Invalid value: {replicas!r}: must be greater than or "
                      "equal to 0")


def _service(obj: dict[str, Any], errors: Errors) -> None:
    spec = obj.get("spec") or {}
    kind = spec.get("type", "ClusterIP")
    if kind not in ("ClusterIP", "NodePort", "LoadBalancer", "ExternalName"):
        errors.append(f'spec.type: Unsupported value: "{kind}": supported values: "ClusterIP", '
                      '"ExternalName", "LoadBalancer", "NodePort"')
    ports = spec.get("ports") or []
    if not ports and kind != "ExternalName" and spec.get("clusterIP") != "None":
        errors.append("spec.ports: Required value")
    for index, port in enumerate(ports):
        number = port.get("port") if isinstance(port, dict) else None
        if not isinstance(number, int) or not 0 < number < 65536:
            errors.append(f"spec.ports[{index}].port: Invalid value: {number!r}: must be "
                          "between 1 and 65535, inclusive")
        node_port = port.get("nodePort") if isinstance(port, dict) else None
        if node_port is not None and not 30000 <= int(node_port) <= 32767:
            errors.append(f"spec.ports[{index}].nodePort: Invalid value: {node_port}: provided "
                          "port is not in the valid range. The range of valid ports is "
                          "30000-32767")
        if len(ports) > 1 and isinstance(port, dict) and not port.get("name"):
            errors.append(f"spec.ports[{index}].name: Required value")


def _data_keys(errors: Errors, where: str, data: Any) -> None:
    if data is None:
        return
    if not isinstance(data, dict):
        errors.append(f"{where}: Invalid value: must be a map")
        return
    for key in data:
        if not CONFIG_KEY.match(str(key)):
            errors.append(f'{where}[{key}]: Invalid value: "{key}": a valid config key must '
                          "consist of alphanumeric characters, '-', '_' or '.'")


def _secret(obj: dict[str, Any], errors: Errors) -> None:
    data = obj.get("data")
    _data_keys(errors, "data", data)
    _data_keys(errors, "stringData", obj.get("stringData"))
    for key, value in (data or {}).items() if isinstance(data, dict) else ():
        try:
            base64.b64decode(str(value), validate=True)
        except (binascii.Error, ValueError):
            errors.append(f"data[{key}]: Invalid value: illegal base64 data")
    if obj.get("type") == "kubernetes.io/tls":
        keys = set((data or {}) if isinstance(data, dict) else {})
        keys |= set(obj.get("stringData") or {})
        errors.extend(f"data[{needed}]: Required value" for needed in ("tls.crt", "tls.key")
                      if needed not in keys)


def _crd(obj: dict[str, Any], errors: Errors) -> None:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        errors.append("spec: Required value")
        return
    group = spec.get("group") or ""
    names = spec.get("names") or {}
    plural, kind = names.get("plural"), names.get("kind")
    if not group or "." not in group:
        errors.append(f'spec.group: Invalid value: "{group}": should be a domain with at least '
                      "one dot")
    if not plural:
        errors.append("spec.names.plural: Required value")
    if not kind:
        errors.append("spec.names.kind: Required value")
    name = (obj.get("metadata") or {}).get("name")
    if plural and group and name != f"{plural}.{group}":
        errors.append(f'metadata.name: Invalid value: "{name}": must be spec.names.plural+"."'
                      f'+spec.group ("{plural}.{group}")')
    if spec.get("scope") not in ("Namespaced", "Cluster"):
        errors.append(f'spec.scope: Unsupported value: "{spec.get("scope")}": supported '
                      'values: "Cluster", "Namespaced"')
    versions = spec.get("versions") or []
    if not versions:
        errors.append("spec.versions: Invalid value: must have exactly one version marked as "
                      "storage version")
        return
    storage = [v for v in versions if isinstance(v, dict) and v.get("storage")]
    if len(storage) != 1:
        errors.append("spec.versions: Invalid value: must have exactly one version marked as "
                      "storage version")
    for index, version in enumerate(versions):
        schema = (version.get("schema") or {}).get("openAPIV3Schema") if isinstance(
            version, dict) else None
        if not schema:
            errors.append(f"spec.versions[{index}].schema.openAPIV3Schema: Required value: "
                          "schemas are required")


def _binding(obj: dict[str, Any], errors: Errors) -> None:
    ref = obj.get("roleRef")
    if not isinstance(ref, dict) or not ref.get("name") or not ref.get("kind"):
        errors.append("roleRef: Required value")
    elif ref.get("kind") not in ("Role", "ClusterRole"):
        errors.append(f'roleRef.kind: Unsupported value: "{ref.get("kind")}": supported values: '
                      '"ClusterRole", "Role"')
    for index, subject in enumerate(obj.get("subjects") or []):
        if subject.get("kind") not in ("User", "Group", "ServiceAccount"):
            errors.append(f'subjects[{index}].kind: Unsupported value: "{subject.get("kind")}": '
                          'supported values: "Group", "ServiceAccount", "User"')
        if subject.get("kind") == "ServiceAccount" and not subject.get("namespace") and \
                obj.get("kind") == "ClusterRoleBinding":
            errors.append(f"subjects[{index}].namespace: Required value")


# -- Tekton and Prow ------------------------------------------------------------------------


def _named_list(errors: Errors, where: str, items: Any, *, required: bool) -> list[dict[str, Any]]:
    if not items:
        if required:
            errors.append(f"{where}: missing field(s)")
        return []
    if not isinstance(items, list):
        errors.append(f"{where}: invalid value: must be a list")
        return []
    return [item for item in items if isinstance(item, dict)]


def _tekton_params(errors: Errors, where: str, params: Any) -> None:
    seen: set[str] = set()
    for index, param in enumerate(_named_list(errors, where, params, required=False)):
        name = param.get("name")
        if not name:
            errors.append(f"{where}[{index}].name: missing field(s)")
        elif name in seen:
            errors.append(f"{where}[{index}].name: expected exactly one, got both: {name}")
        else:
            seen.add(str(name))


def _task_spec(errors: Errors, where: str, spec: Any) -> None:
    if not isinstance(spec, dict):
        errors.append(f"{where}: missing field(s)")
        return
    steps = _named_list(errors, f"{where}.steps", spec.get("steps"), required=True)
    seen: set[str] = set()
    for index, step in enumerate(steps):
        if not step.get("image") and not step.get("ref"):
            errors.append(f"{where}.steps[{index}].image: missing field(s)")
        name = step.get("name")
        if name and not dns_label(str(name)):
            errors.append(f"{where}.steps[{index}].name: invalid value: {name}: {_DNS_LABEL_TEXT}")
        if name and name in seen:
            errors.append(f"{where}.steps[{index}].name: expected exactly one, got both: {name}")
        if name:
            seen.add(str(name))
        if step.get("script") and step.get("command"):
            errors.append(f"{where}.steps[{index}].script: expected exactly one, got both: "
                          "script, command")
    _tekton_params(errors, f"{where}.params", spec.get("params"))


def _pipeline_tasks(errors: Errors, where: str, tasks: list[dict[str, Any]],
                    known: set[str]) -> None:
    for index, task in enumerate(tasks):
        at = f"{where}[{index}]"
        name = task.get("name")
        if not name:
            errors.append(f"{at}.name: missing field(s)")
        elif not dns_label(str(name)):
            errors.append(f"{at}.name: invalid value: {name}: {_DNS_LABEL_TEXT}")
        references = [key for key in ("taskRef", "taskSpec", "pipelineRef", "pipelineSpec")
                      if task.get(key)]
        if not references:
            errors.append(f"{at}: expected exactly one, got neither: taskRef, taskSpec")
        elif len(references) > 1:
            errors.append(f"{at}: expected exactly one, got both: {', '.join(references)}")
        ref = task.get("taskRef")
        if isinstance(ref, dict) and not (ref.get("name") or ref.get("resolver")):
            errors.append(f"{at}.taskRef.name: missing field(s)")
        if task.get("taskSpec"):
            _task_spec(errors, f"{at}.taskSpec", task.get("taskSpec"))
        for after in task.get("runAfter") or []:
            if after not in known:
                errors.append(f"{at}.runAfter: invalid value: {after}: the task {after!r} is "
                              "not defined in the pipeline")


def _cycle(tasks: list[dict[str, Any]]) -> list[str] | None:
    edges = {str(t.get("name")): [str(a) for a in t.get("runAfter") or []] for t in tasks}
    state: dict[str, int] = {}
    trail: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        trail.append(node)
        for after in edges.get(node, []):
            if state.get(after) == 1:
                return [*trail[trail.index(after):], after]
            if after in edges and not state.get(after):
                found = visit(after)
                if found:
                    return found
        trail.pop()
        state[node] = 2
        return None

    for node in edges:
        if not state.get(node):
            found = visit(node)
            if found:
                return found
    return None


def _pipeline_spec(errors: Errors, where: str, spec: Any) -> None:
    if not isinstance(spec, dict):
        errors.append(f"{where}: missing field(s)")
        return
    tasks = _named_list(errors, f"{where}.tasks", spec.get("tasks"), required=True)
    final = _named_list(errors, f"{where}.finally", spec.get("finally"), required=False)
    names = [str(t.get("name")) for t in tasks + final if t.get("name")]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        errors.append(f"{where}.tasks[*].name: expected exactly one, got both: "
                      f"{', '.join(duplicates)}")
    known = {str(t.get("name")) for t in tasks if t.get("name")}
    _pipeline_tasks(errors, f"{where}.tasks", tasks, known)
    _pipeline_tasks(errors, f"{where}.finally", final, set())
    for index, task in enumerate(final):
        if task.get("runAfter"):
            errors.append(f"{where}.finally[{index}].runAfter: invalid value: no runAfter "
                          "allowed under finally tasks")
    cycle = _cycle(tasks)
    if cycle:
        errors.append(f"{where}.tasks: invalid value: cycle detected; task {cycle[0]!r} "
                      f"depends on itself through {' -> '.join(cycle)}")
    _tekton_params(errors, f"{where}.params", spec.get("params"))


def _one_of(errors: Errors, where: str, spec: dict[str, Any], keys: tuple[str, str]) -> None:
    present = [key for key in keys if spec.get(key)]
    if not present:
        errors.append(f"{where}: expected exactly one, got neither: {keys[0]}, {keys[1]}")
    elif len(present) > 1:
        errors.append(f"{where}: expected exactly one, got both: {keys[0]}, {keys[1]}")


def _tekton(kind: str, obj: dict[str, Any], errors: Errors) -> None:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        errors.append("spec: missing field(s)")
        return
    if kind in ("Task", "ClusterTask", "StepAction"):
        if kind == "StepAction":
            if not spec.get("image"):
                errors.append("spec.image: missing field(s)")
            return
        _task_spec(errors, "spec", spec)
    elif kind == "Pipeline":
        _pipeline_spec(errors, "spec", spec)
    elif kind == "PipelineRun":
        _one_of(errors, "spec", spec, ("pipelineRef", "pipelineSpec"))
        if spec.get("pipelineSpec"):
            _pipeline_spec(errors, "spec.pipelineSpec", spec["pipelineSpec"])
    elif kind == "TaskRun":
        _one_of(errors, "spec", spec, ("taskRef", "taskSpec"))
        if spec.get("taskSpec"):
            _task_spec(errors, "spec.taskSpec", spec["taskSpec"])
    elif kind == "EventListener":
        triggers = _named_list(errors, "spec.triggers", spec.get("triggers"), required=False)
        for index, trigger in enumerate(triggers):
            if not (trigger.get("template") or trigger.get("triggerRef")):
                errors.append(f"spec.triggers[{index}].template: missing field(s)")
            for b_index, binding in enumerate(trigger.get("bindings") or []):
                if not (binding.get("ref") or (binding.get("name") and "value" in binding)):
                    errors.append(f"spec.triggers[{index}].bindings[{b_index}]: expected exactly "
                                  "one, got neither: ref, name+value")
            for i_index, interceptor in enumerate(trigger.get("interceptors") or []):
                if not (interceptor.get("ref") or interceptor.get("webhook")):
                    errors.append(f"spec.triggers[{index}].interceptors[{i_index}]: expected "
                                  "exactly one, got neither: ref, webhook")
        if not triggers and not spec.get("namespaceSelector") and not spec.get("labelSelector"):
            errors.append("spec.triggers: missing field(s)")
    elif kind in ("TriggerBinding", "ClusterTriggerBinding"):
        for index, param in enumerate(_named_list(errors, "spec.params", spec.get("params"),
                                                  required=False)):
            if not param.get("name"):
                errors.append(f"spec.params[{index}].name: missing field(s)")
            if "value" not in param:
                errors.append(f"spec.params[{index}].value: missing field(s)")
    elif kind == "TriggerTemplate":
        templates = _named_list(errors, "spec.resourcetemplates", spec.get("resourcetemplates"),
                                required=True)
        for index, template in enumerate(templates):
            if not template.get("apiVersion") or not template.get("kind"):
                errors.append(f"spec.resourcetemplates[{index}]: invalid value: resource "
                              "templates need apiVersion and kind")
        _tekton_params(errors, "spec.params", spec.get("params"))
    elif kind == "Trigger":
        if not spec.get("template"):
            errors.append("spec.template: missing field(s)")
    elif kind in ("Interceptor", "ClusterInterceptor"):
        config = spec.get("clientConfig") or {}
        if not (config.get("url") or config.get("service")):
            errors.append("spec.clientConfig: expected exactly one, got neither: url, service")


PROW_JOB_TYPES = ("presubmit", "postsubmit", "periodic", "batch")
PROW_AGENTS = ("kubernetes", "jenkins", "tekton-pipeline")


def _prowjob(obj: dict[str, Any], errors: Errors) -> None:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        errors.append("spec: Required value")
        return
    if spec.get("type") not in PROW_JOB_TYPES:
        errors.append(f'spec.type: Unsupported value: "{spec.get("type")}": supported values: '
                      + ", ".join(f'"{t}"' for t in PROW_JOB_TYPES))
    if not spec.get("job"):
        errors.append("spec.job: Required value")
    agent = spec.get("agent", "kubernetes")
    if agent not in PROW_AGENTS:
        errors.append(f'spec.agent: Unsupported value: "{agent}"')
    if agent == "kubernetes" and not spec.get("pod_spec"):
        errors.append("spec.pod_spec: Required value: a kubernetes-agent job needs a pod_spec")
    if spec.get("type") in ("presubmit", "postsubmit", "batch") and not spec.get("refs"):
        errors.append("spec.refs: Required value")


TEKTON_GROUPS = ("tekton.dev", "triggers.tekton.dev")
RBAC_KINDS = ("Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding")


def validate(group: str, kind: str, obj: dict[str, Any]) -> Errors:
    """Every field error of the object, in apiserver wording (empty when it is valid)."""
    rule = "path" if group == "rbac.authorization.k8s.io" else "subdomain"
    if kind in ("Namespace", "Service"):
        rule = "label"
    errors = metadata(obj, name_rule=rule)
    if kind == "Pod":
        _containers(errors, "spec", obj.get("spec"))
    elif kind in ("Deployment", "DaemonSet", "StatefulSet", "ReplicaSet"):
        _workload(obj, errors)
    elif kind == "Job":
        _workload(obj, errors, job=True)
    elif kind == "CronJob":
        spec = obj.get("spec") or {}
        if not spec.get("schedule"):
            errors.append("spec.schedule: Required value")
        job = (spec.get("jobTemplate") or {})
        _workload({"spec": job.get("spec")}, errors, job=True)
    elif kind == "Service":
        _service(obj, errors)
    elif kind == "Secret":
        _secret(obj, errors)
    elif kind == "ConfigMap":
        _data_keys(errors, "data", obj.get("data"))
        _data_keys(errors, "binaryData", obj.get("binaryData"))
        for key, value in (obj.get("data") or {}).items():
            if not isinstance(value, str):
                errors.append(f"data[{key}]: Invalid value: must be a string")
    elif kind == "CustomResourceDefinition":
        _crd(obj, errors)
    elif kind in ("RoleBinding", "ClusterRoleBinding"):
        _binding(obj, errors)
    elif kind == "StorageClass" and not obj.get("provisioner"):
        errors.append("provisioner: Required value")
    elif group in TEKTON_GROUPS:
        _tekton(kind, obj, errors)
    elif group == "prow.k8s.io" and kind == "ProwJob":
        _prowjob(obj, errors)
    return errors
