"""The site model and loader on good input: examples, defaults, line maps, partial checks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError
from sitetext import MINIMAL_SITE

from taco.errors import SiteInvalid
from taco.inventory.build import build_inventory
from taco.site.load import load_site, load_site_text, parse_yaml
from taco.site.model import NetworkPurpose, NodeRole, Site
from taco.site.validate import LineMap, check_site, format_path, split_endpoint

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = [ROOT / "inventories" / name / "site.yml" for name in ("aio", "multinode")]

BRIEF_EXAMPLE = """\
name: demo
ssh: {user: root, private_key: /path/id_ed25519, known_hosts: /path/known_hosts,
      jump_host: {address: 10.88.0.2, user: root}}
networks:
  management: {purpose: management, cidr: 10.77.0.0/24, gateway: 10.77.0.1}
  storage:    {purpose: storage, cidr: 10.78.0.0/24}
  provider:   {purpose: provider, cidr: 10.79.0.0/24, physnet: physnet1}
kubernetes: {version: 1.35.4, api_vip: 10.77.0.100, pod_cidr: 10.244.0.0/16,
             service_cidr: 10.96.0.0/12}
nodes:
  - name: node1
    address: 10.77.0.11
    roles: [control-plane, worker, compute, network]
    interfaces:
      - {name: eth0, network: management, address: 10.77.0.11}
      - {name: eth1, network: storage, address: 10.78.0.11}
      - {name: eth2}
    ovs_bridges: [{name: br-ex, ports: [eth2], networks: [provider], datapath_type: netdev}]
    disks: [{device: /dev/loop7, use: cinder-volumes}]
"""

MINIMAL = MINIMAL_SITE


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.parent.name)
def test_example_sites_validate(path: Path) -> None:
    site = load_site(path)
    assert site.nodes
    assert check_site(site, str(path)) == []


def test_example_multinode_has_what_it_promises() -> None:
    site = load_site(EXAMPLES[1])
    control = [n for n in site.nodes if NodeRole.CONTROL_PLANE in n.roles]
    assert len(control) == 3
    assert any(n.bonds for n in site.nodes)
    assert any(n.vlans for n in site.nodes)
    assert any(n.ovs_bridges for n in site.nodes)
    assert any(n.disks for n in site.nodes)
    assert site.ssh.jump_host is not None
    purposes = {net.purpose for net in site.networks.values()}
    assert {NetworkPurpose.STORAGE, NetworkPurpose.PROVIDER} <= purposes


def test_brief_example_validates() -> None:
    site = load_site_text(BRIEF_EXAMPLE, "demo.yml")
    assert site.kubernetes.api_vip == "10.77.0.100"
    assert site.nodes[0].ovs_bridges[0].datapath_type == "netdev"


def test_defaults_of_a_minimal_site() -> None:
    site = load_site_text(MINIMAL, "mini.yml")
    assert site.kubernetes.version == "1.35.4"
    assert site.kubernetes.pod_cidr == "10.244.0.0/16"
    assert site.kubernetes.service_cidr == "10.96.0.0/12"
    # Host keys are checked unless the site says otherwise.
    assert site.ssh.host_key_checking is True
    assert site.ssh.become is True
    assert site.networks["management"].mtu == 1500


def test_embedded_aio_default_validates_once_filled_in() -> None:
    text = (ROOT / "installer" / "taco" / "data" / "aio.yml").read_text()
    site = load_site_text(text, "aio.yml")
    assert [n.name for n in site.nodes] == ["aio"]


@pytest.mark.parametrize("cni", ["calico", "host-gw"])
def test_cni_choices_are_accepted(cni: str) -> None:
    text = MINIMAL.replace("nodes:", f"kubernetes: {{cni: {cni}}}\nnodes:")
    site = load_site_text(text, "mini.yml")
    assert site.kubernetes.cni == cni
    assert build_inventory(site)["all"]["vars"]["taco_kubernetes"]["cni"] == cni


def test_cni_defaults_to_calico() -> None:
    assert load_site_text(MINIMAL, "mini.yml").kubernetes.cni == "calico"


def test_unknown_cni_is_refused_with_the_choices() -> None:
    text = MINIMAL.replace("nodes:", "kubernetes: {cni: flannel}\nnodes:")
    with pytest.raises(SiteInvalid) as raised:
        load_site_text(text, "mini.yml")
    issues = raised.value.issues
    assert [(i.path, i.line) for i in issues] == [("kubernetes.cni", 4)]
    assert "'flannel' is not allowed" in issues[0].message
    assert issues[0].hint == "allowed: calico, host-gw"


@pytest.mark.parametrize("source", ["artifacts", "packages"])
def test_container_runtime_source_reaches_the_inventory(source: str) -> None:
    text = MINIMAL.replace("nodes:", f"kubernetes: {{container_runtime_source: {source}}}\nnodes:")
    inventory = build_inventory(load_site_text(text, "mini.yml"))
    assert inventory["all"]["vars"]["taco_container_runtime_source"] == source


def test_unknown_container_runtime_source_is_refused() -> None:
    text = MINIMAL.replace("nodes:", "kubernetes: {container_runtime_source: docker}\nnodes:")
    with pytest.raises(SiteInvalid) as raised:
        load_site_text(text, "mini.yml")
    issue = raised.value.issues[0]
    assert issue.path == "kubernetes.container_runtime_source"
    assert issue.hint == "allowed: artifacts, packages"


def test_model_forbids_unknown_keys_and_is_frozen() -> None:
    with pytest.raises(ValidationError):
        Site.model_validate(
            {"name": "x", "networks": {}, "nodes": [{"name": "n", "address": "a",
                                                     "roles": ["worker"], "colour": "red"}]}
        )
    site = load_site_text(MINIMAL, "mini.yml")
    with pytest.raises(ValidationError):
        site.name = "other"


def test_line_map_records_keys_and_items() -> None:
    data, lines, issues = parse_yaml(BRIEF_EXAMPLE, "demo.yml")
    assert issues == []
    assert isinstance(data, dict)
    assert lines.line(("name",)) == 1
    assert lines.line(("ssh", "jump_host", "address")) == 3
    assert lines.line(("nodes", 0)) == 11
    assert lines.line(("nodes", 0, "interfaces", 1, "network")) == 16
    # A key the file does not have falls back to its nearest ancestor.
    assert lines.line(("nodes", 0, "interfaces", 1, "mtu")) == 16
    assert lines.line(("kubernetes", "cert_sans")) == 8


def test_line_map_translates_pruned_indices() -> None:
    lines = LineMap({("nodes", 0): 3, ("nodes", 2): 9, ("nodes", 2, "address"): 10},
                    kept={("nodes",): [0, 2]})
    assert lines.original(("nodes", 1, "address")) == ("nodes", 2, "address")
    assert lines.line(("nodes", 1, "address")) == 10
    assert lines.display(("nodes", 1, "address")) == "nodes[2].address"


@pytest.mark.parametrize(
    ("path", "text"),
    [
        ((), "(top level)"),
        (("nodes", 2, "interfaces", 0, "network"), "nodes[2].interfaces[0].network"),
        (("networks", "management", "cidr"), "networks.management.cidr"),
        (("nodes", 0, "labels", "topology.kubernetes.io/zone"),
         'nodes[0].labels["topology.kubernetes.io/zone"]'),
    ],
)
def test_format_path(path: tuple[str | int, ...], text: str) -> None:
    assert format_path(path) == text


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("api.example.com", ("api.example.com", None)),
        ("10.0.0.5:6443", ("10.0.0.5", 6443)),
        ("[fd00::5]:443", ("fd00::5", 443)),
        ("fd00::5", ("fd00::5", None)),
        ("api.example.com:99999", None),
        ("bad host", None),
        ("[fd00::5", None),
    ],
)
def test_split_endpoint(text: str, parsed: tuple[str, int | None] | None) -> None:
    assert split_endpoint(text) == parsed


def test_semantic_rules_still_run_beside_shape_errors() -> None:
    text = MINIMAL.replace(
        "  - {name: n1, address: 10.77.0.11, roles: [control-plane]}",
        "  - {name: n1, address: 10.99.0.11, roles: [control-plane], colour: red}\n"
        "  - {name: n2, address: 10.77.0.12, roles: [worker], ssh_port: 0}",
    )
    with pytest.raises(SiteInvalid) as raised:
        load_site_text(text, "mini.yml")
    paths = {i.path for i in raised.value.issues}
    # The unknown key and the bad port (shape) and the address outside the
    # management network (semantic, on the node with only an unknown key).
    assert paths == {"nodes[0].colour", "nodes[1].ssh_port", "nodes[0].address"}


def test_absence_rules_wait_when_entries_were_left_out() -> None:
    # The only control-plane node fails the shape check: "no control-plane node"
    # would be a wrong guess, so only the real problem is reported.
    text = MINIMAL.replace("roles: [control-plane]", "roles: [control-plan]")
    with pytest.raises(SiteInvalid) as raised:
        load_site_text(text, "mini.yml")
    assert [i.path for i in raised.value.issues] == ["nodes[0].roles[0]"]


def test_network_left_out_does_not_make_references_undefined() -> None:
    text = """\
name: mini
networks:
  management: {purpose: management, cidr: 10.77.0.0/24}
  storage: {purpose: storage, cidr: 10.78.0.0/24, mtu: 1}
nodes:
  - name: n1
    address: 10.77.0.11
    roles: [control-plane]
    interfaces: [{name: eth1, network: storage, address: 10.78.0.11}]
"""
    with pytest.raises(SiteInvalid) as raised:
        load_site_text(text, "mini.yml")
    assert [i.path for i in raised.value.issues] == ["networks.storage.mtu"]


def test_etcd_flag_overrides_membership() -> None:
    text = MINIMAL.replace(
        "  - {name: n1, address: 10.77.0.11, roles: [control-plane]}",
        "  - {name: n1, address: 10.77.0.11, roles: [control-plane]}\n"
        "  - {name: n2, address: 10.77.0.12, roles: [worker], etcd: true}\n"
        "  - {name: n3, address: 10.77.0.13, roles: [worker], etcd: true}",
    )
    assert [n.name for n in load_site_text(text, "x.yml").nodes] == ["n1", "n2", "n3"]
    even = text.replace("etcd: true}\n  - {name: n3", "etcd: false}\n  - {name: n3")
    with pytest.raises(SiteInvalid) as raised:
        load_site_text(even, "x.yml")
    assert "this site has 2 (n1, n3)" in raised.value.issues[0].message


def test_yaml_anchors_and_merge_keys_are_plain_yaml() -> None:
    text = MINIMAL.replace(
        "nodes:\n  - {name: n1, address: 10.77.0.11, roles: [control-plane]}",
        "extra_vars:\n  defaults: &node {roles: [worker]}\n"
        "nodes:\n  - {<<: *node, name: n1, address: 10.77.0.11, roles: [control-plane]}\n"
        "  - {<<: *node, name: n2, address: 10.77.0.12}",
    )
    site = load_site_text(text, "mini.yml")
    assert [n.roles for n in site.nodes] == [[NodeRole.CONTROL_PLANE], [NodeRole.WORKER]]


@pytest.mark.parametrize("text", [
    "a: 1\nb: [yes, no, ~, 1.5, 0o17, 0x1f, 1_000, '3', 2024-05-01, 1:20]\nc: {d: e}\n",
    "base: &b {x: 1, y: [1, 2]}\ncopy: *b\nlist: &l [a, b]\nagain: [*l, *l]\n",
    "base: &b {x: 1}\nmerged: {<<: *b, y: 2}\nover: {<<: [*b], x: 3}\n",
    "? [a, b]\n: unhashable\n",
    "dup: 1\ndup: 2\n1: one\ntrue: t\nnull: n\n",
    "tagged: !!str 12\nset: !!set {a, b}\nbinary: !!binary aGk=\nfloat: !!float 1\n",
])
def test_site_yaml_is_built_as_the_safe_loader_builds_it(text: str) -> None:
    try:
        expected: Any = yaml.safe_load(text)
    except yaml.YAMLError as error:
        expected = error
    data, _, issues = parse_yaml(text, "t.yml")
    if isinstance(expected, yaml.YAMLError):
        assert data is None
        assert [issue.message for issue in issues] == [f"not valid YAML: {expected.problem} "
                                                       f"{expected.context}"]
    else:
        assert data == expected
        assert repr(data) == repr(expected)  # same types too (1 vs 1.0 vs True)


def test_aliases_share_one_value_as_with_the_safe_loader() -> None:
    data, _, _ = parse_yaml("base: &b {x: [1]}\ncopy: *b\n", "t.yml")
    assert data["copy"] is data["base"]


def _ca_pem() -> tuple[str, str]:
    """A self-signed CA certificate and its key, both PEM."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test site CA")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem.decode()


def test_registry_ca_is_read_relative_to_the_site_file(tmp_path: Path) -> None:
    cert, _ = _ca_pem()
    (tmp_path / "pki").mkdir()
    # Text around the certificate (as `openssl x509 -text` writes) does not travel on.
    (tmp_path / "pki" / "ca.pem").write_text("Certificate:\n  Data: ...\n" + cert)
    site_file = tmp_path / "site.yml"
    site_file.write_text(MINIMAL.replace(
        "nodes:", "mirrors: {registry: 10.77.0.2:5000, registry_ca: pki/ca.pem}\nnodes:"))
    site = load_site(site_file)
    assert site.mirrors.registry_ca == str(tmp_path / "pki" / "ca.pem")
    mirrors = build_inventory(site)["all"]["vars"]["taco_mirrors"]
    assert mirrors["registry"] == "10.77.0.2:5000"
    assert mirrors["registry_ca"] == cert


def test_registry_ca_defaults_to_none_in_the_inventory() -> None:
    inventory = build_inventory(load_site_text(MINIMAL, "mini.yml"))
    assert inventory["all"]["vars"]["taco_mirrors"]["registry_ca"] is None


@pytest.mark.parametrize("repository", [None, "10.77.0.2:5000/registry.k8s.io",
                                        "registry.example.com/k8s", "localhost:5000"])
def test_image_repository_reaches_the_inventory(repository: str | None) -> None:
    text = MINIMAL if repository is None else MINIMAL.replace(
        "nodes:", f"kubernetes: {{image_repository: '{repository}'}}\nnodes:")
    kube = build_inventory(load_site_text(text, "mini.yml"))["all"]["vars"]["taco_kubernetes"]
    assert kube["image_repository"] == (repository or "registry.k8s.io")
