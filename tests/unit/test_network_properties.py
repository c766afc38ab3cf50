"""Property tests of the network rules: random networks, addresses and CIDRs.

The expected answer comes from how each case is built (an offset inside the
network, halves of one block), never from re-running the rule under test.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from netaddr import IPAddress, IPNetwork  # type: ignore[import-untyped]

from taco.site.model import Site
from taco.site.validate import check_site

# Management networks come from 10.0.0.0/8 and 172.16.0.0/12; pod/service ranges
# in the overlap tests from 192.168.0.0/16 unless a test wants them to collide.
PRIVATE_BLOCKS = [IPNetwork("10.0.0.0/8"), IPNetwork("172.16.0.0/12")]


@st.composite
def networks(draw: st.DrawFn, smallest: int = 8, largest: int = 29,
             blocks: list[IPNetwork] = PRIVATE_BLOCKS) -> IPNetwork:
    """A random IPv4 network inside one of `blocks`."""
    block = draw(st.sampled_from(blocks))
    prefix = draw(st.integers(max(smallest, block.prefixlen), largest))
    count = 2 ** (prefix - block.prefixlen)
    index = draw(st.integers(0, count - 1))
    return IPNetwork((block.first + index * 2 ** (32 - prefix), prefix), version=4)


def _site(management: IPNetwork, node_address: str, **kubernetes: Any) -> Site:
    return Site.model_validate({
        "name": "prop",
        "networks": {"management": {"purpose": "management", "cidr": str(management)}},
        "kubernetes": {"pod_cidr": "192.168.0.0/17", "service_cidr": "192.168.128.0/17",
                       **kubernetes},
        "nodes": [{"name": "n1", "address": node_address, "roles": ["control-plane"]}],
    })


def _paths(site: Site) -> list[str]:
    return [issue.path for issue in check_site(site, "prop.yml")]


@given(networks(), st.data())
def test_any_host_address_inside_management_is_accepted(
    net: IPNetwork, data: st.DataObject
) -> None:
    # Hosts are first+1 .. last-1 (not the network or broadcast address).
    offset = data.draw(st.integers(1, net.size - 2))
    address = IPAddress(net.first + offset)
    assert _paths(_site(net, str(address))) == []


@given(networks(), st.data())
def test_any_address_outside_management_is_rejected(net: IPNetwork, data: st.DataObject) -> None:
    below = list(range(max(0, net.first - 1024), net.first))
    above = list(range(net.last + 1, min(2**32 - 1, net.last + 1024)))
    value = data.draw(st.sampled_from(below + above))
    issues = check_site(_site(net, str(IPAddress(value))), "prop.yml")
    outside = [i for i in issues if i.path == "nodes[0].address"]
    assert len(outside) == 1
    assert "outside network 'management'" in outside[0].message


@given(networks(largest=30))
def test_network_and_broadcast_addresses_are_rejected(net: IPNetwork) -> None:
    for edge in (net.network, net.broadcast):
        assert "nodes[0].address" in _paths(_site(net, str(edge)))


@given(networks(), st.data())
def test_api_vip_inside_management_and_free_is_accepted(
    net: IPNetwork, data: st.DataObject
) -> None:
    node, vip = data.draw(
        st.lists(st.integers(1, net.size - 2), min_size=2, max_size=2, unique=True)
    )
    site = _site(net, str(IPAddress(net.first + node)), api_vip=str(IPAddress(net.first + vip)))
    assert _paths(site) == []


@given(networks())
def test_api_vip_equal_to_a_node_address_is_rejected(net: IPNetwork) -> None:
    address = str(IPAddress(net.first + 1))
    assert _paths(_site(net, address, api_vip=address)) == ["kubernetes.api_vip"]


@given(networks(blocks=[IPNetwork("192.168.0.0/16")], smallest=17, largest=28), st.data())
def test_overlapping_pod_and_service_cidrs_are_always_flagged(
    pod: IPNetwork, data: st.DataObject
) -> None:
    # A service range inside (or around) the pod range: overlapping by construction.
    prefix = data.draw(st.integers(max(16, pod.prefixlen - 1), 30))
    inner = IPNetwork((pod.first, prefix), version=4).cidr
    site = _site(IPNetwork("10.77.0.0/24"), "10.77.0.11",
                 pod_cidr=str(pod), service_cidr=str(inner))
    issues = [i for i in check_site(site, "prop.yml") if i.path == "kubernetes.service_cidr"]
    assert len(issues) == 1
    assert "overlaps kubernetes.pod_cidr" in issues[0].message


@given(networks(blocks=[IPNetwork("192.168.0.0/16")], smallest=16, largest=28), st.booleans())
def test_disjoint_pod_and_service_cidrs_are_never_flagged(
    block: IPNetwork, swap: bool
) -> None:
    # The two halves of one block never overlap; the management network is elsewhere.
    low, high = block.subnet(block.prefixlen + 1)
    pod, service = (high, low) if swap else (low, high)
    site = _site(IPNetwork("10.77.0.0/24"), "10.77.0.11",
                 pod_cidr=str(pod), service_cidr=str(service))
    assert _paths(site) == []


@settings(max_examples=50)
@given(networks(), networks())
def test_site_network_overlapping_pod_cidr_is_flagged_exactly_when_it_overlaps(
    management: IPNetwork, pod: IPNetwork
) -> None:
    # Containment decides overlap for CIDR blocks: one of them holds the other's first address.
    overlapping = IPAddress(pod.first) in management or IPAddress(management.first) in pod
    site = _site(management, str(IPAddress(management.first + 1)), pod_cidr=str(pod))
    flagged = "networks.management.cidr" in _paths(site)
    assert flagged == overlapping


@given(networks(), networks(blocks=[IPNetwork("172.16.0.0/12")], smallest=12, largest=29),
       st.data())
def test_interface_address_follows_its_own_network(
    management: IPNetwork, storage: IPNetwork, data: st.DataObject
) -> None:
    inside = data.draw(st.booleans())
    if inside:
        value = storage.first + data.draw(st.integers(1, storage.size - 2))
    else:
        value = data.draw(st.sampled_from([storage.first - 1, storage.last + 1]))
    node = str(IPAddress(management.first + 1))
    site = Site.model_validate({
        "name": "prop",
        "networks": {
            "management": {"purpose": "management", "cidr": str(management)},
            "storage": {"purpose": "storage", "cidr": str(storage)},
        },
        "kubernetes": {"pod_cidr": "192.168.0.0/17", "service_cidr": "192.168.128.0/17"},
        "nodes": [{"name": "n1", "address": node, "roles": ["control-plane"],
                   "interfaces": [{"name": "eth1", "network": "storage",
                                   "address": str(IPAddress(value))}]}],
    })
    issues = check_site(site, "prop.yml")
    address_issues = [i for i in issues if i.path == "nodes[0].interfaces[0].address"
                      and "outside network 'storage'" in i.message]
    assert bool(address_issues) is not inside
