"""Per-chart override values rendered from what the earlier phases handed over.

The mapping from handover data to chart values is the table `RULES` (data): which
charts a rule serves, where in the chart's values the result goes, and which fact of
the site or the run record's handover data it carries. Values that are the same on
every node become plain chart values; values that differ between nodes become
OpenStack-Helm per-node daemonset overrides (`conf.overrides.<key>.hosts`, see
helm-toolkit's `daemonset_overrides`), and where a chart has no such key a note
says what the operator must set by hand. Nothing that looks like a credential is
rendered.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from taco.engine.records import REDACTED, redact
from taco.site.model import Site

# What a fact yields: node name -> value for per-node facts, or one site-wide value.
HostValues = dict[str, Any]
Fact = Callable[[Site, Mapping[str, Any]], HostValues | None]
# Marks a site-wide fact's single value in a HostValues dict.
SITE_WIDE = ""


def _roles(handover: Mapping[str, Any], role: str) -> dict[str, Any]:
    roles = handover.get("roles") or {}
    data = roles.get(role) or {}
    return data if isinstance(data, dict) else {}


def _node_names(handover: Mapping[str, Any]) -> dict[str, str]:
    """Inventory host -> Kubernetes node name (the kubernetes role's handover says it)."""
    return {host: str(data.get("node_name") or host)
            for host, data in _roles(handover, "kubernetes").items() if isinstance(data, dict)}


def _per_node(handover: Mapping[str, Any], role: str, pick: Callable[[Any], Any]) -> HostValues:
    """A role's per-host data, picked and keyed by node name; hosts without a value drop out."""
    names = _node_names(handover)
    found: HostValues = {}
    for host, data in sorted(_roles(handover, role).items()):
        value = pick(data) if isinstance(data, dict) else None
        if value not in (None, "", [], {}):
            found[names.get(host, host)] = value
    return found


def bridge_mappings(site: Site, handover: Mapping[str, Any]) -> HostValues:
    """Neutron's `physnet:bridge,...` per node, from the openvswitch role."""
    return _per_node(handover, "openvswitch", lambda d: d.get("bridge_mappings_string"))


def tunnel_interface(site: Site, handover: Mapping[str, Any]) -> HostValues:
    """The overlay endpoint's interface per node that runs Open vSwitch, from the network role."""
    tunnels = _per_node(handover, "network", lambda d: (d.get("tunnel") or {}).get("interface"))
    ovs = set(_per_node(handover, "openvswitch", lambda d: d.get("mode") or "host"))
    return {node: value for node, value in tunnels.items() if not ovs or node in ovs}


def ceph_osds(site: Site, handover: Mapping[str, Any]) -> HostValues:
    """ceph-osd's storage list per node: each ceph-osd disk (stable path) as a bluestore OSD."""
    return _per_node(handover, "storage", lambda d: [
        {"data": {"type": "bluestore", "location": device}}
        for device in d.get("ceph_osd_devices") or []])


def registry_mirror(site: Site, handover: Mapping[str, Any]) -> HostValues | None:
    """OpenStack-Helm's local registry endpoint (host and port) from mirrors.registry."""
    registry = site.mirrors.registry
    if not registry:
        return None
    address = re.sub(r"^[a-z]+://", "", registry).split("/", 1)[0]
    host, _, port = address.rpartition(":") if re.search(r":\d+$", address) else (address, "", "")
    return {SITE_WIDE: {"host": host, "port": int(port) if port else 443 if
                        registry.startswith("https://") else 80 if
                        registry.startswith("http://") else 5000}}


def storage_class(site: Site, handover: Mapping[str, Any]) -> HostValues | None:
    name = site.charts.storage_class
    return {SITE_WIDE: name} if name else None


@dataclass(frozen=True)
class Rule:
    """One line of the table: charts (by chart name, without the repository; "*" for every
    chart), where the value goes and which fact it carries."""

    charts: tuple[str, ...]
    fact: Fact
    # Where the value goes, or a function of the value for facts that fill several keys.
    path: tuple[str, ...] = ()
    expand: Callable[[Any], dict[str, Any]] | None = None
    # The chart's daemonset override key for values that differ between nodes; the
    # path must then start with "conf" (overrides replace parts of .Values.conf).
    per_node_key: str | None = None
    why: str = ""


def _registry_values(value: Any) -> dict[str, Any]:
    return {
        "images": {"local_registry": {"active": True}},
        "endpoints": {"local_image_registry": {
            "hosts": {"default": value["host"], "node": value["host"]},
            "port": {"registry": {"node": value["port"]}},
        }},
    }


RULES: tuple[Rule, ...] = (
    Rule(("neutron",), bridge_mappings,
         ("conf", "plugins", "openvswitch_agent", "ovs", "bridge_mappings"),
         per_node_key="neutron_ovs-agent",
         why="the physnet:bridge pairs the openvswitch phase created"),
    Rule(("neutron",), tunnel_interface, ("network", "interface", "tunnel"),
         why="the interface VXLAN tunnels leave from (the network phase's tunnel link)"),
    Rule(("ceph-osd",), ceph_osds, ("conf", "storage", "osd"), per_node_key="ceph_osd",
         why="the disks the storage phase prepared for Ceph OSDs"),
    Rule(("*",), registry_mirror, expand=_registry_values,
         why="images are pulled through the site's registry mirror (mirrors.registry)"),
    Rule(("mariadb", "rabbitmq"), storage_class, ("volume", "class_name"),
         why="the storage class the site names (charts.storage_class)"),
)


@dataclass(frozen=True)
class Rendered:
    """Override values per chart (release name) and what could not be rendered."""

    values: dict[str, dict[str, Any]]
    notes: list[str]


def chart_name(reference: str) -> str:
    """The chart's own name: `openstack-helm/neutron` and `./charts/neutron` give neutron."""
    return reference.rstrip("/").rsplit("/", 1)[-1]


def render_values(site: Site, handover: Mapping[str, Any]) -> Rendered:
    """Every chart's override values from the table, deterministic and free of credentials."""
    values: dict[str, dict[str, Any]] = {}
    notes: list[str] = []
    for group in site.charts.groups:
        for chart in group.charts:
            own = chart_name(chart.chart)
            merged: dict[str, Any] = {}
            for rule in RULES:
                if "*" not in rule.charts and own not in rule.charts:
                    continue
                found = rule.fact(site, handover)
                if not found:
                    continue
                part, note = _place(rule, found, chart.name)
                if note:
                    notes.append(note)
                _merge(merged, part)
            clean = _without_credentials(merged)
            if clean:
                values[chart.name] = clean
    return Rendered(values, sorted(set(notes)))


def _place(rule: Rule, found: HostValues, release: str) -> tuple[dict[str, Any], str]:
    distinct = {repr(value) for value in found.values()}
    if len(distinct) == 1:
        value = next(iter(found.values()))
        return (rule.expand(value) if rule.expand else _nest(rule.path, value)), ""
    if rule.per_node_key and rule.path[:1] == ("conf",):
        hosts = [{"name": node, "conf": _nest(rule.path[1:], value)}
                 for node, value in sorted(found.items())]
        return _nest(("conf", "overrides", rule.per_node_key, "hosts"), hosts), ""
    where = ", ".join(f"{node}: {value}" for node, value in sorted(found.items()))
    return {}, (f"{release}: {'.'.join(rule.path)} differs between nodes ({where}) and the "
                "chart has no per-node override for it; set it in the chart's values")


def _nest(path: tuple[str, ...], value: Any) -> dict[str, Any]:
    result: Any = value
    for key in reversed(path):
        result = {key: result}
    return result if isinstance(result, dict) else {}


def _merge(into: dict[str, Any], part: Mapping[str, Any]) -> None:
    for key, value in part.items():
        if isinstance(value, Mapping) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value


def _without_credentials(data: dict[str, Any]) -> dict[str, Any]:
    """The values with anything the run record would redact left out entirely."""
    def prune(value: Any) -> Any:
        if isinstance(value, dict):
            kept = {k: prune(v) for k, v in value.items() if v != REDACTED}
            return {k: v for k, v in kept.items() if v != {}}
        if isinstance(value, list):
            return [prune(item) for item in value if item != REDACTED]
        return value

    cleaned: dict[str, Any] = prune(redact(data))
    return cleaned


def credential_paths(data: Any, prefix: str = "") -> list[str]:
    """Key paths in a values document whose value the run record would redact."""
    found: list[str] = []
    if isinstance(data, dict):
        masked = redact(data)
        for key, value in data.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            if masked[key] == REDACTED and value != REDACTED:
                found.append(path)
            else:
                found.extend(credential_paths(value, path))
    elif isinstance(data, list):
        for k, item in enumerate(data):
            found.extend(credential_paths(item, f"{prefix}[{k}]"))
    elif isinstance(data, str) and redact(data) != data:
        found.append(prefix or "(document)")
    return found
