"""prow_filters: the Prow role's generated objects as pure functions of the site.

Tested in tests/unit/test_prow_*.py. Inputs are the inventory's `taco_prow` (the site's
`prow:` settings), the site name and the chart settings; nothing here reads a host.

- prow_config / prow_plugins: Prow's config.yaml and plugins.yaml (as mappings).
- prow_starter_tag: the one image tag the pinned starter manifest uses.
- prow_components: the starter manifest made fit for the site (placeholders filled, images
  re-tagged, taco's ConfigMaps instead of the starter's, no Secrets: the role makes those)
  plus the jobs' RBAC.
- prow_secret_problems / prow_secrets: the secrets file checked (without ever naming a
  value) and turned into Kubernetes Secrets.

Jobs run with `agent: kubernetes`: a decorated pod starts a run of the site's Pipeline
(the handover phase's: named after the site, in charts.pipeline_namespace) from the
environment's PipelineRun template in the ConfigMap <site>-run-templates, adds the params
dry-run and revision, creates it with kubectl and waits for it. Prow's `tekton-pipeline`
agent needs the separate `pipeline` controller, which is not part of Prow's starter
deployment and supports none of the pod utilities (logs in Deck), so taco does not use it.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import re
from typing import TYPE_CHECKING, Any

import yaml
from ansible.errors import AnsibleFilterError

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

UPSTREAM_REGISTRY = "us-docker.pkg.dev/k8s-infra-prow/images"
PROW_NAMESPACE = "prow"
POD_NAMESPACE = "test-pods"
UTILITIES = ("clonerefs", "entrypoint", "initupload", "sidecar")
# Labels Tide always wants (lgtm and approve plugins) and blockers it always honours.
TIDE_LABELS = ("lgtm", "approved")
TIDE_MISSING = ("needs-rebase", "do-not-merge/hold", "do-not-merge/work-in-progress",
                "do-not-merge/invalid-owners-file")
PLUGINS = ("approve", "assign", "help", "hold", "label", "lgtm", "trigger", "verify-owners",
           "wip")
JOBS_ACCOUNT = "taco-prow-jobs"
SECRET_KEYS = frozenset({"hmac_token", "github_token", "github_app_private_key"})
MANAGED_LABEL = "taco.dev/prow"
# Where the handover phase puts the pipeline and its run templates (site model: charts).
DEFAULT_PIPELINE_NAMESPACE = "taco-charts"
RUN_TEMPLATES_SUFFIX = "run-templates"
_PLACEHOLDER = re.compile(r"\$[A-Z][A-Z0-9_]*")
_STARTER_SECRETS = ("github-token", "hmac-token")


def _fail(name: str, message: str) -> AnsibleFilterError:
    return AnsibleFilterError(f"{name}: {message}")


def _plain(value: Any) -> Any:
    """Ansible's values as plain Python types (its tagged strings are not YAML-dumpable)."""
    return json.loads(json.dumps(value, default=str))


def _repos(prow: Mapping[str, Any]) -> list[str]:
    return [f"{prow['org']}/{repo}" for repo in prow.get("repos") or []]


def _image(prow: Mapping[str, Any], name: str, tag: str) -> str:
    registry = str(prow.get("image_registry") or UPSTREAM_REGISTRY).rstrip("/")
    return f"{registry}/{name}:{tag}"


def _pipeline_namespace(charts: Mapping[str, Any] | None) -> str:
    return str((charts or {}).get("pipeline_namespace") or DEFAULT_PIPELINE_NAMESPACE)


def _run_templates(site_name: str) -> str:
    return f"{site_name}-{RUN_TEMPLATES_SUFFIX}"


# -- config.yaml ---------------------------------------------------------------------------


# The job's script: take the environment's template from the ConfigMap the handover phase
# applied, add dry-run, revision and the job's label, create the run, then follow its
# Succeeded condition until it settles. PULL_PULL_SHA (presubmits) or PULL_BASE_SHA
# (postsubmits) is the revision Prow tested; periodics have none.
_SCRIPT = r"""set -eu
revision="${PULL_PULL_SHA:-${PULL_BASE_SHA:-}}"
templates=$(kubectl get configmap -n "${TACO_NAMESPACE}" "${TACO_TEMPLATES}" -o json) || {
  echo "no ConfigMap ${TACO_TEMPLATES} in ${TACO_NAMESPACE}: run taco's handover phase with" \
       "charts.apply_pipeline: true"; exit 1; }
pipelinerun=$(printf '%s' "${templates}" | jq -ce --arg key "${TACO_ENVIRONMENT}.json" \
  --arg dry "${TACO_DRY_RUN}" --arg rev "${revision}" --arg job "${TACO_JOB}" '
  (.data[$key] // error("ConfigMap \(.metadata.name) has no template \($key)"))
  | fromjson
  | .metadata.labels["taco.dev/prow-job"] = $job
  | .spec.params = [(.spec.params // [])[] | select(.name != "dry-run" and .name != "revision")]
                   + [{name: "dry-run", value: $dry}, {name: "revision", value: $rev}]')
run=$(printf '%s' "${pipelinerun}" | kubectl create -f - -o name)
echo "started ${run} in namespace ${TACO_NAMESPACE}" \
     "(dry run: ${TACO_DRY_RUN}, revision: ${revision:-none})"
deadline=$(( $(date +%s) + TACO_TIMEOUT_S ))
while [ "$(date +%s)" -lt "${deadline}" ]; do
  state=$(kubectl get -n "${TACO_NAMESPACE}" "${run}" \
          -o jsonpath='{.status.conditions[?(@.type=="Succeeded")].status}')
  case "${state}" in
    True) echo "${run} succeeded"; exit 0 ;;
    False) kubectl get -n "${TACO_NAMESPACE}" "${run}" \
             -o jsonpath='{.status.conditions[?(@.type=="Succeeded")].message}'; echo
           echo "${run} failed"; exit 1 ;;
  esac
  sleep 10
done
echo "${run} did not finish within ${TACO_TIMEOUT_S}s"; exit 1
"""


def _seconds(duration: str) -> int:
    """A Go duration of hours and minutes (2h, 90m, 1h30m) in seconds."""
    match = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?", duration)
    if not match or not duration:
        raise _fail("prow_config", f"'{duration}' is not a duration of hours and minutes")
    return int(match.group(1) or 0) * 3600 + int(match.group(2) or 0) * 60


def _job(prow: Mapping[str, Any], site_name: str, charts: Mapping[str, Any], name: str,
         dry_run: bool) -> dict[str, Any]:
    jobs = prow.get("jobs") or {}
    return {
        "name": name,
        "agent": "kubernetes",
        "decorate": True,
        "spec": {
            "serviceAccountName": JOBS_ACCOUNT,
            "containers": [{
                "image": prow["job_image"],
                "command": ["/bin/sh", "-c"],
                "args": [_SCRIPT],
                "env": [
                    {"name": "TACO_NAMESPACE", "value": _pipeline_namespace(charts)},
                    {"name": "TACO_TEMPLATES", "value": _run_templates(site_name)},
                    {"name": "TACO_ENVIRONMENT",
                     "value": str(charts.get("environment") or "dev")},
                    {"name": "TACO_DRY_RUN", "value": "true" if dry_run else "false"},
                    {"name": "TACO_JOB", "value": name},
                    {"name": "TACO_TIMEOUT_S", "value": str(_seconds(jobs.get("timeout")
                                                                     or "2h"))},
                ],
            }],
        },
    }


def prow_config(prow: Mapping[str, Any], site_name: str, charts: Mapping[str, Any] | None,
                tag: str) -> dict[str, Any]:
    """Prow's config.yaml for the site: namespaces, Tide, Deck, Plank, Sinker and the jobs."""
    prow, site_name, charts, tag = _plain((prow, site_name, charts, tag))
    if not prow.get("org") or not prow.get("repos") or not prow.get("host"):
        raise _fail("prow_config", "taco_prow needs org, repos and host")
    charts = charts or {}
    repos = _repos(prow)
    label = str(prow.get("approval_label") or "approved-for-deploy")
    host = prow["host"]
    jobs = prow.get("jobs") or {}
    branch = str(jobs.get("branch") or "main")
    decoration: dict[str, Any] = {
        "gcs_configuration": {"bucket": "s3://prow-logs", "path_strategy": "explicit"},
        "s3_credentials_secret": "s3-credentials",
        "github_api_endpoints": ["http://ghproxy", "https://api.github.com"],
        "utility_images": {name: _image(prow, name, tag) for name in UTILITIES},
    }
    if prow.get("github_app_id"):
        decoration["github_app_id"] = str(prow["github_app_id"])
        decoration["github_app_private_key_secret"] = {"name": "github-token", "key": "cert"}
    else:
        decoration["oauth_token_secret"] = {"name": "github-token", "key": "token"}
    # Job names: taco-<site>-<kind> (validation keeps them within 63 characters).
    prefix = f"taco-{site_name}"
    config: dict[str, Any] = {
        "prowjob_namespace": PROW_NAMESPACE,
        "pod_namespace": POD_NAMESPACE,
        "decorate_all_jobs": True,
        "plank": {
            "job_url_prefix_config": {"*": f"https://{host}/view/"},
            "default_decoration_config_entries": [{"config": decoration}],
        },
        "sinker": {
            "resync_period": "1m",
            "max_prowjob_age": "48h",
            "max_pod_age": "48h",
            "terminated_pod_ttl": "30m",
        },
        "deck": {
            "spyglass": {
                "lenses": [
                    {"lens": {"name": "metadata"},
                     "required_files": [r"^(?:started|finished)\.json$"],
                     "optional_files": [r"^(?:podinfo|prowjob)\.json$"]},
                    {"lens": {"name": "buildlog"}, "required_files": ["build-log.txt"]},
                    {"lens": {"name": "podinfo"}, "required_files": ["podinfo.json"]},
                ],
            },
        },
        "tide": {
            "sync_period": "2m",
            "queries": [{
                "repos": repos,
                "labels": [*TIDE_LABELS, label],
                "missingLabels": list(TIDE_MISSING),
            }],
            "merge_method": dict.fromkeys(repos, "squash"),
        },
    }
    if jobs.get("presubmit", True):
        config["presubmits"] = {repo: [{
            **_job(prow, site_name, charts, f"{prefix}-dry-run", dry_run=True),
            "always_run": True,
            "context": "taco/dry-run",
            "rerun_command": "/test dry-run",
            "trigger": r"(?m)^/test( | .* )(dry-run|all),?($|\s.*)",
        }] for repo in repos}
    if jobs.get("postsubmit", True):
        config["postsubmits"] = {repo: [{
            **_job(prow, site_name, charts, f"{prefix}-deploy", dry_run=False),
            "branches": [f"^{re.escape(branch)}$"],
            "max_concurrency": 1,
        }] for repo in repos}
    interval, cron = jobs.get("periodic_interval"), jobs.get("periodic_cron")
    if interval or cron:
        periodic = {
            **_job(prow, site_name, charts, f"{prefix}-drift-check", dry_run=True),
            "extra_refs": [{"org": prow["org"], "repo": prow["repos"][0],
                            "base_ref": branch}],
        }
        periodic["interval" if interval else "cron"] = interval or cron
        config["periodics"] = [periodic]
    return config


def prow_plugins(prow: Mapping[str, Any]) -> dict[str, Any]:
    """Prow's plugins.yaml: review (lgtm, approve), labels with the approval label, trigger."""
    prow = _plain(prow)
    repos = _repos(prow)
    label = str(prow.get("approval_label") or "approved-for-deploy")
    return {
        "plugins": {repo: {"plugins": list(PLUGINS)} for repo in repos},
        "approve": [{"repos": repos, "require_self_approval": True,
                     "lgtm_acts_as_approve": False}],
        "lgtm": [{"repos": repos, "review_acts_as_lgtm": True}],
        "label": {"additional_labels": [label]},
        "triggers": [{"repos": repos, "only_org_members": True}],
    }


# -- the starter manifest ------------------------------------------------------------------


def _documents(text: str, name: str) -> list[dict[str, Any]]:
    try:
        docs = [doc for doc in yaml.safe_load_all(text) if doc is not None]
    except yaml.YAMLError as error:
        raise _fail(name, f"the starter manifest is not YAML: {error}") from None
    for doc in docs:
        if not isinstance(doc, dict) or not doc.get("kind"):
            raise _fail(name, "every document of the starter manifest must be an object "
                        "with a kind")
    return docs


def _containers(doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    pod = ((doc.get("spec") or {}).get("template") or {}).get("spec") or {}
    return [*(pod.get("initContainers") or []), *(pod.get("containers") or [])]


def _prow_image(image: str) -> tuple[str, str] | None:
    """(component, tag) of an upstream Prow image, else None."""
    prefix = UPSTREAM_REGISTRY + "/"
    if not image.startswith(prefix) or ":" not in image[len(prefix):]:
        return None
    component, tag = image[len(prefix):].rsplit(":", 1)
    return component, tag


def prow_starter_tag(text: str) -> str:
    """The tag every upstream Prow image of the starter manifest uses (exactly one)."""
    text = str(text)
    tags = {found[1] for doc in _documents(text, "prow_starter_tag")
            for container in _containers(doc)
            if (found := _prow_image(str(container.get("image", "")))) is not None}
    if len(tags) != 1:
        raise _fail("prow_starter_tag", f"the starter manifest's Prow images use "
                    f"{len(tags)} tags ({', '.join(sorted(tags)) or 'none'}); expected one")
    return tags.pop()


def _fill(value: Any, placeholders: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        return _PLACEHOLDER.sub(lambda m: placeholders.get(m.group(0), m.group(0)), value)
    if isinstance(value, list):
        return [_fill(item, placeholders) for item in value]
    if isinstance(value, dict):
        return {key: _fill(item, placeholders) for key, item in value.items()}
    return value


def _unfilled(value: Any) -> list[str]:
    if isinstance(value, str):
        return _PLACEHOLDER.findall(value)
    if isinstance(value, list):
        return [found for item in value for found in _unfilled(item)]
    if isinstance(value, dict):
        return [found for item in value.values() for found in _unfilled(item)]
    return []


def _use_token(container: dict[str, Any]) -> None:
    """A GitHub token instead of an App: the token file replaces the App's flags."""
    args = container.get("args") or []
    kept = [arg for arg in args if not str(arg).startswith(("--github-app-id=",
                                                            "--github-app-private-key-path="))]
    if len(kept) != len(args):
        kept.append("--github-token-path=/etc/github/token")
        container["args"] = kept
    env = [item for item in container.get("env") or [] if item.get("name") != "GITHUB_APP_ID"]
    if env:
        container["env"] = env
    else:
        container.pop("env", None)


def _volumes_without_claims(doc: dict[str, Any]) -> None:
    pod = ((doc.get("spec") or {}).get("template") or {}).get("spec") or {}
    for volume in pod.get("volumes") or []:
        if "persistentVolumeClaim" in volume:
            del volume["persistentVolumeClaim"]
            volume["emptyDir"] = {}


def _jobs_rbac(site_name: str, charts: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """The jobs' ServiceAccount (in test-pods) may read the run templates and start and
    read PipelineRuns, in the pipeline's namespace only."""
    namespace = _pipeline_namespace(charts)
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}},
        {"apiVersion": "v1", "kind": "ServiceAccount",
         "metadata": {"name": JOBS_ACCOUNT, "namespace": POD_NAMESPACE}},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
         "metadata": {"name": JOBS_ACCOUNT, "namespace": namespace},
         "rules": [{"apiGroups": ["tekton.dev"], "resources": ["pipelineruns"],
                    "verbs": ["create", "get", "list", "watch"]},
                   {"apiGroups": [""], "resources": ["configmaps"],
                    "resourceNames": [_run_templates(site_name)], "verbs": ["get"]}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
         "metadata": {"name": JOBS_ACCOUNT, "namespace": namespace},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                     "name": JOBS_ACCOUNT},
         "subjects": [{"kind": "ServiceAccount", "name": JOBS_ACCOUNT,
                       "namespace": POD_NAMESPACE}]},
    ]


def _configmap(name: str, key: str, content: Mapping[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": PROW_NAMESPACE},
            "data": {key: yaml.safe_dump(dict(content), sort_keys=False)}}


def prow_components(
    starter: str, prow: Mapping[str, Any], site_name: str,
    charts: Mapping[str, Any] | None, tag: str,
) -> list[dict[str, Any]]:
    """Every object the role applies besides the CRD and the Secrets, namespaces first."""
    starter, prow, site_name, charts, tag = _plain((starter, prow, site_name, charts, tag))
    placeholders = {"$PROW_HOST": str(prow.get("host") or ""),
                    "$GITHUB_ORG": str(prow.get("org") or "")}
    app = bool(prow.get("github_app_id"))
    if app:
        placeholders["$GITHUB_APP_ID"] = str(prow["github_app_id"])
    objects: list[dict[str, Any]] = [
        _configmap("config", "config.yaml", prow_config(prow, site_name, charts, tag)),
        _configmap("plugins", "plugins.yaml", prow_plugins(prow)),
    ]
    for source in _documents(starter, "prow_components"):
        doc = copy.deepcopy(source)
        kind, meta = doc["kind"], doc.get("metadata") or {}
        if kind == "Secret":
            continue  # taco makes every Secret from the secrets file (prow_secrets)
        if kind == "ConfigMap" and meta.get("name") in ("config", "plugins"):
            continue  # taco's generated ones above
        if kind == "PersistentVolumeClaim":
            if not prow.get("storage_class"):
                continue
            doc["spec"]["storageClassName"] = prow["storage_class"]
        if kind == "Ingress":
            (meta.get("annotations") or {}).pop("cert-manager.io/cluster-issuer", None)
            if not meta.get("annotations"):
                meta.pop("annotations", None)
            if prow.get("ingress_class"):
                doc["spec"]["ingressClassName"] = prow["ingress_class"]
        for container in _containers(doc):
            found = _prow_image(str(container.get("image", "")))
            if found is not None:
                container["image"] = _image(prow, found[0], tag)
            if not app:
                _use_token(container)
        if not prow.get("storage_class"):
            _volumes_without_claims(doc)
        doc = _fill(doc, placeholders)
        left = sorted(set(_unfilled(doc)))
        if left:
            raise _fail("prow_components", f"{kind} {meta.get('name')}: placeholder(s) "
                        f"{', '.join(left)} of the starter manifest are not known to taco")
        objects.append(doc)
    objects.extend(_jobs_rbac(site_name, charts))
    # Namespaces first, so the namespaced objects of one apply find theirs.
    return sorted(objects, key=lambda doc: doc["kind"] != "Namespace")


def prow_annotated(objects: Iterable[Mapping[str, Any]],
                   annotations: Mapping[str, str]) -> list[dict[str, Any]]:
    """Copies of the objects with taco's annotations added (the revision they belong to)."""
    result = []
    for source in _plain(list(objects)):
        doc = dict(source)
        doc.setdefault("metadata", {}).setdefault("annotations", {}).update(annotations)
        result.append(doc)
    return result


def prow_live_annotations(text: str, key: str) -> list[str]:
    """The annotation `key` of each object `kubectl get -o json` printed ('' where unset)."""
    if not text.strip():
        return []
    data = json.loads(text)
    items = data.get("items") if data.get("kind", "").endswith("List") else [data]
    return [str(((item.get("metadata") or {}).get("annotations") or {}).get(key, ""))
            for item in items or []]


def prow_revision(objects: Iterable[Mapping[str, Any]]) -> str:
    """A digest naming what is applied: the objects without taco's annotations."""
    text = json.dumps(list(objects), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


# -- secrets -------------------------------------------------------------------------------


def prow_secret_problems(secrets: Any, app_id: Any) -> list[str]:
    """What is wrong with the secrets file's content; never quotes a value."""
    secrets, app_id = _plain((secrets, app_id))
    if not isinstance(secrets, dict):
        return ["the secrets file must be a YAML mapping of keys (hmac_token, github_token "
                "or github_app_private_key)"]
    problems = []
    unknown = sorted(set(map(str, secrets)) - SECRET_KEYS)
    if unknown:
        problems.append(f"unknown key(s) {', '.join(unknown)}; known: "
                        f"{', '.join(sorted(SECRET_KEYS))}")

    def text(key: str) -> str:
        value = secrets.get(key)
        return value.strip() if isinstance(value, str) else ""

    if not text("hmac_token"):
        problems.append("hmac_token is missing or empty (the webhook secret; generate one "
                        "with: openssl rand -hex 20)")
    if app_id:
        key = text("github_app_private_key")
        if not key:
            problems.append(f"prow.github_app_id is {app_id} but github_app_private_key is "
                            "missing or empty (the App's private key, PEM)")
        elif not (key.startswith("-----BEGIN") and key.endswith("PRIVATE KEY-----")):
            problems.append("github_app_private_key is not a PEM private key (-----BEGIN "
                            "... PRIVATE KEY-----)")
        if "github_token" in secrets:
            problems.append("github_token is set but prow.github_app_id says a GitHub App is "
                            "used; remove one of them")
    else:
        if not text("github_token"):
            problems.append("github_token is missing or empty (or set prow.github_app_id and "
                            "github_app_private_key for a GitHub App)")
        if "github_app_private_key" in secrets:
            problems.append("github_app_private_key is set but prow.github_app_id is not; set "
                            "the App's id in the site file, or remove the key")
    return problems


def _b64(value: str) -> str:
    return base64.b64encode(value.encode()).decode()


def _secret(name: str, namespace: str, data: Mapping[str, str]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": name, "namespace": namespace,
                         "labels": {MANAGED_LABEL: "secrets"}},
            "data": {key: _b64(value) for key, value in sorted(data.items())}}


def prow_blob_credentials(live: Mapping[str, Any] | None) -> dict[str, str] | None:
    """The blob store's (minio's) credentials the cluster already has, or None."""
    for item in (live or {}).get("items") or []:
        meta = item.get("metadata") or {}
        if meta.get("name") == "minio-root-creds" and meta.get("namespace") == PROW_NAMESPACE:
            data = item.get("data") or {}
            try:
                found = {key: base64.b64decode(data[key]).decode() for key in ("user",
                                                                              "password")}
            except (KeyError, ValueError):
                return None
            return found if all(found.values()) else None
    return None


def prow_secrets(secrets: Mapping[str, Any], app_id: Any,
                 blob: Mapping[str, str]) -> list[dict[str, Any]]:
    """The Secrets Prow's components read: webhook, GitHub and blob store credentials."""
    secrets, app_id, blob = _plain((secrets, app_id, blob))
    problems = prow_secret_problems(secrets, app_id)
    if problems:
        raise _fail("prow_secrets", "; ".join(problems))
    github = ({"cert": str(secrets["github_app_private_key"]).strip() + "\n",
               "appid": str(app_id)} if app_id
              else {"token": str(secrets["github_token"]).strip()})
    s3 = json.dumps({"region": "minio", "access_key": blob["user"],
                     "endpoint": f"minio.{PROW_NAMESPACE}.svc.cluster.local",
                     "insecure": True, "s3_force_path_style": True,
                     "secret_key": blob["password"]}, indent=2)
    return [
        _secret("hmac-token", PROW_NAMESPACE, {"hmac": str(secrets["hmac_token"]).strip()}),
        _secret("github-token", PROW_NAMESPACE, github),
        _secret("minio-root-creds", PROW_NAMESPACE, {"user": blob["user"],
                                                     "password": blob["password"]}),
        _secret("s3-credentials", PROW_NAMESPACE, {"service-account.json": s3}),
        _secret("s3-credentials", POD_NAMESPACE, {"service-account.json": s3}),
    ]


def prow_secrets_differ(wanted: Iterable[Mapping[str, Any]],
                        live: Mapping[str, Any] | None) -> bool:
    """Whether any wanted Secret is missing from the cluster or holds other data."""
    have = {((item.get("metadata") or {}).get("namespace"),
             (item.get("metadata") or {}).get("name")): item.get("data") or {}
            for item in (live or {}).get("items") or []}
    return any(have.get((doc["metadata"]["namespace"], doc["metadata"]["name"])) != doc["data"]
               for doc in wanted)


def prow_deployments(objects: Iterable[Mapping[str, Any]]) -> list[str]:
    """namespace/name of every Deployment applied: what must become Available."""
    return [f"{(doc.get('metadata') or {}).get('namespace', 'default')}/{doc['metadata']['name']}"
            for doc in objects if doc.get("kind") == "Deployment"]


def prow_not_available(text: str, wanted: Iterable[str]) -> list[str]:
    """namespace/name of each wanted Deployment that is missing or not Available.

    `text` is `kubectl get deployments -o json`; a missing one is named "(missing)".
    """
    live = json.loads(text) if text.strip() else {}
    available = {f"{item['metadata'].get('namespace', 'default')}/{item['metadata']['name']}":
                 any(c.get("type") == "Available" and c.get("status") == "True"
                     for c in (item.get("status") or {}).get("conditions") or [])
                 for item in live.get("items") or []}
    return [name if name in available else f"{name} (missing)" for name in wanted
            if not available.get(name, False)]


class FilterModule:
    """Ansible's entry point."""

    def filters(self) -> dict[str, Any]:
        return {
            "prow_config": prow_config,
            "prow_plugins": prow_plugins,
            "prow_starter_tag": prow_starter_tag,
            "prow_components": prow_components,
            "prow_revision": prow_revision,
            "prow_annotated": prow_annotated,
            "prow_live_annotations": prow_live_annotations,
            "prow_secret_problems": prow_secret_problems,
            "prow_blob_credentials": prow_blob_credentials,
            "prow_secrets": prow_secrets,
            "prow_secrets_differ": prow_secrets_differ,
            "prow_deployments": prow_deployments,
            "prow_not_available": prow_not_available,
        }
