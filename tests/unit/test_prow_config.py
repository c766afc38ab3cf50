"""roles/prow's generated objects, checked against the structure Prow and Tekton document.

config.yaml (prowjob_namespace, pod_namespace, plank, sinker, deck, tide, presubmits,
postsubmits, periodics), plugins.yaml, the starter manifest made fit for a site
(tests/fixtures/prow/starter-shape.yaml: a hand-written shape of Prow's starter-s3.yaml), and
the Secrets from the secrets file.
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from ansible.errors import AnsibleFilterError
from rolecode import load_module

ROOT = Path(__file__).resolve().parents[2]
FILTERS = load_module(ROOT / "roles" / "prow" / "filter_plugins" / "prow_filters.py",
                      "prow_filters")
STARTER = (ROOT / "tests" / "fixtures" / "prow" / "starter-shape.yaml").read_text()
TAG = "v20240802-66b115076"
NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
COMPONENTS = {"hook", "tide", "deck", "horologium", "sinker", "prow-controller-manager", "crier",
              "ghproxy", "statusreconciler"}


def settings(**changes: Any) -> dict[str, Any]:
    """taco_prow as the inventory gives it (the model's defaults plus a site's values)."""
    prow: dict[str, Any] = {
        "enabled": True, "host": "prow.example.com", "org": "acme",
        "repos": ["site-config", "charts"], "github_app_id": None,
        "secrets_file": "/srv/site/secrets.yml", "approval_label": "approved-for-deploy",
        "jobs": {"presubmit": True, "postsubmit": True, "branch": "main",
                 "periodic_interval": "24h", "periodic_cron": None, "timeout": "2h"},
        "image_tag": None, "image_registry": "us-docker.pkg.dev/k8s-infra-prow/images",
        "job_image": "docker.io/alpine/k8s:1.35.4", "ingress_class": None, "storage_class": None,
        "ready_timeout": 300,
    }
    prow.update(changes)
    return prow


def config(**changes: Any) -> dict[str, Any]:
    result: dict[str, Any] = FILTERS.prow_config(settings(**changes), "demo",
                                                 {"environment": "prod"}, TAG)
    return result


def all_jobs(conf: dict[str, Any]) -> list[dict[str, Any]]:
    return [*(job for jobs in conf.get("presubmits", {}).values() for job in jobs),
            *(job for jobs in conf.get("postsubmits", {}).values() for job in jobs),
            *conf.get("periodics", [])]


def test_config_has_prows_sections_and_namespaces() -> None:
    conf = config()
    assert set(conf) == {"prowjob_namespace", "pod_namespace", "decorate_all_jobs", "plank",
                         "sinker", "deck", "tide", "presubmits", "postsubmits", "periodics"}
    assert (conf["prowjob_namespace"], conf["pod_namespace"]) == ("prow", "test-pods")
    assert set(conf["sinker"]) == {"resync_period", "max_prowjob_age", "max_pod_age",
                                   "terminated_pod_ttl"}
    assert conf["plank"]["job_url_prefix_config"] == {"*": "https://prow.example.com/view/"}
    # The whole config survives a YAML round trip as Prow reads it.
    assert yaml.safe_load(yaml.safe_dump(conf)) == conf


def test_tide_merges_only_with_review_and_the_approval_label() -> None:
    query = config(approval_label="ship-it")["tide"]["queries"]
    assert query == [{"repos": ["acme/site-config", "acme/charts"],
                      "labels": ["lgtm", "approved", "ship-it"],
                      "missingLabels": ["needs-rebase", "do-not-merge/hold",
                                        "do-not-merge/work-in-progress",
                                        "do-not-merge/invalid-owners-file"]}]


def test_utility_images_share_the_component_tag_and_registry() -> None:
    conf = FILTERS.prow_config(settings(image_registry="registry.lab:5000/prow"), "demo", {},
                               "v20990101-abcdef012")
    images = conf["plank"]["default_decoration_config_entries"][0]["config"]["utility_images"]
    assert images == {name: f"registry.lab:5000/prow/{name}:v20990101-abcdef012"
                      for name in ("clonerefs", "entrypoint", "initupload", "sidecar")}


def test_github_app_or_token_in_the_decoration() -> None:
    token = config()["plank"]["default_decoration_config_entries"][0]["config"]
    assert token["oauth_token_secret"] == {"name": "github-token", "key": "token"}
    assert "github_app_id" not in token
    app = config(github_app_id=4242)["plank"]["default_decoration_config_entries"][0]["config"]
    assert app["github_app_id"] == "4242"
    assert app["github_app_private_key_secret"] == {"name": "github-token", "key": "cert"}


def test_jobs_are_valid_prow_jobs_that_start_the_sites_pipeline() -> None:
    conf = config()
    jobs = all_jobs(conf)
    assert [job["name"] for job in jobs] == ["taco-demo-dry-run", "taco-demo-dry-run",
                                             "taco-demo-deploy", "taco-demo-deploy",
                                             "taco-demo-drift-check"]
    for job in jobs:
        # Prow job names become label values: a DNS label at most 63 long.
        assert NAME.match(job["name"]) and len(job["name"]) <= 63
        assert job["agent"] == "kubernetes" and job["decorate"] is True
        container = job["spec"]["containers"][0]
        assert container["image"] == "docker.io/alpine/k8s:1.35.4"
        assert container["command"] == ["/bin/sh", "-c"]
        assert job["spec"]["serviceAccountName"] == "taco-prow-jobs"
        env = {item["name"]: item["value"] for item in container["env"]}
        # The handover phase's run templates, in its namespace (charts' default), for the
        # site's environment (tests/unit/test_prow_job.py runs the script with them).
        assert env["TACO_NAMESPACE"] == "taco-charts"
        assert env["TACO_TEMPLATES"] == "demo-run-templates"
        assert env["TACO_ENVIRONMENT"] == "prod"
        assert env["TACO_DRY_RUN"] == ("false" if job["name"].endswith("deploy") else "true")
        assert env["TACO_JOB"] == job["name"]
        assert env["TACO_TIMEOUT_S"] == "7200"


def test_presubmit_rerun_command_matches_its_trigger() -> None:
    # Prow refuses a presubmit whose rerun_command does not match its trigger.
    for job in config()["presubmits"]["acme/site-config"]:
        assert re.search(job["trigger"], job["rerun_command"])
        assert re.search(job["trigger"], "/test all")
        assert not re.search(job["trigger"], "/test deploy")


def test_postsubmit_runs_on_the_main_branch_only() -> None:
    job = config(jobs={"branch": "release/2026"})["postsubmits"]["acme/charts"][0]
    assert job["branches"] == ["^release/2026$"]
    assert re.search(job["branches"][0], "release/2026")
    assert not re.search(job["branches"][0], "release/2026-x")
    assert job["max_concurrency"] == 1


def test_periodic_interval_cron_or_none() -> None:
    assert config()["periodics"][0]["interval"] == "24h"
    cron = config(jobs={"periodic_interval": None, "periodic_cron": "0 3 * * *"})["periodics"]
    assert cron[0]["cron"] == "0 3 * * *" and "interval" not in cron[0]
    assert cron[0]["extra_refs"] == [{"org": "acme", "repo": "site-config", "base_ref": "main"}]
    assert "periodics" not in config(jobs={"periodic_interval": None})


def test_disabled_jobs_are_left_out_and_names_follow_the_site() -> None:
    conf = FILTERS.prow_config(settings(jobs={"presubmit": False, "postsubmit": False,
                                              "periodic_interval": "6h"}),
                               "openstack", {"pipeline_namespace": "deploys"}, TAG)
    assert "presubmits" not in conf and "postsubmits" not in conf
    assert conf["periodics"][0]["name"] == "taco-openstack-drift-check"
    env = {e["name"]: e["value"] for e in conf["periodics"][0]["spec"]["containers"][0]["env"]}
    assert (env["TACO_NAMESPACE"], env["TACO_TEMPLATES"]) == ("deploys",
                                                              "openstack-run-templates")


def test_plugins_enable_review_and_the_approval_label() -> None:
    plugins = FILTERS.prow_plugins(settings(approval_label="ship-it"))
    assert set(plugins["plugins"]) == {"acme/site-config", "acme/charts"}
    for entry in plugins["plugins"].values():
        assert {"approve", "lgtm", "label", "trigger", "hold"} <= set(entry["plugins"])
    assert plugins["label"] == {"additional_labels": ["ship-it"]}
    assert plugins["approve"][0]["repos"] == ["acme/site-config", "acme/charts"]
    assert plugins["lgtm"][0]["repos"] == ["acme/site-config", "acme/charts"]
    assert plugins["triggers"][0]["only_org_members"] is True


# -- the starter -----------------------------------------------------------------------------


def by_name(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    return next(o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name)


def test_starter_tag_is_the_one_its_prow_images_use() -> None:
    assert FILTERS.prow_starter_tag(STARTER) == TAG
    mixed = STARTER.replace("sinker:" + TAG, "sinker:v20250101-000000000")
    with pytest.raises(AnsibleFilterError, match="use 2 tags"):
        FILTERS.prow_starter_tag(mixed)


def test_components_without_secrets_with_taco_configmaps() -> None:
    objects = FILTERS.prow_components(STARTER, settings(), "demo", {}, TAG)
    assert not [o for o in objects if o["kind"] == "Secret"]
    configmaps = [o for o in objects if o["kind"] == "ConfigMap"]
    assert [c["metadata"]["name"] for c in configmaps] == ["config", "plugins"]
    assert yaml.safe_load(configmaps[0]["data"]["config.yaml"]) == \
        FILTERS.prow_config(settings(), "demo", {}, TAG)
    assert {o["metadata"]["name"] for o in objects if o["kind"] == "Deployment"} >= COMPONENTS
    # Namespaces come first so one apply creates them before their objects.
    kinds = [o["kind"] for o in objects]
    assert kinds[: kinds.count("Namespace")] == ["Namespace"] * kinds.count("Namespace")
    assert {o["metadata"]["name"] for o in objects if o["kind"] == "Namespace"} == \
        {"prow", "test-pods", "taco-charts"}
    # No placeholder of the starter is left (taco's ConfigMaps hold the jobs' shell script).
    starter_objects = [o for o in objects if o["kind"] != "ConfigMap"]
    assert not re.findall(r"\$[A-Z][A-Z0-9_]*", json.dumps(starter_objects))


def test_images_are_retagged_to_the_sites_registry() -> None:
    objects = FILTERS.prow_components(STARTER, settings(image_registry="reg.lab/prow"),
                                      "demo", {}, "v2099")
    images = [c["image"] for o in objects if o["kind"] == "Deployment"
              for c in o["spec"]["template"]["spec"]["containers"]]
    assert "reg.lab/prow/hook:v2099" in images
    assert "reg.lab/prow/status-reconciler:v2099" in images
    assert not [image for image in images if "k8s-infra-prow" in image]
    assert "minio/minio:latest" in images  # not a Prow image: left alone


def test_token_mode_replaces_the_app_flags() -> None:
    objects = FILTERS.prow_components(STARTER, settings(), "demo", {}, TAG)
    hook = by_name(objects, "Deployment", "hook")["spec"]["template"]["spec"]["containers"][0]
    assert "--github-token-path=/etc/github/token" in hook["args"]
    assert not [a for a in hook["args"] if a.startswith("--github-app")]
    assert "env" not in hook
    sinker = by_name(objects, "Deployment", "sinker")["spec"]["template"]["spec"]
    assert "--github-token-path=/etc/github/token" not in sinker["containers"][0]["args"]


def test_app_mode_keeps_the_app_flags() -> None:
    objects = FILTERS.prow_components(STARTER, settings(github_app_id=77), "demo", {}, TAG)
    hook = by_name(objects, "Deployment", "hook")["spec"]["template"]["spec"]["containers"][0]
    assert "--github-app-id=$(GITHUB_APP_ID)" in hook["args"]
    assert hook["env"][0]["valueFrom"]["secretKeyRef"] == {"name": "github-token",
                                                           "key": "appid"}


def test_ingress_serves_the_hook_on_the_sites_host() -> None:
    objects = FILTERS.prow_components(STARTER, settings(ingress_class="nginx"), "demo", {}, TAG)
    ingress = by_name(objects, "Ingress", "prow")
    assert ingress["spec"]["ingressClassName"] == "nginx"
    assert "annotations" not in ingress["metadata"]
    rule = ingress["spec"]["rules"][0]
    assert rule["host"] == "prow.example.com"
    assert {"path": "/hook", "pathType": "Prefix",
            "backend": {"service": {"name": "hook", "port": {"number": 8888}}}} in \
        rule["http"]["paths"]
    assert by_name(objects, "Service", "hook")["spec"]["ports"] == [{"port": 8888}]


def test_volumes_without_a_storage_class_are_empty_dirs() -> None:
    objects = FILTERS.prow_components(STARTER, settings(), "demo", {}, TAG)
    assert not [o for o in objects if o["kind"] == "PersistentVolumeClaim"]
    ghproxy = by_name(objects, "Deployment", "ghproxy")["spec"]["template"]["spec"]
    assert ghproxy["volumes"] == [{"name": "cache", "emptyDir": {}}]
    classed = FILTERS.prow_components(STARTER, settings(storage_class="ceph"), "demo", {}, TAG)
    claims = [o for o in classed if o["kind"] == "PersistentVolumeClaim"]
    assert {c["spec"]["storageClassName"] for c in claims} == {"ceph"}


def test_jobs_may_read_templates_and_start_pipelineruns_in_the_pipeline_namespace() -> None:
    objects = FILTERS.prow_components(STARTER, settings(), "demo",
                                      {"pipeline_namespace": "deploys"}, TAG)
    role = by_name(objects, "Role", "taco-prow-jobs")
    assert role["metadata"]["namespace"] == "deploys"
    assert role["rules"] == [{"apiGroups": ["tekton.dev"], "resources": ["pipelineruns"],
                              "verbs": ["create", "get", "list", "watch"]},
                             {"apiGroups": [""], "resources": ["configmaps"],
                              "resourceNames": ["demo-run-templates"], "verbs": ["get"]}]
    binding = by_name(objects, "RoleBinding", "taco-prow-jobs")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "taco-prow-jobs",
                                    "namespace": "test-pods"}]


def test_an_unknown_placeholder_is_an_error() -> None:
    starter = STARTER.replace("--spyglass=true", "--spyglass=$SPYGLASS_MODE")
    with pytest.raises(AnsibleFilterError, match=r"\$SPYGLASS_MODE"):
        FILTERS.prow_components(starter, settings(), "demo", {}, TAG)


def test_revision_changes_with_the_site_and_annotations_are_added_to_copies() -> None:
    one = FILTERS.prow_components(STARTER, settings(), "demo", {}, TAG)
    other = FILTERS.prow_components(STARTER, settings(approval_label="go"), "demo", {}, TAG)
    assert FILTERS.prow_revision(one) == FILTERS.prow_revision(
        FILTERS.prow_components(STARTER, settings(), "demo", {}, TAG))
    assert FILTERS.prow_revision(one) != FILTERS.prow_revision(other)
    annotated = FILTERS.prow_annotated(one, {"taco.dev/prow-revision": "r1"})
    assert all(o["metadata"]["annotations"]["taco.dev/prow-revision"] == "r1" for o in annotated)
    assert "annotations" not in one[0]["metadata"]


def test_live_annotations_and_unavailable_deployments() -> None:
    live = {"kind": "List", "items": [
        {"metadata": {"name": "config", "annotations": {"taco.dev/prow-revision": "r1"}}},
        {"metadata": {"name": "hook"}}]}
    assert FILTERS.prow_live_annotations(json.dumps(live), "taco.dev/prow-revision") == \
        ["r1", ""]
    assert FILTERS.prow_live_annotations("", "x") == []
    deployments = {"items": [
        {"metadata": {"name": "hook", "namespace": "prow"},
         "status": {"conditions": [{"type": "Available", "status": "True"}]}},
        {"metadata": {"name": "tide", "namespace": "prow"},
         "status": {"conditions": [{"type": "Available", "status": "False"}]}}]}
    assert FILTERS.prow_not_available(json.dumps(deployments),
                                      ["prow/hook", "prow/tide", "prow/deck"]) == \
        ["prow/tide", "prow/deck (missing)"]


# -- secrets ---------------------------------------------------------------------------------

KEY = "-----BEGIN RSA PRIVATE KEY-----\nSECRETBODY\n-----END RSA PRIVATE KEY-----\n"
BLOB = {"user": "prow-abc", "password": "BLOBPASSWORD"}


@pytest.mark.parametrize(("secrets", "app_id", "phrase"), [
    ("just text", None, "must be a YAML mapping"),
    ({"github_token": "TOKENVALUE"}, None, "hmac_token is missing"),
    ({"hmac_token": "HMACVALUE"}, None, "github_token is missing"),
    ({"hmac_token": "HMACVALUE", "github_token": "TOKENVALUE"}, 42,
     "github_app_private_key is missing"),
    ({"hmac_token": "HMACVALUE", "github_app_private_key": "NOTPEM"}, 42, "not a PEM"),
    ({"hmac_token": "HMACVALUE", "github_token": "TOKENVALUE", "github_app_private_key": KEY},
     None, "prow.github_app_id is not"),
    ({"hmac_token": "HMACVALUE", "github_token": "TOKENVALUE", "extra": "EXTRAVALUE"}, None,
     "unknown key(s) extra"),
])
def test_secret_problems_name_keys_never_values(secrets: Any, app_id: Any, phrase: str) -> None:
    problems = FILTERS.prow_secret_problems(secrets, app_id)
    text = " ".join(problems)
    assert phrase in text
    for value in ("TOKENVALUE", "HMACVALUE", "SECRETBODY", "NOTPEM", "EXTRAVALUE"):
        assert value not in text


def test_secrets_for_an_app() -> None:
    wanted = FILTERS.prow_secrets({"hmac_token": "h1 ", "github_app_private_key": KEY}, 42, BLOB)
    found = {(s["metadata"]["namespace"], s["metadata"]["name"]):
             {k: base64.b64decode(v).decode() for k, v in s["data"].items()} for s in wanted}
    assert found[("prow", "hmac-token")] == {"hmac": "h1"}
    assert found[("prow", "github-token")] == {"cert": KEY, "appid": "42"}
    assert found[("prow", "minio-root-creds")] == BLOB
    s3 = json.loads(found[("test-pods", "s3-credentials")]["service-account.json"])
    assert s3["access_key"] == "prow-abc" and s3["secret_key"] == "BLOBPASSWORD"
    assert s3["endpoint"] == "minio.prow.svc.cluster.local"
    assert found[("prow", "s3-credentials")] == found[("test-pods", "s3-credentials")]
    assert all(s["metadata"]["labels"] == {"taco.dev/prow": "secrets"} for s in wanted)


def test_secrets_for_a_token_and_bad_input_raises_without_values() -> None:
    wanted = FILTERS.prow_secrets({"hmac_token": "h", "github_token": "t0k"}, None, BLOB)
    github = next(s for s in wanted if s["metadata"]["name"] == "github-token")
    assert github["data"] == {"token": base64.b64encode(b"t0k").decode()}
    with pytest.raises(AnsibleFilterError) as raised:
        FILTERS.prow_secrets({"github_token": "TOKENVALUE"}, None, BLOB)
    assert "TOKENVALUE" not in str(raised.value)


def test_blob_credentials_are_kept_and_differences_found() -> None:
    wanted = FILTERS.prow_secrets({"hmac_token": "h", "github_token": "t"}, None, BLOB)
    live = {"items": wanted}
    assert FILTERS.prow_blob_credentials(live) == BLOB
    assert FILTERS.prow_blob_credentials({"items": []}) is None
    assert FILTERS.prow_secrets_differ(wanted, live) is False
    assert FILTERS.prow_secrets_differ(wanted, {"items": wanted[1:]}) is True
    changed = FILTERS.prow_secrets({"hmac_token": "h2", "github_token": "t"}, None, BLOB)
    assert FILTERS.prow_secrets_differ(changed, live) is True


# -- the role's own files ---------------------------------------------------------------------

SECRET_VAR = re.compile(r"\b(prow_secrets|prow_secret_objects|prow_secrets_live)\b")
META = {"name", "when", "no_log", "vars", "register", "changed_when", "failed_when",
        "check_mode", "delegate_to", "become", "tags", "loop", "loop_control", "run_once"}


def _tasks(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    found = []
    for task in items or []:
        found.append(task)
        for key in ("block", "rescue", "always"):
            found.extend(_tasks(task.get(key) or []))
    return found


def test_every_task_handling_a_secret_has_no_log() -> None:
    tasks = [task for path in sorted((ROOT / "roles" / "prow" / "tasks").glob("*.yml"))
             for task in _tasks(yaml.safe_load(path.read_text()))]
    handling = []
    for task in tasks:
        if any(key in task for key in ("block", "import_tasks", "include_role")):
            continue
        module = next(key for key in task if key not in META)
        args = json.dumps({module: task[module], "vars": task.get("vars"),
                           "register": task.get("register")})
        if module == "ansible.builtin.assert":
            # An assert may test secret values but never print them.
            assert not SECRET_VAR.search(str(task[module].get("fail_msg", ""))), task["name"]
            continue
        applies_secrets = "prow_secrets_tempfile.path" in args and module.endswith("command")
        if SECRET_VAR.search(args) or applies_secrets or \
                module == "ansible.builtin.include_vars":
            handling.append(task["name"])
            assert task.get("no_log") is True, task["name"]
    # The reads, the build, the comparison, the temp file and the apply.
    assert len(handling) >= 6, handling
