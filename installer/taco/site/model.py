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
    # Where kubeadm pulls the control-plane images and where the pause image comes from.
    # Keep registry.k8s.io with mirrors.registry: containerd sends its pulls to the mirror
    # by the upstream name. Or name the mirror's path for it (mirror:5000/registry.k8s.io).
    image_repository: str = "registry.k8s.io"


class Mirrors(Strict):
    apt: str | None = None
    # A taco artifact mirror (`taco mirror serve`, or nginx over a `taco mirror sync` dir).
    artifacts: str | None = None
    # The container registry mirror: host[:port] (HTTPS) or http(s)://host[:port].
    registry: str | None = None
    # PEM file of the CA that signed the registry mirror's certificate, relative to the
    # site file; the nodes trust it for the mirror only.
    registry_ca: str | None = None
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


class HelmRepository(Strict):
    name: Name
    # A chart repository (its index.yaml); a local one for air-gapped sites.
    url: str = Field(pattern=r"^https?://\S+$")


OPENSTACK_HELM_REPOSITORY = HelmRepository(
    name="openstack-helm", url="https://tarballs.opendev.org/openstack/openstack-helm"
)


class Helm(Strict):
    """Helm on the control planes (phase `helm`)."""

    repositories: list[HelmRepository] = [OPENSTACK_HELM_REPOSITORY]


class TektonDashboard(Strict):
    """How the Tekton Dashboard is reached. Read-only unless the site says otherwise."""

    # nodeport: a NodePort Service on every node's address; ingress: an Ingress for
    # ingress_host (the cluster needs an ingress controller); none: kubectl port-forward.
    expose: Literal["none", "nodeport", "ingress"] = "nodeport"
    node_port: int = Field(default=30097, ge=30000, le=32767)
    ingress_host: str | None = None
    # The IngressClass to use; unset: the cluster's default class.
    ingress_class: Name | None = None
    # true: Tekton's release.yaml (views only); false: release-full.yaml (can create,
    # rerun and delete runs, so anyone reaching the dashboard can).
    read_only: bool = True


class Tekton(Strict):
    """Tekton Pipelines, Triggers (with interceptors) and Dashboard (phase `tekton`)."""

    dashboard: TektonDashboard = TektonDashboard()
    # Seconds each component's Deployments may take to become Available.
    ready_timeout: int = Field(default=300, ge=10, le=3600)


# How often Prow's periodic job runs: a Go duration of hours/minutes (6h, 90m, 1h30m).
ProwInterval = Annotated[str, StringConstraints(pattern=r"^(\d+h)?(\d+m)?$", min_length=2)]
# A GitHub login (org) or repository name.
GitHubName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")]


class ProwJobs(Strict):
    """The ProwJobs that run the site's chart pipeline (each starts one PipelineRun)."""

    # On pull requests: a dry run of the pipeline (helm lint / --dry-run).
    presubmit: bool = True
    # On merge to `branch`: the real deployment.
    postsubmit: bool = True
    branch: str = Field(default="main", pattern=r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,99}$")
    # Drift check: a dry run on a schedule; give interval or cron, or neither to skip it.
    periodic_interval: ProwInterval | None = "24h"
    periodic_cron: str | None = None
    # How long one job may wait for its PipelineRun (Go duration: 2h, 90m).
    timeout: ProwInterval = "2h"


class Prow(Strict):
    """Prow (phase `prow`): GitHub webhooks start the chart pipeline. Opt-in: Prow needs
    GitHub (or GitHub Enterprise) reachable from the cluster; it cannot run air-gapped.
    The jobs run the handover phase's Pipeline (named after the site, in
    charts.pipeline_namespace), so an enabled Prow needs charts.apply_pipeline."""

    enabled: bool = False
    # The DNS name GitHub posts webhooks to: https://<host>/hook (also Deck's address).
    host: str | None = None
    # The GitHub organisation (or user) that owns the repositories.
    org: GitHubName | None = None
    # Repositories of `org` holding the chart manifest and values (e.g. site-config).
    repos: list[GitHubName] = []
    # A GitHub App's id; the secrets file then holds its private key. Unset: a token.
    github_app_id: int | None = Field(default=None, ge=1)
    # YAML (may be Ansible Vault encrypted), relative to the site file: hmac_token, and
    # github_app_private_key (with github_app_id) or github_token. Read on the deploy host.
    secrets_file: str | None = None
    # The label a reviewer sets to allow a merge that deploys (Tide requires it).
    approval_label: str = "approved-for-deploy"
    jobs: ProwJobs = ProwJobs()
    # Tag of every Prow image (components and pod utilities alike); unset: the tag the
    # pinned starter manifest uses.
    image_tag: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
    # Where Prow's images are pulled from (a registry mirror for sites without the internet).
    image_registry: str = Field(default="us-docker.pkg.dev/k8s-infra-prow/images",
                                pattern=r"^[a-z0-9.-]+(:\d+)?(/[a-z0-9._-]+)*$")
    # The image job pods run in to start the PipelineRun: it needs kubectl and a POSIX shell.
    job_image: str = Field(default="docker.io/alpine/k8s:1.35.4", pattern=r"^\S+$")
    # IngressClass of the Ingress for `host`; unset: the cluster's default class.
    ingress_class: Name | None = None
    # StorageClass for ghproxy's cache and the job logs (minio); unset: emptyDir volumes
    # (lost when the pod moves; fine for a lab).
    storage_class: Name | None = None
    # Seconds Prow's Deployments may take to become Available.
    ready_timeout: int = Field(default=300, ge=10, le=3600)


# A Go duration as Helm and Tekton read it: 90s, 10m, 1h30m.
Duration = Annotated[str, StringConstraints(min_length=2, pattern=r"^(\d+h)?(\d+m)?(\d+s)?$")]


class Chart(Strict):
    """One Helm release of the chart pipeline; its name is the release and the task name."""

    name: Name
    # "<repository>/<chart>" with the repository one of helm.repositories, or a chart
    # directory relative to the site file, starting with ./ or ../ (or absolute).
    chart: str = Field(min_length=1)
    # Empty: the newest version the repository offers (pin it for anything but a lab).
    version: str | None = None
    namespace: Name = "openstack"
    # Values files relative to the site file, applied after taco's rendered values.
    values: list[str] = []
    # Charts (of any group) that must be deployed first.
    depends_on: list[Name] = []
    # helm --timeout; the pipeline task gets a margin on top for --atomic's rollback.
    timeout: Duration = "10m"


class ChartGroup(Strict):
    """Charts deployed together; every chart of a group waits for the whole previous group."""

    name: Name
    charts: list[Chart] = Field(min_length=1)


class ChartEnvironment(Strict):
    """What differs between environments (dev, stage, prod): one PipelineRun template each."""

    # Chart name -> values files (relative to the site file), applied after the chart's own.
    values: dict[Name, list[str]] = {}
    # The ServiceAccount the pipeline's pods run as (it needs the rights Helm needs).
    service_account: Name = "taco-chart-deployer"
    # The whole run's limit; empty: the longest chain of chart timeouts plus the cleanup.
    timeout: Duration | None = None


class Charts(Strict):
    """The chart deployment stage's input (phase `handover`): chart groups become a pipeline."""

    # The environment this site is; its PipelineRun template is the one `start_run` uses.
    environment: Name = "dev"
    # In deployment order.
    groups: list[ChartGroup] = []
    # Environments with their own values; the site's environment is always present.
    environments: dict[Name, ChartEnvironment] = {}
    # Where the Tasks, the Pipeline, the values ConfigMap and the runs live.
    pipeline_namespace: Name = "taco-charts"
    # The image the pipeline's Helm steps run in (must carry helm and a POSIX shell).
    helm_image: str = Field(default="docker.io/alpine/helm:3.18.4", pattern=r"^\S+$")
    # Storage class for charts that claim volumes (mariadb, rabbitmq, ...); empty: the
    # charts' own default.
    storage_class: Name | None = None
    # Apply the Task, Pipeline and values to the cluster (else they only land in the bundle).
    apply_pipeline: bool = False
    # Also start a PipelineRun of this site's environment (needs apply_pipeline).
    start_run: bool = False


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
    helm: Helm = Helm()
    tekton: Tekton = Tekton()
    prow: Prow = Prow()
    charts: Charts = Charts()
    # Free-form extra variables handed to every host (escape hatch; shown by `taco plan`).
    extra_vars: dict[str, object] = {}
