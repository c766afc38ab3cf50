"""The handover bundle: everything the chart deployment stage needs, in one checked directory.

Layout (under the run record's `handover/`):

    bundle.json            index: every file with its sha256, the digest, the names to use
    access.yaml            the pipeline's namespace, ServiceAccounts and their binding
    pipeline.yaml          the Tasks and the Pipeline (what `kubectl apply` takes)
    values-configmap.yaml  the values files (and packaged local charts) as one ConfigMap
    runs/<env>.yaml        a PipelineRun template per environment (generateName: create it)
    run-templates.yaml     the same templates as the ConfigMap <site>-run-templates, keys
                           <env>.json, so automation in the cluster (Prow's jobs) starts runs
    values/<key>           each values file as the pipeline reads it
    node-labels.json       the labels each node carries (from the node_labels phase)
    kubeconfig.json        where the admin kubeconfig is: a path, never its contents

The bundle digest covers what gets applied (access, Tasks, Pipeline, values, run
templates), so the role can tell whether the cluster has this revision and whether a run
of it exists.
The ConfigMap's name carries the digest too: a run keeps reading the values it was
started with. PipelineRun templates live apart: they carry generateName, which
`kubectl apply` refuses.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import re
import shutil
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from taco.engine.records import write_private
from taco.handover import tekton
from taco.handover.graph import deploy_order
from taco.handover.values import render_values

if TYPE_CHECKING:
    from collections.abc import Mapping

    from taco.site.model import Site

BUNDLE_INDEX = "bundle.json"
# The ConfigMap <site>-run-templates: Prow's jobs read it (roles/prow/filter_plugins).
RUN_TEMPLATES_SUFFIX = "run-templates"
SCHEMA = 1
_KEY_CHARS = re.compile(r"[^-._a-zA-Z0-9]")


@dataclass(frozen=True)
class Bundle:
    """What was rendered: file name -> bytes, plus the facts the index records."""

    files: dict[str, bytes]
    digest: str
    config_map: str
    environments: list[str]
    notes: list[str]


class _Dumper(yaml.SafeDumper):
    """Block style for multi-line strings (the step scripts stay readable)."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def dump(documents: list[dict[str, Any]]) -> bytes:
    return yaml.dump_all(documents, Dumper=_Dumper, sort_keys=False,
                         default_flow_style=False, width=100).encode()


def _key(*parts: str) -> str:
    return _KEY_CHARS.sub("_", ".".join(parts))[:253]


def package_chart(directory: Path) -> bytes:
    """A chart directory as a reproducible .tgz (sorted, no owners, no times)."""
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as zipped, \
            tarfile.open(fileobj=zipped, mode="w", format=tarfile.PAX_FORMAT) as tar:
        root = directory.name
        for path in sorted(directory.rglob("*")):
            if not path.is_file() or any(p.startswith(".") for p in path.relative_to(
                    directory).parts):
                continue
            info = tarfile.TarInfo(f"{root}/{path.relative_to(directory).as_posix()}")
            data = path.read_bytes()
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def environments(site: Site) -> list[str]:
    """Every environment with a template: the listed ones and the site's own."""
    return sorted({site.charts.environment, *site.charts.environments})


def render(site: Site, handover: Mapping[str, Any], kubeconfig: Path) -> Bundle:
    """The whole bundle in memory: a pure function of the site and the handover data."""
    rendered = render_values(site, handover)
    charts = {c.name: c for g in site.charts.groups for c in g.charts}
    workspace: dict[str, bytes] = {}
    base: dict[str, list[str]] = {}
    per_env: dict[str, dict[str, list[str]]] = {env: {} for env in environments(site)}
    for name in deploy_order(site.charts) if charts else []:
        chart = charts[name]
        keys: list[str] = []
        if name in rendered.values:
            key = _key(name, "taco.yaml")
            workspace[key] = yaml.safe_dump(rendered.values[name], sort_keys=True).encode()
            keys.append(key)
        for k, path in enumerate(chart.values):
            key = _key(name, f"site{k}", Path(path).name)
            workspace[key] = Path(path).read_bytes()
            keys.append(key)
        if tekton.is_local_chart(chart.chart):
            workspace[tekton.package_key(name)] = package_chart(Path(chart.chart))
        base[name] = keys
        for env in per_env:
            settings = site.charts.environments.get(env)
            extra = []
            for k, path in enumerate(settings.values.get(name, []) if settings else []):
                key = _key(name, f"{env}{k}", Path(path).name)
                workspace[key] = Path(path).read_bytes()
                extra.append(key)
            per_env[env][name] = keys + extra

    namespace = site.charts.pipeline_namespace
    objects = [tekton.helm_task(site.charts.helm_image, namespace),
               tekton.finally_task(site.charts.helm_image, namespace)]
    if charts:
        objects.append(tekton.pipeline(site, base))
    access = dump(_access(site))
    # The templates name the digest (ConfigMap, label): hash them with those left empty.
    shapes = [tekton.pipeline_run(site, env, values, "", "") for env, values in per_env.items()]
    digest = _digest(access + dump(objects) + (dump(shapes) if charts else b""), workspace)
    if charts:
        # Last in the file, so a Pipeline with this label means everything was applied.
        objects[-1]["metadata"]["labels"][tekton.DIGEST_LABEL] = digest[:tekton.DIGEST_LENGTH]
    config_map = f"{site.name}-chart-values-{digest[:10]}"
    files: dict[str, bytes] = {
        "access.yaml": access,
        "pipeline.yaml": dump(objects),
        "values-configmap.yaml": dump([_config_map(site, config_map, workspace, digest)]),
    }
    for key, data in sorted(workspace.items()):
        if not key.endswith(".tgz"):
            files[f"values/{key}"] = data
    if charts:
        runs = {env: tekton.pipeline_run(site, env, values, config_map, digest)
                for env, values in per_env.items()}
        for env, run in runs.items():
            files[f"runs/{env}.yaml"] = dump([run])
        files["run-templates.yaml"] = dump([_run_templates(site, runs, digest)])
    files["node-labels.json"] = _json(_node_labels(handover))
    files["kubeconfig.json"] = _json(_kubeconfig(handover, kubeconfig))
    return Bundle(files, digest, config_map, environments(site), rendered.notes)


def _access(site: Site) -> list[dict[str, Any]]:
    """The pipeline's namespace and the ServiceAccounts its runs use, bound to cluster-admin.

    Helm installs what the charts hold (CRDs, ClusterRoles, namespaces): nothing less
    than cluster-admin covers OpenStack-Helm's charts.
    """
    namespace = site.charts.pipeline_namespace
    labels = {tekton.SITE_LABEL: site.name}
    accounts = sorted({env.service_account for env in site.charts.environments.values()}
                      | ({tekton.DEFAULT_SERVICE_ACCOUNT}
                         if site.charts.environment not in site.charts.environments else set()))
    objects: list[dict[str, Any]] = [{"apiVersion": "v1", "kind": "Namespace",
                                      "metadata": {"name": namespace, "labels": labels}}]
    for account in accounts:
        objects.append({"apiVersion": "v1", "kind": "ServiceAccount",
                        "metadata": {"name": account, "namespace": namespace, "labels": labels}})
        objects.append({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": f"{namespace}-{account}"[:253], "labels": labels},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                        "name": "cluster-admin"},
            "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": namespace}],
        })
    return objects


def _digest(pipeline_yaml: bytes, workspace: Mapping[str, bytes]) -> str:
    hasher = hashlib.sha256(pipeline_yaml)
    for key, data in sorted(workspace.items()):
        hasher.update(f"\0{key}\0{len(data)}\0".encode())
        hasher.update(data)
    return hasher.hexdigest()


def _config_map(site: Site, name: str, workspace: Mapping[str, bytes],
                digest: str) -> dict[str, Any]:
    text = {k: v.decode() for k, v in sorted(workspace.items()) if not k.endswith(".tgz")}
    binary = {k: base64.b64encode(v).decode() for k, v in sorted(workspace.items())
              if k.endswith(".tgz")}
    config: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": site.charts.pipeline_namespace,
                     "labels": {tekton.SITE_LABEL: site.name,
                                tekton.DIGEST_LABEL: digest[:tekton.DIGEST_LENGTH]}},
        "data": text,
    }
    if binary:
        config["binaryData"] = binary
    return config


def run_templates_name(site: Site) -> str:
    return f"{site.name}-{RUN_TEMPLATES_SUFFIX}"


def _run_templates(site: Site, runs: Mapping[str, Mapping[str, Any]],
                   digest: str) -> dict[str, Any]:
    """Each environment's PipelineRun template as JSON, for whoever starts runs in-cluster."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": run_templates_name(site),
                     "namespace": site.charts.pipeline_namespace,
                     "labels": {tekton.SITE_LABEL: site.name,
                                tekton.DIGEST_LABEL: digest[:tekton.DIGEST_LENGTH]}},
        "data": {f"{env}.json": json.dumps(run, sort_keys=True)
                 for env, run in sorted(runs.items())},
    }


def _node_labels(handover: Mapping[str, Any]) -> dict[str, Any]:
    roles = handover.get("roles") or {}
    labels = roles.get("node_labels") or {}
    return {node: dict(sorted((data.get("labels") or {}).items()))
            for node, data in sorted(labels.items()) if isinstance(data, dict)}


def _kubeconfig(handover: Mapping[str, Any], kubeconfig: Path) -> dict[str, Any]:
    cluster = (handover.get("roles") or {}).get("kubernetes_cluster") or {}
    return {"path": str(cluster.get("kubeconfig") or kubeconfig),
            "api_server": cluster.get("api_server"),
            "cluster_name": cluster.get("cluster_name")}


def _json(data: Any) -> bytes:
    return (json.dumps(data, indent=2, sort_keys=True) + "\n").encode()


def write_bundle(bundle: Bundle, site: Site, target: Path) -> Path:
    """Write the bundle to `target` (replacing an earlier one), files 0600, and its index."""
    if target.exists():
        shutil.rmtree(target)
    for name, data in bundle.files.items():
        write_private(target / name, data.decode())
    index = {
        "schema": SCHEMA,
        "site": site.name,
        "environment": site.charts.environment,
        "environments": bundle.environments,
        "namespace": site.charts.pipeline_namespace,
        "pipeline": site.name if site.charts.groups else None,
        "config_map": bundle.config_map,
        "run_templates": run_templates_name(site) if site.charts.groups else None,
        "digest": bundle.digest,
        "apply_pipeline": site.charts.apply_pipeline,
        "start_run": site.charts.start_run,
        "notes": bundle.notes,
        "files": [{"path": name, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
                  for name, data in sorted(bundle.files.items())],
    }
    write_private(target / BUNDLE_INDEX, json.dumps(index, indent=2) + "\n")
    target.chmod(0o700)
    for folder in (target / "values", target / "runs"):
        if folder.is_dir():
            folder.chmod(0o700)
    return target / BUNDLE_INDEX
