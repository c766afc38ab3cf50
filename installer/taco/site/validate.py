"""Semantic checks of a site: the rules pydantic cannot express.

Addresses inside their networks, overlaps, references between interfaces, bonds,
VLANs and bridges, control-plane and etcd counts. Every rule runs and every
problem is returned, so the operator fixes a file in one pass.
"""

from __future__ import annotations

import difflib
import posixpath
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import yaml
from netaddr import (  # type: ignore[import-untyped]  # netaddr ships no type hints
    EUI,
    AddrFormatError,
    IPAddress,
    IPNetwork,
)

from taco.errors import SiteIssue
from taco.site.model import NetworkPurpose, Node, NodeRole, Site

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    from taco.artifacts.manifest import Manifest

FieldPath = tuple[str | int, ...]

SUPPORTED_MINORS = range(33, 37)
DEFAULT_KUBERNETES_VERSION = "1.35.4"

_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_DNS_LABEL = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
_LABEL_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
_ANSIBLE_VAR = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# host[:port] and an optional repository path: what precedes /kube-apiserver:v1.35.4.
_IMAGE_REPOSITORY = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:[0-9]{1,5})?"
                               r"(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*$")


def format_path(path: FieldPath) -> str:
    """Render a field path the way an operator reads it: nodes[2].interfaces[0].network."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        elif _PLAIN_KEY.match(part):
            text += f".{part}" if text else part
        else:
            text += f'["{part}"]'
    return text or "(top level)"


@dataclass
class LineMap:
    """Where each mapping key and sequence item of a site file starts (1-based lines).

    `kept` and `pruned` describe a pruned copy of the document (see taco.site.load):
    for a list path in original coordinates, the original indices of the items that
    remain; and the entries whose content was lost (not merely unknown keys).
    Paths given to `line` and `display` are in the coordinates of the data that was
    validated and are translated back, so issues always point into the real file.
    """

    lines: dict[FieldPath, int] = field(default_factory=dict)
    kept: dict[FieldPath, list[int]] = field(default_factory=dict)
    pruned: frozenset[FieldPath] = frozenset()

    def original(self, path: FieldPath) -> FieldPath:
        result: list[str | int] = []
        for part in path:
            if isinstance(part, int):
                kept = self.kept.get(tuple(result))
                if kept is not None and 0 <= part < len(kept):
                    part = kept[part]
            result.append(part)
        return tuple(result)

    def line(self, path: FieldPath) -> int | None:
        """The line of the path, or of its nearest ancestor present in the file."""
        current = self.original(path)
        while True:
            if current in self.lines:
                return self.lines[current]
            if not current:
                return None
            current = current[:-1]

    def display(self, path: FieldPath) -> str:
        return format_path(self.original(path))


def parse_ip(text: str) -> IPAddress | None:
    """A plain IPv4/IPv6 address (no prefix, no surrounding blanks), or None."""
    if not text or text != text.strip() or "/" in text:
        return None
    try:
        return IPAddress(text)
    except (AddrFormatError, ValueError):
        return None


def parse_cidr(text: str) -> IPNetwork | None:
    """A network in CIDR notation (prefix required), or None."""
    if not text or text != text.strip() or "/" not in text:
        return None
    try:
        return IPNetwork(text)
    except (AddrFormatError, ValueError):
        return None


def is_hostname(text: str) -> bool:
    labels = text.rstrip(".").split(".")
    return 0 < len(text) <= 253 and all(_DNS_LABEL.match(label) for label in labels)


def is_host(text: str) -> bool:
    return parse_ip(text) is not None or is_hostname(text)


def split_endpoint(text: str) -> tuple[str, int | None] | None:
    """Split `host`, `host:port`, `[v6]:port` or a bare IPv6 address; None if malformed."""
    host, port_text = text, ""
    if text.startswith("["):
        close = text.find("]")
        if close < 0:
            return None
        host, rest = text[1:close], text[close + 1 :]
        if rest and not rest.startswith(":"):
            return None
        port_text = rest[1:]
        if parse_ip(host) is None:
            return None
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    if not is_host(host):
        return None
    if not port_text:
        return host, None
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        return None
    return host, int(port_text)


def is_etcd_member(node: Node) -> bool:
    """Stacked etcd: control-plane nodes are members unless `etcd:` says otherwise."""
    if node.etcd is not None:
        return node.etcd
    return NodeRole.CONTROL_PLANE in node.roles


def _is_edge_address(address: IPAddress, network: IPNetwork) -> bool:
    """Network or broadcast address of an IPv4 subnet that has room for hosts."""
    if network.version != 4 or network.prefixlen >= 31:
        return False
    return address in (network.network, network.broadcast)


# Labels Prow's own plugins set: a deploy-approval label must differ from them.
_PROW_OWN_LABELS = frozenset({"lgtm", "approved", "do-not-merge/hold", "needs-rebase",
                              "do-not-merge/work-in-progress"})


def _prow_label_issue(label: str) -> str:
    """Why a GitHub label cannot be the deploy-approval label, or '' if it can."""
    if not label or len(label) > 50:
        return f"'{label}' must have 1 to 50 characters (GitHub's limit)"
    if any(char.isspace() or char == "," for char in label) or not label.isprintable():
        return f"'{label}' has spaces, commas or control characters (Prow's /label " \
               "command splits on them)"
    if label.lower() in _PROW_OWN_LABELS:
        return f"'{label}' is a label Prow's own plugins set"
    return ""


def _suggest(word: str, choices: Iterable[str]) -> str:
    options = sorted(choices)
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    if close:
        return f"did you mean '{close[0]}'?"
    return f"defined: {', '.join(options)}" if options else "none is defined"


@dataclass
class _Owner:
    """Who uses an address: for duplicate detection and messages."""

    node: str
    label: str
    path: FieldPath


class _Checker:
    def __init__(self, site: Site, filename: str, lines: LineMap) -> None:
        self.site = site
        self.filename = filename
        self.lines = lines
        self.issues: list[SiteIssue] = []
        self.networks: dict[str, IPNetwork] = {}
        self.management: IPNetwork | None = None
        self.addresses: dict[IPAddress, _Owner] = {}

    def whole(self, path: FieldPath) -> bool:
        """Nothing under `path` was left out for failing the shape check."""
        origin = self.lines.original(path)
        return not any(p[: len(origin)] == origin for p in self.lines.pruned)

    def roles_known(self) -> bool:
        """No node, and no node's roles or etcd flag, was left out: counts are exact."""
        return not any(
            p[0] == "nodes" and (len(p) <= 2 or p[2] in ("roles", "etcd"))
            for p in self.lines.pruned
        )

    def add(self, path: FieldPath, message: str, hint: str = "") -> None:
        self.issues.append(
            SiteIssue(
                file=self.filename,
                path=self.lines.display(path),
                message=message,
                hint=hint,
                line=self.lines.line(path),
            )
        )

    def run(self) -> list[SiteIssue]:
        self.check_networks()
        self.check_nodes()
        self.check_kubernetes()
        self.check_overlaps()
        self.check_ssh()
        self.check_services()
        self.check_tekton()
        self.check_prow()
        self.check_extra_vars()
        self.check_charts()
        return self.issues

    # -- networks -----------------------------------------------------------------

    def check_networks(self) -> None:
        managements: list[str] = []
        for name, net in self.site.networks.items():
            base: FieldPath = ("networks", name)
            cidr = self.cidr((*base, "cidr"), net.cidr)
            if cidr is not None:
                self.networks[name] = cidr
            if net.purpose is NetworkPurpose.MANAGEMENT:
                managements.append(name)
            if net.gateway is not None:
                gateway = self.ip((*base, "gateway"), net.gateway)
                if gateway is not None and cidr is not None:
                    self.inside((*base, "gateway"), gateway, name, cidr, "gateway")
            if net.physnet is not None and net.purpose is not NetworkPurpose.PROVIDER:
                self.add(
                    (*base, "physnet"),
                    f"physnet is only used by provider networks, this one is {net.purpose}",
                    "remove physnet, or set purpose: provider",
                )
        if len(managements) > 1:
            for name in managements[1:]:
                self.add(
                    ("networks", name, "purpose"),
                    f"more than one management network ({', '.join(managements)})",
                    "keep exactly one network with purpose: management (the one carrying "
                    "node addresses and SSH); use storage, provider or tunnel for the others",
                )
        elif not managements and self.whole(("networks",)):
            self.add(
                ("networks",),
                "no network has purpose: management",
                "mark the network carrying node addresses and SSH with purpose: management",
            )
        if len(managements) == 1:
            self.management = self.networks.get(managements[0])

    def check_overlaps(self) -> None:
        ranges: list[tuple[FieldPath, str, IPNetwork]] = []
        kube = self.site.kubernetes
        for name in ("pod_cidr", "service_cidr"):
            cidr = self.cidr(("kubernetes", name), getattr(kube, name))
            if cidr is not None:
                ranges.append((("kubernetes", name), f"kubernetes.{name}", cidr))
        for name, cidr in self.networks.items():
            ranges.append((("networks", name, "cidr"), f"network '{name}'", cidr))
        for index, (path, label, cidr) in enumerate(ranges):
            for other_path, other_label, other in ranges[:index]:
                if cidr.version == other.version and (cidr.first <= other.last
                                                      and other.first <= cidr.last):
                    self.add(
                        path,
                        f"{label} ({cidr}) overlaps {other_label} ({other})",
                        "pod_cidr, service_cidr and every network must be disjoint; "
                        + self.default_note(path)
                        + self.default_note(other_path)
                        + "choose a range that overlaps none of the others",
                    )

    def default_note(self, path: FieldPath) -> str:
        if path[0] == "kubernetes" and path[1] not in self.site.kubernetes.model_fields_set:
            default = getattr(self.site.kubernetes, str(path[1]))
            return f"{path[1]} is the default {default}, set kubernetes.{path[1]} to change it; "
        return ""

    # -- nodes --------------------------------------------------------------------

    def check_nodes(self) -> None:
        seen: dict[str, int] = {}
        for index, node in enumerate(self.site.nodes):
            base: FieldPath = ("nodes", index)
            if node.name in seen:
                self.add(
                    (*base, "name"),
                    f"node name '{node.name}' is already used by nodes[{seen[node.name]}]",
                    "give every node a unique name",
                )
            else:
                seen[node.name] = index
            self.check_node(base, node)
        if not self.roles_known():
            return
        control = [n for n in self.site.nodes if NodeRole.CONTROL_PLANE in n.roles]
        if not control:
            self.add(
                ("nodes",),
                "no node has the role control-plane",
                "add control-plane to the roles of one node (or three, for high availability)",
            )
        members = [n.name for n in self.site.nodes if is_etcd_member(n)]
        if len(members) % 2 == 0:
            self.add(
                ("nodes",),
                f"etcd needs an odd number of members, this site has {len(members)}"
                + (f" ({', '.join(members)})" if members else ""),
                "etcd runs on control-plane nodes unless a node sets etcd: true/false; "
                "use 1, 3 or 5 members",
            )
        kube = self.site.kubernetes
        if len(control) > 1 and kube.api_vip is None and kube.api_endpoint is None:
            self.add(
                ("kubernetes",),
                f"{len(control)} control-plane nodes but no api_vip or api_endpoint",
                "set kubernetes.api_vip to a free address on the management network "
                "(or api_endpoint to an existing load balancer)",
            )

    def check_node(self, base: FieldPath, node: Node) -> None:
        address = self.ip((*base, "address"), node.address)
        if address is not None:
            if self.management is not None:
                self.inside((*base, "address"), address, "management", self.management,
                            "node address")
            self.claim(address, _Owner(node.name, f"node {node.name}", (*base, "address")))

        names = self.check_names(base, node)
        interfaces = {i.name: k for k, i in enumerate(node.interfaces)}
        bonds = {b.name: k for k, b in enumerate(node.bonds)}
        vlans = {v.name for v in node.vlans}
        bridges = {b.name for b in node.ovs_bridges}
        local: dict[IPAddress, FieldPath] = {}

        for k, iface in enumerate(node.interfaces):
            path = (*base, "interfaces", k)
            if iface.mac is not None:
                try:
                    EUI(iface.mac)
                except (AddrFormatError, ValueError, TypeError):
                    self.add((*path, "mac"), f"'{iface.mac}' is not a MAC address",
                             "write it as six hex pairs, e.g. 52:54:00:12:34:56")
            self.attached(path, node, iface.network, iface.address, address, local)

        members: dict[str, str] = {}
        for k, bond in enumerate(node.bonds):
            path = (*base, "bonds", k)
            for m, member in enumerate(bond.members):
                member_path = (*path, "members", m)
                if member not in interfaces:
                    if self.whole(base):
                        hint = ("bond members are interfaces of this node; "
                                + _suggest(member, interfaces))
                        self.add(member_path, f"bond member '{member}' is not an interface "
                                 f"of node {node.name}", hint)
                    continue
                if member in members:
                    self.add(member_path, f"'{member}' is already a member of bond "
                             f"{members[member]}", "an interface can belong to one bond only")
                    continue
                members[member] = bond.name
                owner = node.interfaces[interfaces[member]]
                owner_path = (*base, "interfaces", interfaces[member])
                if owner.address is not None:
                    self.add((*owner_path, "address"), f"'{member}' is a member of bond "
                             f"{bond.name} and cannot have its own address",
                             f"move the address to bond {bond.name}")
                if owner.network is not None:
                    self.add((*owner_path, "network"), f"'{member}' is a member of bond "
                             f"{bond.name} and cannot be attached to a network",
                             f"move network to bond {bond.name}")
            self.attached(path, node, bond.network, bond.address, address, local)

        for k, vlan in enumerate(node.vlans):
            path = (*base, "vlans", k)
            if vlan.parent in members:
                self.add((*path, "parent"), f"parent '{vlan.parent}' is a member of bond "
                         f"{members[vlan.parent]}", f"use bond {members[vlan.parent]} as parent")
            elif vlan.parent not in interfaces and vlan.parent not in bonds \
                    and vlan.parent not in bridges and self.whole(base):
                self.add((*path, "parent"), f"parent '{vlan.parent}' is not defined on node "
                         f"{node.name}", "a VLAN's parent is an interface, bond or OVS bridge "
                         "of the same node; " + _suggest(vlan.parent, names))
            net = self.site.networks.get(vlan.network)
            if net is not None and net.vlan is not None and net.vlan != vlan.id:
                self.add((*path, "id"), f"VLAN id {vlan.id} differs from network "
                         f"'{vlan.network}' (vlan {net.vlan})",
                         f"set id: {net.vlan}, or change the network's vlan")
            self.attached(path, node, vlan.network, vlan.address, address, local)

        self.check_bridges(base, node, set(interfaces) | set(bonds) | vlans, members)
        self.check_disks(base, node)
        self.check_labels(base, node)

    def check_names(self, base: FieldPath, node: Node) -> set[str]:
        """Interfaces, bonds, VLANs and bridges share one namespace per node."""
        seen: dict[str, FieldPath] = {}
        kinds: Sequence[tuple[str, Sequence[str]]] = (
            ("interfaces", [i.name for i in node.interfaces]),
            ("bonds", [b.name for b in node.bonds]),
            ("vlans", [v.name for v in node.vlans]),
            ("ovs_bridges", [b.name for b in node.ovs_bridges]),
        )
        for kind, names in kinds:
            for k, name in enumerate(names):
                path = (*base, kind, k, "name")
                if name in seen:
                    self.add(path, f"interface name '{name}' is already used by "
                             f"{self.lines.display(seen[name])} on node {node.name}",
                             "interfaces, bonds, VLANs and OVS bridges of a node need "
                             "distinct names")
                else:
                    seen[name] = path[:-1]
        return set(seen)

    def attached(
        self,
        path: FieldPath,
        node: Node,
        network: str | None,
        text: str | None,
        node_address: IPAddress | None,
        local: dict[IPAddress, FieldPath],
    ) -> None:
        """An interface/bond/VLAN: network defined, address inside it and not reused."""
        cidr: IPNetwork | None = None
        if network is not None:
            if network not in self.site.networks:
                if self.whole(("networks",)):
                    self.add((*path, "network"), f"network '{network}' is not defined",
                             "networks are defined under networks:; "
                             + _suggest(network, self.site.networks))
            else:
                cidr = self.networks.get(network)
        if text is None:
            return
        address = self.ip((*path, "address"), text)
        if address is None:
            return
        if network is None:
            fitting = [n for n, c in self.networks.items() if address in c]
            self.add((*path, "address"), "an address needs a network: the prefix comes "
                     "from the network's cidr",
                     f"add network: {fitting[0]}" if fitting else "add network: NAME")
        elif cidr is not None:
            self.inside((*path, "address"), address, network, cidr, "address")
            if (
                self.site.networks[network].purpose is NetworkPurpose.MANAGEMENT
                and node_address is not None
                and address != node_address
            ):
                self.add((*path, "address"), f"{address} is on the management network but "
                         f"the node's address is {node_address}",
                         f"use the node address {node_address} here, or change the node address")
        if address in local:
            self.add((*path, "address"), f"address {address} is already used by "
                     f"{self.lines.display(local[address])} on node {node.name}",
                     "give every interface of a node its own address")
            return
        local[address] = path
        if address != node_address:
            self.claim(address, _Owner(node.name, f"node {node.name}", (*path, "address")))

    def check_bridges(
        self, base: FieldPath, node: Node, pluggable: set[str], members: dict[str, str]
    ) -> None:
        used: dict[str, str] = {}
        for k, bridge in enumerate(node.ovs_bridges):
            path = (*base, "ovs_bridges", k)
            for p, port in enumerate(bridge.ports):
                port_path = (*path, "ports", p)
                if port in members:
                    self.add(port_path, f"port '{port}' is a member of bond {members[port]}",
                             f"plug bond {members[port]} into the bridge instead")
                elif port not in pluggable:
                    if self.whole(base):
                        self.add(port_path, f"port '{port}' is not defined on node {node.name}",
                                 "bridge ports are interfaces, bonds or VLANs of the same "
                                 "node; " + _suggest(port, pluggable))
                elif port in used:
                    self.add(port_path, f"port '{port}' is already plugged into bridge "
                             f"{used[port]}", "a port can be plugged into one bridge only")
                else:
                    used[port] = bridge.name
                    self.port_without_address(base, node, port, bridge.name)
            for n, network in enumerate(bridge.networks):
                net_path = (*path, "networks", n)
                net = self.site.networks.get(network)
                if net is None:
                    if self.whole(("networks",)):
                        self.add(net_path, f"network '{network}' is not defined",
                                 _suggest(network, self.site.networks))
                elif net.purpose is not NetworkPurpose.PROVIDER:
                    self.add(net_path, f"network '{network}' has purpose {net.purpose}; a "
                             "bridge carries provider networks only",
                             f"set purpose: provider on network '{network}', or remove it here")
                elif net.physnet is None:
                    self.add(net_path, f"provider network '{network}' has no physnet",
                             f"set networks.{network}.physnet (e.g. physnet1): Neutron maps "
                             "the physnet to this bridge")
            # bridge_mappings is physnet -> bridge: one bridge per physnet on a node.
            for other in node.ovs_bridges[:k]:
                for physnet in sorted(self.physnets(other.networks)
                                      & self.physnets(bridge.networks)):
                    self.add((*path, "networks"), f"physnet '{physnet}' is also mapped to "
                             f"bridge {other.name}", "map each physnet to one bridge per node")

    def physnets(self, networks: list[str]) -> set[str]:
        found = {self.site.networks[n].physnet for n in networks if n in self.site.networks}
        return {p for p in found if p is not None}

    def port_without_address(self, base: FieldPath, node: Node, port: str, bridge: str) -> None:
        carriers: list[tuple[str, list[tuple[str, str | None]]]] = [
            ("interfaces", [(i.name, i.address) for i in node.interfaces]),
            ("bonds", [(b.name, b.address) for b in node.bonds]),
            ("vlans", [(v.name, v.address) for v in node.vlans]),
        ]
        for kind, items in carriers:
            for k, (name, address) in enumerate(items):
                if name == port and address is not None:
                    self.add((*base, kind, k, "address"), f"'{port}' is a port of OVS bridge "
                             f"{bridge} and cannot keep its own address",
                             "remove the address, or use another interface for it")

    def check_disks(self, base: FieldPath, node: Node) -> None:
        seen: dict[str, int] = {}
        for k, disk in enumerate(node.disks):
            path = (*base, "disks", k, "device")
            device = disk.device
            if not device.startswith("/dev/") or posixpath.normpath(device) != device:
                self.add(path, f"'{device}' is not a device path under /dev",
                         "use a stable absolute path such as /dev/disk/by-id/... "
                         "(or /dev/loopN in a lab)")
                continue
            if device in seen:
                self.add(path, f"device {device} is already listed as disks[{seen[device]}]",
                         "list each disk once, with one use")
            else:
                seen[device] = k

    def check_labels(self, base: FieldPath, node: Node) -> None:
        for key, value in node.labels.items():
            path = (*base, "labels", key)
            prefix, _, name = key.rpartition("/")
            if not _LABEL_NAME.match(name) or (prefix and not is_hostname(prefix)):
                self.add(path, f"'{key}' is not a valid Kubernetes label key",
                         "use [prefix/]name, name up to 63 letters, digits, '-', '_' or '.'")
            if value and not _LABEL_NAME.match(value):
                self.add(path, f"'{value}' is not a valid Kubernetes label value",
                         "use up to 63 letters, digits, '-', '_' or '.', starting and ending "
                         "with a letter or digit")

    # -- kubernetes ---------------------------------------------------------------

    def check_kubernetes(self) -> None:
        kube = self.site.kubernetes
        self.check_release()
        if kube.api_vip is not None and kube.api_endpoint is not None:
            self.add(("kubernetes", "api_endpoint"), "api_vip and api_endpoint are both set",
                     "set api_vip for a VIP taco manages, or api_endpoint for an existing "
                     "load balancer, not both")
        if kube.api_vip is not None:
            self.check_vip(kube.api_vip)
        if kube.api_endpoint is not None:
            endpoint = split_endpoint(kube.api_endpoint)
            if endpoint is None:
                self.add(("kubernetes", "api_endpoint"),
                         f"'{kube.api_endpoint}' is not a host or host:port",
                         "write e.g. api.example.com, 10.0.0.5:6443 or [fd00::5]:6443")
            elif (endpoint[1] is not None and "api_port" in kube.model_fields_set
                  and endpoint[1] != kube.api_port):
                self.add(("kubernetes", "api_port"),
                         f"api_port {kube.api_port} differs from the port in api_endpoint "
                         f"({endpoint[1]})", "give the port in one place only")
        for k, san in enumerate(kube.cert_sans):
            if not is_host(san):
                self.add(("kubernetes", "cert_sans", k), f"'{san}' is not an IP address or "
                         "DNS name", "list IP addresses and DNS names only")

    def check_release(self) -> None:
        """The version is one taco supports and one the artifact manifest pins."""
        version = self.site.kubernetes.version
        release = ".".join(version.split(".")[:2])
        manifest = self.artifact_manifest()
        pinned: dict[str, str] = {}
        if manifest is not None:
            pinned = {r: manifest.kubernetes_version(r) for r in manifest.releases
                      if int(r.split(".")[1]) in SUPPORTED_MINORS}
        offer = (", ".join(f"{r} ({v})" for r, v in pinned.items()) if pinned else
                 f"1.{SUPPORTED_MINORS.start} to 1.{SUPPORTED_MINORS.stop - 1}")
        path: FieldPath = ("kubernetes", "version")
        if int(version.split(".")[1]) not in SUPPORTED_MINORS:
            self.add(path, f"Kubernetes {version} is not supported",
                     f"use a version of a supported release: {offer}; leave version out "
                     f"for the default {DEFAULT_KUBERNETES_VERSION}")
        elif manifest is None:
            return
        elif release not in manifest.releases:
            self.add(path, f"Kubernetes {version}: the artifact manifest has no release "
                     f"{release}", f"use a version of a release it pins: {offer}; or name a "
                     "manifest with that release in mirrors.artifact_manifest")
        elif manifest.kubernetes_version(release) != version:
            self.add(path, f"the artifact manifest pins Kubernetes "
                     f"{manifest.kubernetes_version(release)} for release {release}, not "
                     f"{version}", f"set version: {manifest.kubernetes_version(release)}, or "
                     f"name a manifest pinning {version} in mirrors.artifact_manifest")
        else:
            self.check_architectures(manifest, release)

    def artifact_manifest(self) -> Manifest | None:
        """The site's artifact manifest (and lock), or None after reporting why not."""
        # Imported here: the artifacts package reads YAML through taco.site.load.
        from taco.artifacts.lock import load_lock
        from taco.artifacts.manifest import ManifestInvalid, load_manifest
        from taco.artifacts.resolve import site_manifest_path

        mirrors = self.site.mirrors
        manifest = None
        path = site_manifest_path(self.site)
        if mirrors.artifact_manifest and not path.exists():
            self.add(("mirrors", "artifact_manifest"), f"file {path} does not exist",
                     "give the path of an artifact manifest, relative to the site file "
                     "(format: docs/artifacts.md), or remove artifact_manifest to use "
                     "taco's own")
        else:
            try:
                manifest = load_manifest(path)
            except ManifestInvalid as error:
                self.issues.extend(error.issues)
        if mirrors.artifact_lock:
            # A lock that does not exist yet is empty: `taco mirror sync` writes it.
            try:
                load_lock(Path(mirrors.artifact_lock))
            except ManifestInvalid as error:
                self.issues.extend(error.issues)
        return manifest

    def check_architectures(self, manifest: Manifest, release: str) -> None:
        """Architectures the site sets explicitly have a digest for every file it needs."""
        mirrors = self.site.mirrors
        if "architectures" not in mirrors.model_fields_set:
            return
        path: FieldPath = ("mirrors", "architectures")
        for k, arch in enumerate(mirrors.architectures):
            if arch in mirrors.architectures[:k]:
                self.add((*path, k), f"{arch} is listed twice", "list each architecture once")
                continue
            lacking = [f"{name} {version}" for name, artifact, version in manifest.pinned(release)
                       if not {arch, "all"} & set(artifact.versions[version])]
            if lacking:
                self.add((*path, k), f"the artifact manifest has no {arch} build of "
                         f"{', '.join(lacking)}",
                         f"remove {arch}, or add its digests to the manifest")

    def check_vip(self, text: str) -> None:
        path: FieldPath = ("kubernetes", "api_vip")
        vip = self.ip(path, text)
        if vip is None:
            return
        if self.management is not None:
            self.inside(path, vip, "management", self.management, "api_vip")
        owner = self.addresses.get(vip)
        if owner is not None:
            self.add(path, f"api_vip {vip} is already used by {owner.label} "
                     f"({self.lines.display(owner.path)})",
                     "the VIP must be a free address on the management network")
        for name, net in self.site.networks.items():
            if net.gateway is not None and parse_ip(net.gateway) == vip:
                self.add(path, f"api_vip {vip} is the gateway of network '{name}'",
                         "the VIP must be a free address on the management network")

    # -- connection and services --------------------------------------------------

    def check_ssh(self) -> None:
        ssh = self.site.ssh
        for name in ("private_key", "known_hosts"):
            value: str | None = getattr(ssh, name)
            if value is None:
                continue
            if value.lstrip().startswith("-----BEGIN") or "\n" in value or "\x00" in value:
                self.add(("ssh", name), f"{name} must be a file path, not the file's contents",
                         "save it to a file (mode 0600 for a key) and give its path")
            elif not value.strip():
                self.add(("ssh", name), f"{name} is empty", f"give a file path or remove {name}")
        jump = ssh.jump_host
        if jump is not None and not is_host(jump.address):
            self.add(("ssh", "jump_host", "address"),
                     f"'{jump.address}' is not an IP address or host name",
                     "write the jump host's address, e.g. 10.88.0.2 or bastion.example.com")

    def check_services(self) -> None:
        site = self.site
        for k, server in enumerate(site.dns_servers):
            self.ip(("dns_servers", k), server)
        for k, server in enumerate(site.ntp_servers):
            if not is_host(server):
                self.add(("ntp_servers", k), f"'{server}' is not an IP address or host name",
                         "list NTP servers by address or name, e.g. pool.ntp.org")
        if site.domain is not None and not is_hostname(site.domain):
            self.add(("domain",), f"'{site.domain}' is not a DNS domain",
                     "write a domain such as lab.example.com")
        urls: list[tuple[FieldPath, str | None]] = [
            (("mirrors", "apt"), site.mirrors.apt),
            (("mirrors", "artifacts"), site.mirrors.artifacts),
            (("proxy", "http"), site.proxy.http),
            (("proxy", "https"), site.proxy.https),
        ]
        for path, url in urls:
            if url is not None and not _is_url(url):
                self.add(path, f"'{url}' is not an http(s) URL",
                         "write a full URL, e.g. http://mirror.example.com:3142/debian")
        self.check_registry()

    def check_registry(self) -> None:
        """The registry mirror's address, its CA file, and kubeadm's image repository."""
        mirrors = self.site.mirrors
        registry = mirrors.registry
        if registry is not None and not _is_url(registry) and split_endpoint(
            registry.split("/", 1)[0]
        ) is None:
            self.add(("mirrors", "registry"), f"'{registry}' is not a registry address",
                     "write host[:port] or a URL, e.g. registry.example.com:5000")
        path: FieldPath = ("mirrors", "registry_ca")
        if mirrors.registry_ca is not None:
            if registry is None:
                self.add(path, "registry_ca is set but mirrors.registry is not: the CA is "
                         "trusted for the registry mirror only",
                         "set mirrors.registry to the mirror's address, or remove registry_ca")
            elif urlsplit(registry).scheme == "http":
                self.add(path, f"the registry mirror {registry} is plain HTTP, so no "
                         "certificate is checked against registry_ca",
                         "write the mirror as https://host:port (or host:port) if it serves "
                         "TLS, or remove registry_ca")
            try:
                registry_ca_pem(Path(mirrors.registry_ca))
            except RegistryCaInvalid as error:
                self.add(path, error.message, error.hint)
        repository = self.site.kubernetes.image_repository
        if not _IMAGE_REPOSITORY.match(repository):
            hint = ("write the registry (and path) without a scheme, e.g. "
                    "registry.example.com:5000/registry.k8s.io")
            self.add(("kubernetes", "image_repository"),
                     f"'{repository}' is not an image repository", hint)

    def check_tekton(self) -> None:
        """The dashboard's exposure has what it needs, and nothing it would ignore."""
        dashboard = self.site.tekton.dashboard
        base: FieldPath = ("tekton", "dashboard")
        if dashboard.expose == "ingress" and dashboard.ingress_host is None:
            self.add((*base, "ingress_host"), "expose: ingress needs the host name the "
                     "dashboard is served under",
                     "set tekton.dashboard.ingress_host (e.g. tekton.lab.example.com, a DNS "
                     "name pointing at the ingress controller), or use expose: nodeport")
        elif dashboard.ingress_host is not None and (
                not is_hostname(dashboard.ingress_host)
                or parse_ip(dashboard.ingress_host) is not None):
            self.add((*base, "ingress_host"), f"'{dashboard.ingress_host}' is not a DNS name",
                     "write a host name such as tekton.lab.example.com (no scheme, port or "
                     "path)")
        elif dashboard.ingress_host is not None and dashboard.expose != "ingress":
            self.add((*base, "ingress_host"), f"ingress_host is only used with expose: "
                     f"ingress, this dashboard uses expose: {dashboard.expose}",
                     "remove ingress_host, or set expose: ingress")
        if dashboard.ingress_class is not None and dashboard.expose != "ingress":
            self.add((*base, "ingress_class"), f"ingress_class is only used with expose: "
                     f"ingress, this dashboard uses expose: {dashboard.expose}",
                     "remove ingress_class, or set expose: ingress")

    def check_prow(self) -> None:
        """An enabled Prow has what GitHub and its components need; names Prow accepts."""
        prow = self.site.prow
        base: FieldPath = ("prow",)
        if prow.enabled:
            needs = {
                "host": ("the DNS name GitHub posts webhooks to (https://<host>/hook)",
                         "set prow.host, e.g. prow.example.com (a name pointing at the "
                         "cluster's ingress controller, reachable from GitHub)"),
                "org": ("the GitHub organisation whose repositories Prow serves",
                        "set prow.org to the organisation (or user) name"),
                "repos": ("the repositories holding the chart manifest and values",
                          "list them under prow.repos, e.g. [site-config]"),
                "secrets_file": ("the file with the webhook secret and GitHub credentials",
                                 "set prow.secrets_file to a YAML file (Ansible Vault "
                                 "encrypted is best) with hmac_token and github_token, or "
                                 "github_app_private_key with prow.github_app_id"),
            }
            for key, (what, hint) in needs.items():
                if not getattr(prow, key):
                    self.add((*base, key), f"prow is enabled but has no {key}: {what}", hint)
        if prow.host is not None and (not is_hostname(prow.host)
                                      or parse_ip(prow.host) is not None):
            self.add((*base, "host"), f"'{prow.host}' is not a DNS name",
                     "write a host name such as prow.example.com (no scheme, port or path)")
        if prow.enabled and prow.secrets_file and not Path(prow.secrets_file).is_file():
            self.add((*base, "secrets_file"), f"file {prow.secrets_file} does not exist",
                     "give the path of the secrets file, relative to the site file")
        for k, repo in enumerate(prow.repos):
            if prow.repos.index(repo) != k:
                self.add((*base, "repos", k), f"repository '{repo}' is listed twice",
                         "list each repository once")
        label_issue = _prow_label_issue(prow.approval_label)
        if label_issue:
            self.add((*base, "approval_label"), label_issue,
                     "use a label such as approved-for-deploy: up to 50 characters, no "
                     "spaces or commas, not one Prow sets itself")
        jobs = prow.jobs
        if jobs.periodic_interval is not None and jobs.periodic_cron is not None:
            self.add((*base, "jobs", "periodic_cron"), "both periodic_interval and "
                     "periodic_cron are set", "keep one of them (set periodic_interval: null "
                     "to use the cron schedule)")
        if jobs.periodic_cron is not None and len(jobs.periodic_cron.split()) != 5:
            self.add((*base, "jobs", "periodic_cron"), f"'{jobs.periodic_cron}' is not a "
                     "cron schedule", "write five fields: minute hour day month weekday, "
                     "e.g. '0 3 * * *'")
        if not prow.enabled:
            return
        longest = f"taco-{self.site.name}-drift-check"
        if len(longest) > 63:
            self.add(("name",), f"Prow's job name {longest} is longer than 63 characters "
                     "(job names become label values)", "shorten the site name to at most "
                     f"{63 - len(longest) + len(self.site.name)} characters")
        charts = self.site.charts
        if not charts.apply_pipeline:
            self.add(("charts", "apply_pipeline"), "prow is enabled but charts.apply_pipeline "
                     "is false: Prow's jobs run the site's pipeline, which must be in the "
                     "cluster", "set charts.apply_pipeline: true (or prow.enabled: false)")
        if not charts.groups:
            self.add(("charts", "groups"), "prow is enabled but charts.groups is empty: there "
                     "is no pipeline for Prow's jobs to run", "list the chart groups to deploy "
                     "under charts.groups (or set prow.enabled: false)")

    def check_extra_vars(self) -> None:
        for key in self.site.extra_vars:
            path: FieldPath = ("extra_vars", key)
            if not _ANSIBLE_VAR.match(key):
                self.add(path, f"'{key}' is not a valid Ansible variable name",
                         "use letters, digits and '_', not starting with a digit")
            elif key.startswith("taco_"):
                self.add(path, f"'{key}' would override a variable taco generates",
                         "set the matching site field instead of an extra var")

    # -- charts (the handover's pipeline) -----------------------------------------

    def check_charts(self) -> None:
        """Names, references, files and order of the chart manifest: all before any apply."""
        from taco.handover.graph import describe_cycle, find_cycle, placed_charts
        from taco.handover.tekton import FINALLY_NAME

        charts = self.site.charts
        base: FieldPath = ("charts",)
        first: dict[str, FieldPath] = {}
        groups: dict[str, int] = {}
        repos = {r.name for r in self.site.helm.repositories}
        for g, group in enumerate(charts.groups):
            if group.name in groups:
                self.add((*base, "groups", g, "name"), f"group name '{group.name}' is already "
                         f"used by charts.groups[{groups[group.name]}]", "give every group a "
                         "unique name")
            groups.setdefault(group.name, g)
            for k, chart in enumerate(group.charts):
                path: FieldPath = (*base, "groups", g, "charts", k)
                if chart.name in first:
                    self.add((*path, "name"), f"chart name '{chart.name}' is already used by "
                             f"{self.lines.display(first[chart.name])}", "every chart is a Helm "
                             "release and a pipeline task: give each a unique name")
                elif chart.name == FINALLY_NAME:
                    self.add((*path, "name"), f"'{FINALLY_NAME}' is the name of the pipeline's "
                             "cleanup task", "rename the chart")
                else:
                    first[chart.name] = path
                self.check_chart_source((*path, "chart"), chart.chart, repos)
                for v, values in enumerate(chart.values):
                    self.check_values_file((*path, "values", v), values)
        known = placed_charts(charts)
        for g, group in enumerate(charts.groups):
            for k, chart in enumerate(group.charts):
                for d, need in enumerate(chart.depends_on):
                    if need not in known:
                        self.add((*base, "groups", g, "charts", k, "depends_on", d),
                                 f"chart '{need}' is not in the chart manifest",
                                 "depends_on names charts of any group; " + _suggest(need, known))
        cycle = find_cycle(charts)
        if cycle is not None:
            place = known[cycle[0].after]
            self.add((*base, "groups", place.group_index, "charts", place.index, "depends_on"),
                     f"dependency cycle: {describe_cycle(cycle)}",
                     "remove one of these dependencies, or move a chart to an earlier group")
        self.check_environments(known)
        if charts.start_run and not charts.apply_pipeline:
            self.add((*base, "start_run"), "start_run needs apply_pipeline: a run of a pipeline "
                     "that is not in the cluster cannot start", "set apply_pipeline: true too")

    def check_environments(self, known: Mapping[str, object]) -> None:
        charts = self.site.charts
        base: FieldPath = ("charts", "environments")
        if charts.environments and charts.environment not in charts.environments:
            self.add(("charts", "environment"), f"environment '{charts.environment}' is not "
                     "one of charts.environments", f"add environments.{charts.environment}, or "
                     "name a listed one; " + _suggest(charts.environment, charts.environments))
        for env, settings in charts.environments.items():
            for chart, files in settings.values.items():
                if chart not in known:
                    self.add((*base, env, "values", chart), f"chart '{chart}' is not in the "
                             "chart manifest", _suggest(chart, known))
                for v, values in enumerate(files):
                    self.check_values_file((*base, env, "values", chart, v), values)

    def check_chart_source(self, path: FieldPath, reference: str, repos: set[str]) -> None:
        if reference.startswith(("./", "../", "/")):
            directory = Path(reference)
            if not (directory / "Chart.yaml").is_file():
                self.add(path, f"{directory} is not a chart directory (no Chart.yaml)",
                         "give a chart directory relative to the site file, or "
                         "<repository>/<chart> with a repository of helm.repositories")
            return
        repo, slash, name = reference.partition("/")
        if not slash or not name or "/" in name:
            self.add(path, f"'{reference}' is neither <repository>/<chart> nor a path",
                     "write e.g. openstack-helm/keystone, or ./charts/keystone for a chart "
                     "directory next to the site file")
        elif repo not in repos:
            self.add(path, f"repository '{repo}' is not in helm.repositories",
                     "add it under helm.repositories, or use one of them: "
                     + _suggest(repo, repos) + "; a local chart path starts with ./")

    def check_values_file(self, path: FieldPath, name: str) -> None:
        """The file exists, is a YAML mapping and holds no credential (it lands in a
        ConfigMap and the run record)."""
        from taco.handover.values import credential_paths

        file = Path(name)
        try:
            text = file.read_text(encoding="utf-8")
        except FileNotFoundError:
            self.add(path, f"values file {file} does not exist",
                     "give a path relative to the site file")
            return
        except (OSError, UnicodeDecodeError) as error:
            self.add(path, f"cannot read values file {file}: {error}",
                     "check the file (UTF-8 YAML, readable)")
            return
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as error:
            self.add(path, f"values file {file} is not valid YAML: {error}",
                     "fix the file's YAML syntax")
            return
        if data is not None and not isinstance(data, dict):
            self.add(path, f"values file {file} is not a mapping", "a Helm values file "
                     "maps keys to values")
            return
        secrets = credential_paths(data or {})
        if secrets:
            self.add(path, f"values file {file} holds credentials ({', '.join(secrets[:3])})",
                     "values go into a ConfigMap and the run record; keep passwords, tokens "
                     "and keys out of chart values files")

    # -- helpers ------------------------------------------------------------------

    def ip(self, path: FieldPath, text: str) -> IPAddress | None:
        address = parse_ip(text)
        if address is None:
            hint = "write a plain IPv4 or IPv6 address, e.g. 10.77.0.11"
            if "/" in text and parse_ip(text.split("/", 1)[0]) is not None:
                hint = (f"write the address without a prefix: {text.split('/', 1)[0]} "
                        "(the prefix comes from the network's cidr)")
            self.add(path, f"'{text}' is not an IP address", hint)
        return address

    def cidr(self, path: FieldPath, text: str) -> IPNetwork | None:
        network = parse_cidr(text)
        if network is None:
            self.add(path, f"'{text}' is not a network in CIDR notation",
                     "write the network address and prefix length, e.g. 10.77.0.0/24")
            return None
        if network.ip != network.network:
            self.add(path, f"{text} has host bits set", f"did you mean {network.cidr}?")
        return network.cidr

    def inside(
        self, path: FieldPath, address: IPAddress, name: str, network: IPNetwork, what: str
    ) -> None:
        if address not in network:
            self.add(path, f"{what} {address} is outside network '{name}' ({network})",
                     f"use an address inside {network}, or fix the network's cidr")
        elif _is_edge_address(address, network):
            kind = "network" if address == network.network else "broadcast"
            self.add(path, f"{what} {address} is the {kind} address of network '{name}'",
                     f"use a host address between {network[1]} and {network[-2]}")

    def claim(self, address: IPAddress, owner: _Owner) -> None:
        """Record an address; a second node (or a gateway) using it is an error."""
        for name, net in self.site.networks.items():
            if net.gateway is not None and parse_ip(net.gateway) == address:
                self.add(owner.path, f"{address} is the gateway of network '{name}'",
                         "a node address must not be the gateway")
        first = self.addresses.get(address)
        if first is None:
            self.addresses[address] = owner
        elif first.node != owner.node:
            self.add(owner.path, f"address {address} is already used by {first.label} "
                     f"({self.lines.display(first.path)})", "give every node its own addresses")


class RegistryCaInvalid(ValueError):
    """The registry CA file is missing, unreadable or not a PEM certificate."""

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


_CA_HINT = ("give the PEM file of the CA that signed the registry mirror's certificate "
            "(`taco mirror serve` writes it as ca.pem), relative to the site file")


def registry_ca_pem(path: Path) -> str:
    """The certificates of the registry CA file, re-encoded as PEM.

    Only certificates travel on (to the inventory and every node): a private key in
    the file is refused, and anything else in it is dropped.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise RegistryCaInvalid(f"file {path} does not exist", _CA_HINT) from None
    except OSError as error:
        raise RegistryCaInvalid(f"cannot read {path}: {error.strerror}",
                                "check the file's path and permissions") from None
    if b"PRIVATE KEY-----" in data:
        raise RegistryCaInvalid(f"{path} holds a private key",
                                "give the CA certificate only (ca.pem, never ca-key.pem): "
                                "it is copied to every node")
    try:
        certificates = x509.load_pem_x509_certificates(data)
    except ValueError:
        raise RegistryCaInvalid(f"{path} holds no PEM certificate", _CA_HINT) from None
    return "".join(c.public_bytes(Encoding.PEM).decode("ascii") for c in certificates)


def _is_url(text: str) -> bool:
    parts = urlsplit(text)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def check_site(
    site: Site, filename: str, lines: LineMap | None = None
) -> list[SiteIssue]:
    """Every semantic problem of a shape-valid site.

    When `lines.pruned` says entries failed the shape check and were left out, rules
    that depend on something being absent there (undefined references, counts) are
    skipped rather than reported wrongly.
    """
    return _Checker(site, filename, lines or LineMap()).run()
