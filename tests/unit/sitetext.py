"""The smallest valid site file, as text: tests add the section they are about."""

from __future__ import annotations

ONE_NODE_SITE = """\
name: demo
networks:
  management: {purpose: management, cidr: 10.77.0.0/24}
nodes:
  - {name: node1, address: 10.77.0.11, roles: [control-plane, worker]}
"""

# One control plane named n1, for tests that replace a section in front of `nodes:`.
MINIMAL_SITE = """\
name: mini
networks:
  management: {purpose: management, cidr: 10.77.0.0/24}
nodes:
  - {name: n1, address: 10.77.0.11, roles: [control-plane]}
"""

# Charts whose pipeline is applied, and an enabled Prow that runs it (secrets.yml beside).
PROW_CHARTS = """\
charts:
  apply_pipeline: true
  groups: [{name: openstack, charts: [{name: keystone, chart: openstack-helm/keystone}]}]
"""
PROW_ENABLED = """\
prow:
  enabled: true
  host: prow.example.com
  org: acme
  repos: [site-config]
  secrets_file: secrets.yml
"""
