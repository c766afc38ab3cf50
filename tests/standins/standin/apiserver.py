"""STAND-IN kube-apiserver: the Kubernetes REST API over HTTPS, backed by a JSON file.

The kubelet stand-in starts it from the static Pod manifest kubeadm wrote, with that
manifest's flags. Authentication is real (client certificates against --client-ca-file,
bootstrap tokens, anonymous); authorization is system:masters, the node authorizer and
RBAC. The apiserver on the first control plane owns the store in etcd's data directory; the
apiservers of joined control planes forward every request to it (README.md explains why).
"""

from __future__ import annotations

import base64
import http.client
import json
import signal
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from standin import KUBERNETES_VERSION, STAND_IN_NOTE, host, kinds, pki, rbac, tokens, yamlio
from standin.kubeconfig import load_client_pair
from standin.selectors import fields_match, labels_match, parse_label_selector
from standin.store import Settings, Store, StoreError

if TYPE_CHECKING:
    from pathlib import Path

    from standin.kinds import Resource

STORE_FILE = "member/taco-standin-store.json"
PEER_FILE = "member/taco-standin-peer.json"
PROXY_HEADERS = ("x-remote-user", "x-remote-group")

# Flags of kube-apiserver 1.35 the stand-in accepts (it honours the ones it needs);
# anything else fails like pflag: "unknown flag".
KNOWN_FLAGS = {
    "advertise-address", "allow-privileged", "anonymous-auth", "api-audiences",
    "audit-log-maxage", "audit-log-maxbackup", "audit-log-maxsize", "audit-log-path",
    "audit-policy-file", "authentication-config", "authorization-config", "authorization-mode",
    "bind-address", "client-ca-file", "default-not-ready-toleration-seconds",
    "default-unreachable-toleration-seconds", "enable-admission-plugins",
    "disable-admission-plugins", "enable-aggregator-routing", "enable-bootstrap-token-auth",
    "encryption-provider-config", "endpoint-reconciler-type", "etcd-cafile", "etcd-certfile",
    "etcd-keyfile", "etcd-prefix", "etcd-servers", "event-ttl", "feature-gates",
    "kubelet-certificate-authority", "kubelet-client-certificate", "kubelet-client-key",
    "kubelet-preferred-address-types", "max-mutating-requests-inflight", "max-requests-inflight",
    "oidc-ca-file", "oidc-client-id", "oidc-groups-claim", "oidc-issuer-url",
    "oidc-username-claim", "profiling", "proxy-client-cert-file", "proxy-client-key-file",
    "request-timeout", "requestheader-allowed-names", "requestheader-client-ca-file",
    "requestheader-extra-headers-prefix", "requestheader-group-headers",
    "requestheader-username-headers", "runtime-config", "secure-port",
    "service-account-issuer", "service-account-key-file", "service-account-lookup",
    "service-account-signing-key-file", "service-cluster-ip-range", "service-node-port-range",
    "storage-backend", "tls-cert-file", "tls-cipher-suites", "tls-min-version",
    "tls-private-key-file", "v", "watch-cache",
}


def parse_flags(argv: list[str], known: set[str], program: str) -> dict[str, str]:
    """pflag-style --name=value / --name value / --bool flags; unknown ones are an error."""
    flags: dict[str, str] = {}
    index = 0
    while index < len(argv):
        arg = argv[index]
        if not arg.startswith("--"):
            raise host.Failure(f"Error: unknown command \"{arg}\" for \"{program}\"")
        name, equals, value = arg[2:].partition("=")
        if name not in known:
            raise host.Failure(f"Error: unknown flag: --{name}")
        if not equals:
            following = argv[index + 1] if index + 1 < len(argv) else None
            if following is not None and not following.startswith("--"):
                value = following
                index += 1
            else:
                value = "true"
        flags[name] = value
        index += 1
    return flags


def _status(code: int, reason: str, message: str, details: dict[str, Any] | None = None
            ) -> dict[str, Any]:
    status: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {},
                              "status": "Failure", "message": message, "reason": reason,
                              "code": code}
    if details:
        status["details"] = details
    return status


def version_info() -> dict[str, str]:
    major, minor, _ = KUBERNETES_VERSION.split(".")
    return {"major": major, "minor": minor, "gitVersion": f"v{KUBERNETES_VERSION}",
            "gitCommit": "0" * 40, "gitTreeState": "stand-in", "buildDate": "2026-01-01T00:00:00Z",
            "goVersion": f"python{sys.version_info.major}.{sys.version_info.minor}",
            "compiler": STAND_IN_NOTE, "platform": "linux/amd64"}


class Request:
    """One parsed REST request."""

    def __init__(self, method: str, raw_path: str, headers: dict[str, str], body: bytes) -> None:
        split = urlsplit(raw_path)
        self.method = method
        self.path = split.path.rstrip("/") or "/"
        self.query = {k: v[-1] for k, v in parse_qs(split.query).items()}
        self.raw_path = raw_path
        self.headers = headers
        self.body = body
        self.group = self.version = self.plural = self.name = self.subresource = ""
        self.namespace = ""
        self.resource_request = False
        segments = [s for s in self.path.split("/") if s]
        if segments[:1] == ["api"] and len(segments) >= 3:
            self.version, rest = segments[1], segments[2:]
        elif segments[:1] == ["apis"] and len(segments) >= 4:
            self.group, self.version, rest = segments[1], segments[2], segments[3:]
        else:
            return
        if rest[0] == "namespaces" and len(rest) >= 3 and not (
                len(rest) == 3 and rest[2] in ("status", "finalize")):
            self.namespace, rest = rest[1], rest[2:]
        self.resource_request = True
        self.plural = rest[0]
        self.name = rest[1] if len(rest) > 1 else ""
        self.subresource = rest[2] if len(rest) > 2 else ""

    @property
    def verb(self) -> str:
        if self.method == "GET":
            return "get" if self.name else "list"
        return {"POST": "create", "PUT": "update", "PATCH": "patch",
                "DELETE": "delete"}.get(self.method, self.method.lower())

    def json_body(self) -> Any:
        text = self.body.decode() if self.body else "{}"
        if "yaml" in self.headers.get("content-type", ""):
            return yamlio.load_one(text, "request body")
        return json.loads(text)


class ApiServer:
    """Everything one stand-in kube-apiserver process knows."""

    def __init__(self, flags: dict[str, str]) -> None:
        self.flags = flags
        self.advertise = flags.get("advertise-address", "")
        self.port = int(flags.get("secure-port", "6443"))
        self.modes = tuple(flags.get("authorization-mode", "AlwaysAllow").split(","))
        self.anonymous = flags.get("anonymous-auth", "true") == "true"
        self.token_auth = flags.get("enable-bootstrap-token-auth", "false") == "true"
        for needed in ("tls-cert-file", "tls-private-key-file", "client-ca-file"):
            if needed not in flags:
                raise host.Failure(f"Error: --{needed} is required by the stand-in apiserver")
        self.ca_file = host.path(flags["client-ca-file"])
        self.ca_pem = self.ca_file.read_text()
        self.proxy_ca_subject = ""
        self.allowed_proxies = tuple(filter(None, flags.get(
            "requestheader-allowed-names", "").split(",")))
        bundle = self.ca_pem
        if flags.get("requestheader-client-ca-file"):
            proxy_ca = host.path(flags["requestheader-client-ca-file"]).read_text()
            self.proxy_ca_subject = pki.Certificate.from_pem(proxy_ca).subject["CN"][0]
            bundle += proxy_ca
        self.server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.server_context.load_cert_chain(str(host.path(flags["tls-cert-file"])),
                                            str(host.path(flags["tls-private-key-file"])))
        self.server_context.verify_mode = ssl.CERT_OPTIONAL
        self.server_context.load_verify_locations(cadata=bundle)
        data_dir = etcd_data_dir()
        self.peer_file = data_dir / PEER_FILE
        self.owner: str | None = None
        self.store: Store | None = None
        if self.peer_file.exists():
            self.owner = json.loads(self.peer_file.read_text())["owner"]
            self.forward_context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            self.forward_context.load_verify_locations(cadata=self.ca_pem)
            cert = host.path(flags["proxy-client-cert-file"]).read_text()
            key = host.path(flags["proxy-client-key-file"]).read_text()
            load_client_pair(self.forward_context, cert, key)
        else:
            ca_key_file = self.ca_file.with_name("ca.key")
            low, _, high = flags.get("service-node-port-range", "30000-32767").partition("-")
            settings = Settings(service_range=flags.get("service-cluster-ip-range", "10.96.0.0/12"),
                                node_port_range=(int(low), int(high)), ca_pem=self.ca_pem,
                                signer=self._signer(ca_key_file))
            self.store = Store(data_dir / STORE_FILE, settings)
            self._seed_policy()

    def _signer(self, ca_key_file: Path) -> Any:
        ca_cert = pki.Certificate.from_pem(self.ca_pem)

        def sign(spec: dict[str, Any]) -> str:
            request = pki.read_request(base64.b64decode(spec.get("request", "")).decode())
            common = request.subject.get("CN", [""])[0]
            groups = spec.get("groups") or []
            if request.subject.get("O") != ["system:nodes"] or not common.startswith(
                    "system:node:"):
                raise ValueError("kubelet client certificates need O=system:nodes and "
                                 "CN=system:node:<name>")
            requester = spec.get("username", "")
            if not ("system:bootstrappers" in groups or requester == common):
                raise ValueError(f"{requester} may not request a certificate for {common}")
            ca_key = pki.Key.from_pem(ca_key_file.read_text())
            return pki.sign_request(request, ca_key, ca_cert).pem()

        return sign

    def _seed_policy(self) -> None:
        assert self.store is not None
        for kind, obj in rbac.bootstrap_policy():
            resource = kinds.builtin(kind, "rbac.authorization.k8s.io")
            if self.store.find(resource, "", obj["metadata"]["name"]) is None:
                self.store.create(resource, obj)

    # -- authentication ---------------------------------------------------------------------

    def authenticate(self, peer: dict[str, Any] | None, headers: dict[str, str]) -> rbac.User:
        if peer:
            subject = _rdn(peer.get("subject", ()))
            issuer = _rdn(peer.get("issuer", ()))
            name = subject.get("commonName", [""])[0]
            if self.proxy_ca_subject and issuer.get("commonName") == [self.proxy_ca_subject]:
                if self.allowed_proxies and name not in self.allowed_proxies:
                    raise StoreError(401, "Unauthorized", "Unauthorized")
                user = headers.get("x-remote-user")
                if user:
                    groups = tuple(g for g in headers.get("x-remote-group", "").split(",") if g)
                    return rbac.User(user, groups)
            else:
                groups = tuple(subject.get("organizationName", []))
                return rbac.User(name, (*groups, "system:authenticated"))
        authorization = headers.get("authorization", "")
        if authorization.startswith("Bearer "):
            return self._token_user(authorization[len("Bearer "):].strip())
        if not self.anonymous:
            raise StoreError(401, "Unauthorized", "Unauthorized")
        return rbac.ANONYMOUS

    def _token_user(self, token: str) -> rbac.User:
        assert self.store is not None
        match = tokens.TOKEN.match(token)
        if not self.token_auth or not match:
            raise StoreError(401, "Unauthorized", "Unauthorized")
        secret = self.store.find(kinds.builtin("Secret"), "kube-system",
                                 f"bootstrap-token-{match.group(1)}")
        if secret is None or secret.get("type") != tokens.SECRET_TYPE:
            raise StoreError(401, "Unauthorized", "Unauthorized")
        fields = tokens.secret_fields(secret)
        if fields.get("token-secret") != match.group(2) or tokens.expired(fields) or \
                fields.get("usage-bootstrap-authentication") != "true":
            raise StoreError(401, "Unauthorized", "Unauthorized")
        extra = tuple(g for g in fields.get("auth-extra-groups", "").split(",") if g)
        return rbac.User(f"system:bootstrap:{match.group(1)}",
                         ("system:bootstrappers", *extra, "system:authenticated"))

    # -- dispatch ---------------------------------------------------------------------------

    def handle(self, request: Request, peer: dict[str, Any] | None) -> tuple[int, Any, str]:
        """(HTTP code, body, content type) for one request."""
        if self.owner is not None:
            return self._forward(request, peer)
        assert self.store is not None
        try:
            user = self.authenticate(peer, request.headers)
            return self._serve(request, user)
        except StoreError as exc:
            return exc.code, _status(exc.code, exc.reason, exc.message, exc.details), "json"
        except (ValueError, json.JSONDecodeError) as exc:
            return 400, _status(400, "BadRequest", str(exc)), "json"

    def _serve(self, request: Request, user: rbac.User) -> tuple[int, Any, str]:
        assert self.store is not None
        if request.path == "/standin/storage":
            return 200, {"owner": f"https://{self.advertise}:{self.port}"}, "json"
        if not request.resource_request:
            attrs = rbac.Attributes(verb=request.method.lower(), path=request.path)
            if not rbac.allowed(self.store, user, attrs, self.modes):
                return self._forbidden(user, attrs)
            return self._non_resource(request)
        resource = self.store.resource(request.group, request.version, request.plural)
        if resource is None:
            return 404, _status(404, "NotFound", "the server could not find the requested "
                                "resource"), "json"
        subresource = request.subresource
        attrs = rbac.Attributes(verb=request.verb, group=resource.group, resource=resource.plural,
                                subresource=subresource, namespace=request.namespace,
                                name=request.name)
        if not rbac.allowed(self.store, user, attrs, self.modes):
            return self._forbidden(user, attrs)
        return self._resource(request, resource, user)

    def _forbidden(self, user: rbac.User, attrs: rbac.Attributes) -> tuple[int, Any, str]:
        if attrs.resource_request:
            what = attrs.resource + (f"/{attrs.subresource}" if attrs.subresource else "")
            named = f' "{attrs.name}"' if attrs.name else ""
            scope = (f'in the namespace "{attrs.namespace}"' if attrs.namespace
                     else "at the cluster scope")
            message = (f'{what}{named} is forbidden: User "{user.name}" cannot {attrs.verb} '
                       f'resource "{what}" in API group "{attrs.group}" {scope}')
        else:
            message = (f'forbidden: User "{user.name}" cannot {attrs.verb} path "{attrs.path}"')
        return 403, _status(403, "Forbidden", message), "json"

    def _non_resource(self, request: Request) -> tuple[int, Any, str]:
        assert self.store is not None
        path = request.path
        if path in ("/healthz", "/livez", "/readyz"):
            if "verbose" in request.query:
                checks = ["ping", "log", "etcd", "poststarthook/rbac/bootstrap-roles"]
                text = "".join(f"[+]{c} ok\n" for c in checks) + f"{path[1:]} check passed\n"
                return 200, text, "text"
            return 200, "ok", "text"
        if path == "/version":
            return 200, version_info(), "json"
        if path == "/api":
            return 200, {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [
                {"clientCIDR": "0.0.0.0/0", "serverAddress": f"{self.advertise}:{self.port}"}]}, \
                "json"
        if path == "/apis":
            groups: dict[str, list[str]] = {}
            for resource in self.store.resources():
                if resource.group and resource.version not in groups.setdefault(resource.group, []):
                    groups[resource.group].append(resource.version)
            return 200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": [
                {"name": g, "versions": [{"groupVersion": f"{g}/{v}", "version": v} for v in vs],
                 "preferredVersion": {"groupVersion": f"{g}/{vs[0]}", "version": vs[0]}}
                for g, vs in groups.items()]}, "json"
        segments = [s for s in path.split("/") if s]
        if segments[:1] == ["api"] and len(segments) == 2:
            return self._resource_list("", segments[1])
        if segments[:1] == ["apis"] and len(segments) == 3:
            return self._resource_list(segments[1], segments[2])
        return 404, _status(404, "NotFound", "the server could not find the requested resource"), \
            "json"

    def _resource_list(self, group: str, version: str) -> tuple[int, Any, str]:
        assert self.store is not None
        found = [r for r in self.store.resources() if (r.group, r.version) == (group, version)]
        if not found:
            return 404, _status(404, "NotFound", "the server could not find the requested "
                                "resource"), "json"
        entries = []
        for resource in found:
            entries.append({"name": resource.plural, "singularName": resource.singular,
                            "namespaced": resource.namespaced, "kind": resource.kind,
                            "verbs": list(resource.verbs),
                            "shortNames": list(resource.short_names)})
            entries.extend({"name": f"{resource.plural}/{sub}", "singularName": "",
                            "namespaced": resource.namespaced, "kind": resource.kind,
                            "verbs": ["get", "patch", "update"]} for sub in resource.subresources)
        return 200, {"kind": "APIResourceList", "apiVersion": "v1",
                     "groupVersion": f"{group}/{version}" if group else version,
                     "resources": entries}, "json"

    def _resource(self, request: Request, resource: Resource, user: rbac.User
                  ) -> tuple[int, Any, str]:
        assert self.store is not None
        store = self.store
        namespace, name = request.namespace, request.name
        if resource.kind == "Namespace" and name:
            namespace = ""
        status_only = request.subresource == "status"
        if request.subresource and request.subresource not in ("status", "eviction"):
            return 404, _status(404, "NotFound", "the server could not find the requested "
                                "resource"), "json"
        if request.method == "GET" and name:
            obj = store.get(resource, namespace, name)
            if (resource.kind, namespace, name) == ("ConfigMap", "kube-public", "cluster-info"):
                obj = self._sign_cluster_info(obj)
            return 200, obj, "json"
        if request.method == "GET":
            items = store.select(resource, namespace or None)
            selector = request.query.get("labelSelector")
            if selector:
                wanted = parse_label_selector(selector)
                items = [i for i in items
                         if labels_match(wanted, i["metadata"].get("labels") or {})]
            field_selector = request.query.get("fieldSelector")
            if field_selector:
                items = [i for i in items if fields_match(field_selector, i)]
            return 200, {"kind": f"{resource.kind}List", "apiVersion": resource.api_version,
                         "metadata": {"resourceVersion": str(store.revision)},
                         "items": items}, "json"
        if request.method == "POST" and request.subresource == "eviction":
            pod = store.get(resource, namespace, name)
            store.delete(resource, namespace, name)
            return 201, {"kind": "Status", "apiVersion": "v1", "status": "Success",
                         "details": {"name": pod["metadata"]["name"], "kind": "pods"}}, "json"
        if request.method == "DELETE":
            return 200, store.delete(resource, namespace, name), "json"
        body = request.json_body()
        if not isinstance(body, dict):
            raise ValueError("the request body must be an object")
        if request.method in ("POST", "PUT") or request.headers.get("content-type", "").startswith(
                "application/apply-patch"):
            self._check_type(resource, body)
        if request.method == "POST":
            if resource.plural == "certificatesigningrequests":
                spec = body.setdefault("spec", {})
                spec.update({"username": user.name, "groups": list(user.groups)})
            return 201, store.create(resource, body, namespace), "json"
        if request.method == "PUT":
            return 200, store.replace(resource, body, namespace, name, status_only=status_only), \
                "json"
        if request.method == "PATCH":
            content = request.headers.get("content-type", "")
            if content.startswith("application/apply-patch"):
                obj, created = store.apply(resource, body, namespace, name)
                return (201 if created else 200), obj, "json"
            return 200, store.patch(resource, namespace, name, body, status_only=status_only), \
                "json"
        return 405, _status(405, "MethodNotAllowed", "the server does not allow this method on "
                            "the requested resource"), "json"

    @staticmethod
    def _check_type(resource: Resource, body: dict[str, Any]) -> None:
        sent = body.get("apiVersion")
        if sent and sent != resource.api_version:
            raise StoreError(400, "BadRequest", f"the API version in the data ({sent}) does not "
                             f"match the expected API version ({resource.api_version})")
        if body.get("kind") and body.get("kind") != resource.kind:
            raise StoreError(400, "BadRequest", f"the kind in the data ({body.get('kind')}) does "
                             f"not match the expected kind ({resource.kind})")

    def _sign_cluster_info(self, obj: dict[str, Any]) -> dict[str, Any]:
        """The bootstrap signer: one JWS per valid signing token (expired ones are cleaned)."""
        assert self.store is not None
        data = {k: v for k, v in (obj.get("data") or {}).items()
                if not k.startswith("jws-kubeconfig-")}
        payload = data.get("kubeconfig", "")
        secret_type = kinds.builtin("Secret")
        for secret in self.store.select(secret_type, "kube-system"):
            if secret.get("type") != tokens.SECRET_TYPE:
                continue
            fields = tokens.secret_fields(secret)
            if tokens.expired(fields):
                self.store.delete(secret_type, "kube-system", secret["metadata"]["name"])
                continue
            if fields.get("usage-bootstrap-signing") == "true":
                data[f"jws-kubeconfig-{fields['token-id']}"] = tokens.sign(
                    payload, fields["token-id"], fields["token-secret"])
        obj["data"] = data
        return obj

    # -- forwarding (joined control planes) ----------------------------------------------------

    def _forward(self, request: Request, peer: dict[str, Any] | None) -> tuple[int, Any, str]:
        assert self.owner is not None
        if request.path == "/standin/storage":
            return 200, {"owner": self.owner}, "json"
        headers = {k: v for k, v in request.headers.items()
                   if k in ("content-type", "authorization", "accept")}
        if peer:
            subject = _rdn(peer.get("subject", ()))
            headers["X-Remote-User"] = subject.get("commonName", [""])[0]
            headers["X-Remote-Group"] = ",".join(
                [*subject.get("organizationName", []), "system:authenticated"])
        target = urlsplit(self.owner)
        connection = http.client.HTTPSConnection(target.hostname or "", target.port or 6443,
                                                 context=self.forward_context, timeout=30)
        try:
            connection.request(request.method, request.raw_path, body=request.body or None,
                               headers=headers)
            answer = connection.getresponse()
            payload = answer.read()
            kind = "json" if "json" in (answer.getheader("content-type") or "") else "text"
            return answer.status, payload, kind
        except OSError as exc:
            message = f"etcdserver: request timed out (the store owner {self.owner}: {exc})"
            return 503, _status(503, "ServiceUnavailable", message), "json"
        finally:
            connection.close()


def _rdn(entries: Any) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for rdn in entries:
        for key, value in rdn:
            found.setdefault(key, []).append(value)
    return found


def etcd_data_dir() -> Path:
    """etcd's data directory from its static Pod manifest (default /var/lib/etcd)."""
    manifest = host.path("/etc/kubernetes/manifests/etcd.yaml")
    if manifest.is_file():
        for document in yamlio.load_all(manifest.read_text(), str(manifest)):
            for container in (document.get("spec") or {}).get("containers") or []:
                for arg in container.get("command") or []:
                    if str(arg).startswith("--data-dir="):
                        return host.path(str(arg).split("=", 1)[1])
    return host.path("/var/lib/etcd")


class Handler(BaseHTTPRequestHandler):
    server: Server
    protocol_version = "HTTP/1.1"  # keep-alive: clients send many small requests
    timeout = 60

    def _any(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        if not self._from_proxy():
            for proxied in PROXY_HEADERS:  # only the front proxy may assert an identity
                headers.pop(proxied, None)
        request = Request(self.command, self.path, headers, body)
        connection = self.connection
        peer = connection.getpeercert() if isinstance(connection, ssl.SSLSocket) else None
        code, payload, kind = self.server.api.handle(request, peer or None)
        if isinstance(payload, bytes):
            data = payload
        elif kind == "json":
            data = json.dumps(payload).encode()
        else:
            data = str(payload).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json" if kind == "json" else "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _from_proxy(self) -> bool:
        connection = self.connection
        if not isinstance(connection, ssl.SSLSocket):
            return False
        peer = connection.getpeercert() or {}
        issuer = _rdn(peer.get("issuer", ()))
        return bool(self.server.api.proxy_ca_subject) and issuer.get("commonName") == [
            self.server.api.proxy_ca_subject]

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _any

    def log_message(self, format: str, *args: Any) -> None:
        stamp = time.strftime("%m%d %H:%M:%S")
        print(f"I{stamp} {self.address_string()} {format % args}", file=sys.stderr, flush=True)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], api: ApiServer) -> None:
        self.api = api
        super().__init__(address, Handler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        """TLS handshake in the request's own thread, so one slow client blocks no one."""
        try:
            wrapped = self.api.server_context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as exc:
            print(f"E{time.strftime('%m%d %H:%M:%S')} TLS handshake error from "
                  f"{client_address[0]}: {exc}", file=sys.stderr, flush=True)
            return
        try:
            super().finish_request(wrapped, client_address)
        finally:
            wrapped.close()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["--version"]:
        print(f"Kubernetes v{KUBERNETES_VERSION} ({STAND_IN_NOTE})")
        return 0
    try:
        flags = parse_flags(args, KNOWN_FLAGS, "kube-apiserver")
        api = ApiServer(flags)
        server = Server((flags.get("bind-address", "0.0.0.0"), api.port), api)
    except host.Failure as exc:
        print(exc.message, file=sys.stderr)
        return exc.code
    except OSError as exc:
        print(f"E failed to start the stand-in apiserver: {exc}", file=sys.stderr)
        return 1

    def stop(signum: int, frame: Any) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    role = f"forwarding to {api.owner}" if api.owner else "owning the store"
    print(f"I stand-in kube-apiserver v{KUBERNETES_VERSION} serving on "
          f"{flags.get('bind-address', '0.0.0.0')}:{api.port}, {role}", file=sys.stderr, flush=True)
    if api.store is not None:
        store = api.store

        def controllers() -> None:
            while True:
                time.sleep(3)
                store.reconcile()

        threading.Thread(target=controllers, daemon=True).start()
    server.serve_forever()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
