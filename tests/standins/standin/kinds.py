"""The resource types the stand-in API server serves: Kubernetes 1.35's built-ins, plus CRDs.

Only versions a 1.35 API server serves are here (no batch/v1beta1, no policy/v1beta1), so a
manifest using a removed API fails the way it would on a real cluster.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Resource:
    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()
    custom: bool = False
    verbs: tuple[str, ...] = field(default=("create", "delete", "get", "list", "patch", "update"))

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def qualified(self) -> str:
        """How kubectl names the type in its output, e.g. deployment.apps."""
        return f"{self.singular}.{self.group}" if self.group else self.singular

    def path(self, namespace: str | None = None, name: str | None = None) -> str:
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{namespace}"
        base += f"/{self.plural}"
        return f"{base}/{name}" if name else base


def _r(group: str, version: str, kind: str, plural: str, namespaced: bool,
       *short: str, status: bool = False) -> Resource:
    return Resource(group, version, kind, plural, namespaced, short,
                    ("status",) if status else ())


BUILTIN: tuple[Resource, ...] = (
    _r("", "v1", "Namespace", "namespaces", False, "ns", status=True),
    _r("", "v1", "Node", "nodes", False, "no", status=True),
    _r("", "v1", "Pod", "pods", True, "po", status=True),
    _r("", "v1", "Service", "services", True, "svc", status=True),
    _r("", "v1", "ConfigMap", "configmaps", True, "cm"),
    _r("", "v1", "Secret", "secrets", True),
    _r("", "v1", "ServiceAccount", "serviceaccounts", True, "sa"),
    _r("", "v1", "Endpoints", "endpoints", True, "ep"),
    _r("", "v1", "Event", "events", True, "ev"),
    _r("", "v1", "PersistentVolume", "persistentvolumes", False, "pv", status=True),
    _r("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", True, "pvc", status=True),
    _r("", "v1", "LimitRange", "limitranges", True, "limits"),
    _r("", "v1", "ResourceQuota", "resourcequotas", True, "quota", status=True),
    _r("apps", "v1", "Deployment", "deployments", True, "deploy", status=True),
    _r("apps", "v1", "DaemonSet", "daemonsets", True, "ds", status=True),
    _r("apps", "v1", "StatefulSet", "statefulsets", True, "sts", status=True),
    _r("apps", "v1", "ReplicaSet", "replicasets", True, "rs", status=True),
    _r("apps", "v1", "ControllerRevision", "controllerrevisions", True),
    _r("batch", "v1", "Job", "jobs", True, status=True),
    _r("batch", "v1", "CronJob", "cronjobs", True, "cj", status=True),
    _r("rbac.authorization.k8s.io", "v1", "Role", "roles", True),
    _r("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings", True),
    _r("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", False),
    _r("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings", False),
    _r("apiextensions.k8s.io", "v1", "CustomResourceDefinition", "customresourcedefinitions",
       False, "crd", "crds", status=True),
    _r("apiregistration.k8s.io", "v1", "APIService", "apiservices", False, status=True),
    _r("admissionregistration.k8s.io", "v1", "ValidatingWebhookConfiguration",
       "validatingwebhookconfigurations", False),
    _r("admissionregistration.k8s.io", "v1", "MutatingWebhookConfiguration",
       "mutatingwebhookconfigurations", False),
    _r("admissionregistration.k8s.io", "v1", "ValidatingAdmissionPolicy",
       "validatingadmissionpolicies", False, status=True),
    _r("admissionregistration.k8s.io", "v1", "ValidatingAdmissionPolicyBinding",
       "validatingadmissionpolicybindings", False),
    _r("certificates.k8s.io", "v1", "CertificateSigningRequest", "certificatesigningrequests",
       False, "csr", status=True),
    _r("coordination.k8s.io", "v1", "Lease", "leases", True),
    _r("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices", True),
    _r("networking.k8s.io", "v1", "Ingress", "ingresses", True, "ing", status=True),
    _r("networking.k8s.io", "v1", "IngressClass", "ingressclasses", False),
    _r("networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies", True, "netpol"),
    _r("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", True, "pdb", status=True),
    _r("scheduling.k8s.io", "v1", "PriorityClass", "priorityclasses", False, "pc"),
    _r("storage.k8s.io", "v1", "StorageClass", "storageclasses", False, "sc"),
    _r("storage.k8s.io", "v1", "CSIDriver", "csidrivers", False),
    _r("storage.k8s.io", "v1", "CSINode", "csinodes", False),
    _r("storage.k8s.io", "v1", "VolumeAttachment", "volumeattachments", False, status=True),
    _r("autoscaling", "v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers", True, "hpa",
       status=True),
    _r("autoscaling", "v1", "HorizontalPodAutoscaler", "horizontalpodautoscalers", True, "hpa",
       status=True),
    _r("node.k8s.io", "v1", "RuntimeClass", "runtimeclasses", False),
)


def from_crd(crd: dict[str, object]) -> list[Resource]:
    """The served versions of an established CustomResourceDefinition."""
    spec = crd.get("spec")
    if not isinstance(spec, dict):
        return []
    names = spec.get("names") or {}
    found = []
    for version in spec.get("versions") or []:
        if not isinstance(version, dict) or not version.get("served"):
            continue
        subresources = version.get("subresources") or {}
        found.append(Resource(
            group=str(spec.get("group", "")),
            version=str(version.get("name", "")),
            kind=str(names.get("kind", "")),
            plural=str(names.get("plural", "")),
            namespaced=spec.get("scope") == "Namespaced",
            short_names=tuple(names.get("shortNames") or ()),
            subresources=("status",) if "status" in subresources else (),
            custom=True,
        ))
    return found


def builtin(kind: str, group: str = "") -> Resource:
    """A built-in type by kind (the preferred version when there are several)."""
    for resource in BUILTIN:
        if resource.kind == kind and resource.group == group:
            return resource
    raise KeyError(f"{kind} ({group or 'core'})")
