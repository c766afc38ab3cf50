"""The site file a lab hands to `taco`: its real networks, nodes, disks and SSH settings."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from taco.site.load import load_site
from taco.site.model import DiskUse, NodeRole, Site

if TYPE_CHECKING:
    from taco.lab.state import LabState

PROXY_PORT = 3128
# Present only where the unified (v2) hierarchy is mounted at /sys/fs/cgroup.
CGROUP_V2_MARKER = Path("/sys/fs/cgroup/cgroup.controllers")


def node_roles(index: int, count: int) -> list[NodeRole]:
    """A spread that exercises every group: one node carries all; three control
    planes (an odd etcd) once there are five or more nodes; the rest are workers."""
    if count == 1:
        return list(NodeRole)
    control = 3 if count >= 5 else 1
    if index < control:
        roles = [NodeRole.CONTROL_PLANE, NodeRole.OPENSTACK_CONTROL, NodeRole.NETWORK]
        return roles if count >= 5 else [NodeRole.CONTROL_PLANE, NodeRole.WORKER, *roles[1:]]
    return [NodeRole.WORKER, NodeRole.COMPUTE, NodeRole.STORAGE]


def host_address(cidr: str, host: int) -> str:
    return str(ipaddress.ip_network(cidr)[host])


def node_extra_vars() -> dict[str, Any]:
    """Role settings lab nodes need: they are containers sharing this machine's kernel.

    containerd's root sits on the container's overlayfs root, where overlayfs snapshots
    cannot be made; on a cgroup v1 host the kubelet must be told to accept v1.
    """
    extra: dict[str, Any] = {"container_runtime_snapshotter": "native"}
    if not CGROUP_V2_MARKER.exists():
        extra["kubernetes_kubelet_fail_cgroup_v1"] = False
        extra["kubernetes_ignore_preflight_errors"] = ["SystemVerification"]
    return extra


def build_site(state: LabState) -> dict[str, Any]:
    mgmt, storage, provider = (state.subnets[k] for k in ("mgmt", "storage", "provider"))
    management: dict[str, Any] = {"purpose": "management", "cidr": mgmt}
    if not state.jump:
        # Podman's bridge routes and masquerades; behind a jump host there is no way out.
        management["gateway"] = host_address(mgmt, 1)
    nodes = []
    for index, record in enumerate(state.nodes):
        roles = node_roles(index, state.node_count)
        node: dict[str, Any] = {
            "name": record.name,
            "address": record.addresses["mgmt"],
            "roles": [str(r) for r in roles],
            "interfaces": [
                {"name": "eth0", "network": "management", "address": record.addresses["mgmt"]},
                {"name": "eth1", "network": "storage", "address": record.addresses["storage"]},
                {"name": "eth2"},
            ],
        }
        if NodeRole.COMPUTE in roles or NodeRole.NETWORK in roles:
            # No openvswitch kernel module here: the userspace datapath.
            node["ovs_bridges"] = [
                {"name": "br-ex", "ports": ["eth2"], "networks": ["provider"],
                 "datapath_type": "netdev"}
            ]
        use = DiskUse.CEPH_OSD if NodeRole.STORAGE in roles else DiskUse.LOCAL_PATH
        if record.disks:
            node["disks"] = [{"device": d, "use": str(use)} for d in record.disks]
        nodes.append(node)

    ssh: dict[str, Any] = {
        "user": "root",
        "private_key": str(state.private_key),
        "known_hosts": str(state.known_hosts),
    }
    site: dict[str, Any] = {
        "name": state.name,
        "ssh": ssh,
        "networks": {
            "management": management,
            "storage": {"purpose": "storage", "cidr": storage},
            "provider": {"purpose": "provider", "cidr": provider, "physnet": "physnet1"},
        },
        "kubernetes": {"api_vip": host_address(mgmt, 100)},
        # Lab nodes reach no chart repository on the internet: name one that serves the lab
        # (a local chart repository) to have Helm use it.
        "helm": {"repositories": []},
        "nodes": nodes,
        "extra_vars": node_extra_vars(),
    }
    if state.jump:
        assert state.jump_address is not None
        ssh["jump_host"] = {"address": state.jump_address, "user": "root"}
        proxy = f"http://{host_address(mgmt, 5)}:{PROXY_PORT}"
        site["proxy"] = {
            "http": proxy,
            "https": proxy,
            "no_proxy": ["localhost", "127.0.0.1", mgmt, storage],
        }
    return site


def write_site(state: LabState) -> None:
    """Write site.yml and check it the way `taco` will read it."""
    data = build_site(state)
    Site.model_validate(data)
    header = (
        f"# Written by `taco lab up {state.name}`; removed by `taco lab down {state.name}`.\n"
    )
    state.site_file.write_text(header + yaml.safe_dump(data, sort_keys=False))
    load_site(state.site_file)
