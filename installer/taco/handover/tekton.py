"""Tekton objects (tekton.dev/v1) for the chart pipeline: a Task, a Pipeline, run templates.

- Task `taco-helm-upgrade`: one `helm upgrade --install --wait --atomic` of a chart with
  the values files named by ConfigMap key (the `values` workspace), parameters passed to
  the script through the environment, never pasted into it. With `dry-run` "true" it runs
  `helm upgrade --install --dry-run=server` instead (the API server checks the manifests,
  nothing changes). It prints the `revision` it deploys first, so the run's logs say which
  commit asked for it.
- Task `taco-helm-finally`: the pipeline's `finally`. A task that Tekton stopped at its
  timeout kills Helm before `--atomic` rolls back, leaving the release `pending-*`,
  which blocks every later upgrade ("another operation is in progress"). This task
  rolls such releases back (or uninstalls a first install that never finished) and
  prints and returns one line per chart: task status and release state. In a dry run it
  only reports: a release pending then belongs to someone else's run.
- Pipeline named after the site: a task per chart, `runAfter` from dependencies and
  group order (transitive reduction), a helm timeout per chart plus a margin on the task;
  params `helm-image`, `values-<chart>`, `dry-run` ("false") and `revision` ("", the git
  revision that asked for the run, e.g. from Prow).
- PipelineRun templates, one per environment, with `generateName`, without `dry-run` and
  `revision` (their defaults): a caller such as a Prow job appends them.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from taco.handover.graph import deploy_order, run_after
from taco.handover.values import chart_name

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from taco.site.model import Chart, Site

API_VERSION = "tekton.dev/v1"
HELM_TASK = "taco-helm-upgrade"
FINALLY_TASK = "taco-helm-finally"
# The finally task's name in the pipeline: no chart may take it.
FINALLY_NAME = "taco-finally"
VALUES_WORKSPACE = "values"
DRY_RUN_PARAM = "dry-run"
REVISION_PARAM = "revision"
# Room for `--atomic` to roll back after helm's own timeout, before Tekton kills the pod.
TASK_MARGIN_S = 300
FINALLY_TIMEOUT_S = 600
# The site model's default for charts.environments.<env>.service_account.
DEFAULT_SERVICE_ACCOUNT = "taco-chart-deployer"
SITE_LABEL = "taco.dev/site"
ENVIRONMENT_LABEL = "taco.dev/environment"
DIGEST_LABEL = "taco.dev/bundle-digest"
# Label values are at most 63 characters: 32 hex digits of the sha256 are plenty.
DIGEST_LENGTH = 32

_DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


def seconds(duration: str) -> int:
    """A Go duration of hours, minutes and seconds (10m, 1h30m) in seconds."""
    match = _DURATION.match(duration)
    if not match or not duration:
        raise ValueError(f"not a duration: {duration!r}")
    hours, minutes, secs = (int(part or 0) for part in match.groups())
    return hours * 3600 + minutes * 60 + secs


def duration(total: int) -> str:
    """Seconds as Go prints a duration (1h5m0s, 15m0s, 30s), as Tekton shows it back."""
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    return f"{minutes}m{secs}s" if minutes else f"{secs}s"


def values_param(release: str) -> str:
    return f"values-{release}"


def _param(name: str, description: str, default: str | None = None) -> dict[str, Any]:
    param: dict[str, Any] = {"name": name, "type": "string", "description": description}
    if default is not None:
        param["default"] = default
    return param


_UPGRADE_SCRIPT = """\
#!/bin/sh
# Values files are ConfigMap keys in the values workspace, applied in the order given.
set -eu
set --
for key in $VALUES; do
  set -- "$@" --values "$VALUES_DIR/$key"
done
case "$CHART" in
  ./*) CHART="$VALUES_DIR/${CHART#./}" ;;
esac
if [ -n "$REPO_URL" ]; then set -- "$@" --repo "$REPO_URL"; fi
if [ -n "$CHART_VERSION" ]; then set -- "$@" --version "$CHART_VERSION"; fi
echo "release $RELEASE: revision ${REVISION:-unknown}, dry run: $DRY_RUN"
if [ "$DRY_RUN" = true ]; then
  # The API server validates what would change; --wait/--atomic mean nothing here.
  exec helm upgrade --install "$RELEASE" "$CHART" --namespace "$NAMESPACE" \\
    --dry-run=server --timeout "$HELM_TIMEOUT" "$@"
fi
exec helm upgrade --install "$RELEASE" "$CHART" --namespace "$NAMESPACE" \\
  --create-namespace --wait --atomic --timeout "$HELM_TIMEOUT" "$@"
"""

_FINALLY_SCRIPT = """\
#!/bin/sh
# One line per chart: release, namespace, task status; unlock releases left pending.
set -u
failed=0
: > "$SUMMARY"
for entry in $CHARTS; do
  release=${entry%%:*}; rest=${entry#*:}; namespace=${rest%%:*}; status=${rest#*:}
  state=$(helm status "$release" --namespace "$namespace" 2>/dev/null \\
    | sed -n 's/^STATUS: //p')
  case "$DRY_RUN:$state" in
    true:pending-*)
      # A dry run changed nothing: the pending release is another run's to finish.
      state="$state, left alone (dry run)" ;;
    *:pending-*)
      if helm rollback "$release" --namespace "$namespace" --wait; then
        state="$state, rolled back"
      elif helm uninstall "$release" --namespace "$namespace" --wait; then
        state="$state, uninstalled"
      else
        state="$state, still locked"; failed=1
      fi ;;
  esac
  [ "$status" = Failed ] && failed=1
  echo "$release $namespace task=$status release=${state:-absent}" | tee -a "$SUMMARY"
done
exit $failed
"""


def helm_task(image: str, namespace: str) -> dict[str, Any]:
    """The Task every chart runs."""
    env = [
        ("RELEASE", "release"), ("CHART", "chart"), ("REPO_URL", "repo-url"),
        ("CHART_VERSION", "version"), ("NAMESPACE", "namespace"), ("VALUES", "values"),
        ("HELM_TIMEOUT", "timeout"), ("DRY_RUN", DRY_RUN_PARAM), ("REVISION", REVISION_PARAM),
    ]
    return {
        "apiVersion": API_VERSION,
        "kind": "Task",
        "metadata": {"name": HELM_TASK, "namespace": namespace},
        "spec": {
            "description": "helm upgrade --install one chart with the site's values, "
                           "waiting for it and rolling back if it fails (or only "
                           "--dry-run=server).",
            "params": [
                _param("release", "Helm release name"),
                _param("chart", "chart name in repo-url, or ./FILE.tgz in the values workspace"),
                _param("repo-url", "chart repository URL (empty for a packaged chart)", ""),
                _param("version", "chart version (empty: the newest)", ""),
                _param("namespace", "namespace of the release", "openstack"),
                _param("values", "values files: workspace keys, space-separated, in order", ""),
                _param("timeout", "helm --timeout", "10m0s"),
                _param("image", "image with helm and a POSIX shell", image),
                _param(DRY_RUN_PARAM, "true: helm --dry-run=server, nothing changes", "false"),
                _param(REVISION_PARAM, "the git revision that asked for the run (logged)", ""),
            ],
            "workspaces": [{"name": VALUES_WORKSPACE, "readOnly": True,
                            "description": "the values files (a ConfigMap)"}],
            "steps": [{
                "name": "upgrade",
                "image": "$(params.image)",
                "env": [{"name": name, "value": f"$(params.{param})"} for name, param in env]
                + [{"name": "VALUES_DIR", "value": f"$(workspaces.{VALUES_WORKSPACE}.path)"}],
                "script": _UPGRADE_SCRIPT,
            }],
        },
    }


def finally_task(image: str, namespace: str) -> dict[str, Any]:
    """The Task the pipeline runs last, whatever happened."""
    return {
        "apiVersion": API_VERSION,
        "kind": "Task",
        "metadata": {"name": FINALLY_TASK, "namespace": namespace},
        "spec": {
            "description": "Roll back releases a stopped task left pending; summarise the run.",
            "params": [
                _param("charts", "release:namespace:task-status entries, space-separated"),
                _param("image", "image with helm and a POSIX shell", image),
                _param(DRY_RUN_PARAM, "true: report only, roll nothing back", "false"),
            ],
            "results": [{"name": "summary", "description": "one line per chart"}],
            "steps": [{
                "name": "summarise",
                "image": "$(params.image)",
                "env": [{"name": "CHARTS", "value": "$(params.charts)"},
                        {"name": "DRY_RUN", "value": f"$(params.{DRY_RUN_PARAM})"},
                        {"name": "SUMMARY", "value": "$(results.summary.path)"}],
                "script": _FINALLY_SCRIPT,
            }],
        },
    }


def repository_url(site: Site, chart: Chart) -> str:
    """The chart's repository URL, or empty for a chart taken from a local directory."""
    if is_local_chart(chart.chart):
        return ""
    repo = chart.chart.split("/", 1)[0]
    urls = {r.name: r.url for r in site.helm.repositories}
    return urls.get(repo, "")


def is_local_chart(reference: str) -> bool:
    return reference.startswith(("./", "../", "/"))


def chart_param(chart: Chart) -> str:
    """What the Task's `chart` param gets: the name in its repository, or the packaged file."""
    if is_local_chart(chart.chart):
        return f"./{package_key(chart.name)}"
    return chart_name(chart.chart)


def package_key(release: str) -> str:
    return f"{release}.chart.tgz"


def pipeline(site: Site, base_values: Mapping[str, Sequence[str]]) -> dict[str, Any]:
    """The site's chart pipeline; `base_values` are each chart's workspace keys."""
    charts = {c.name: c for g in site.charts.groups for c in g.charts}
    after = run_after(site.charts)
    tasks = []
    for name in deploy_order(site.charts):
        chart = charts[name]
        task: dict[str, Any] = {
            "name": name,
            "taskRef": {"name": HELM_TASK},
            "params": [
                {"name": "release", "value": name},
                {"name": "chart", "value": chart_param(chart)},
                {"name": "repo-url", "value": repository_url(site, chart)},
                {"name": "version", "value": chart.version or ""},
                {"name": "namespace", "value": chart.namespace},
                {"name": "values", "value": f"$(params.{values_param(name)})"},
                {"name": "timeout", "value": duration(seconds(chart.timeout))},
                {"name": "image", "value": "$(params.helm-image)"},
                {"name": DRY_RUN_PARAM, "value": f"$(params.{DRY_RUN_PARAM})"},
                {"name": REVISION_PARAM, "value": f"$(params.{REVISION_PARAM})"},
            ],
            "workspaces": [{"name": VALUES_WORKSPACE, "workspace": VALUES_WORKSPACE}],
            "timeout": duration(seconds(chart.timeout) + TASK_MARGIN_S),
        }
        if after[name]:
            task["runAfter"] = after[name]
        tasks.append(task)
    statuses = " ".join(f"{t['name']}:{charts[t['name']].namespace}:$(tasks.{t['name']}.status)"
                        for t in tasks)
    params = [_param("helm-image", "image the Helm steps run in", site.charts.helm_image)]
    params += [_param(values_param(t["name"]), f"values files of {t['name']} (workspace keys)",
                      " ".join(base_values.get(t["name"], ()))) for t in tasks]
    params += [_param(DRY_RUN_PARAM, "true: validate with helm --dry-run=server, change "
                      "nothing", "false"),
               _param(REVISION_PARAM, "the git revision that asked for this run (logged "
                      "by every chart's task)", "")]
    return {
        "apiVersion": API_VERSION,
        "kind": "Pipeline",
        "metadata": {"name": site.name, "namespace": site.charts.pipeline_namespace,
                     "labels": {SITE_LABEL: site.name}},
        "spec": {
            "description": f"Deploy the charts of site {site.name}, in dependency order.",
            "params": params,
            "workspaces": [{"name": VALUES_WORKSPACE,
                            "description": "values files and packaged charts"}],
            "tasks": tasks,
            "finally": [{
                "name": FINALLY_NAME,
                "taskRef": {"name": FINALLY_TASK},
                "params": [{"name": "charts", "value": statuses},
                           {"name": "image", "value": "$(params.helm-image)"},
                           {"name": DRY_RUN_PARAM, "value": f"$(params.{DRY_RUN_PARAM})"}],
                "timeout": duration(FINALLY_TIMEOUT_S),
            }],
        },
    }


def pipeline_timeout(site: Site) -> int:
    """The longest chain of task timeouts plus the finally task: a whole run's budget."""
    charts = {c.name: c for g in site.charts.groups for c in g.charts}
    after = run_after(site.charts)
    finish: dict[str, int] = {}
    for name in deploy_order(site.charts):
        start = max((finish[n] for n in after[name]), default=0)
        finish[name] = start + seconds(charts[name].timeout) + TASK_MARGIN_S
    return max(finish.values(), default=0) + FINALLY_TIMEOUT_S


def pipeline_run(
    site: Site, environment: str, values: Mapping[str, Sequence[str]], config_map: str,
    digest: str,
) -> dict[str, Any]:
    """The PipelineRun template of one environment: `kubectl create` it to start a run."""
    settings = site.charts.environments.get(environment)
    timeout = settings.timeout if settings and settings.timeout else None
    total = seconds(timeout) if timeout else pipeline_timeout(site)
    account = settings.service_account if settings else DEFAULT_SERVICE_ACCOUNT
    return {
        "apiVersion": API_VERSION,
        "kind": "PipelineRun",
        "metadata": {
            "generateName": f"{site.name}-{environment}-"[:57],
            "namespace": site.charts.pipeline_namespace,
            # The role starts a run only when none carries the current digest.
            "labels": {SITE_LABEL: site.name, ENVIRONMENT_LABEL: environment,
                       DIGEST_LABEL: digest[:DIGEST_LENGTH]},
        },
        "spec": {
            "pipelineRef": {"name": site.name},
            "params": [{"name": values_param(name), "value": " ".join(keys)}
                       for name, keys in sorted(values.items())],
            "workspaces": [{"name": VALUES_WORKSPACE, "configMap": {"name": config_map}}],
            "taskRunTemplate": {"serviceAccountName": account},
            "timeouts": {"pipeline": duration(total)},
        },
    }
