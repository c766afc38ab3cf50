"""Bad site files: each problem is reported with file, field path, line and a fix.

Every fixture under tests/fixtures/sites/bad/ holds one mistake (many_problems.yml
holds several); the table says where taco must point and what it must say.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sitetext import MINIMAL_SITE

from taco.artifacts.ca import CA_CERT, CA_KEY, ensure_ca
from taco.errors import SiteInvalid, SiteIssue
from taco.site.load import load_site, load_site_text

BAD = Path(__file__).resolve().parents[1] / "fixtures" / "sites" / "bad"

# fixture, field path, line, phrase (in message or hint), number of issues in the file
CASES: list[tuple[str, str, int | None, str, int]] = [
    ("unknown_key.yml", "nodes[0].adress", 6, "did you mean 'address'?", 2),
    ("role_enum.yml", "nodes[0].roles[1]", 9, "did you mean 'compute'?", 1),
    ("yaml_syntax.yml", "(top level)", 7, "line 7, column 4", 1),
    ("node_outside_management.yml", "nodes[0].address", 6,
     "outside network 'management' (10.77.0.0/24)", 1),
    ("broadcast_address.yml", "nodes[0].interfaces[0].address", 12,
     "broadcast address of network 'storage'", 1),
    ("gateway_outside.yml", "networks.management.gateway", 6, "gateway 10.1.0.1 is outside", 1),
    ("duplicate_node_name.yml", "nodes[1].name", 6, "already used by nodes[0]", 1),
    ("duplicate_address.yml", "nodes[1].address", 7, "already used by node node1", 1),
    ("duplicate_interface_name.yml", "nodes[0].bonds[0].name", 12,
     "already used by nodes[0].interfaces[0]", 1),
    ("pod_service_overlap.yml", "kubernetes.service_cidr", 6, "overlaps kubernetes.pod_cidr", 1),
    ("network_overlaps_default_pod_cidr.yml", "networks.storage.cidr", 4,
     "pod_cidr is the default 10.244.0.0/16", 1),
    ("vip_outside_management.yml", "kubernetes.api_vip", 5, "outside network 'management'", 1),
    ("vip_in_use.yml", "kubernetes.api_vip", 5, "already used by node node2", 1),
    ("vip_and_endpoint.yml", "kubernetes.api_endpoint", 6, "both set", 1),
    ("multi_control_plane_no_vip.yml", "kubernetes", 4, "no api_vip or api_endpoint", 1),
    ("two_management_networks.yml", "networks.backup.purpose", 5,
     "more than one management network", 1),
    ("undefined_network.yml", "nodes[0].interfaces[0].network", 10,
     "did you mean 'management'?", 1),
    ("vlan_undefined_network.yml", "nodes[0].vlans[0].network", 11,
     "did you mean 'tunnel'?", 1),
    ("vlan_parent_missing.yml", "nodes[0].vlans[0].parent", 11, "parent 'eth1' is not defined", 1),
    ("vlan_id_mismatch.yml", "nodes[0].vlans[0].id", 13, "set id: 80", 1),
    ("bond_member_missing.yml", "nodes[0].bonds[0].members[1]", 13,
     "'eth3' is not an interface of node node1", 1),
    ("bond_member_twice.yml", "nodes[0].bonds[1].members[0]", 11,
     "already a member of bond bond0", 1),
    ("bond_member_with_address.yml", "nodes[0].interfaces[0].address", 12,
     "move the address to bond bond0", 2),
    ("bridge_port_missing.yml", "nodes[0].ovs_bridges[0].ports[0]", 12,
     "port 'eth3' is not defined", 1),
    ("bridge_port_twice.yml", "nodes[0].ovs_bridges[1].ports[0]", 11,
     "already plugged into bridge br-ex", 1),
    ("bridge_network_not_provider.yml", "nodes[0].ovs_bridges[0].networks[0]", 14,
     "provider networks only", 1),
    ("bridge_network_no_physnet.yml", "nodes[0].ovs_bridges[0].networks[0]", 13,
     "has no physnet", 1),
    ("no_control_plane.yml", "nodes", 4, "no node has the role control-plane", 2),
    ("etcd_even.yml", "nodes", 6, "odd number of members, this site has 2", 1),
    ("disk_not_under_dev.yml", "nodes[0].disks[0].device", 9, "not a device path under /dev", 1),
    ("disk_duplicate.yml", "nodes[0].disks[1].device", 10, "already listed as disks[0]", 1),
    ("private_key_contents.yml", "ssh.private_key", 3, "not the file's contents", 1),
    ("version_unsupported.yml", "kubernetes.version", 5, "default 1.35.4", 1),
    ("version_unquoted_float.yml", "kubernetes.version", 5, "quote it", 1),
    ("address_with_prefix.yml", "nodes[0].address", 6, "without a prefix: 10.77.0.11", 1),
    ("cidr_host_bits.yml", "networks.management.cidr", 5, "did you mean 10.77.0.0/24?", 1),
    ("bad_network_name.yml", "networks.Management", 3, "lowercase letters", 1),
    ("duplicate_key.yml", "nodes[0].address", 8, "duplicate key 'address'", 1),
    ("mtu_out_of_range.yml", "networks.management.mtu", 6, "from 576 to 9216", 1),
    ("missing_networks.yml", "networks", 2, "required key 'networks' is missing", 1),
    ("network_purpose_enum.yml", "networks.management.purpose", 4,
     "allowed: management, storage, provider, tunnel", 1),
]


def _issues(name: str) -> list[SiteIssue]:
    path = BAD / name
    with pytest.raises(SiteInvalid) as raised:
        load_site(path)
    return raised.value.issues


@pytest.mark.parametrize(
    ("fixture", "field", "line", "phrase", "count"), CASES, ids=[c[0] for c in CASES]
)
def test_bad_site_points_at_field_line_and_fix(
    fixture: str, field: str, line: int | None, phrase: str, count: int
) -> None:
    issues = _issues(fixture)
    matching = [i for i in issues if i.path == field]
    assert matching, f"no issue at {field}; got {[i.render() for i in issues]}"
    issue = next((i for i in matching if phrase in f"{i.message} {i.hint}"), None)
    assert issue is not None, [i.render() for i in matching]
    assert issue.file == str(BAD / fixture)
    assert issue.line == line
    assert issue.hint, "every issue says how to fix it"
    assert len(issues) == count, [i.render() for i in issues]


def test_at_least_twenty_distinct_bad_sites() -> None:
    fixtures = {p.name for p in BAD.glob("*.yml")}
    tested = {case[0] for case in CASES}
    assert len(tested) >= 20
    assert tested <= fixtures
    # Every fixture is exercised somewhere in this module.
    assert fixtures - tested == {"many_problems.yml"}


def test_every_problem_of_a_file_is_reported_at_once() -> None:
    issues = _issues("many_problems.yml")
    found = {(i.path, i.line) for i in issues}
    assert found == {
        ("networks.storage.cidr", 5),  # overlaps the default service_cidr
        ("kubernetes.version", 7),  # unsupported version
        ("nodes[0].interfaces[0].mtuu", 13),  # unknown key (shape)
        ("nodes[0].interfaces[1].address", 14),  # outside its network
        ("nodes[0].disks[1].device", 17),  # listed twice
        ("nodes[1].roles[0]", 20),  # unknown role (shape)
        # node2 failed the shape check; node3 is still checked, under its own index
        ("nodes[2].address", 22),
    }
    # Reported in file order, so the output reads like the file.
    lines = [i.line or 0 for i in issues]
    assert lines == sorted(lines)


def test_render_names_file_line_path_and_fix() -> None:
    with pytest.raises(SiteInvalid) as raised:
        load_site(BAD / "undefined_network.yml")
    text = raised.value.render()
    assert f"{BAD / 'undefined_network.yml'}:10: nodes[0].interfaces[0].network:" in text
    assert "fix: networks are defined under networks:; did you mean 'management'?" in text
    assert raised.value.exit_code == 2


def test_missing_file_is_site_invalid(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yml"
    with pytest.raises(SiteInvalid) as raised:
        load_site(missing)
    (issue,) = raised.value.issues
    assert issue.file == str(missing)
    assert "does not exist" in issue.message
    assert issue.hint


def test_directory_is_site_invalid(tmp_path: Path) -> None:
    with pytest.raises(SiteInvalid) as raised:
        load_site(tmp_path)
    assert "directory" in raised.value.issues[0].message


def test_unreadable_bytes_are_site_invalid(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yml"
    path.write_bytes(b"name: caf\xe9\n")
    with pytest.raises(SiteInvalid) as raised:
        load_site(path)
    assert "UTF-8" in raised.value.issues[0].message


@pytest.mark.parametrize(
    ("text", "phrase"),
    [
        ("", "empty"),
        ("# only a comment\n", "empty"),
        ("- name: a\n", "must be a mapping"),
        ("just text\n", "must be a mapping"),
        ("a: 1\n---\nb: 2\n", "not valid YAML"),
        ("name: [unclosed\n", "not valid YAML"),
    ],
)
def test_not_a_site_document(text: str, phrase: str) -> None:
    with pytest.raises(SiteInvalid) as raised:
        load_site_text(text, "site.yml")
    (issue,) = raised.value.issues
    assert issue.file == "site.yml"
    assert phrase in issue.message
    assert issue.hint


def test_tab_indentation_hint() -> None:
    text = "name: a\nnodes:\n\t- name: b\n"
    with pytest.raises(SiteInvalid) as raised:
        load_site_text(text, "site.yml")
    (issue,) = raised.value.issues
    assert issue.line == 3
    assert "never tabs" in issue.hint


def test_wrong_container_types_say_what_to_write() -> None:
    text = (
        "name: demo\n"
        "networks:\n"
        "  management: {purpose: management, cidr: 10.77.0.0/24}\n"
        "dns_servers: 10.0.0.1\n"
        "ssh:\n"
        "  host_key_checking: maybe\n"
        "nodes:\n"
        "  - {name: n1, address: 10.77.0.11, roles: [control-plane], labels: {rack: 1}}\n"
    )
    with pytest.raises(SiteInvalid) as raised:
        load_site_text(text, "site.yml")
    by_path = {i.path: i for i in raised.value.issues}
    assert by_path["dns_servers"].line == 4
    assert "YAML list" in by_path["dns_servers"].hint
    assert by_path["ssh.host_key_checking"].hint == "use true or false"
    assert by_path["nodes[0].labels.rack"].line == 8
    assert "quote it" in by_path["nodes[0].labels.rack"].hint
    assert len(raised.value.issues) == 3


def test_label_keys_with_dots_are_rendered_unambiguously() -> None:
    text = (
        "name: demo\n"
        "networks:\n"
        "  management: {purpose: management, cidr: 10.77.0.0/24}\n"
        "nodes:\n"
        "  - name: n1\n"
        "    address: 10.77.0.11\n"
        "    roles: [control-plane]\n"
        "    labels:\n"
        "      example.com/zone: -bad-\n"
    )
    with pytest.raises(SiteInvalid) as raised:
        load_site_text(text, "site.yml")
    (issue,) = raised.value.issues
    assert issue.path == 'nodes[0].labels["example.com/zone"]'
    assert issue.line == 9
    assert "label value" in issue.message


def _ca_files(tmp_path: Path) -> tuple[Path, Path]:
    """ca.pem and ca-key.pem of a site CA in tmp_path (made as `taco mirror serve` makes it)."""
    ensure_ca(tmp_path)
    return tmp_path / CA_CERT, tmp_path / CA_KEY


def _mirror_issues(tmp_path: Path, mirrors: str, kubernetes: str = "") -> list[SiteIssue]:
    site_file = tmp_path / "site.yml"
    site_file.write_text(MINIMAL_SITE.replace("nodes:", f"mirrors: {mirrors}\n{kubernetes}nodes:"))
    with pytest.raises(SiteInvalid) as raised:
        load_site(site_file)
    return raised.value.issues


@pytest.mark.parametrize(("mirrors", "message", "hint"), [
    ("{registry: 10.77.0.2:5000, registry_ca: nope.pem}", "nope.pem does not exist",
     "relative to the site file"),
    ("{registry: 10.77.0.2:5000, registry_ca: site.yml}", "site.yml holds no PEM certificate",
     "taco mirror serve"),
    ("{registry: 10.77.0.2:5000, registry_ca: ca-key.pem}", "ca-key.pem holds a private key",
     "never ca-key.pem"),
    ("{registry_ca: ca.pem}", "mirrors.registry is not", "set mirrors.registry"),
    ("{registry: 'http://10.77.0.2:5000', registry_ca: ca.pem}", "plain HTTP",
     "write the mirror as https://host:port"),
])
def test_registry_ca_problems_name_the_field_and_fix(
    tmp_path: Path, mirrors: str, message: str, hint: str
) -> None:
    _ca_files(tmp_path)
    issues = _mirror_issues(tmp_path, mirrors)
    assert [(i.path, i.line) for i in issues] == [("mirrors.registry_ca", 4)]
    assert message in issues[0].message
    assert hint in issues[0].hint
    assert issues[0].file == str(tmp_path / "site.yml")
    # The key's content never reaches the report.
    assert "BEGIN" not in issues[0].render()


def test_registry_ca_with_an_https_mirror_is_accepted(tmp_path: Path) -> None:
    _ca_files(tmp_path)
    site_file = tmp_path / "site.yml"
    site_file.write_text(MINIMAL_SITE.replace(
        "nodes:", "mirrors: {registry: 'https://10.77.0.2:5000', registry_ca: ca.pem}\nnodes:"))
    assert load_site(site_file).mirrors.registry_ca == str(tmp_path / "ca.pem")


@pytest.mark.parametrize("repository", ["https://10.77.0.2:5000/registry.k8s.io",
                                        "registry.k8s.io/pause:3.10.1", "Registry K8s"])
def test_image_repository_must_be_a_registry_path(tmp_path: Path, repository: str) -> None:
    issues = _mirror_issues(tmp_path, "{}", f"kubernetes: {{image_repository: '{repository}'}}\n")
    assert [(i.path, i.line) for i in issues] == [("kubernetes.image_repository", 5)]
    assert "without a scheme" in issues[0].hint
