#!/usr/bin/python
"""Ansible module: a port of an Open vSwitch bridge (plain, internal, patch or bond).

The decision (current OVSDB rows + desired state -> ovs-vsctl commands) is a set of pure
functions, unit-tested in tests/unit/test_ovs_modules.py; only `main` talks to ovs-vsctl.
Ansible ships each module to the node alone, so the small OVSDB helpers are repeated from
ovs_bridge.py (the unit tests hold both copies to the same behaviour).
"""

from __future__ import annotations

from typing import Any

from ansible.module_utils.basic import AnsibleModule  # type: ignore[import-untyped]
from ansible.module_utils.taco_ovsdb import (  # type: ignore[import-not-found]
    as_list,
    map_commands,
    optional,
    parse_tables,
    quote,
    transaction,
)

DOCUMENTATION = r"""
---
module: ovs_port
short_description: Manage a port of an Open vSwitch bridge through ovs-vsctl
description:
  - Adds, updates, moves or deletes a port of an OVS bridge. A port with I(bond_members) is
    an OVS bond (userspace bonding, no kernel bonding module needed).
  - Reads the Bridge, Port and Interface tables as JSON and runs one ovs-vsctl transaction
    holding only the changes needed, so a converged port reports no change.
  - A port whose interfaces differ from those asked (members added or removed, a plain port
    becoming a bond) or that sits on another bridge is deleted and added again in the same
    transaction.
  - Only the map keys given in I(options), I(external_ids) and I(other_config) are managed;
    a key given as null is removed.
  - Supports check mode and diff mode.
version_added: "1.0.0"
author: taco
options:
  bridge:
    description: The bridge the port belongs to.
    type: str
    required: true
  name:
    description: Port name. For a plain port also the interface (network device) name.
    type: str
    required: true
  state:
    description: Whether the port exists on I(bridge).
    type: str
    choices: [present, absent]
    default: present
  bond_members:
    description: Interfaces bonded into this port (at least two). Makes the port a bond.
    type: list
    elements: str
  bond_mode:
    description: OVS bond mode. Bonds only; left alone when not given.
    type: str
    choices: [active-backup, balance-slb, balance-tcp]
  lacp:
    description: LACP negotiation. Bonds only; left alone when not given.
    type: str
    choices: [active, passive, "off"]
  type:
    description:
      - Interface type of a plain port, e.g. C(internal), C(patch), C(vxlan), C(system)
        (a network device; OVS stores it as empty). Left alone when not given.
    type: str
  options:
    description: Keys of the interface's options to set (null removes), e.g. C(peer) of a patch.
    type: dict
  tag:
    description: Access VLAN of the port (1-4095); 0 removes the tag. Left alone when not given.
    type: int
  external_ids:
    description: Keys of the port's external_ids to set (null removes a key).
    type: dict
  other_config:
    description: Keys of the port's other_config to set (null removes), e.g. bond-miimon-interval.
    type: dict
  timeout:
    description: Seconds ovs-vsctl waits for ovsdb-server.
    type: int
    default: 10
notes:
  - Needs ovs-vsctl on the target and a running ovsdb-server.
  - Refuses to take an interface that is already part of another port; remove that port first.
"""

EXAMPLES = r"""
- name: Open vSwitch | Plug the provider NIC into br-ex
  ovs_port:
    bridge: br-ex
    name: eth2

- name: Open vSwitch | Bond two NICs into br-ex
  ovs_port:
    bridge: br-ex
    name: bond0
    bond_members: [eth1, eth2]
    bond_mode: active-backup

- name: Open vSwitch | Patch br-ex to br-int
  ovs_port:
    bridge: br-ex
    name: patch-ex-int
    type: patch
    options:
      peer: patch-int-ex

- name: Open vSwitch | Add an internal port on VLAN 80
  ovs_port:
    bridge: br-ex
    name: vlan80
    type: internal
    tag: 80
"""

RETURN = r"""
commands:
  description: The ovs-vsctl commands run (or, in check mode, that would run), one argv per command.
  returned: always
  type: list
  elements: list
  sample: [["add-bond", "br-ex", "bond0", "eth1", "eth2"],
           ["set", "Port", "bond0", "bond_mode=\"active-backup\""]]
port:
  description: The port as it is after the run (predicted in check mode); empty when absent.
  returned: always
  type: dict
  sample: {bridge: br-ex, name: bond0, interfaces: [eth1, eth2], type: null, options: {}, tag: null,
           bond_mode: active-backup, lacp: null, external_ids: {}, other_config: {}}
"""

BRIDGE_COLUMNS = ("name", "ports")
PORT_COLUMNS = ("_uuid", "name", "interfaces", "tag", "bond_mode", "lacp", "external_ids",
                "other_config")
INTERFACE_COLUMNS = ("_uuid", "name", "type", "options")


class PlanError(Exception):
    """The desired port cannot be reached without taking something the run does not own."""


# --- Current state ----------------------------------------------------------------------

def port_views(tables: list[list[dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Every port by name, with its bridge and interface names, from Bridge/Port/Interface."""
    bridges, ports, interfaces = tables
    bridge_of = {uuid: row["name"] for row in bridges for uuid in as_list(row["ports"])}
    iface_by_uuid = {row["_uuid"]: row for row in interfaces}
    views: dict[str, dict[str, Any]] = {}
    for row in ports:
        ifaces = [iface_by_uuid[uuid] for uuid in as_list(row["interfaces"])
                  if uuid in iface_by_uuid]
        single = ifaces[0] if len(ifaces) == 1 and ifaces[0]["name"] == row["name"] else None
        views[row["name"]] = {
            "bridge": bridge_of.get(row["_uuid"]),
            "name": row["name"],
            "interfaces": sorted(iface["name"] for iface in ifaces),
            "type": (single["type"] or "system") if single else None,
            "options": dict(single["options"]) if single else {},
            "tag": optional(row["tag"]),
            "bond_mode": optional(row["bond_mode"]),
            "lacp": optional(row["lacp"]),
            "external_ids": dict(row["external_ids"]),
            "other_config": dict(row["other_config"]),
        }
    return views


def interface_owners(views: dict[str, dict[str, Any]]) -> dict[str, str]:
    """Interface name -> the port holding it."""
    return {iface: view["name"] for view in views.values() for iface in view["interfaces"]}


# --- Decision ---------------------------------------------------------------------------

def members_of(desired: dict[str, Any]) -> list[str]:
    """The interfaces the port should hold: the bond's members, else the port itself."""
    return sorted(desired.get("bond_members") or [desired["name"]])


def fresh_view(desired: dict[str, Any]) -> dict[str, Any]:
    """A port as ovs-vsctl add-port / add-bond creates it, before any column is set."""
    bond = bool(desired.get("bond_members"))
    return {
        "bridge": desired["bridge"], "name": desired["name"], "interfaces": members_of(desired),
        "type": None if bond else "system", "options": {}, "tag": None, "bond_mode": None,
        "lacp": None, "external_ids": {}, "other_config": {},
    }


def check_port(desired: dict[str, Any], views: dict[str, dict[str, Any]]) -> None:
    """Refuse what OVS cannot do, or what would take interfaces from another port."""
    name = desired["name"]
    bond = desired.get("bond_members")
    if bond is not None and len(set(bond)) < 2:
        raise PlanError(f"bond {name} needs at least two distinct members, got {bond}; "
                        f"plug a single interface into {desired['bridge']} as a plain port")
    if not bond:
        bond_only = [key for key in ("bond_mode", "lacp") if desired.get(key)]
        if bond_only:
            raise PlanError(f"{', '.join(bond_only)} apply to bonds only; port {name} has no "
                            "bond_members")
    elif desired.get("type") or desired.get("options"):
        raise PlanError(f"type and options apply to plain ports; {name} is a bond")
    tag = desired.get("tag")
    if tag is not None and not 0 <= tag <= 4095:
        raise PlanError(f"tag {tag} of port {name} is outside 0-4095 (0 removes the tag)")
    owners = interface_owners(views)
    for iface in members_of(desired):
        owner = owners.get(iface)
        if owner is not None and owner != name:
            held_by = views[owner]
            raise PlanError(f"interface {iface} already belongs to port {owner} on bridge "
                            f"{held_by['bridge']}; remove it first "
                            f"(ovs-vsctl del-port {held_by['bridge']} {owner})")


def needs_recreate(desired: dict[str, Any], current: dict[str, Any]) -> bool:
    """A port on another bridge, or with other interfaces, is replaced rather than edited."""
    return bool(current["bridge"] != desired["bridge"]
                or current["interfaces"] != members_of(desired)
                or (current["type"] is None) != bool(desired.get("bond_members")))


def plan_port(desired: dict[str, Any], views: dict[str, dict[str, Any]]) -> list[list[str]]:
    """The ovs-vsctl commands that take the port from what `views` shows to `desired`."""
    name, bridge = desired["name"], desired["bridge"]
    current = views.get(name)
    if desired["state"] == "absent":
        return [["del-port", bridge, name]] if current and current["bridge"] == bridge else []
    check_port(desired, views)
    commands: list[list[str]] = []
    if current is None or needs_recreate(desired, current):
        if current is not None:
            commands.append(["del-port", current["bridge"], name] if current["bridge"]
                            else ["del-port", name])
        bond = desired.get("bond_members")
        commands.append(["add-bond", bridge, name, *bond] if bond else ["add-port", bridge, name])
        current = fresh_view(desired)
    columns: list[str] = []
    tag = desired.get("tag")
    if tag == 0 and current["tag"] is not None:
        commands.append(["clear", "Port", name, "tag"])
    elif tag and tag != current["tag"]:
        columns.append(f"tag={tag}")
    for column in ("bond_mode", "lacp"):
        if desired.get(column) and desired[column] != current[column]:
            columns.append(f"{column}={quote(desired[column])}")
    if columns:
        commands.append(["set", "Port", name, *columns])
    for column in ("external_ids", "other_config"):
        commands += map_commands("Port", name, column, current[column], desired.get(column))
    if desired.get("type") and desired["type"] != current["type"]:
        ovs_type = "" if desired["type"] == "system" else desired["type"]
        commands.append(["set", "Interface", name, f"type={quote(ovs_type)}"])
    commands += map_commands("Interface", name, "options", current["options"],
                             desired.get("options"))
    return commands


def predict_port(desired: dict[str, Any], views: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The port after `plan_port`'s commands ran: the diff's "after" and check mode's answer."""
    current = views.get(desired["name"])
    if desired["state"] == "absent":
        return {} if current is None or current["bridge"] == desired["bridge"] else dict(current)
    if current is None or needs_recreate(desired, current):
        after = fresh_view(desired)
    else:
        after = {key: (dict(value) if isinstance(value, dict) else value)
                 for key, value in current.items()}
    tag = desired.get("tag")
    if tag is not None:
        after["tag"] = tag or None
    for column in ("bond_mode", "lacp", "type"):
        if desired.get(column):
            after[column] = desired[column]
    for column in ("external_ids", "other_config", "options"):
        for key, value in (desired.get(column) or {}).items():
            if value is None:
                after[column].pop(key, None)
            else:
                after[column][key] = str(value)
    return after


# --- Ansible ----------------------------------------------------------------------------

def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "bridge": {"type": "str", "required": True},
            "name": {"type": "str", "required": True},
            "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
            "bond_members": {"type": "list", "elements": "str"},
            "bond_mode": {"type": "str",
                          "choices": ["active-backup", "balance-slb", "balance-tcp"]},
            "lacp": {"type": "str", "choices": ["active", "passive", "off"]},
            "type": {"type": "str"},
            "options": {"type": "dict"},
            "tag": {"type": "int"},
            "external_ids": {"type": "dict"},
            "other_config": {"type": "dict"},
            "timeout": {"type": "int", "default": 10},
        },
        supports_check_mode=True,
    )
    vsctl = [module.get_bin_path("ovs-vsctl", required=True),
             f"--timeout={module.params['timeout']}"]
    read = [*vsctl, "--format=json", "--data=json"]
    for table, columns in (("Bridge", BRIDGE_COLUMNS), ("Port", PORT_COLUMNS),
                           ("Interface", INTERFACE_COLUMNS)):
        read += ([] if table == "Bridge" else ["--"]) + [f"--columns={','.join(columns)}",
                                                          "list", table]
    rc, out, err = module.run_command(read)
    if rc != 0:
        module.fail_json(msg=f"ovs-vsctl could not read the OVS tables: {err.strip()} "
                             "(is ovsdb-server running? systemctl status ovsdb-server)")
    views = port_views(parse_tables(out))
    desired = dict(module.params)
    refusal = ""
    try:
        commands = plan_port(desired, views)
    except PlanError as error:
        refusal = str(error)
    if refusal:
        module.fail_json(msg=refusal)
    after = predict_port(desired, views)
    result: dict[str, Any] = {
        "changed": bool(commands),
        "commands": commands,
        "port": after,
        "diff": {"before": views.get(desired["name"]) or {}, "after": after},
    }
    if commands and not module.check_mode:
        rc, out, err = module.run_command([*vsctl, *transaction(commands)])
        if rc != 0:
            module.fail_json(msg=f"ovs-vsctl failed on port {desired['name']} of bridge "
                                 f"{desired['bridge']}: {err.strip()}", **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
