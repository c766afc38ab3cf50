"""network_links: the site's interfaces, bonds, bridges and VLANs as one list of links.

Each link says what to render (kind, addresses, MTU, masters, stacked VLANs) and whether it
can be installed on this kernel: a bond without the bonding module, a VLAN without 8021q,
and everything stacked on such a link are rendered and validated but not installed.
The templates (systemd-networkd and netplan) render from this list only, so both renderers
describe the same thing.
"""

from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleFilterError

# The kernel feature each virtual link kind needs.
KIND_FEATURE = {"bond": "bonding", "vlan": "8021q", "bridge": "bridge"}
# File order: physical links first, then what is built on them.
KIND_ORDER = {"ether": 10, "external": 10, "bond": 20, "bridge": 20, "vlan": 30}


def _fail(message: str) -> AnsibleFilterError:
    return AnsibleFilterError(f"network_links: {message}")


def _prefix(item: dict[str, Any], networks: dict[str, Any], what: str) -> int | None:
    if not item.get("address"):
        return None
    prefix = item.get("prefix")
    if prefix is None and item.get("network"):
        prefix = (networks.get(item["network"]) or {}).get("prefix")
    if prefix is None:
        raise _fail(f"{what} {item['name']} has address {item['address']} but no prefix: "
                    "give it a network (taco_networks) or a prefix")
    return int(prefix)


def _link(kind: str, item: dict[str, Any], networks: dict[str, Any]) -> dict[str, Any]:
    network_name = item.get("network")
    if network_name and network_name not in networks:
        raise _fail(f"{kind} {item['name']} is on network '{network_name}', which taco_networks "
                    f"does not define (defined: {', '.join(sorted(networks)) or 'none'})")
    network = (networks.get(network_name) or {}) if network_name else {}
    prefix = _prefix(item, networks, kind)
    mtu = item.get("mtu") or network.get("mtu")
    return {
        "name": item["name"],
        "kind": kind,
        "stem": f"{KIND_ORDER[kind]}-taco-{item['name']}",
        "network": network_name,
        "purpose": network.get("purpose"),
        "address": item.get("address"),
        "prefix": prefix,
        "cidr": f"{item['address']}/{prefix}" if item.get("address") else None,
        "mtu": int(mtu) if mtu else None,
        "mac": item.get("mac"),
        "gateway": None,
        "dns": [],
        "domains": [],
        "management": False,
        "bond": None,
        "bridge": None,
        "vlans": [],
        "vlans_applied": [],
        "members": [],
        "mode": item.get("mode"),
        "vlan_id": item.get("id"),
        "parent": item.get("parent"),
        "stp": bool(item.get("stp", False)),
        "skipped": False,
        "skip_reason": "",
    }


def network_links(
    interfaces: list[dict[str, Any]],
    bonds: list[dict[str, Any]] | None = None,
    vlans: list[dict[str, Any]] | None = None,
    bridges: list[dict[str, Any]] | None = None,
    networks: dict[str, Any] | None = None,
    dns_servers: list[str] | None = None,
    domain: str | None = None,
    missing_features: list[str] | None = None,
) -> list[dict[str, Any]]:
    """The links to render, in file order, each marked installable or skipped (and why)."""
    networks = networks or {}
    missing = set(missing_features or [])
    links: dict[str, dict[str, Any]] = {}

    def add(link: dict[str, Any]) -> None:
        if link["name"] in links:
            raise _fail(f"'{link['name']}' is declared twice "
                        f"(as {links[link['name']]['kind']} and as {link['kind']})")
        links[link["name"]] = link

    for item in interfaces or []:
        add(_link("ether", item, networks))
    for item in bonds or []:
        link = _link("bond", item, networks)
        link["members"] = list(item.get("members") or [])
        link["mode"] = item.get("mode") or "active-backup"
        add(link)
    for item in bridges or []:
        link = _link("bridge", item, networks)
        link["members"] = list(item.get("ports") or [])
        add(link)
    for item in vlans or []:
        add(_link("vlan", item, networks))

    for link in list(links.values()):
        if link["kind"] not in ("bond", "bridge"):
            continue
        for member in link["members"]:
            if member not in links or links[member]["kind"] != "ether":
                raise _fail(f"{link['kind']} {link['name']} lists '{member}', which is not a "
                            "declared interface")
            owner = links[member]
            if owner["bond"] or owner["bridge"]:
                raise _fail(f"'{member}' is enslaved twice ({owner['bond'] or owner['bridge']} "
                            f"and {link['name']})")
            if owner["address"]:
                raise _fail(f"'{member}' is a port of {link['name']} and cannot have its own "
                            "address")
            owner[link["kind"]] = link["name"]
    for link in list(links.values()):
        if link["kind"] != "vlan":
            continue
        parent = link["parent"]
        if parent not in links:
            # An OVS bridge made by the openvswitch phase: networkd stacks the VLAN when it appears.
            add({**_link("external", {"name": parent}, networks), "parent": None})
        links[parent]["vlans"].append(link["name"])

    managements = [link for link in links.values() if link["purpose"] == "management"
                   and link["address"]]
    if len(managements) > 1:
        raise _fail("more than one link carries a management address: "
                    + ", ".join(link["name"] for link in managements))
    for link in managements:
        link["management"] = True
        link["gateway"] = (networks.get(link["network"]) or {}).get("gateway")
        link["dns"] = list(dns_servers or [])
        link["domains"] = [domain] if domain else []

    # Skips spread upwards (a VLAN on a skipped bond) and to enslaved ports.
    for link in links.values():
        feature = KIND_FEATURE.get(link["kind"])
        if feature in missing:
            link["skipped"] = True
            link["skip_reason"] = f"the kernel has no {feature} support"
    changed = True
    while changed:
        changed = False
        for link in links.values():
            if link["skipped"]:
                continue
            for upper in (link["parent"], link["bond"], link["bridge"]):
                if upper and links[upper]["skipped"]:
                    link["skipped"] = True
                    link["skip_reason"] = f"it depends on {upper}, which is not installed"
                    changed = True
                    break
    for link in links.values():
        link["vlans_applied"] = [name for name in link["vlans"] if not links[name]["skipped"]]

    return sorted(links.values(), key=lambda link: (KIND_ORDER[link["kind"]], link["name"]))


def network_file_plan(
    links: list[dict[str, Any]], renderer: str, netplan_file: str
) -> list[dict[str, Any]]:
    """The files to render: name, template, link, and whether this kernel can take it."""
    if renderer == "netplan":
        return [{"name": netplan_file, "template": "netplan/60-taco.yaml.j2", "link": {},
                 "skipped": False}]
    files = []
    for link in links:
        if link["kind"] in KIND_FEATURE:
            files.append({"name": f"{link['stem']}.netdev", "template": "networkd/netdev.j2",
                          "link": link, "skipped": link["skipped"]})
        files.append({"name": f"{link['stem']}.network", "template": "networkd/network.j2",
                      "link": link, "skipped": link["skipped"]})
    return files


def network_handover_entry(link: dict[str, Any]) -> dict[str, Any]:
    """What later phases need to know about one link."""
    return {
        "interface": link["name"],
        "kind": link["kind"],
        "network": link["network"],
        "address": link["address"],
        "prefix": link["prefix"],
        "cidr": link["cidr"],
        "mtu": link["mtu"],
        "installed": not link["skipped"],
        "reason": link["skip_reason"],
    }


class FilterModule:
    """Ansible entry point."""

    def filters(self) -> dict[str, Any]:
        return {
            "network_links": network_links,
            "network_file_plan": network_file_plan,
            "network_handover_entry": network_handover_entry,
        }
