"""cni_filters: the CNI role's decisions as pure functions (tested in tests/unit/test_cni.py).

- cni_calico_manifest: sets env entries (the pod CIDR) of the calico-node container in
  Calico's multi-document manifest by parsing it, never by editing text.
- cni_node_pod_subnets: each node's pod subnet, from the cluster (spec.podCIDR, assigned by
  kube-controller-manager) or, when the cluster assigns none, derived from the node's
  address so that it never moves when nodes are added or removed.
- cni_host_gw_routes: the routes a host-gw node needs: every other node's subnet via it.
- cni_nodes_not_ready: which nodes are not Ready yet, and why.
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING, Any

import yaml
from ansible.errors import AnsibleFilterError

if TYPE_CHECKING:
    from collections.abc import Mapping

try:  # libyaml when present: Calico's manifest is large.
    from yaml import CSafeDumper as _Dumper
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeDumper as _Dumper  # type: ignore[assignment]
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _fail(name: str, message: str) -> AnsibleFilterError:
    return AnsibleFilterError(f"{name}: {message}")


# -- Calico --------------------------------------------------------------------------------


def cni_calico_manifest(
    text: str,
    env: Mapping[str, str],
    annotations: Mapping[str, str] | None = None,
    daemonset: str = "calico-node",
    container: str = "calico-node",
) -> str:
    """Calico's manifest with `env` set on `container` of DaemonSet `daemonset`.

    An existing entry keeps its place and gets the value (a `valueFrom` is dropped); a new
    one is appended. `annotations` are added to the DaemonSet's own metadata (taco records
    the applied revision there). Every other document comes back as it was parsed.
    """
    name = "cni_calico_manifest"
    try:
        documents = [doc for doc in yaml.load_all(text, Loader=_Loader) if doc is not None]
    except yaml.YAMLError as exc:
        raise _fail(name, f"the manifest is not valid YAML: {exc}") from exc
    if not all(isinstance(doc, dict) for doc in documents):
        raise _fail(name, "every document of the manifest must be a mapping (a Kubernetes object)")
    targets = [
        doc for doc in documents
        if doc.get("kind") == "DaemonSet" and (doc.get("metadata") or {}).get("name") == daemonset
    ]
    if len(targets) != 1:
        raise _fail(name, f"expected one DaemonSet named {daemonset}, found {len(targets)}: "
                          "is this Calico's calico.yaml (the manifest install)?")
    pod_spec = ((targets[0].get("spec") or {}).get("template") or {}).get("spec") or {}
    containers = pod_spec.get("containers") or []
    matches = [c for c in containers if isinstance(c, dict) and c.get("name") == container]
    if not matches:
        found = ", ".join(str(c.get("name")) for c in containers if isinstance(c, dict))
        raise _fail(name, f"DaemonSet {daemonset} has no container {container} "
                          f"(containers: {found or 'none'})")
    entries = matches[0].setdefault("env", [])
    if not isinstance(entries, list):
        raise _fail(name, f"container {container}: env is not a list")
    for key, value in env.items():
        if not isinstance(value, str):
            raise _fail(name, f"env {key} must be a string, got {type(value).__name__}")
        # str(): plain strings; the YAML dumper refuses str subclasses (Ansible's tagged ones).
        entry = next((e for e in entries if isinstance(e, dict) and e.get("name") == key), None)
        if entry is None:
            entries.append({"name": str(key), "value": str(value)})
        else:
            entry.pop("valueFrom", None)
            entry["value"] = str(value)
    if annotations:
        metadata = targets[0].setdefault("metadata", {})
        metadata["annotations"] = {**(metadata.get("annotations") or {}),
                                   **{str(k): str(v) for k, v in annotations.items()}}
    return yaml.dump_all(documents, Dumper=_Dumper, explicit_start=True, sort_keys=False,
                         default_flow_style=False, width=4096)


# -- Pod subnets ---------------------------------------------------------------------------


def _network(name: str, what: str, text: str) -> Network:
    try:
        return ipaddress.ip_network(str(text), strict=True)
    except ValueError as exc:
        raise _fail(name, f"{what} {text!r} is not a network: {exc}") from exc


def _cluster_cidrs(name: str, nodes: Mapping[str, Any], version: int) -> dict[str, Network]:
    """Node name -> the cluster's podCIDR of the pod range's IP version."""
    found: dict[str, Network] = {}
    for item in nodes.get("items") or []:
        node = str((item.get("metadata") or {}).get("name", ""))
        spec = item.get("spec") or {}
        cidrs = list(spec.get("podCIDRs") or []) or ([spec["podCIDR"]] if spec.get("podCIDR")
                                                     else [])
        for text in cidrs:
            network = _network(name, f"node {node} podCIDR", text)
            if network.version == version:
                found[node] = network
                break
    return found


def cni_node_pod_subnets(
    hosts: Mapping[str, str],
    nodes: Mapping[str, Any],
    pod_cidr: str,
    mask: int,
    management_cidr: str,
) -> dict[str, dict[str, str]]:
    """Host -> {subnet, source} for every host (name -> management address).

    `nodes` is `kubectl get nodes -o json`. When the cluster assigned podCIDRs (kubeadm
    with a podSubnet turns on kube-controller-manager's --allocate-node-cidrs), every host
    uses its node's value. When it assigned none, subnet number N of size /mask inside
    pod_cidr goes to the host at offset N in the management network: stable whatever the
    order or number of nodes. Anything in between (some nodes assigned, some not) is an
    error, as are subnets outside pod_cidr or overlapping.
    """
    name = "cni_node_pod_subnets"
    pods = _network(name, "pod_cidr", pod_cidr)
    mask = int(mask)
    if not pods.prefixlen <= mask <= pods.max_prefixlen:
        raise _fail(name, f"node subnet size /{mask} does not fit pod_cidr {pods}")
    cluster = _cluster_cidrs(name, nodes, pods.version)
    assigned = sorted(h for h in hosts if h in cluster)
    result: dict[str, dict[str, str]] = {}
    if assigned:
        missing = sorted(h for h in hosts if h not in cluster)
        if missing:
            raise _fail(name, f"the cluster assigned pod subnets to {', '.join(assigned)} but "
                              f"not to {', '.join(missing)}: check that these nodes joined "
                              "(kubectl get nodes) and that kube-controller-manager runs with "
                              "--allocate-node-cidrs, then run the phase again")
        for host in hosts:
            if not cluster[host].subnet_of(pods):  # type: ignore[arg-type]
                raise _fail(name, f"node {host} has podCIDR {cluster[host]}, outside the "
                                  f"site's kubernetes.pod_cidr {pods}: the cluster was built "
                                  "with another pod range; fix pod_cidr in the site file")
            result[host] = {"subnet": str(cluster[host]), "source": "cluster"}
    else:
        management = _network(name, "management network", management_cidr)
        count = 2 ** (mask - pods.prefixlen)
        size = 2 ** (pods.max_prefixlen - mask)
        for host, address in hosts.items():
            try:
                ip = ipaddress.ip_address(str(address))
            except ValueError as exc:
                raise _fail(name, f"host {host}: address {address!r} is not an IP") from exc
            if ip not in management:
                raise _fail(name, f"host {host}: address {ip} is outside the management "
                                  f"network {management}")
            offset = int(ip) - int(management.network_address)
            if offset >= count:
                raise _fail(name, f"host {host} ({ip}) is address number {offset} of "
                                  f"{management}, but pod_cidr {pods} holds only {count} "
                                  f"node subnets of /{mask}: use a larger pod_cidr or a "
                                  "smaller node subnet (cni_node_cidr_mask_size)")
            subnet = ipaddress.ip_network((int(pods.network_address) + offset * size, mask))
            result[host] = {"subnet": str(subnet), "source": "derived"}
    taken: dict[Network, str] = {}
    for host, entry in result.items():
        subnet = ipaddress.ip_network(entry["subnet"])
        other = next((h for n, h in taken.items() if n.overlaps(subnet)), None)
        if other is not None:
            raise _fail(name, f"hosts {other} and {host} would share pod subnet {subnet}")
        taken[subnet] = host
    return result


def cni_host_gw_routes(
    subnets: Mapping[str, Mapping[str, str]], addresses: Mapping[str, str], host: str,
) -> list[dict[str, str]]:
    """The routes `host` needs: every other host's pod subnet via its address, by subnet."""
    routes = [
        {"dest": str(entry["subnet"]), "via": str(addresses[other])}
        for other, entry in subnets.items() if other != host
    ]
    return sorted(routes, key=lambda r: ipaddress.ip_network(r["dest"]))


def cni_nodes_not_ready(nodes: Mapping[str, Any], names: list[str]) -> dict[str, str]:
    """Node -> why it is not Ready (its Ready condition's message), for the named nodes."""
    found = {str((item.get("metadata") or {}).get("name", "")): item
             for item in nodes.get("items") or []}
    waiting: dict[str, str] = {}
    for name in names:
        if name not in found:
            waiting[name] = "not registered with the cluster"
            continue
        conditions = (found[name].get("status") or {}).get("conditions") or []
        ready = next((c for c in conditions if c.get("type") == "Ready"), None)
        if ready is None:
            waiting[name] = "no Ready condition reported yet"
        elif ready.get("status") != "True":
            waiting[name] = str(ready.get("message") or ready.get("reason") or ready.get("status"))
    return waiting


class FilterModule:
    """Ansible entry point."""

    def filters(self) -> dict[str, Any]:
        return {
            "cni_calico_manifest": cni_calico_manifest,
            "cni_node_pod_subnets": cni_node_pod_subnets,
            "cni_host_gw_routes": cni_host_gw_routes,
            "cni_nodes_not_ready": cni_nodes_not_ready,
        }
