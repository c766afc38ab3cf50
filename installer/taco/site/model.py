"""The site model: the shape of a site file.

Shape and types are checked here (pydantic); cross-field rules that need network
arithmetic (addresses inside networks, overlaps, references) live in
`taco.site.validate`, so every problem of a file is reported in one pass.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Name = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"),
]
IfName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:-]{1,15}$")]


class Strict(BaseModel):
    """Base: unknown keys are errors, so a typo never silently does nothing."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class NodeRole(StrEnum):
    CONTROL_PLANE = "control-plane"
    WORKER = "worker"
    OPENSTACK_CONTROL = "openstack-control"
    COMPUTE = "compute"
    NETWORK = "network"
    STORAGE = "storage"


class NetworkPurpose(StrEnum):
    MANAGEMENT = "management"
    STORAGE = "storage"
    PROVIDER = "provider"
    TUNNEL = "tunnel"


class JumpHost(Strict):
    address: str
    user: str = "root"
    port: int = Field(default=22, ge=1, le=65535)


class SSHSettings(Strict):
    user: str = "root"
    port: int = Field(default=22, ge=1, le=65535)
    private_key: str | None = None
    # Host keys are checked against this file; collecting them is the operator's
    # (or `taco lab`'s) job, never switched off by default.
    known_hosts: str | None = None
    host_key_checking: bool = True
    jump_host: JumpHost | None = None
    become: bool = True


class Network(Strict):
    purpose: NetworkPurpose
    cidr: str
    gateway: str | None = None
    vlan: int | None = Field(default=None, ge=1, le=4094)
    mtu: int = Field(default=1500, ge=576, le=9216)
    # Provider networks name the physnet Neutron uses (bridge mappings).
    physnet: str | None = None


class Interface(Strict):
    name: IfName
    network: str | None = None
    address: str | None = None
    mtu: int | None = Field(default=None, ge=576, le=9216)
    mac: str | None = None


class Bond(Strict):
    name: IfName
    members: list[IfName] = Field(min_length=1)
    mode: Literal[
        "802.3ad", "active-backup", "balance-rr", "balance-xor", "balance-tlb", "balance-alb"
    ] = "active-backup"
    network: str | None = None
    address: str | None = None
    mtu: int | None = Field(default=None, ge=576, le=9216)


class Vlan(Strict):
    name: IfName
    parent: IfName
    id: int = Field(ge=1, le=4094)
    network: str
    address: str | None = None


class OvsBridge(Strict):
    name: IfName
    # Interfaces or bonds plugged into the bridge.
    ports: list[IfName] = []
    # Networks (purpose provider) carried by this bridge: physnet -> bridge mappings.
    networks: list[str] = []
    datapath_type: Literal["system", "netdev"] = "system"


class DiskUse(StrEnum):
    CEPH_OSD = "ceph-osd"
    CINDER_VOLUMES = "cinder-volumes"
    LOCAL_PATH = "local-path"
    CONTAINERD = "containerd"
    KUBELET = "kubelet"
    NOVA_INSTANCES = "nova-instances"


class Disk(Strict):
    # A stable path (/dev/disk/by-id/..., /dev/disk/by-path/...) or, in labs, a loop device.
    device: str
    use: DiskUse
    # Only honoured together with the run's explicit destructive flag.
    wipe: bool = False


class Node(Strict):
    name: Name
    address: str
    roles: list[NodeRole] = Field(min_length=1)
    # Stacked etcd: control-plane nodes are members unless this says otherwise.
    etcd: bool | None = None
    interfaces: list[Interface] = []
    bonds: list[Bond] = []
    vlans: list[Vlan] = []
    ovs_bridges: list[OvsBridge] = []
    disks: list[Disk] = []
    labels: dict[str, str] = {}
    # Per-node SSH overrides (port, user) for odd hosts.
    ssh_port: int | None = Field(default=None, ge=1, le=65535)
    ssh_user: str | None = None


class Kubernetes(Strict):
    version: str = Field(default="1.35.4", pattern=r"^1\.\d+\.\d+$")
    # A VIP on the management network, or an existing endpoint (host or host:port).
    api_vip: str | None = None
    api_endpoint: str | None = None
    api_port: int = Field(default=6443, ge=1, le=65535)
    pod_cidr: str = "10.244.0.0/16"
    service_cidr: str = "10.96.0.0/12"
    # calico: the Calico manifest from the artifact mirror. host-gw: the reference CNI
    # plugins (bridge + host-local) and a route per node; nodes must share one L2 network.
    cni: Literal["calico", "host-gw"] = "calico"
    # artifacts: containerd, runc and the CNI plugins from the artifact manifest (pinned,
    # checksummed). packages: the distribution's packages from the site's apt mirror.
    container_runtime_source: Literal["artifacts", "packages"] = "artifacts"
    cluster_name: Name = "taco"
    cert_sans: list[str] = []


class Mirrors(Strict):
    apt: str | None = None
    # A taco artifact mirror (`taco mirror serve`, or nginx over a `taco mirror sync` dir).
    artifacts: str | None = None
    registry: str | None = None
    # Another artifact manifest (same format as taco's own), relative to the site file.
    artifact_manifest: str | None = None
    # Digests recorded for files whose publisher gives none, relative to the site file.
    artifact_lock: str | None = None
    # Architectures artifacts are resolved and mirrored for.
    architectures: list[Literal["amd64", "arm64"]] = Field(
        default=["amd64", "arm64"], min_length=1
    )


class Proxy(Strict):
    http: str | None = None
    https: str | None = None
    no_proxy: list[str] = []


class Site(Strict):
    """A whole site: what `taco site -c FILE` reads."""

    name: Name
    ssh: SSHSettings = SSHSettings()
    networks: dict[Name, Network]
    nodes: list[Node] = Field(min_length=1)
    kubernetes: Kubernetes = Kubernetes()
    mirrors: Mirrors = Mirrors()
    proxy: Proxy = Proxy()
    dns_servers: list[str] = []
    ntp_servers: list[str] = []
    domain: str | None = None
    # Free-form extra variables handed to every host (escape hatch; shown by `taco plan`).
    extra_vars: dict[str, object] = {}
