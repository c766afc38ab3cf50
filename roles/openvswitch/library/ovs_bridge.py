#!/usr/bin/python
"""Ansible module: an Open vSwitch bridge in the state asked, changed only where it differs.

The decision (current OVSDB row + desired state -> ovs-vsctl commands) is a set of pure
functions, unit-tested in tests/unit/test_ovs_modules.py; only `main` talks to ovs-vsctl.
The OVSDB helpers it shares with ovs_port live in the role's module_utils/taco_ovsdb.py.
"""

from __future__ import annotations

from typing import Any

from ansible.module_utils.basic import AnsibleModule  # type: ignore[import-untyped]
from ansible.module_utils.taco_ovsdb import (  # type: ignore[import-not-found]
    map_commands,
    optional,
    parse_tables,
    quote,
    transaction,
)

DOCUMENTATION = r"""
---
module: ovs_bridge
short_description: Manage an Open vSwitch bridge through ovs-vsctl
description:
  - Creates, updates or deletes an OVS bridge. Reads the Bridge table as JSON and runs one
    ovs-vsctl transaction holding only the changes needed, so a converged bridge reports
    no change.
  - Only the map keys given in I(external_ids) and I(other_config) are managed; keys other
    software set (for example the Neutron agent) are left alone. A key given as null is
    removed.
  - Supports check mode and diff mode.
version_added: "1.0.0"
author: taco
options:
  name:
    description: Bridge name.
    type: str
    required: true
  state:
    description: Whether the bridge exists. C(absent) deletes it with all its ports.
    type: str
    choices: [present, absent]
    default: present
  datapath_type:
    description:
      - C(system) uses the openvswitch kernel module, C(netdev) the userspace datapath.
      - Left alone when not given. OVS's empty value counts as C(system).
    type: str
    choices: [system, netdev]
  fail_mode:
    description: Behaviour without a controller. Left alone when not given.
    type: str
    choices: [standalone, secure]
  external_ids:
    description: Keys of the bridge's external_ids to set (null removes a key).
    type: dict
  other_config:
    description: Keys of the bridge's other_config to set (null removes a key).
    type: dict
  timeout:
    description: Seconds ovs-vsctl waits for ovsdb-server.
    type: int
    default: 10
notes:
  - Needs ovs-vsctl on the target and a running ovsdb-server.
"""

EXAMPLES = r"""
- name: Open vSwitch | Create the provider bridge on the userspace datapath
  ovs_bridge:
    name: br-ex
    datapath_type: netdev
    external_ids:
      bridge-id: br-ex

- name: Open vSwitch | Delete a bridge no longer wanted
  ovs_bridge:
    name: br-old
    state: absent
"""

RETURN = r"""
commands:
  description: The ovs-vsctl commands run (or, in check mode, that would run), one argv per command.
  returned: always
  type: list
  elements: list
  sample: [["add-br", "br-ex"], ["set", "Bridge", "br-ex", "datapath_type=\"netdev\""]]
bridge:
  description: The bridge as it is after the run (predicted in check mode); empty when absent.
  returned: always
  type: dict
  sample: {name: br-ex, datapath_type: netdev, fail_mode: null, external_ids: {bridge-id: br-ex},
           other_config: {}}
"""

COLUMNS = ("name", "datapath_type", "fail_mode", "external_ids", "other_config")


# --- Decision ---------------------------------------------------------------------------

def bridge_view(row: dict[str, Any]) -> dict[str, Any]:
    """The managed columns of a Bridge row, normalised for comparison."""
    return {
        "name": row["name"],
        "datapath_type": row["datapath_type"] or "system",
        "fail_mode": optional(row["fail_mode"]),
        "external_ids": dict(row["external_ids"]),
        "other_config": dict(row["other_config"]),
    }


def find_bridge(tables: list[list[dict[str, Any]]], name: str) -> dict[str, Any] | None:
    for row in tables[0]:
        if row["name"] == name:
            return bridge_view(row)
    return None


def plan_bridge(desired: dict[str, Any], current: dict[str, Any] | None) -> list[list[str]]:
    """The ovs-vsctl commands that take the bridge from `current` (None: absent) to `desired`."""
    name = desired["name"]
    if desired["state"] == "absent":
        return [["del-br", name]] if current is not None else []
    commands: list[list[str]] = []
    if current is None:
        commands.append(["add-br", name])
        current = {"datapath_type": "system", "fail_mode": None, "external_ids": {},
                   "other_config": {}}
    columns: list[str] = []
    if desired.get("datapath_type") and desired["datapath_type"] != current["datapath_type"]:
        columns.append(f"datapath_type={quote(desired['datapath_type'])}")
    if desired.get("fail_mode") and desired["fail_mode"] != current["fail_mode"]:
        columns.append(f"fail_mode={quote(desired['fail_mode'])}")
    if columns:
        commands.append(["set", "Bridge", name, *columns])
    for column in ("external_ids", "other_config"):
        commands += map_commands("Bridge", name, column, current[column], desired.get(column))
    return commands


def predict_bridge(desired: dict[str, Any], current: dict[str, Any] | None) -> dict[str, Any]:
    """The bridge after `plan_bridge`'s commands ran: the diff's "after" and check mode's answer."""
    if desired["state"] == "absent":
        return {}
    after: dict[str, Any] = {
        "name": desired["name"], "datapath_type": "system", "fail_mode": None,
        "external_ids": {}, "other_config": {},
    }
    if current is not None:
        after.update({key: (dict(value) if isinstance(value, dict) else value)
                      for key, value in current.items()})
    for column in ("datapath_type", "fail_mode"):
        if desired.get(column):
            after[column] = desired[column]
    for column in ("external_ids", "other_config"):
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
            "name": {"type": "str", "required": True},
            "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
            "datapath_type": {"type": "str", "choices": ["system", "netdev"]},
            "fail_mode": {"type": "str", "choices": ["standalone", "secure"]},
            "external_ids": {"type": "dict"},
            "other_config": {"type": "dict"},
            "timeout": {"type": "int", "default": 10},
        },
        supports_check_mode=True,
    )
    vsctl = [module.get_bin_path("ovs-vsctl", required=True),
             f"--timeout={module.params['timeout']}"]
    columns = ",".join(COLUMNS)
    rc, out, err = module.run_command(
        [*vsctl, "--format=json", "--data=json", f"--columns={columns}", "list", "Bridge"])
    if rc != 0:
        module.fail_json(msg=f"ovs-vsctl could not read the Bridge table: {err.strip()} "
                             "(is ovsdb-server running? systemctl status ovsdb-server)")
    current = find_bridge(parse_tables(out), module.params["name"])
    desired = dict(module.params)
    commands = plan_bridge(desired, current)
    after = predict_bridge(desired, current)
    result: dict[str, Any] = {
        "changed": bool(commands),
        "commands": commands,
        "bridge": after,
        "diff": {"before": current or {}, "after": after},
    }
    if commands and not module.check_mode:
        rc, out, err = module.run_command([*vsctl, *transaction(commands)])
        if rc != 0:
            module.fail_json(msg=f"ovs-vsctl failed on bridge {module.params['name']}: "
                                 f"{err.strip()}", **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
