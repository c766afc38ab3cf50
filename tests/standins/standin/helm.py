"""STAND-IN helm 3.18: repositories for real, releases recorded the way Helm 3 records them.

`repo add` and `repo update` fetch <url>/index.yaml over HTTP(S) and refuse what is not a
chart repository. `upgrade --install` resolves the chart (repository index, local directory
or .tgz), downloads it and checks its digest, validates Chart.yaml and every values file, and
stores the release as Helm 3 does: a Secret sh.helm.release.v1.<name>.v<revision> of type
helm.sh/release.v1 holding base64(gzip(JSON)). Templates are NOT rendered: a release applies
no objects to the cluster (the stand-in says so on stderr).
"""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import hashlib
import io
import json
import os
import re
import ssl
import sys
import tarfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

from standin import HELM_VERSION, STAND_IN_NOTE, host, kinds, kubeconfig, yamlio
from standin.client import ApiClient, ApiError, Unreachable
from standin.flags import Flag, parse
from standin.host import Failure

RELEASE_TYPE = "helm.sh/release.v1"
COMMON = [Flag("kubeconfig"), Flag("namespace", short="n"), Flag("kube-context"),
          Flag("debug", "bool"), Flag("repository-config"), Flag("repository-cache"),
          Flag("registry-config")]


def say(text: str) -> None:
    print(text, flush=True)


def _home_path(env: str, xdg: str, fallback: str, leaf: str) -> Path:
    if os.environ.get(env):
        return Path(os.environ[env])
    base = os.environ.get(xdg)
    if base:
        return Path(base) / leaf
    return host.path(os.path.expanduser(fallback)) / leaf


def repository_config(values: dict[str, Any]) -> Path:
    if values.get("repository-config"):
        return Path(values["repository-config"])
    return _home_path("HELM_REPOSITORY_CONFIG", "XDG_CONFIG_HOME", "~/.config",
                      "helm/repositories.yaml")


def repository_cache(values: dict[str, Any]) -> Path:
    if values.get("repository-cache"):
        return Path(values["repository-cache"])
    return _home_path("HELM_REPOSITORY_CACHE", "XDG_CACHE_HOME", "~/.cache", "helm/repository")


def _load_repositories(values: dict[str, Any]) -> dict[str, Any]:
    path = repository_config(values)
    if not path.exists():
        return {"apiVersion": "", "generated": "0001-01-01T00:00:00Z", "repositories": []}
    document = yamlio.load_one(path.read_text(), str(path)) or {}
    document.setdefault("repositories", [])
    document["repositories"] = document["repositories"] or []
    return dict(document)


def _save_repositories(values: dict[str, Any], document: dict[str, Any]) -> None:
    document["generated"] = dt.datetime.now(dt.UTC).isoformat()
    host.write_file(repository_config(values), yamlio.dump(document), 0o600)


def _fetch(url: str, entry: dict[str, Any]) -> bytes:
    context = None
    if url.startswith("https://"):
        context = ssl.create_default_context(cafile=entry.get("caFile") or None)
        if entry.get("insecure_skip_tls_verify"):
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
    request = urllib.request.Request(url, headers={"User-Agent": f"Helm/{HELM_VERSION}"})
    if entry.get("username"):
        token = base64.b64encode(f"{entry['username']}:{entry.get('password', '')}".encode())
        request.add_header("Authorization", f"Basic {token.decode()}")
    try:
        with urllib.request.urlopen(request, timeout=30, context=context) as answer:
            return bytes(answer.read())
    except urllib.error.HTTPError as exc:
        raise Failure(f"failed to fetch {url} : {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise Failure(f'Get "{url}": {reason}') from None


def _index(url: str, entry: dict[str, Any]) -> tuple[bytes, dict[str, Any]]:
    target = url.rstrip("/") + "/index.yaml"
    try:
        raw = _fetch(target, entry)
        document = yamlio.load_one(raw.decode(), target)
    except Failure as exc:
        raise Failure(f'Error: looks like "{url}" is not a valid chart repository or cannot be '
                      f"reached: {exc.message}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise Failure(f'Error: looks like "{url}" is not a valid chart repository or cannot be '
                      f"reached: error unmarshaling JSON: {exc}") from None
    if not isinstance(document, dict) or document.get("apiVersion") != "v1" or \
            not isinstance(document.get("entries", {}), dict):
        raise Failure(f'Error: looks like "{url}" is not a valid chart repository or cannot be '
                      "reached: no API version specified")
    return raw, document


def _cache_index(values: dict[str, Any], name: str, raw: bytes, document: dict[str, Any]) -> None:
    cache = repository_cache(values)
    host.write_file(cache / f"{name}-index.yaml", raw, 0o644)
    host.write_file(cache / f"{name}-charts.txt", "\n".join(sorted(document.get("entries") or {}))
                    + "\n", 0o644)


def repo(argv: list[str]) -> int:
    sub, rest = (argv[0], argv[1:]) if argv else ("", [])
    if sub == "add":
        values, positional = parse(rest, [*COMMON, Flag("force-update", "bool"),
                                          Flag("username"), Flag("password"),
                                          Flag("pass-credentials", "bool"), Flag("ca-file"),
                                          Flag("cert-file"), Flag("key-file"),
                                          Flag("insecure-skip-tls-verify", "bool"),
                                          Flag("no-update", "bool"), Flag("allow-deprecated-repos",
                                                                          "bool")],
                                   command="helm repo add")
        if len(positional) != 2:
            raise Failure("Error: \"helm repo add\" requires 2 arguments\n\nUsage:  helm repo "
                          "add [NAME] [URL] [flags]")
        name, url = positional
        if "/" in name:
            raise Failure(f"Error: repository name ({name}) contains '/', please specify a "
                          "different name without '/'")
        entry = {"name": name, "url": url, "username": values["username"] or "",
                 "password": values["password"] or "", "certFile": values["cert-file"] or "",
                 "keyFile": values["key-file"] or "", "caFile": values["ca-file"] or "",
                 "insecure_skip_tls_verify": bool(values["insecure-skip-tls-verify"]),
                 "pass_credentials_all": bool(values["pass-credentials"])}
        document = _load_repositories(values)
        existing = [r for r in document["repositories"] if r.get("name") == name]
        if existing and not values["force-update"]:
            if existing[0] == entry:
                say(f'"{name}" already exists with the same configuration, skipping')
                return 0
            raise Failure(f"Error: repository name ({name}) already exists, please specify a "
                          "different name")
        raw, index = _index(url, entry)
        _cache_index(values, name, raw, index)
        document["repositories"] = [r for r in document["repositories"] if r.get("name") != name]
        document["repositories"].append(entry)
        _save_repositories(values, document)
        say(f'"{name}" has been added to your repositories')
        return 0
    if sub in ("list", "ls"):
        values, _ = parse(rest, [*COMMON, Flag("output", short="o", default="table")],
                          command="helm repo list")
        repositories = _load_repositories(values)["repositories"]
        if not repositories:
            raise Failure("Error: no repositories to show")
        if values["output"] == "json":
            say(json.dumps([{"name": r["name"], "url": r["url"]} for r in repositories]))
        elif values["output"] == "yaml":
            say(yamlio.dump([{"name": r["name"], "url": r["url"]} for r in repositories]).rstrip())
        else:
            width = max(len("NAME"), *(len(r["name"]) for r in repositories))
            say(f"{'NAME'.ljust(width)}\tURL")
            for item in repositories:
                say(f"{item['name'].ljust(width)}\t{item['url']}")
        return 0
    if sub in ("update", "up"):
        values, positional = parse(rest, [*COMMON, Flag("fail-on-repo-update-fail", "bool")],
                                   command="helm repo update")
        repositories = _load_repositories(values)["repositories"]
        if not repositories:
            raise Failure("Error: no repositories found. You must add one before updating")
        chosen = [r for r in repositories if not positional or r["name"] in positional]
        say("Hang tight while we grab the latest from your chart repositories...")
        failed = []
        for entry in chosen:
            try:
                raw, index = _index(entry["url"], entry)
            except Failure as exc:
                failed.append(entry["name"])
                say(f'...Unable to get an update from the "{entry["name"]}" chart repository '
                    f'({entry["url"]}):\n\t{exc.message.removeprefix("Error: ")}')
                continue
            _cache_index(values, entry["name"], raw, index)
            say(f'...Successfully got an update from the "{entry["name"]}" chart repository')
        if failed:
            raise Failure(f"Error: Failed to update the following repositories: {failed}")
        say("Update Complete. ⎈Happy Helming!⎈")
        return 0
    if sub in ("remove", "rm"):
        values, positional = parse(rest, COMMON, command="helm repo remove")
        document = _load_repositories(values)
        for name in positional:
            if not any(r.get("name") == name for r in document["repositories"]):
                raise Failure(f"Error: no repo named \"{name}\" found")
            document["repositories"] = [r for r in document["repositories"]
                                        if r.get("name") != name]
            for leaf in (f"{name}-index.yaml", f"{name}-charts.txt"):
                (repository_cache(values) / leaf).unlink(missing_ok=True)
            say(f'"{name}" has been removed from your repositories')
        _save_repositories(values, document)
        return 0
    raise Failure(f'Error: unknown command "{sub}" for "helm repo"')


# -- charts ------------------------------------------------------------------------------------


def _semver(text: str) -> tuple[int, int, int, str] | None:
    match = re.fullmatch(r"v?(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?",
                         str(text))
    if not match:
        return None
    return int(match.group(1)), int(match.group(2)), int(match.group(3)), match.group(4) or ""


def _chart_files(archive: bytes, source: str) -> dict[str, str]:
    try:
        with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as bundle:
            files = {}
            for member in bundle.getmembers():
                parts = member.name.split("/")
                if member.isfile() and len(parts) == 2 and parts[1] in ("Chart.yaml",
                                                                        "values.yaml"):
                    extracted = bundle.extractfile(member)
                    if extracted is not None:
                        files[parts[1]] = extracted.read().decode()
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise Failure(f"Error: failed to load chart {source}: {exc}") from None
    return files


def load_chart(reference: str, version: str | None, values: dict[str, Any]
               ) -> tuple[dict[str, Any], dict[str, Any]]:
    """(Chart.yaml, chart values) of a chart reference: repo/name, a directory or a .tgz."""
    if reference.startswith("oci://"):
        raise Failure("Error: the STAND-IN helm does not pull OCI charts")
    path = Path(reference)
    if path.is_dir():
        chart_file = path / "Chart.yaml"
        if not chart_file.exists():
            raise Failure(f"Error: Chart.yaml file is missing in {reference}")
        files = {"Chart.yaml": chart_file.read_text()}
        if (path / "values.yaml").exists():
            files["values.yaml"] = (path / "values.yaml").read_text()
    elif path.is_file():
        files = _chart_files(path.read_bytes(), reference)
    elif "/" in reference and not reference.startswith((".", "/")):
        repo_name, _, chart_name = reference.partition("/")
        repositories = {r["name"]: r for r in _load_repositories(values)["repositories"]}
        if repo_name not in repositories:
            raise Failure(f"Error: repo {repo_name} not found")
        entry = repositories[repo_name]
        index_file = repository_cache(values) / f"{repo_name}-index.yaml"
        if not index_file.exists():
            raise Failure(f"Error: no cached repo found. (try 'helm repo update'): open "
                          f"{index_file}: no such file or directory")
        index = yamlio.load_one(index_file.read_text(), str(index_file))
        candidates = (index.get("entries") or {}).get(chart_name) or []
        if version:
            candidates = [c for c in candidates if str(c.get("version")).lstrip("v") ==
                          version.lstrip("v")]
        else:
            candidates = [c for c in candidates if _semver(c.get("version", "")) and
                          not _semver(c["version"])[3]]  # type: ignore[index]
            candidates.sort(key=lambda c: _semver(c["version"]) or (0, 0, 0, ""), reverse=True)
        if not candidates:
            wanted = f" matching {version}" if version else ""
            raise Failure(f'Error: chart "{chart_name}"{wanted} not found in {repo_name} index. '
                          "(try 'helm repo update'): no chart version found for "
                          f"{chart_name}-{version or ''}")
        chosen = candidates[0]
        urls = chosen.get("urls") or []
        if not urls:
            raise Failure(f"Error: chart {chart_name} has no downloadable URLs")
        url = urljoin(entry["url"].rstrip("/") + "/", urls[0])
        try:
            archive = _fetch(url, entry)
        except Failure as exc:
            raise Failure(f"Error: failed to download \"{reference}\": {exc.message}") from None
        digest = chosen.get("digest")
        if digest and hashlib.sha256(archive).hexdigest() != digest:
            raise Failure(f"Error: failed to download \"{reference}\": digest mismatch: "
                          f"expected {digest}, got {hashlib.sha256(archive).hexdigest()}")
        files = _chart_files(archive, reference)
    else:
        raise Failure(f'Error: path "{reference}" not found')
    if "Chart.yaml" not in files:
        raise Failure(f"Error: Chart.yaml file is missing in {reference}")
    try:
        chart = yamlio.load_one(files["Chart.yaml"], "Chart.yaml") or {}
        chart_values = yamlio.load_one(files.get("values.yaml", ""), "values.yaml") or {}
    except ValueError as exc:
        raise Failure(f"Error: cannot load chart {reference}: {exc}") from None
    for field in ("apiVersion", "name", "version"):
        if not chart.get(field):
            raise Failure(f"Error: validation: chart.metadata.{field} is required")
    if chart["apiVersion"] not in ("v1", "v2"):
        raise Failure(f"Error: apiVersion '{chart['apiVersion']}' is not valid. The value must "
                      "be either \"v1\" or \"v2\"")
    if _semver(str(chart["version"])) is None:
        raise Failure(f"Error: validation: chart.metadata.version \"{chart['version']}\" is "
                      "invalid")
    if version and str(chart["version"]).lstrip("v") != version.lstrip("v"):
        raise Failure(f"Error: chart version {chart['version']} does not match {version}")
    return chart, chart_values


def _set_value(target: dict[str, Any], assignment: str, as_string: bool) -> None:
    key, equals, raw = assignment.partition("=")
    if not equals:
        raise Failure(f"Error: failed parsing --set data: key \"{assignment}\" has no value")
    value: Any = raw
    if not as_string:
        if raw in ("true", "false"):
            value = raw == "true"
        elif re.fullmatch(r"-?\d+", raw):
            value = int(raw)
        elif raw == "null":
            value = None
    parts = re.split(r"(?<!\\)\.", key)
    current = target
    for part in parts[:-1]:
        current = current.setdefault(part.replace("\\.", "."), {})
    current[parts[-1].replace("\\.", ".")] = value


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    result = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = _merge(result[key], value)
        else:
            result[key] = value
    return result


def user_values(files: list[str], sets: list[str], set_strings: list[str]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for name in files:
        try:
            text = Path(name).read_text() if name != "-" else sys.stdin.read()
        except OSError as exc:
            raise Failure(f"Error: open {name}: {exc.strerror.lower() if exc.strerror else exc}"
                          ) from None
        try:
            loaded = yamlio.load_one(text, name)
        except ValueError as exc:
            raise Failure(f"Error: failed to parse {name}: error converting YAML to JSON: {exc}"
                          ) from None
        if loaded is None:
            continue
        if not isinstance(loaded, dict):
            raise Failure(f"Error: failed to parse {name}: error unmarshaling JSON: json: "
                          "cannot unmarshal array into Go value of type map[string]interface {}")
        merged = _merge(merged, loaded)
    for assignment in sets:
        _set_value(merged, assignment, as_string=False)
    for assignment in set_strings:
        _set_value(merged, assignment, as_string=True)
    return merged


# -- releases ----------------------------------------------------------------------------------


class Releases:
    """Helm 3's Secret storage driver."""

    def __init__(self, values: dict[str, Any]) -> None:
        path = values.get("kubeconfig") or os.environ.get("KUBECONFIG", "").split(":")[0]
        target = Path(path) if path else host.path(os.path.expanduser("~/.kube/config"))
        try:
            self.api = ApiClient(kubeconfig.load(target))
        except Failure as exc:
            raise Failure(f"Error: Kubernetes cluster unreachable: {exc.message}") from None
        self.namespace = values.get("namespace") or "default"
        self.secrets = kinds.builtin("Secret")

    def call(self, method: str, path: str, body: Any = None, **kwargs: Any) -> Any:
        try:
            return self.api.request(method, path, body, **kwargs)
        except Unreachable as exc:
            raise Failure(f"Error: Kubernetes cluster unreachable: {exc}") from None

    def history(self, name: str, namespace: str | None = None) -> list[dict[str, Any]]:
        space = namespace or self.namespace
        try:
            listing = self.call("GET", self.secrets.path(space), query={
                "labelSelector": f"owner=helm,name={name}"})
        except ApiError as exc:
            raise Failure(f"Error: {exc.message}") from None
        releases = [decode(item) for item in listing.get("items") or []
                    if item.get("type") == RELEASE_TYPE]
        return sorted(releases, key=lambda r: r["version"])

    def all(self, namespace: str | None) -> list[dict[str, Any]]:
        try:
            listing = self.call("GET", self.secrets.path(namespace), query={
                "labelSelector": "owner=helm"})
        except ApiError as exc:
            raise Failure(f"Error: {exc.message}") from None
        latest: dict[tuple[str, str], dict[str, Any]] = {}
        for item in listing.get("items") or []:
            if item.get("type") != RELEASE_TYPE:
                continue
            release = decode(item)
            key = (release["namespace"], release["name"])
            if key not in latest or latest[key]["version"] < release["version"]:
                latest[key] = release
        return sorted(latest.values(), key=lambda r: (r["namespace"], r["name"]))

    def store(self, release: dict[str, Any], create: bool) -> None:
        body = gzip.compress(json.dumps(release).encode(), mtime=0)
        name = f"sh.helm.release.v1.{release['name']}.v{release['version']}"
        secret: dict[str, Any] = {"apiVersion": "v1", "kind": "Secret", "type": RELEASE_TYPE,
                  "metadata": {"name": name,
                               "namespace": release["namespace"],
                               "labels": {"name": release["name"], "owner": "helm",
                                          "status": release["info"]["status"],
                                          "version": str(release["version"])}},
                  "data": {"release": base64.b64encode(
                      base64.b64encode(body)).decode()}}
        path = self.secrets.path(release["namespace"])
        try:
            if create:
                self.call("POST", path, secret)
            else:
                self.call("PUT", self.secrets.path(release["namespace"],
                                                   secret["metadata"]["name"]), secret)
        except ApiError as exc:
            raise Failure(f"Error: {exc.message}") from None


def decode(secret: dict[str, Any]) -> dict[str, Any]:
    inner = base64.b64decode(base64.b64decode(secret["data"]["release"]))
    return dict(json.loads(gzip.decompress(inner)))


def _stamp() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


def _summary(release: dict[str, Any]) -> str:
    when = dt.datetime.fromisoformat(release["info"]["last_deployed"]).strftime(
        "%a %b %d %H:%M:%S %Y")
    return (f"NAME: {release['name']}\nLAST DEPLOYED: {when}\nNAMESPACE: {release['namespace']}\n"
            f"STATUS: {release['info']['status']}\nREVISION: {release['version']}\n"
            "TEST SUITE: None")


def upgrade(argv: list[str], *, install_only: bool = False) -> int:
    flags = [*COMMON, Flag("install", "bool", short="i"), Flag("values", "array", short="f"),
             Flag("set", "array"), Flag("set-string", "array"), Flag("version"),
             Flag("create-namespace", "bool"), Flag("wait", "bool"), Flag("wait-for-jobs", "bool"),
             Flag("timeout"), Flag("atomic", "bool"), Flag("dry-run"), Flag("description"),
             Flag("reuse-values", "bool"), Flag("reset-values", "bool"), Flag("force", "bool"),
             Flag("cleanup-on-fail", "bool"), Flag("devel", "bool"), Flag("skip-crds", "bool"),
             Flag("history-max", "int"), Flag("output", short="o"),
             Flag("generate-name", "bool", short="g")]
    command = "helm install" if install_only else "helm upgrade"
    values, positional = parse(argv, flags, command=command)
    if len(positional) != 2:
        raise Failure(f'Error: "{command}" requires 2 arguments\n\nUsage:  {command} [RELEASE] '
                      "[CHART] [flags]")
    name, reference = positional
    if not re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*", name) \
            or len(name) > 53:
        raise Failure(f'Error: invalid release name "{name}": names must be lowercase RFC 1123 '
                      "subdomains of at most 53 characters")
    config = user_values(values["values"], values["set"], values["set-string"])
    chart, chart_values = load_chart(reference, values["version"], values)
    releases = Releases(values)
    namespace = releases.namespace
    namespaces = kinds.builtin("Namespace")
    try:
        releases.api.request("GET", namespaces.path(name=namespace))
    except ApiError as exc:
        if exc.code != 404:
            raise Failure(f"Error: {exc.message}") from None
        if not values["create-namespace"]:
            action = "INSTALLATION FAILED" if install_only else "UPGRADE FAILED"
            raise Failure(f"Error: {action}: create: failed to create: namespaces "
                          f'"{namespace}" not found') from None
        releases.call("POST", namespaces.path(), {"apiVersion": "v1", "kind": "Namespace",
                                                  "metadata": {"name": namespace}})
    except Unreachable as exc:
        raise Failure(f"Error: Kubernetes cluster unreachable: {exc}") from None
    history = releases.history(name)
    deployed = [r for r in history if r["info"]["status"] == "deployed"]
    if install_only and history:
        raise Failure("Error: INSTALLATION FAILED: cannot re-use a name that is still in use")
    if not install_only and not history and not values["install"]:
        raise Failure(f'Error: UPGRADE FAILED: "{name}" has no deployed releases')
    if values["reuse-values"] and deployed:
        config = _merge(deployed[-1]["config"], config)
    revision = (history[-1]["version"] + 1) if history else 1
    stamp = _stamp()
    release: dict[str, Any] = {
        "name": name, "namespace": namespace, "version": revision,
        "info": {"first_deployed": history[0]["info"]["first_deployed"] if history else stamp,
                 "last_deployed": stamp, "deleted": "",
                 "description": values["description"] or ("Install complete" if revision == 1
                                                          else "Upgrade complete"),
                 "status": "deployed", "notes": ""},
        "chart": {"metadata": chart, "values": chart_values},
        "config": config, "manifest": "",
        "stand_in": "templates not rendered; no objects applied",
    }
    if values["dry-run"] not in (None, "none", "false"):
        say(_summary({**release, "info": {**release["info"], "status": "pending-install"}}))
        return 0
    for previous in deployed:
        previous["info"]["status"] = "superseded"
        releases.store(previous, create=False)
    releases.store(release, create=True)
    print(f"{STAND_IN_NOTE}: chart {chart['name']}-{chart['version']} recorded as release "
          f"{name}; its templates were not rendered and no objects were applied",
          file=sys.stderr, flush=True)
    if values["output"] == "json":
        say(json.dumps(release))
        return 0
    if revision == 1 and not install_only:
        say(f'Release "{name}" does not exist. Installing it now.')
    elif not install_only:
        say(f'Release "{name}" has been upgraded. Happy Helming!')
    say(_summary(release))
    return 0


def list_releases(argv: list[str]) -> int:
    values, _ = parse(argv, [*COMMON, Flag("all-namespaces", "bool", short="A"),
                             Flag("output", short="o", default="table"),
                             Flag("short", "bool", short="q"), Flag("all", "bool", short="a"),
                             Flag("filter")], command="helm list")
    releases = Releases(values)
    found = releases.all(None if values["all-namespaces"] else releases.namespace)
    if values["filter"]:
        found = [r for r in found if re.search(values["filter"], r["name"])]
    rows = [{"name": r["name"], "namespace": r["namespace"], "revision": str(r["version"]),
             "updated": r["info"]["last_deployed"], "status": r["info"]["status"],
             "chart": f"{r['chart']['metadata']['name']}-{r['chart']['metadata']['version']}",
             "app_version": str(r["chart"]["metadata"].get("appVersion", ""))} for r in found]
    if values["short"]:
        for row in rows:
            say(row["name"])
    elif values["output"] == "json":
        say(json.dumps(rows))
    elif values["output"] == "yaml":
        say(yamlio.dump(rows).rstrip())
    else:
        header = ["NAME", "NAMESPACE", "REVISION", "UPDATED", "STATUS", "CHART", "APP VERSION"]
        table = [header] + [[r["name"], r["namespace"], r["revision"], r["updated"], r["status"],
                             r["chart"], r["app_version"]] for r in rows]
        widths = [max(len(line[i]) for line in table) for i in range(len(header))]
        for line in table:
            say("\t".join(cell.ljust(widths[i]) for i, cell in enumerate(line)).rstrip())
    return 0


def uninstall(argv: list[str]) -> int:
    values, positional = parse(argv, [*COMMON, Flag("wait", "bool"), Flag("timeout"),
                                      Flag("keep-history", "bool"), Flag("ignore-not-found",
                                                                         "bool")],
                               command="helm uninstall")
    releases = Releases(values)
    for name in positional:
        history = releases.history(name)
        if not history:
            if values["ignore-not-found"]:
                continue
            raise Failure(f"Error: uninstall: Release not loaded: {name}: release: not found")
        for release in history:
            releases.call("DELETE", releases.secrets.path(
                release["namespace"], f"sh.helm.release.v1.{name}.v{release['version']}"))
        say(f'release "{name}" uninstalled')
    return 0


def status(argv: list[str]) -> int:
    values, positional = parse(argv, [*COMMON, Flag("output", short="o"),
                                      Flag("revision", "int")], command="helm status")
    releases = Releases(values)
    history = releases.history(positional[0]) if positional else []
    if not history:
        raise Failure("Error: release: not found")
    release = history[-1]
    say(json.dumps(release) if values["output"] == "json" else _summary(release))
    return 0


def get(argv: list[str]) -> int:
    if argv[:1] != ["values"]:
        raise Failure("Error: the STAND-IN helm implements only `helm get values`")
    values, positional = parse(argv[1:], [*COMMON, Flag("output", short="o", default="table"),
                                          Flag("all", "bool", short="a"),
                                          Flag("revision", "int")], command="helm get values")
    releases = Releases(values)
    history = releases.history(positional[0]) if positional else []
    if not history:
        raise Failure("Error: release: not found")
    release = history[-1]
    shown = _merge(release["chart"]["values"], release["config"]) if values["all"] \
        else release["config"]
    if values["output"] == "json":
        say(json.dumps(shown))
    else:
        say(("COMPUTED VALUES:\n" if values["all"] else "USER-SUPPLIED VALUES:\n") +
            (yamlio.dump(shown).rstrip() if shown else "null"))
    return 0


def lint(argv: list[str]) -> int:
    values, positional = parse(argv, [*COMMON, Flag("values", "array", short="f"),
                                      Flag("set", "array"), Flag("strict", "bool")],
                               command="helm lint")
    user_values(values["values"], values["set"], [])
    for reference in positional or ["."]:
        chart, _ = load_chart(reference, None, values)
        say(f"==> Linting {reference}\n[INFO] Chart.yaml: icon is recommended\n\n1 chart(s) "
            f"linted, 0 chart(s) failed ({chart['name']}-{chart['version']})")
    return 0


def version(argv: list[str]) -> int:
    values, _ = parse(argv, [Flag("short", "bool"), Flag("template"), Flag("client", "bool",
                                                                           short="c")],
                      command="helm version")
    info = {"Version": f"v{HELM_VERSION}", "GitCommit": "0" * 40, "GitTreeState": "stand-in",
            "GoVersion": "go1.24.4", "KubeClientVersion": "v1.33"}
    if values["template"]:
        text = values["template"]
        for key, value in info.items():
            text = re.sub(r"\{\{\s*\." + key + r"\s*\}\}", value, text)
        say(text)
    elif values["short"]:
        say(f"v{HELM_VERSION}+g0000000")
    else:
        fields = ", ".join(f'{k}:"{v}"' for k, v in info.items())
        say(f"version.BuildInfo{{{fields}}} ({STAND_IN_NOTE})")
    return 0


COMMANDS = {"repo": repo, "upgrade": upgrade,
            "install": lambda a: upgrade(a, install_only=True), "list": list_releases,
            "ls": list_releases, "uninstall": uninstall, "delete": uninstall, "status": status,
            "get": get, "lint": lint, "version": version}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help", "help"):
        say(f"helm ({STAND_IN_NOTE})\n\nCommands: {', '.join(sorted(COMMANDS))}")
        return 0
    command = COMMANDS.get(args[0])
    try:
        if command is None:
            raise Failure(f'Error: unknown command "{args[0]}" for "helm"\nRun \'helm --help\' '
                          "for usage.")
        return int(command(args[1:]))
    except Failure as exc:
        message = exc.message if exc.message.startswith("Error") else f"Error: {exc.message}"
        print(message, file=sys.stderr, flush=True)
        return exc.code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
