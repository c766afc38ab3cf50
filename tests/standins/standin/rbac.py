"""Who may do what: system:masters, the node authorizer and RBAC, as kube-apiserver decides.

kubeadm's bindings (bootstrap tokens reading kubeadm-config, anonymous reading cluster-info,
kubeadm:cluster-admins) are ordinary RBAC objects the kubeadm stand-in creates through the
API, exactly as real kubeadm does; this module only evaluates them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from standin import kinds

if TYPE_CHECKING:
    from standin.store import Store


@dataclass(frozen=True)
class User:
    name: str
    groups: tuple[str, ...]


ANONYMOUS = User("system:anonymous", ("system:unauthenticated",))


@dataclass(frozen=True)
class Attributes:
    verb: str
    group: str = ""
    resource: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""
    path: str = ""

    @property
    def resource_request(self) -> bool:
        return bool(self.resource)


def _subject_matches(subject: dict[str, Any], user: User, namespace: str) -> bool:
    kind = subject.get("kind")
    if kind == "User":
        return bool(subject.get("name") == user.name)
    if kind == "Group":
        return subject.get("name") in user.groups
    if kind == "ServiceAccount":
        space = subject.get("namespace") or namespace
        return user.name == f"system:serviceaccount:{space}:{subject.get('name')}"
    return False


def _rule_matches(rule: dict[str, Any], attrs: Attributes) -> bool:
    verbs = rule.get("verbs") or []
    if "*" not in verbs and attrs.verb not in verbs:
        return False
    if not attrs.resource_request:
        return any(url == attrs.path or url == "*" or
                   (url.endswith("*") and attrs.path.startswith(url[:-1]))
                   for url in rule.get("nonResourceURLs") or [])
    groups = rule.get("apiGroups") or []
    if "*" not in groups and attrs.group not in groups:
        return False
    wanted = f"{attrs.resource}/{attrs.subresource}" if attrs.subresource else attrs.resource
    resources = rule.get("resources") or []
    if not any(r in ("*", wanted) or (attrs.subresource and r == f"*/{attrs.subresource}")
               for r in resources):
        return False
    names = rule.get("resourceNames") or []
    return not names or attrs.name in names


def _node_allows(node: str, attrs: Attributes) -> bool:
    """The Node authorizer, simplified: kubelets manage their node, its pods, leases, CSRs."""
    reads = attrs.verb in ("get", "list", "watch")
    if attrs.resource == "nodes":
        return reads or attrs.name in ("", node)
    if attrs.resource in ("pods", "events", "leases", "certificatesigningrequests"):
        return True
    return reads and attrs.resource in ("configmaps", "secrets", "services", "endpoints",
                                         "persistentvolumeclaims", "persistentvolumes",
                                         "csidrivers", "csinodes", "runtimeclasses")


def allowed(store: Store, user: User, attrs: Attributes, modes: tuple[str, ...]) -> bool:
    if "AlwaysAllow" in modes or "system:masters" in user.groups:
        return True
    node = user.name.removeprefix("system:node:")
    if "Node" in modes and "system:nodes" in user.groups and user.name.startswith(
            "system:node:") and _node_allows(node, attrs):
        return True
    if "RBAC" not in modes:
        return False
    cluster_roles = kinds.builtin("ClusterRole", "rbac.authorization.k8s.io")
    roles = kinds.builtin("Role", "rbac.authorization.k8s.io")
    bindings = [(b, "") for b in store.select(kinds.builtin("ClusterRoleBinding",
                                                           "rbac.authorization.k8s.io"))]
    if attrs.namespace:
        bindings += [(b, attrs.namespace) for b in store.select(
            kinds.builtin("RoleBinding", "rbac.authorization.k8s.io"), attrs.namespace)]
    for binding, namespace in bindings:
        if not any(_subject_matches(s, user, namespace) for s in binding.get("subjects") or []):
            continue
        ref = binding.get("roleRef") or {}
        if ref.get("kind") == "ClusterRole":
            role = store.find(cluster_roles, "", str(ref.get("name")))
        else:
            role = store.find(roles, namespace, str(ref.get("name")))
        if role and any(_rule_matches(rule, attrs) for rule in role.get("rules") or []):
            return True
    return False


DISCOVERY_URLS = ["/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/openapi",
                  "/openapi/*", "/readyz", "/version", "/version/"]
PUBLIC_URLS = ["/healthz", "/livez", "/readyz", "/version", "/version/"]


def bootstrap_policy() -> list[tuple[str, dict[str, Any]]]:
    """The roles and bindings kube-apiserver itself creates at start (a subset)."""
    def role(name: str, rules: list[dict[str, Any]]) -> tuple[str, dict[str, Any]]:
        return "ClusterRole", {"metadata": {"name": name, "labels": {
            "kubernetes.io/bootstrapping": "rbac-defaults"}}, "rules": rules}

    def bind(name: str, role_name: str, *groups: str) -> tuple[str, dict[str, Any]]:
        return "ClusterRoleBinding", {
            "metadata": {"name": name, "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"}},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                        "name": role_name},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": g}
                         for g in groups]}

    return [
        role("cluster-admin", [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
                               {"nonResourceURLs": ["*"], "verbs": ["*"]}]),
        role("system:discovery", [{"nonResourceURLs": DISCOVERY_URLS, "verbs": ["get"]}]),
        role("system:public-info-viewer", [{"nonResourceURLs": PUBLIC_URLS, "verbs": ["get"]}]),
        role("system:node-bootstrapper", [{
            "apiGroups": ["certificates.k8s.io"], "resources": ["certificatesigningrequests"],
            "verbs": ["create", "get", "list", "watch"]}]),
        role("system:certificates.k8s.io:certificatesigningrequests:nodeclient", [{
            "apiGroups": ["certificates.k8s.io"],
            "resources": ["certificatesigningrequests/nodeclient"], "verbs": ["create"]}]),
        role("system:certificates.k8s.io:certificatesigningrequests:selfnodeclient", [{
            "apiGroups": ["certificates.k8s.io"],
            "resources": ["certificatesigningrequests/selfnodeclient"], "verbs": ["create"]}]),
        bind("cluster-admin", "cluster-admin", "system:masters"),
        bind("system:discovery", "system:discovery", "system:authenticated"),
        bind("system:public-info-viewer", "system:public-info-viewer", "system:authenticated",
             "system:unauthenticated"),
    ]
