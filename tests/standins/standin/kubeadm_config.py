"""kubeadm's configuration API (kubeadm.k8s.io/v1beta4) as kubeadm 1.35 reads it.

Strict decoding (unknown fields, wrong shapes such as v1beta3's map-shaped extraArgs), then
the validation kubeadm applies, then kubeadm's defaults. Two deliberate differences, both
stricter than kubeadm and documented in README.md: unknown fields fail `init`/`join` too (real
kubeadm only warns there; `config validate` fails on them), and v1beta3 is refused (1.35 still
reads it with a deprecation warning; 1.36 removes it).
"""

from __future__ import annotations

import copy
import ipaddress
import re
from dataclasses import dataclass, field
from typing import Any

from standin import KUBERNETES_VERSION, tokens, validation, yamlio

KUBEADM_API = "kubeadm.k8s.io/v1beta4"
KUBELET_API = "kubelet.config.k8s.io/v1beta1"
PROXY_API = "kubeproxy.config.k8s.io/v1alpha1"
OLD_APIS = {"kubeadm.k8s.io/v1alpha1": "v1.11", "kubeadm.k8s.io/v1alpha2": "v1.12",
            "kubeadm.k8s.io/v1alpha3": "v1.14", "kubeadm.k8s.io/v1beta1": "v1.15",
            "kubeadm.k8s.io/v1beta2": "v1.22"}
DEFAULT_CRI_SOCKET = "unix:///var/run/containerd/containerd.sock"
FEATURE_GATES = ("ControlPlaneKubeletLocalMode", "EtcdLearnerMode", "NodeLocalCRISocket",
                 "RootlessControlPlane", "WaitForAllControlPlaneComponents")
ENCRYPTION = ("RSA-2048", "RSA-3072", "RSA-4096", "ECDSA-P256", "ECDSA-P384")

# -- the shapes: a dict is an object (its keys are the only fields), a list one element --

STR, INT, BOOL, DURATION, ANY = "string", "int32", "bool", "duration", "any"
ARG = {"name": STR, "value": STR}
ENV = {"name": STR, "value": STR, "valueFrom": ANY}
MOUNT = {"name": STR, "hostPath": STR, "mountPath": STR, "readOnly": BOOL, "pathType": STR}
COMPONENT = {"extraArgs": [ARG], "extraVolumes": [MOUNT], "extraEnvs": [ENV]}
TAINT = {"key": STR, "value": STR, "effect": STR, "timeAdded": STR}
NODE_REGISTRATION = {"name": STR, "criSocket": STR, "taints": [TAINT], "kubeletExtraArgs": [ARG],
                     "ignorePreflightErrors": [STR], "imagePullPolicy": STR,
                     "imagePullSerial": BOOL}
ENDPOINT = {"advertiseAddress": STR, "bindPort": INT}
TIMEOUTS = {name: DURATION for name in (
    "controlPlaneComponentHealthCheck", "kubeletHealthCheck", "kubernetesAPICall",
    "etcdAPICall", "tlsBootstrap", "discovery", "upgradeManifests")}
TYPE_META = {"apiVersion": STR, "kind": STR}
IMAGE_META = {"imageRepository": STR, "imageTag": STR}
INIT = {**TYPE_META, "bootstrapTokens": [{
    "token": STR, "description": STR, "ttl": DURATION, "expires": STR, "usages": [STR],
    "groups": [STR]}], "dryRun": BOOL, "nodeRegistration": NODE_REGISTRATION,
    "localAPIEndpoint": ENDPOINT, "certificateKey": STR, "skipPhases": [STR],
    "patches": {"directory": STR}, "timeouts": TIMEOUTS}
CLUSTER = {
    **TYPE_META,
    "etcd": {"local": {**IMAGE_META, "dataDir": STR, "extraArgs": [ARG], "extraEnvs": [ENV],
                       "serverCertSANs": [STR], "peerCertSANs": [STR]},
             "external": {"endpoints": [STR], "httpEndpoints": [STR], "caFile": STR,
                          "certFile": STR, "keyFile": STR}},
    "networking": {"serviceSubnet": STR, "podSubnet": STR, "dnsDomain": STR},
    "kubernetesVersion": STR, "controlPlaneEndpoint": STR,
    "apiServer": {**COMPONENT, "certSANs": [STR]},
    "controllerManager": COMPONENT, "scheduler": COMPONENT,
    "dns": {**IMAGE_META, "disabled": BOOL}, "proxy": {"disabled": BOOL},
    "certificatesDir": STR, "imageRepository": STR, "featureGates": {"*": BOOL},
    "clusterName": STR, "encryptionAlgorithm": STR, "certificateValidityPeriod": DURATION,
    "caCertificateValidityPeriod": DURATION,
}
JOIN = {**TYPE_META, "dryRun": BOOL, "nodeRegistration": NODE_REGISTRATION, "caCertPath": STR,
        "discovery": {"bootstrapToken": {"token": STR, "apiServerEndpoint": STR,
                                         "caCertHashes": [STR], "unsafeSkipCAVerification": BOOL},
                      "file": {"kubeConfigPath": STR}, "tlsBootstrapToken": STR},
        "controlPlane": {"localAPIEndpoint": ENDPOINT, "certificateKey": STR},
        "skipPhases": [STR], "patches": {"directory": STR}, "timeouts": TIMEOUTS}
RESET = {**TYPE_META, "cleanupTmpDir": BOOL, "certificatesDir": STR, "criSocket": STR,
         "dryRun": BOOL, "force": BOOL, "ignorePreflightErrors": [STR], "skipPhases": [STR],
         "unmountFlags": [STR], "timeouts": TIMEOUTS}
UPGRADE = {**TYPE_META, "apply": ANY, "diff": ANY, "node": ANY, "plan": ANY, "timeouts": TIMEOUTS}

KUBELET_FIELDS = (
    "enableServer", "staticPodPath", "podLogsDir", "syncFrequency", "fileCheckFrequency",
    "httpCheckFrequency", "staticPodURL", "staticPodURLHeader", "address", "port",
    "readOnlyPort", "tlsCertFile", "tlsPrivateKeyFile", "tlsCipherSuites",
    "tlsCurvePreferences", "tlsMinVersion", "rotateCertificates", "serverTLSBootstrap",
    "authentication", "authorization", "registryPullQPS", "registryBurst",
    "imagePullCredentialsVerificationPolicy", "preloadedImagesVerificationAllowlist",
    "eventRecordQPS", "eventBurst", "enableDebuggingHandlers", "enableContentionProfiling",
    "healthzPort", "healthzBindAddress", "oomScoreAdj", "clusterDomain", "clusterDNS",
    "streamingConnectionIdleTimeout", "nodeStatusUpdateFrequency", "nodeStatusReportFrequency",
    "nodeLeaseDurationSeconds", "imageMinimumGCAge", "imageMaximumGCAge",
    "imageGCHighThresholdPercent", "imageGCLowThresholdPercent", "volumeStatsAggPeriod",
    "kubeletCgroups", "systemCgroups", "cgroupRoot", "cgroupsPerQOS", "cgroupDriver",
    "cpuManagerPolicy", "singleProcessOOMKill", "cpuManagerPolicyOptions",
    "cpuManagerReconcilePeriod", "draManagerReconcilePeriod", "memoryManagerPolicy",
    "topologyManagerPolicy", "topologyManagerScope", "topologyManagerPolicyOptions",
    "qosReserved", "runtimeRequestTimeout", "hairpinMode", "maxPods", "podCIDR",
    "podPidsLimit", "resolvConf", "runOnce", "cpuCFSQuota", "cpuCFSQuotaPeriod",
    "nodeStatusMaxImages", "maxOpenFiles", "contentType", "kubeAPIQPS", "kubeAPIBurst",
    "serializeImagePulls", "maxParallelImagePulls", "evictionHard", "evictionSoft",
    "evictionSoftGracePeriod", "evictionPressureTransitionPeriod", "evictionMaxPodGracePeriod",
    "evictionMinimumReclaim", "mergeDefaultEvictionSettings", "podsPerCore",
    "enableControllerAttachDetach", "protectKernelDefaults", "makeIPTablesUtilChains",
    "iptablesMasqueradeBit", "iptablesDropBit", "featureGates", "failSwapOn", "memorySwap",
    "containerLogMaxSize", "containerLogMaxFiles", "containerLogMaxWorkers",
    "containerLogMonitorInterval", "configMapAndSecretChangeDetectionStrategy",
    "systemReserved", "kubeReserved", "reservedSystemCPUs", "showHiddenMetricsForVersion",
    "systemReservedCgroup", "kubeReservedCgroup", "enforceNodeAllocatable",
    "allowedUnsafeSysctls", "volumePluginDir", "providerID", "kernelMemcgNotification",
    "logging", "enableSystemLogHandler", "enableSystemLogQuery", "shutdownGracePeriod",
    "shutdownGracePeriodCriticalPods", "shutdownGracePeriodByPodPriority", "crashLoopBackOff",
    "reservedMemory", "enableProfilingHandler", "enableDebugFlagsHandler", "seccompDefault",
    "memoryThrottlingFactor", "registerWithTaints", "registerNode", "tracing",
    "localStorageCapacityIsolation", "containerRuntimeEndpoint", "imageServiceEndpoint",
    "failCgroupV1", "userNamespaces",
)
KUBELET = {**TYPE_META, **dict.fromkeys(KUBELET_FIELDS, ANY),
           "cgroupDriver": STR, "staticPodPath": STR, "healthzPort": INT,
           "healthzBindAddress": STR, "failSwapOn": BOOL, "failCgroupV1": BOOL,
           "clusterDNS": [STR], "clusterDomain": STR, "containerRuntimeEndpoint": STR,
           "maxPods": INT, "rotateCertificates": BOOL, "registerNode": BOOL,
           "registerWithTaints": [TAINT], "nodeStatusUpdateFrequency": DURATION}
PROXY_FIELDS = (
    "bindAddress", "healthzBindAddress", "metricsBindAddress", "bindAddressHardFail",
    "enableProfiling", "showHiddenMetricsForVersion", "clientConnection", "hostnameOverride",
    "featureGates", "mode", "iptables", "ipvs", "nftables", "winkernel", "detectLocalMode",
    "detectLocal", "clusterCIDR", "nodePortAddresses", "oomScoreAdj", "conntrack",
    "configSyncPeriod", "portRange", "logging", "linux", "windows",
)
PROXY = {**TYPE_META, **dict.fromkeys(PROXY_FIELDS, ANY), "mode": STR}
SCHEMAS = {
    (KUBEADM_API, "InitConfiguration"): ("v1beta4", INIT),
    (KUBEADM_API, "ClusterConfiguration"): ("v1beta4", CLUSTER),
    (KUBEADM_API, "JoinConfiguration"): ("v1beta4", JOIN),
    (KUBEADM_API, "ResetConfiguration"): ("v1beta4", RESET),
    (KUBEADM_API, "UpgradeConfiguration"): ("v1beta4", UPGRADE),
    (KUBELET_API, "KubeletConfiguration"): ("v1beta1", KUBELET),
    (PROXY_API, "KubeProxyConfiguration"): ("v1alpha1", PROXY),
}


class ConfigError(Exception):
    """The configuration is refused; lines are what kubeadm prints."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines


_GO_TYPE = {STR: "string", INT: "int32", BOOL: "bool", DURATION: "v1.Duration"}


def json_kind(value: Any) -> str:
    """The JSON kind Go's decoder names in its errors ("cannot unmarshal <kind> into ...")."""
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    return "null" if value is None else "string"


def _shape_errors(value: Any, shape: Any, where: str, package: str, errors: list[str]) -> None:
    """Unknown fields and wrong JSON types, worded as kubeadm's strict decoder words them."""
    if value is None:
        return
    if isinstance(shape, dict):
        if not isinstance(value, dict):
            errors.append(f"json: cannot unmarshal {json_kind(value)} into Go struct field "
                          f"{where} of type {package}.Object")
            return
        for key, item in value.items():
            path = f"{where}.{key}" if where else str(key)
            if "*" in shape:
                _shape_errors(item, shape["*"], path, package, errors)
            elif key not in shape:
                errors.append(f'strict decoding error: unknown field "{path}"')
            else:
                _shape_errors(item, shape[key], path, package, errors)
        return
    if isinstance(shape, list):
        if not isinstance(value, list):
            item_type = (f"[]{package}.Arg" if shape == [ARG] else f"[]{package}.Object"
                         if isinstance(shape[0], dict) else "[]string")
            errors.append(f"json: cannot unmarshal {json_kind(value)} into Go struct field "
                          f"{where} of type {item_type}")
            return
        for index, item in enumerate(value):
            _shape_errors(item, shape[0], f"{where}[{index}]", package, errors)
        return
    wrong = (
        (shape == STR and not isinstance(value, str)) or
        (shape == INT and (not isinstance(value, int) or isinstance(value, bool))) or
        (shape == BOOL and not isinstance(value, bool)) or
        (shape == DURATION and not isinstance(value, str))
    )
    if wrong:
        errors.append(f"json: cannot unmarshal {json_kind(value)} into Go struct field {where} "
                      f"of type {_GO_TYPE.get(shape, shape)}")
    elif shape == DURATION:
        try:
            tokens.parse_duration(value)
        except ValueError as exc:
            errors.append(f"{where}: {exc}")


@dataclass
class Documents:
    """The recognised documents of one config file, by kind."""

    by_kind: dict[str, dict[str, Any]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def get(self, kind: str) -> dict[str, Any] | None:
        return self.by_kind.get(kind)


def parse(text: str, source: str) -> Documents:
    """Split, identify and strictly decode every document (ConfigError on any problem)."""
    try:
        documents = yamlio.load_all(text, source)
    except ValueError as exc:
        raise ConfigError([str(exc)]) from None
    result = Documents()
    errors: list[str] = []
    for document in documents:
        api, kind = document.get("apiVersion"), document.get("kind")
        if not api or not kind:
            errors.append(f"invalid configuration for GroupVersionKind /, Kind=: kind and "
                          f"apiVersion is mandatory information that must be specified "
                          f"({source})")
            continue
        if api in OLD_APIS:
            errors.append(f'your configuration file uses an old API spec: "{api}" (kind: '
                          f'"{kind}"). Please use kubeadm {OLD_APIS[api]} instead and run '
                          "'kubeadm config migrate --old-config old.yaml --new-config "
                          "new.yaml', which will write the new, similar spec using a newer "
                          "API version.")
            continue
        if api == "kubeadm.k8s.io/v1beta3":
            errors.append(f'your configuration file uses a deprecated API spec: "{api}" (kind: '
                          f'"{kind}"). kubeadm 1.35 only warns about it and 1.36 removes it, so '
                          "the stand-in refuses it: use kubeadm.k8s.io/v1beta4 ('kubeadm config "
                          "migrate --old-config old.yaml --new-config new.yaml' converts it).")
            continue
        schema = SCHEMAS.get((api, kind))
        if schema is None:
            group = api.rpartition("/")[0]
            known = group in ("kubeadm.k8s.io", "kubelet.config.k8s.io", "kubeproxy.config.k8s.io")
            errors.append(f'no kind "{kind}" is registered for version "{api}" in scheme '
                          '"k8s.io/kubernetes/cmd/kubeadm/app/apis/kubeadm/scheme/scheme.go:31"'
                          if known else
                          f'[config] WARNING: Ignored YAML document with GroupVersionKind '
                          f'{api}, Kind={kind}: the stand-in accepts no other documents')
            continue
        if kind in result.by_kind:
            errors.append(f"invalid configuration: kind {kind} specified twice")
            continue
        _shape_errors(document, schema[1], "", schema[0], errors)
        result.by_kind[kind] = document
    if errors:
        raise ConfigError(errors)
    if "InitConfiguration" in result.by_kind and "JoinConfiguration" in result.by_kind:
        result.warnings.append("WARNING: Detected resource kinds that may not apply: "
                               "[InitConfiguration JoinConfiguration]")
    return result


# -- semantic validation ------------------------------------------------------------------


def _host_port(value: str) -> tuple[str, int | None] | None:
    match = re.match(r"^\[([0-9a-fA-F:.]+)\](?::(\d+))?$|^([^:\[\]]+)(?::(\d+))?$", value)
    if not match:
        try:
            ipaddress.IPv6Address(value)
        except ValueError:
            return None
        return value, None
    hostname = match.group(1) or match.group(3)
    port = match.group(2) or match.group(4)
    return hostname, int(port) if port else None


def _valid_host(hostname: str) -> bool:
    try:
        ipaddress.ip_address(hostname)
    except ValueError:
        return validation.dns_subdomain(hostname)
    return True


def _cidrs(errors: list[str], where: str, value: str) -> list[ipaddress.IPv4Network |
                                                           ipaddress.IPv6Network]:
    found = []
    for part in value.split(","):
        try:
            found.append(ipaddress.ip_network(part.strip(), strict=True))
        except ValueError:
            errors.append(f'{where}: Invalid value: "{value}": couldn\'t parse subnet')
    return found


def _args(errors: list[str], where: str, args: list[dict[str, Any]] | None) -> None:
    for index, arg in enumerate(args or []):
        if not arg.get("name"):
            errors.append(f"{where}[{index}].name: Required value")


def arg_value(args: list[dict[str, Any]] | None, name: str) -> str | None:
    """The last value given for an extra argument (later ones override earlier ones)."""
    found = None
    for arg in args or []:
        if arg.get("name") == name:
            found = str(arg.get("value", ""))
    return found


def validate_node_registration(errors: list[str], node: dict[str, Any]) -> None:
    name = node.get("name", "")
    if name and not validation.dns_subdomain(name):
        errors.append(f'nodeRegistration.name: Invalid value: "{name}": a lowercase RFC 1123 '
                      "subdomain must consist of lower case alphanumeric characters, '-' or "
                      "'.', and must start and end with an alphanumeric character")
    socket = node.get("criSocket", "")
    if socket and not (socket.startswith("unix:///") or socket.startswith("/")):
        errors.append(f'nodeRegistration.criSocket: Invalid value: "{socket}": path is not '
                      "absolute or does not use the unix:// scheme")
    for index, taint in enumerate(node.get("taints") or []):
        if not taint.get("key"):
            errors.append(f"nodeRegistration.taints[{index}].key: Required value")
        if taint.get("effect") not in ("NoSchedule", "PreferNoSchedule", "NoExecute"):
            errors.append(f'nodeRegistration.taints[{index}].effect: Unsupported value: '
                          f'"{taint.get("effect", "")}": supported values: "NoExecute", '
                          '"NoSchedule", "PreferNoSchedule"')
    _args(errors, "nodeRegistration.kubeletExtraArgs", node.get("kubeletExtraArgs"))
    node_ip = arg_value(node.get("kubeletExtraArgs"), "node-ip")
    if node_ip is not None:
        for part in node_ip.split(","):
            try:
                ipaddress.ip_address(part.strip())
            except ValueError:
                errors.append(f'nodeRegistration.kubeletExtraArgs.node-ip: Invalid value: '
                              f'"{node_ip}": not a valid IP address')
    policy = node.get("imagePullPolicy")
    if policy and policy not in ("Always", "IfNotPresent", "Never"):
        errors.append(f'nodeRegistration.imagePullPolicy: Unsupported value: "{policy}": '
                      'supported values: "Always", "IfNotPresent", "Never"')


def _endpoint(errors: list[str], where: str, endpoint: dict[str, Any]) -> None:
    address = endpoint.get("advertiseAddress")
    if address:
        try:
            ipaddress.ip_address(address)
        except ValueError:
            errors.append(f'{where}.advertiseAddress: Invalid value: "{address}": not a valid '
                          "textual representation of an IP address")
    port = endpoint.get("bindPort")
    if port is not None and not 0 < int(port) < 65536:
        errors.append(f"{where}.bindPort: Invalid value: {port}: port number is not valid")


def validate_certificate_key(errors: list[str], where: str, key: str | None) -> None:
    if key and not re.fullmatch(r"[0-9a-fA-F]{64}", key):
        errors.append(f'{where}: Invalid value: "<redacted>": the certificate key must be a '
                      "hex encoded string of 32 bytes (64 characters)")


def validate_cluster(errors: list[str], cluster: dict[str, Any], *, expect_version: bool) -> None:
    version = cluster.get("kubernetesVersion", "")
    if expect_version and version and version.lstrip("v") != KUBERNETES_VERSION:
        errors.append(f'kubernetesVersion: Invalid value: "{version}": this STAND-IN kubeadm '
                      f"v{KUBERNETES_VERSION} deploys only v{KUBERNETES_VERSION} (the control "
                      "plane it stands in for); set kubernetesVersion to that or install the "
                      "matching kubeadm")
    networking = cluster.get("networking") or {}
    services = _cidrs(errors, "networking.serviceSubnet",
                      networking.get("serviceSubnet", "10.96.0.0/12"))
    for network in services:
        if network.version == 4 and network.prefixlen < 12:
            errors.append(f'networking.serviceSubnet: Invalid value: "{network}": specified '
                          "service subnet is too large; for 32-bit addresses, the mask must "
                          "be >= 12")
    pods = []
    if networking.get("podSubnet"):
        pods = _cidrs(errors, "networking.podSubnet", networking["podSubnet"])
        node_mask = int(arg_value((cluster.get("controllerManager") or {}).get("extraArgs"),
                                  "node-cidr-mask-size") or 24)
        for network in pods:
            if network.version == 4 and network.prefixlen > node_mask:
                errors.append(f'networking.podSubnet: Invalid value: "{network}": the size of '
                              f"pod subnet with mask {network.prefixlen} is smaller than the "
                              f"size of node subnet with mask {node_mask}")
    for pod in pods:
        for service in services:
            if pod.version == service.version and pod.overlaps(service):
                errors.append(f'networking.podSubnet: Invalid value: "{pod}": overlaps with '
                              f'networking.serviceSubnet "{service}"; Pod and Service addresses '
                              "must not share a range")
    domain = networking.get("dnsDomain")
    if domain and not validation.dns_subdomain(domain):
        errors.append(f'networking.dnsDomain: Invalid value: "{domain}": not a DNS subdomain')
    endpoint = cluster.get("controlPlaneEndpoint")
    if endpoint:
        parsed = _host_port(endpoint)
        if parsed is None or not _valid_host(parsed[0]) or (
                parsed[1] is not None and not 0 < parsed[1] < 65536):
            errors.append(f'controlPlaneEndpoint: Invalid value: "{endpoint}": must be a valid '
                          "IP address or RFC-1123 DNS subdomain, with an optional port")
    for index, san in enumerate((cluster.get("apiServer") or {}).get("certSANs") or []):
        if not _valid_host(san.removeprefix("*.")):
            errors.append(f'apiServer.certSANs[{index}]: Invalid value: "{san}": altname is not '
                          "a valid IP address, DNS label or a DNS label with subdomain wildcards")
    for component in ("apiServer", "controllerManager", "scheduler"):
        _args(errors, f"{component}.extraArgs", (cluster.get(component) or {}).get("extraArgs"))
    etcd = cluster.get("etcd") or {}
    if etcd.get("local") and etcd.get("external"):
        errors.append("etcd: Invalid value: \"\": either .Etcd.Local or .Etcd.External can be "
                      "set, not both")
    if etcd.get("external"):
        errors.append("etcd.external: Forbidden: the STAND-IN control plane only runs stacked "
                      "(local) etcd")
    algorithm = cluster.get("encryptionAlgorithm")
    if algorithm and algorithm not in ENCRYPTION:
        errors.append(f'encryptionAlgorithm: Unsupported value: "{algorithm}": supported '
                      f"values: {', '.join(repr(a) for a in ENCRYPTION)}")
    for gate in (cluster.get("featureGates") or {}):
        if gate not in FEATURE_GATES:
            errors.append(f"featureGates: Invalid value: map[{gate}:...]: {gate} is not a "
                          "valid feature name.")


def validate_init(errors: list[str], init: dict[str, Any]) -> None:
    _endpoint(errors, "localAPIEndpoint", init.get("localAPIEndpoint") or {})
    validate_node_registration(errors, init.get("nodeRegistration") or {})
    validate_certificate_key(errors, "certificateKey", init.get("certificateKey"))
    for index, token in enumerate(init.get("bootstrapTokens") or []):
        where = f"bootstrapTokens[{index}]"
        if not tokens.TOKEN.match(token.get("token", "")):
            errors.append(f'{where}.token: Invalid value: "<redacted>": the bootstrap token is '
                          'invalid (expected the form "[a-z0-9]{6}.[a-z0-9]{16}")')
        for usage in token.get("usages") or []:
            if usage not in ("signing", "authentication"):
                errors.append(f'{where}.usages: Invalid value: ["{usage}"]: invalid bootstrap '
                              "token usage string: valid values are signing, authentication")
        for group in token.get("groups") or []:
            if not re.fullmatch(r"system:bootstrappers:[a-z0-9:-]{0,255}[a-z0-9]", group):
                errors.append(f'{where}.groups: Invalid value: ["{group}"]: bootstrap group '
                              f'"{group}" is invalid (must match \\Asystem:bootstrappers:'
                              "[a-z0-9:-]{0,255}[a-z0-9]\\z)")


def validate_join(errors: list[str], join: dict[str, Any]) -> None:
    discovery = join.get("discovery") or {}
    token = discovery.get("bootstrapToken")
    if token and discovery.get("file"):
        errors.append("discovery: Invalid value: \"\": bootstrapToken and file cannot both be set")
    elif not token and not discovery.get("file"):
        errors.append("discovery: Invalid value: \"\": bootstrapToken or file must be set")
    if discovery.get("file"):
        errors.append("discovery.file: Forbidden: the STAND-IN kubeadm only implements "
                      "token-based discovery")
    if token:
        if not tokens.TOKEN.match(token.get("token", "")):
            errors.append('discovery.bootstrapToken.token: Invalid value: "<redacted>": the '
                          'bootstrap token is invalid (expected "[a-z0-9]{6}.[a-z0-9]{16}")')
        endpoint = token.get("apiServerEndpoint", "")
        parsed = _host_port(endpoint) if endpoint else None
        if not endpoint:
            errors.append('discovery.bootstrapToken.apiServerEndpoint: Invalid value: "": '
                          "using token-based discovery without an API server endpoint")
        elif parsed is None or parsed[1] is None or not _valid_host(parsed[0]):
            errors.append(f'discovery.bootstrapToken.apiServerEndpoint: Invalid value: '
                          f'"{endpoint}": address {endpoint}: missing port in address')
        hashes = token.get("caCertHashes") or []
        for value in hashes:
            if not re.fullmatch(r"sha256:[0-9a-f]{64}", value):
                errors.append(f'discovery.bootstrapToken.caCertHashes: Invalid value: "{value}": '
                              'invalid hash "' + value + '", expected "<type>:<value>" with '
                              "type sha256 and 64 hex characters")
        if not hashes and not token.get("unsafeSkipCAVerification"):
            errors.append("discovery.bootstrapToken.caCertHashes: Invalid value: []string(nil): "
                          "using token-based discovery without caCertHashes can be unsafe. Set "
                          "unsafeSkipCAVerification as true in your kubeadm config file or pass "
                          "--discovery-token-unsafe-skip-ca-verification flag to continue")
    tls_token = discovery.get("tlsBootstrapToken")
    if tls_token and not tokens.TOKEN.match(tls_token):
        errors.append('discovery.tlsBootstrapToken: Invalid value: "<redacted>": the bootstrap '
                      "token is invalid")
    validate_node_registration(errors, join.get("nodeRegistration") or {})
    plane = join.get("controlPlane")
    if plane:
        _endpoint(errors, "controlPlane.localAPIEndpoint", plane.get("localAPIEndpoint") or {})
        validate_certificate_key(errors, "controlPlane.certificateKey", plane.get("certificateKey"))


def validate_kubelet(errors: list[str], kubelet: dict[str, Any]) -> None:
    driver = kubelet.get("cgroupDriver")
    if driver and driver not in ("systemd", "cgroupfs"):
        errors.append(f'KubeletConfiguration.cgroupDriver: Invalid value: "{driver}": must be '
                      '"systemd" or "cgroupfs"')
    port = kubelet.get("healthzPort")
    if port is not None and not 0 <= int(port) < 65536:
        errors.append(f"KubeletConfiguration.healthzPort: Invalid value: {port}: must be between "
                      "0 and 65535, inclusive")
    for address in kubelet.get("clusterDNS") or []:
        try:
            ipaddress.ip_address(address)
        except ValueError:
            errors.append(f'KubeletConfiguration.clusterDNS: Invalid value: "{address}": must '
                          "be a valid IP address")


def validate_proxy(errors: list[str], proxy: dict[str, Any]) -> None:
    mode = proxy.get("mode")
    if mode and mode not in ("iptables", "ipvs", "nftables", "kernelspace"):
        errors.append(f'KubeProxyConfiguration.mode: Unsupported value: "{mode}": supported '
                      'values: "iptables", "ipvs", "nftables"')


# -- defaults -----------------------------------------------------------------------------


def service_ip(service_subnet: str, offset: int) -> str:
    network = ipaddress.ip_network(service_subnet.split(",")[0].strip())
    return str(network.network_address + offset)


def default_cluster(cluster: dict[str, Any] | None) -> dict[str, Any]:
    result: dict[str, Any] = copy.deepcopy(cluster) if cluster else {
        "apiVersion": KUBEADM_API, "kind": "ClusterConfiguration"}
    networking = result.setdefault("networking", {})
    networking.setdefault("serviceSubnet", "10.96.0.0/12")
    networking.setdefault("dnsDomain", "cluster.local")
    result.setdefault("kubernetesVersion", f"v{KUBERNETES_VERSION}")
    if not result["kubernetesVersion"].startswith("v"):
        result["kubernetesVersion"] = "v" + result["kubernetesVersion"]
    result.setdefault("certificatesDir", "/etc/kubernetes/pki")
    result.setdefault("imageRepository", "registry.k8s.io")
    result.setdefault("clusterName", "kubernetes")
    result.setdefault("encryptionAlgorithm", "RSA-2048")
    result.setdefault("certificateValidityPeriod", "8760h0m0s")
    result.setdefault("caCertificateValidityPeriod", "87600h0m0s")
    etcd = result.setdefault("etcd", {})
    if not etcd.get("external"):
        etcd.setdefault("local", {}).setdefault("dataDir", "/var/lib/etcd")
    for component in ("apiServer", "controllerManager", "scheduler", "dns", "proxy"):
        result.setdefault(component, {})
    return result


def default_timeouts(timeouts: dict[str, Any] | None) -> dict[str, float]:
    defaults = {"controlPlaneComponentHealthCheck": "4m", "kubeletHealthCheck": "4m",
                "kubernetesAPICall": "1m", "etcdAPICall": "2m", "tlsBootstrap": "5m",
                "discovery": "5m", "upgradeManifests": "5m"}
    defaults.update(timeouts or {})
    return {k: tokens.parse_duration(v).total_seconds() for k, v in defaults.items()}


def default_node(node: dict[str, Any] | None, hostname: str, *, control_plane: bool
                 ) -> dict[str, Any]:
    result = copy.deepcopy(node) if node else {}
    result.setdefault("name", hostname.lower())
    result.setdefault("criSocket", DEFAULT_CRI_SOCKET)
    result.setdefault("imagePullPolicy", "IfNotPresent")
    if "taints" not in result or result["taints"] is None:
        result["taints"] = ([{"key": "node-role.kubernetes.io/control-plane",
                              "effect": "NoSchedule"}] if control_plane else [])
    if not result["criSocket"].startswith("unix://"):
        result["criSocket"] = "unix://" + result["criSocket"]
    return result


def default_kubelet(kubelet: dict[str, Any] | None, cluster: dict[str, Any]) -> dict[str, Any]:
    """kubeadm's defaults for the cluster-wide KubeletConfiguration."""
    result: dict[str, Any] = {"apiVersion": KUBELET_API, "kind": "KubeletConfiguration"}
    result.update({
        "authentication": {"anonymous": {"enabled": False},
                           "webhook": {"cacheTTL": "0s", "enabled": True},
                           "x509": {"clientCAFile": f"{cluster['certificatesDir']}/ca.crt"}},
        "authorization": {"mode": "Webhook", "webhook": {"cacheAuthorizedTTL": "0s",
                                                         "cacheUnauthorizedTTL": "0s"}},
        "cgroupDriver": "systemd",
        "clusterDNS": [service_ip(cluster["networking"]["serviceSubnet"], 10)],
        "clusterDomain": cluster["networking"]["dnsDomain"],
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": 10248,
        "rotateCertificates": True,
        "staticPodPath": "/etc/kubernetes/manifests",
    })
    result.update(copy.deepcopy(kubelet or {}))
    return result
