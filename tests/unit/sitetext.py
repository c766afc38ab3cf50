"""The smallest valid site file, as text: tests add the section they are about."""

from __future__ import annotations

ONE_NODE_SITE = """\
name: demo
networks:
  management: {purpose: management, cidr: 10.77.0.0/24}
nodes:
  - {name: node1, address: 10.77.0.11, roles: [control-plane, worker]}
"""
