"""The inventory built from a site: golden files, groups, labels, connection settings.

Golden files: tests/fixtures/inventory/<example>.yml hold the rendered inventory of
inventories/<example>/site.yml. After an intended change, refresh them with

    TACO_UPDATE_GOLDEN=1 .venv/bin/pytest tests/unit/test_inventory.py

and review the diff before committing.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from taco.errors import SiteInvalid
from taco.inventory.build import (
    GROUPS,
    build_inventory,
    node_groups,
    render_inventory,
    ssh_common_args,
)
from taco.site.load import load_site, load_site_text
from taco.site.model import Site

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "fixtures" / "inventory"
EXAMPLES = ["aio", "multinode"]
ANSIBLE_INVENTORY = Path(sys.executable).parent / "ansible-inventory"


def _example(name: str) -> Site:
    return load_site(ROOT / "inventories" / name / "site.yml")


def _site(nodes: list[dict[str, Any]], **extra: Any) -> Site:
    data: dict[str, Any] = {
        "name": "t",
        "networks": {
            "management": {"purpose": "management", "cidr": "10.77.0.0/24"},
            "provider": {"purpose": "provider", "cidr": "10.79.0.0/24", "physnet": "physnet1"},
        },
        "nodes": nodes,
    }
    data.update(extra)
    return Site.model_validate(data)


def _node(name: str, address: str, *roles: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "address": address, "roles": list(roles), **extra}


@pytest.mark.parametrize("name", EXAMPLES)
def test_rendered_inventory_matches_golden(name: str) -> None:
    rendered = render_inventory(_example(name))
    golden = GOLDEN / f"{name}.yml"
    if os.environ.get("TACO_UPDATE_GOLDEN") == "1":
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(rendered)
    assert golden.exists(), f"missing {golden}; run with TACO_UPDATE_GOLDEN=1 to create it"
    assert rendered == golden.read_text(), (
        f"{golden} is stale; if the change is intended, refresh with TACO_UPDATE_GOLDEN=1"
    )


@pytest.mark.parametrize("name", EXAMPLES)
def test_rendered_yaml_round_trips_and_is_deterministic(name: str) -> None:
    site = _example(name)
    assert yaml.safe_load(render_inventory(site)) == build_inventory(site)
    assert render_inventory(site) == render_inventory(_example(name))


@pytest.mark.parametrize("name", EXAMPLES)
def test_ansible_reads_the_inventory_with_the_same_groups(name: str, tmp_path: Path) -> None:
    site = _example(name)
    path = tmp_path / "inventory.yml"
    path.write_text(render_inventory(site))
    result = subprocess.run(
        [str(ANSIBLE_INVENTORY), "-i", str(path), "--list"],
        capture_output=True, text=True, check=True,
        env={**os.environ, "ANSIBLE_INVENTORY_UNPARSED_FAILED": "true"},
    )
    listing = json.loads(result.stdout)
    for group, hosts in node_groups(site).items():
        if group == "k8s_cluster":
            assert sorted(listing[group]["children"]) == ["kube_control_plane", "kube_workers"]
        else:
            assert listing.get(group, {}).get("hosts", []) == hosts, group
    first = site.nodes[0]
    hostvars = listing["_meta"]["hostvars"][first.name]
    assert hostvars["ansible_host"] == first.address
    assert hostvars["taco_site_name"] == site.name


def test_aio_node_is_in_every_group_it_needs() -> None:
    site = _example("aio")
    groups = node_groups(site)
    assert list(groups) == list(GROUPS)
    for group in GROUPS:
        expected = [] if group == "ceph_osd" else ["aio"]  # its only disk is cinder-volumes
        assert groups[group] == expected, group
    host = build_inventory(site)["all"]["hosts"]["aio"]
    assert host["taco_etcd_member"] is True
    assert host["taco_node_labels"] == {
        "openstack-control-plane": "enabled",
        "openstack-compute-node": "enabled",
        "openstack-network-node": "enabled",
        "l3-agent": "enabled",
        "openvswitch": "enabled",
        "ceph-mon": "enabled",
        "ceph-mgr": "enabled",
        "ceph-osd": "enabled",
        "ceph-mds": "enabled",
        "ceph-rgw": "enabled",
    }


def test_groups_follow_roles_disks_and_bridges() -> None:
    site = _site([
        _node("cp1", "10.77.0.11", "control-plane"),
        _node("cp2", "10.77.0.12", "control-plane", "worker"),
        _node("cp3", "10.77.0.13", "control-plane"),
        _node("os1", "10.77.0.21", "openstack-control", "storage",
              disks=[{"device": "/dev/sdb", "use": "ceph-osd"}]),
        _node("gw1", "10.77.0.31", "worker",
              interfaces=[{"name": "eth2"}],
              ovs_bridges=[{"name": "br-ex", "ports": ["eth2"], "networks": ["provider"]}]),
        _node("cmp1", "10.77.0.41", "compute", etcd=False),
    ], kubernetes={"api_vip": "10.77.0.100"})
    groups = node_groups(site)
    assert groups["kube_control_plane"] == ["cp1", "cp2", "cp3"]
    # Control-plane nodes are workers only when they also carry the worker role.
    assert groups["kube_workers"] == ["cp2", "os1", "gw1", "cmp1"]
    assert groups["k8s_cluster"] == ["cp1", "cp2", "cp3", "os1", "gw1", "cmp1"]
    assert groups["etcd"] == ["cp1", "cp2", "cp3"]
    # A node has openstack-control, so the control plane no longer takes it on.
    assert groups["openstack_control"] == ["os1"]
    assert groups["openstack_compute"] == ["cmp1"]
    assert groups["openstack_network"] == []
    assert groups["ovs_nodes"] == ["gw1", "cmp1"]
    assert groups["storage_nodes"] == ["os1"]
    assert groups["ceph_osd"] == ["os1"]
    hosts = build_inventory(site)["all"]["hosts"]
    assert "openstack-control-plane" not in hosts["cp1"]["taco_node_labels"]
    assert hosts["os1"]["taco_node_labels"]["openstack-control-plane"] == "enabled"
    assert hosts["gw1"]["taco_ovs_bridges"][0]["bridge_mappings"] == {"physnet1": "br-ex"}


@pytest.mark.parametrize(
    ("roles", "labels"),
    [
        (["control-plane"], ["openstack-control-plane"]),
        (["worker"], []),
        (["compute"], ["openstack-compute-node", "openvswitch"]),
        (["network"], ["openstack-network-node", "l3-agent", "openvswitch"]),
        (["compute", "network"],
         ["openstack-compute-node", "openstack-network-node", "l3-agent", "openvswitch"]),
        (["storage"], ["ceph-mon", "ceph-mgr", "ceph-osd", "ceph-mds", "ceph-rgw"]),
    ],
)
def test_label_mapping_from_roles(roles: list[str], labels: list[str]) -> None:
    # A separate control-plane node keeps the cluster valid for every role set.
    nodes = [_node("n1", "10.77.0.11", *roles)]
    if "control-plane" not in roles:
        nodes.insert(0, _node("cp", "10.77.0.10", "control-plane", "openstack-control"))
    site = _site(nodes)
    result = build_inventory(site)["all"]["hosts"]["n1"]["taco_node_labels"]
    assert list(result) == labels
    assert set(result.values()) <= {"enabled"}


def test_node_labels_are_added_and_win() -> None:
    site = _site([_node("n1", "10.77.0.11", "control-plane", "compute",
                        labels={"openvswitch": "disabled", "rack": "r1"})])
    labels = build_inventory(site)["all"]["hosts"]["n1"]["taco_node_labels"]
    assert labels["openvswitch"] == "disabled"
    assert labels["rack"] == "r1"
    assert labels["openstack-compute-node"] == "enabled"


def test_ssh_args_for_known_hosts_and_checking() -> None:
    site = _site([_node("n1", "10.77.0.11", "control-plane")],
                 ssh={"known_hosts": "/srv/taco/known hosts"})
    args = shlex.split(ssh_common_args(site))
    assert args == ["-o", "UserKnownHostsFile=/srv/taco/known hosts",
                    "-o", "StrictHostKeyChecking=yes"]
    off = _site([_node("n1", "10.77.0.11", "control-plane")],
                ssh={"host_key_checking": False})
    assert shlex.split(ssh_common_args(off)) == ["-o", "StrictHostKeyChecking=no"]


def test_jump_host_proxy_command_survives_both_splits() -> None:
    site = _site([_node("n1", "10.77.0.11", "control-plane")], ssh={
        "user": "admin",
        "private_key": "/keys/my key",
        "known_hosts": "/srv/known_hosts",
        "jump_host": {"address": "10.88.0.2", "user": "jump", "port": 2200},
    })
    # Ansible shlex-splits the common args; ssh hands ProxyCommand to a shell.
    args = shlex.split(ssh_common_args(site))
    proxy = args[args.index("-o", 4) + 1]
    assert proxy.startswith("ProxyCommand=")
    assert shlex.split(proxy.removeprefix("ProxyCommand=")) == [
        "ssh", "-W", "%h:%p", "-p", "2200", "-i", "/keys/my key",
        "-o", "UserKnownHostsFile=/srv/known_hosts", "-o", "StrictHostKeyChecking=yes",
        "jump@10.88.0.2",
    ]
    all_vars = build_inventory(site)["all"]["vars"]
    assert all_vars["ansible_user"] == "admin"
    assert all_vars["ansible_ssh_private_key_file"] == "/keys/my key"
    assert all_vars["ansible_become"] is True


def test_per_node_ssh_overrides() -> None:
    site = _site([
        _node("n1", "10.77.0.11", "control-plane"),
        _node("n2", "10.77.0.12", "worker", ssh_port=2222, ssh_user="debian"),
    ])
    hosts = build_inventory(site)["all"]["hosts"]
    assert "ansible_port" not in hosts["n1"]
    assert (hosts["n2"]["ansible_port"], hosts["n2"]["ansible_user"]) == (2222, "debian")


@pytest.mark.parametrize(
    ("kubernetes", "endpoint", "port"),
    [
        ({}, "10.77.0.11", 6443),
        ({"api_vip": "10.77.0.100"}, "10.77.0.100", 6443),
        ({"api_endpoint": "lb.example.com:8443"}, "lb.example.com", 8443),
        ({"api_endpoint": "lb.example.com", "api_port": 443}, "lb.example.com", 443),
    ],
)
def test_api_endpoint(kubernetes: dict[str, Any], endpoint: str, port: int) -> None:
    site = _site([_node("w", "10.77.0.9", "worker"), _node("n1", "10.77.0.11", "control-plane")],
                 kubernetes=kubernetes)
    kube = build_inventory(site)["all"]["vars"]["taco_kubernetes"]
    assert (kube["api_endpoint"], kube["api_port"]) == (endpoint, port)


def test_interfaces_get_prefix_and_mtu_from_their_network() -> None:
    text = (ROOT / "inventories" / "multinode" / "site.yml").read_text()
    site = load_site_text(text, "multinode.yml")
    compute = build_inventory(site)["all"]["hosts"]["compute1"]
    assert compute["taco_bonds"][0] == {
        "name": "bond0", "members": ["eth1", "eth2"], "mode": "active-backup",
        "network": "storage", "address": "10.78.0.21", "prefix": 24, "mtu": 9000,
    }
    assert compute["taco_vlans"][0]["id"] == 80
    assert compute["taco_interfaces"][1] == {
        "name": "eth1", "network": None, "address": None, "prefix": None, "mtu": None,
        "mac": None,
    }


def test_site_vars_and_extra_vars() -> None:
    site = _site([_node("n1", "10.77.0.11", "control-plane")],
                 domain="lab.example.com", ntp_servers=["pool.ntp.org"],
                 extra_vars={"ansible_python_interpreter": "/usr/bin/python3"})
    all_vars = build_inventory(site)["all"]["vars"]
    assert all_vars["taco_domain"] == "lab.example.com"
    assert all_vars["taco_ntp_servers"] == ["pool.ntp.org"]
    assert all_vars["taco_site_hosts"] == [{"name": "n1", "address": "10.77.0.11"}]
    assert all_vars["taco_networks"]["provider"] == {
        "purpose": "provider", "cidr": "10.79.0.0/24", "prefix": 24, "gateway": None,
        "vlan": None, "mtu": 1500, "physnet": "physnet1",
    }
    assert all_vars["ansible_python_interpreter"] == "/usr/bin/python3"


def test_registry_ca_file_missing_at_build_is_a_site_error(tmp_path: Path) -> None:
    missing = str(tmp_path / "ca.pem")
    site = _site([_node("n1", "10.77.0.11", "control-plane")],
                 mirrors={"registry": "10.77.0.2:5000", "registry_ca": missing})
    with pytest.raises(SiteInvalid) as raised:
        build_inventory(site)
    issue = raised.value.issues[0]
    assert (issue.file, issue.path) == (missing, "mirrors.registry_ca")
    assert "does not exist" in issue.message
