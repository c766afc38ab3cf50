"""The table from handover data to chart values: same-on-every-node, per-node, notes."""

from __future__ import annotations

from typing import Any

import yaml

from taco.handover.values import RULES, credential_paths, render_values
from taco.site.load import load_site_text


def site_text(extra: str = "") -> str:
    return f"""
name: demo
networks: {{management: {{purpose: management, cidr: 10.77.0.0/24}}}}
nodes: [{{name: node1, address: 10.77.0.11, roles: [control-plane]}}]
{extra}
charts:
  storage_class: general
  groups:
    - name: all
      charts:
        - {{name: neutron, chart: openstack-helm/neutron}}
        - {{name: ceph-osd, chart: openstack-helm/ceph-osd}}
        - {{name: db, chart: openstack-helm/mariadb}}
        - {{name: keystone, chart: openstack-helm/keystone}}
"""


def handover(nodes: dict[str, tuple[str, str, list[str]]]) -> dict[str, Any]:
    """node -> (bridge mappings, tunnel interface, ceph devices), as the roles record them."""
    return {"roles": {
        "kubernetes": {n: {"node_name": n} for n in nodes},
        "openvswitch": {n: {"bridge_mappings_string": b, "mode": "host"}
                        for n, (b, _, _) in nodes.items()},
        "network": {n: {"tunnel": {"interface": t}} for n, (_, t, _) in nodes.items()},
        "storage": {n: {"ceph_osd_devices": d} for n, (_, _, d) in nodes.items()},
    }}


def test_values_shared_by_every_node_are_plain_chart_values() -> None:
    site = load_site_text(site_text(), "site.yml")
    data = handover({"node1": ("physnet1:br-ex", "eth1", ["/dev/sdb"]),
                     "node2": ("physnet1:br-ex", "eth1", ["/dev/sdb"])})
    rendered = render_values(site, data)
    neutron = rendered.values["neutron"]
    assert neutron["conf"]["plugins"]["openvswitch_agent"]["ovs"]["bridge_mappings"] == \
        "physnet1:br-ex"
    assert neutron["network"]["interface"]["tunnel"] == "eth1"
    assert rendered.values["ceph-osd"]["conf"]["storage"]["osd"] == [
        {"data": {"type": "bluestore", "location": "/dev/sdb"}}]
    # The rule matches the chart (mariadb), not the release name (db).
    assert rendered.values["db"] == {"volume": {"class_name": "general"}}
    assert "keystone" not in rendered.values
    assert rendered.notes == []


def test_values_that_differ_become_per_node_overrides_or_a_note() -> None:
    site = load_site_text(site_text(), "site.yml")
    data = handover({"node2": ("physnet1:br-ex", "eth2", ["/dev/sdc"]),
                     "node1": ("physnet1:br-ex,physnet2:br-vlan", "eth1", ["/dev/sdb"])})
    rendered = render_values(site, data)
    hosts = rendered.values["neutron"]["conf"]["overrides"]["neutron_ovs-agent"]["hosts"]
    assert hosts == [
        {"name": "node1", "conf": {"plugins": {"openvswitch_agent": {"ovs": {
            "bridge_mappings": "physnet1:br-ex,physnet2:br-vlan"}}}}},
        {"name": "node2", "conf": {"plugins": {"openvswitch_agent": {"ovs": {
            "bridge_mappings": "physnet1:br-ex"}}}}},
    ]
    osd = rendered.values["ceph-osd"]["conf"]["overrides"]["ceph_osd"]["hosts"]
    assert [h["name"] for h in osd] == ["node1", "node2"]
    # The tunnel interface has no per-node override in the chart: a note, no value.
    assert "network" not in rendered.values["neutron"]
    assert rendered.notes == ["neutron: network.interface.tunnel differs between nodes "
                              "(node1: eth1, node2: eth2) and the chart has no per-node "
                              "override for it; set it in the chart's values"]


def test_registry_mirror_reaches_every_chart() -> None:
    site = load_site_text(site_text("mirrors: {registry: 'https://reg.example.com:8443'}"),
                          "site.yml")
    rendered = render_values(site, {"roles": {}})
    for release in ("neutron", "ceph-osd", "db", "keystone"):
        values = rendered.values[release]
        assert values["images"]["local_registry"]["active"] is True
        assert values["endpoints"]["local_image_registry"]["hosts"]["node"] == "reg.example.com"
        assert values["endpoints"]["local_image_registry"]["port"]["registry"]["node"] == 8443


def test_rendering_is_deterministic_and_order_free() -> None:
    site = load_site_text(site_text(), "site.yml")
    one = handover({"a": ("p:b1", "e1", []), "b": ("p:b2", "e1", [])})
    two = {"roles": {role: dict(reversed(list(v.items())))
                     for role, v in one["roles"].items()}}
    first, second = render_values(site, one), render_values(site, two)
    assert yaml.safe_dump(first.values) == yaml.safe_dump(second.values)


def test_every_rule_names_its_charts_and_its_reason() -> None:
    for rule in RULES:
        assert rule.charts and rule.why
        assert rule.path or rule.expand
        if rule.per_node_key:
            assert rule.path[0] == "conf"


def test_credentials_are_found_by_name_and_value() -> None:
    data = {"endpoints": {"identity": {"auth": {"admin": {"password": "s3cret",
                                                          "username": "admin"}}}},
            "conf": {"key": "-----BEGIN RSA PRIVATE KEY-----\nabc"},
            "url": "http://user:pw@host/", "replicas": 1}
    # `auth` is a secret name to the run record (OpenStack-Helm keeps passwords there).
    assert credential_paths(data) == ["endpoints.identity.auth", "conf.key", "url"]
    assert credential_paths({"users": {"admin": {"password": "x"}}}) == [
        "users.admin.password"]
    assert credential_paths({"pod": {"replicas": {"api": 1}}}) == []
