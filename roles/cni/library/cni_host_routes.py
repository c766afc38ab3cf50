#!/usr/bin/python3
"""cni_host_routes: make the node's routes of one protocol number exactly a given list."""

from __future__ import annotations

import ipaddress
import json
from typing import Any

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: cni_host_routes
short_description: Make the routes tagged with one protocol number exactly the given list.
description:
  - Reads the main table's routes of I(protocol) with C(ip -j route show), adds or replaces
    the missing or different ones and deletes the others with that protocol. Routes of other
    protocols (the kernel's, DHCP's, the network role's) are never touched, so the protocol
    number marks what this module owns.
  - Supports check mode and diff mode. Needs iproute2 with JSON output (4.13 or later).
options:
  routes:
    description: Wanted routes, each C(dest) (a network) and C(via) (the gateway address).
    type: list
    elements: dict
    required: true
  protocol:
    description: Routing protocol number (1-255) that marks these routes as taco's.
    type: int
    default: 201
author: taco
"""

EXAMPLES = r"""
- name: CNI | Route the other nodes' pod subnets
  cni_host_routes:
    routes:
      - {dest: 10.244.12.0/24, via: 10.77.0.12}
    protocol: 201
"""

RETURN = r"""
commands:
  description: The ip commands run (or, in check mode, that would run).
  type: list
  returned: always
routes:
  description: The routes of the protocol after the run, as dest -> via.
  type: dict
  returned: always
"""


def _canonical(dest: str) -> str:
    """A destination as `ip` prints it: host routes without /32 (/128), networks with."""
    network = ipaddress.ip_network(dest, strict=True)
    if network.prefixlen == network.max_prefixlen:
        return str(network.network_address)
    return str(network)


def parse_routes(text: str) -> dict[str, str]:
    """dest -> gateway from `ip -j route show ...` (routes without a gateway map to '')."""
    routes: dict[str, str] = {}
    for entry in json.loads(text or "[]"):
        dest = entry.get("dst", "")
        if dest == "default":
            continue
        routes[_canonical(dest)] = entry.get("gateway", "")
    return routes


def wanted_routes(routes: list[dict[str, Any]]) -> dict[str, str]:
    """dest -> via from the module's arguments, validated; one gateway per destination."""
    wanted: dict[str, str] = {}
    for route in routes:
        dest = str(route.get("dest", ""))
        via = str(route.get("via", ""))
        try:
            key = _canonical(dest)
        except ValueError as exc:
            raise ValueError(f"route dest {dest!r} is not a network: {exc}") from exc
        try:
            gateway = str(ipaddress.ip_address(via))
        except ValueError as exc:
            raise ValueError(f"route {dest}: via {via!r} is not an address") from exc
        if wanted.get(key, gateway) != gateway:
            raise ValueError(f"route {dest} is given twice, via {wanted[key]} and {gateway}")
        wanted[key] = gateway
    return wanted


def plan(current: dict[str, str], wanted: dict[str, str], protocol: int) -> list[list[str]]:
    """The ip commands that turn `current` into `wanted`: deletions first, then additions."""
    proto = ["proto", str(protocol)]
    commands = [["route", "del", dest, *proto] for dest in sorted(current) if dest not in wanted]
    commands += [
        ["route", "replace", dest, "via", via, *proto]
        for dest, via in sorted(wanted.items()) if current.get(dest) != via
    ]
    return commands


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "routes": {"type": "list", "elements": "dict", "required": True},
            "protocol": {"type": "int", "default": 201},
        },
        supports_check_mode=True,
    )
    protocol = module.params["protocol"]
    if not 1 <= protocol <= 255:
        module.fail_json(msg=f"protocol must be 1-255, got {protocol}")
    try:
        wanted = wanted_routes(module.params["routes"])
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    ip = module.get_bin_path("ip", required=True)
    show = [ip, "-j", "route", "show", "table", "main", "proto", str(protocol)]

    def read() -> dict[str, str]:
        rc, out, err = module.run_command(show)
        if rc != 0:
            module.fail_json(msg=f"{' '.join(show)} failed: {err.strip()}", rc=rc)
        return parse_routes(out)

    current = read()
    commands = plan(current, wanted, protocol)
    diff = {"before": json.dumps(current, indent=2, sort_keys=True) + "\n",
            "after": json.dumps(wanted, indent=2, sort_keys=True) + "\n"}
    shown = [" ".join(["ip", *command]) for command in commands]
    if not commands or module.check_mode:
        module.exit_json(changed=bool(commands), commands=shown, routes=wanted, diff=diff)
    for command in commands:
        rc, _, err = module.run_command([ip, *command])
        if rc != 0:
            module.fail_json(
                msg=f"ip {' '.join(command)} failed: {err.strip()} (a host-gw route needs its "
                    "gateway on a directly connected network: every node on one L2 segment)",
                rc=rc, commands=shown)
    module.exit_json(changed=True, commands=shown, routes=read(), diff=diff)


if __name__ == "__main__":
    main()
