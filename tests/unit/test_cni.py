"""The cni role's decisions: the Calico manifest patch, node pod subnets, host-gw routes.

Calico's own manifest is not reachable here (no internet, and it is not copied into the
repository), so the patch runs on tests/fixtures/cni/calico-shape.yaml: a hand-written file
with the same shape. The route module's `ip -j` sample was printed by iproute2 6.1 (Debian
bookworm) on a lab node; the module itself runs for real in roles/cni/molecule.
"""

from __future__ import annotations

import copy
import ipaddress
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from ansible.errors import AnsibleFilterError
from hypothesis import given
from hypothesis import strategies as st
from rolecode import load_module

ROOT = Path(__file__).resolve().parents[2]
ROLE = ROOT / "roles" / "cni"
SHAPE = ROOT / "tests" / "fixtures" / "cni" / "calico-shape.yaml"




filters = load_module(ROLE / "filter_plugins" / "cni_filters.py", "taco_test_cni_filters")
routes_mod = load_module(ROLE / "library" / "cni_host_routes.py", "taco_test_cni_host_routes")


def _docs(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text) if d is not None]


def _container(docs: list[dict[str, Any]], kind: str, name: str, container: str
               ) -> dict[str, Any]:
    doc = next(d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name)
    return next(c for c in doc["spec"]["template"]["spec"]["containers"]
                if c["name"] == container)


# -- Calico manifest ------------------------------------------------------------------------


def test_pod_cidr_is_added_to_calico_node_only() -> None:
    original = _docs(SHAPE.read_text())
    patched = _docs(filters.cni_calico_manifest(
        SHAPE.read_text(), {"CALICO_IPV4POOL_CIDR": "10.244.0.0/16"}))
    env = _container(patched, "DaemonSet", "calico-node", "calico-node")["env"]
    assert env[-1] == {"name": "CALICO_IPV4POOL_CIDR", "value": "10.244.0.0/16"}
    # Everything else is as parsed: same documents, same order, the original env before it.
    assert env[:-1] == _container(original, "DaemonSet", "calico-node", "calico-node")["env"]
    expected = copy.deepcopy(original)
    _container(expected, "DaemonSet", "calico-node", "calico-node")["env"] = env
    assert patched == expected
    # The commented-out upstream default is gone with the comments; the real value is set once.
    assert [e["name"] for e in env].count("CALICO_IPV4POOL_CIDR") == 1


def test_existing_entry_is_replaced_in_place_and_value_from_dropped() -> None:
    docs = _docs(SHAPE.read_text())
    env = _container(docs, "DaemonSet", "calico-node", "calico-node")["env"]
    env.insert(1, {"name": "CALICO_IPV4POOL_CIDR", "value": "192.168.0.0/16"})
    env.insert(2, {"name": "IP_AUTODETECTION_METHOD",
                   "valueFrom": {"configMapKeyRef": {"name": "x", "key": "y"}}})
    text = yaml.safe_dump_all(docs)
    patched = _docs(filters.cni_calico_manifest(text, {
        "CALICO_IPV4POOL_CIDR": "10.10.0.0/16",
        "IP_AUTODETECTION_METHOD": "cidr=10.77.0.0/24"}))
    env = _container(patched, "DaemonSet", "calico-node", "calico-node")["env"]
    assert env[1] == {"name": "CALICO_IPV4POOL_CIDR", "value": "10.10.0.0/16"}
    assert env[2] == {"name": "IP_AUTODETECTION_METHOD", "value": "cidr=10.77.0.0/24"}
    assert len(env) == 7


class _Tagged(str):
    """A str subclass, as Ansible 2.19 hands templated values to filters."""


def test_string_subclasses_are_written_as_plain_strings() -> None:
    patched = filters.cni_calico_manifest(
        SHAPE.read_text(), {_Tagged("CALICO_IPV4POOL_CIDR"): _Tagged("10.244.0.0/16")},
        annotations={_Tagged("taco.dev/calico-revision"): _Tagged("abc")})
    env = _container(_docs(patched), "DaemonSet", "calico-node", "calico-node")["env"]
    assert env[-1] == {"name": "CALICO_IPV4POOL_CIDR", "value": "10.244.0.0/16"}


def test_patch_is_stable() -> None:
    env = {"CALICO_IPV4POOL_CIDR": "10.244.0.0/16"}
    once = filters.cni_calico_manifest(SHAPE.read_text(), env)
    assert filters.cni_calico_manifest(once, env) == once


def test_values_stay_strings_after_the_round_trip() -> None:
    patched = filters.cni_calico_manifest(SHAPE.read_text(), {"CALICO_IPV4POOL_CIDR": "1.2.0.0/16"})
    config = next(d for d in _docs(patched) if d["kind"] == "ConfigMap")
    assert config["data"]["veth_mtu"] == "0"
    assert json.loads(config["data"]["cni_network_config"])["name"] == "k8s-pod-network"
    init = next(d for d in _docs(patched) if d["kind"] == "DaemonSet")
    assert init["spec"]["template"]["spec"]["initContainers"][0]["env"][0]["value"] == \
        "10-calico.conflist"


@pytest.mark.parametrize(("text", "phrase"), [
    ("kind: ConfigMap\napiVersion: v1\nmetadata: {name: x}\n", "found 0"),
    ("a: [b\n", "not valid YAML"),
    ("--- 3\n", "must be a mapping"),
])
def test_not_a_calico_manifest(text: str, phrase: str) -> None:
    with pytest.raises(AnsibleFilterError, match=phrase):
        filters.cni_calico_manifest(text, {"CALICO_IPV4POOL_CIDR": "10.0.0.0/16"})


def test_two_calico_node_daemonsets_are_refused() -> None:
    docs = _docs(SHAPE.read_text())
    daemonset = next(d for d in docs if d["kind"] == "DaemonSet")
    with pytest.raises(AnsibleFilterError, match="found 2"):
        filters.cni_calico_manifest(yaml.safe_dump_all([*docs, daemonset]), {})


def test_missing_container_is_refused() -> None:
    docs = _docs(SHAPE.read_text())
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    deployment["kind"] = "DaemonSet"
    deployment["metadata"]["name"] = "calico-node-2"
    text = yaml.safe_dump_all(docs)
    with pytest.raises(AnsibleFilterError,
                       match=r"no container calico-node \(containers: calico-kube-controllers\)"):
        filters.cni_calico_manifest(text, {}, daemonset="calico-node-2")


def test_env_values_must_be_strings() -> None:
    with pytest.raises(AnsibleFilterError, match="must be a string"):
        filters.cni_calico_manifest(SHAPE.read_text(), {"FELIX_MTU": 1400})


def test_revision_annotation_goes_on_the_daemonset_only() -> None:
    patched = _docs(filters.cni_calico_manifest(
        SHAPE.read_text(), {"CALICO_IPV4POOL_CIDR": "10.244.0.0/16"},
        annotations={"taco.dev/calico-revision": "abc"}))
    annotated = [d["metadata"]["name"] for d in patched
                 if (d["metadata"].get("annotations") or {}).get("taco.dev/calico-revision")]
    assert annotated == ["calico-node"]


# -- Node pod subnets -----------------------------------------------------------------------

HOSTS = {"cp1": "10.77.0.11", "w1": "10.77.0.21", "w2": "10.77.0.5"}
NO_NODES: dict[str, Any] = {"items": []}


def _nodes(cidrs: dict[str, str | None]) -> dict[str, Any]:
    return {"items": [{"metadata": {"name": name}, "spec": {"podCIDR": cidr} if cidr else {}}
                      for name, cidr in cidrs.items()]}


def test_derived_subnets_follow_the_management_address() -> None:
    subnets = filters.cni_node_pod_subnets(HOSTS, NO_NODES, "10.244.0.0/16", 24, "10.77.0.0/24")
    assert subnets == {
        "cp1": {"subnet": "10.244.11.0/24", "source": "derived"},
        "w1": {"subnet": "10.244.21.0/24", "source": "derived"},
        "w2": {"subnet": "10.244.5.0/24", "source": "derived"},
    }
    # A node added later does not move the others.
    more = filters.cni_node_pod_subnets({**HOSTS, "a0": "10.77.0.2"}, NO_NODES,
                                        "10.244.0.0/16", 24, "10.77.0.0/24")
    assert {h: more[h] for h in HOSTS} == subnets
    assert more["a0"]["subnet"] == "10.244.2.0/24"


def test_derived_subnets_with_other_sizes() -> None:
    subnets = filters.cni_node_pod_subnets({"n": "192.168.8.70"}, NO_NODES, "10.8.0.0/14",
                                           26, "192.168.8.0/22")
    # offset 70 (192.168.8.70 - 192.168.8.0) * 64 addresses = 4480 = 17 * 256 + 128
    assert subnets["n"]["subnet"] == "10.8.17.128/26"


def test_cluster_values_win() -> None:
    nodes = _nodes({"cp1": "10.244.0.0/24", "w1": "10.244.1.0/24", "w2": "10.244.2.0/24",
                    "other": "10.244.3.0/24"})
    subnets = filters.cni_node_pod_subnets(HOSTS, nodes, "10.244.0.0/16", 24, "10.77.0.0/24")
    assert {h: s["subnet"] for h, s in subnets.items()} == {
        "cp1": "10.244.0.0/24", "w1": "10.244.1.0/24", "w2": "10.244.2.0/24"}
    assert {s["source"] for s in subnets.values()} == {"cluster"}


def test_dual_stack_cluster_value_picks_the_pod_range_family() -> None:
    nodes = {"items": [{"metadata": {"name": "n"},
                        "spec": {"podCIDR": "fd00:10::/64",
                                 "podCIDRs": ["fd00:10::/64", "10.244.7.0/24"]}}]}
    subnets = filters.cni_node_pod_subnets({"n": "10.77.0.9"}, nodes, "10.244.0.0/16", 24,
                                           "10.77.0.0/24")
    assert subnets["n"] == {"subnet": "10.244.7.0/24", "source": "cluster"}


@pytest.mark.parametrize(("hosts", "nodes", "pods", "mask", "phrase"), [
    (HOSTS, _nodes({"cp1": "10.244.0.0/24", "w1": None}), "10.244.0.0/16", 24,
     "assigned pod subnets to cp1 but not to w1, w2"),
    ({"cp1": "10.77.0.11"}, _nodes({"cp1": "10.99.0.0/24"}), "10.244.0.0/16", 24,
     "outside the site's kubernetes.pod_cidr"),
    (HOSTS, _nodes({"cp1": "10.244.0.0/24", "w1": "10.244.0.0/25", "w2": "10.244.2.0/24"}),
     "10.244.0.0/16", 24, "would share pod subnet"),
    ({"n": "10.77.0.200"}, NO_NODES, "10.244.0.0/20", 24, "holds only 16 node subnets"),
    ({"n": "10.78.0.1"}, NO_NODES, "10.244.0.0/16", 24, "outside the management network"),
    ({"n": "10.77.0.1"}, NO_NODES, "10.244.0.0/16", 12, "does not fit pod_cidr"),
    ({"n": "10.77.0.1"}, NO_NODES, "10.244.0.1/16", 24, "is not a network"),
    ({"n": "node-a"}, NO_NODES, "10.244.0.0/16", 24, "is not an IP"),
])
def test_bad_subnet_inputs_are_explained(hosts: dict[str, str], nodes: dict[str, Any],
                                         pods: str, mask: int, phrase: str) -> None:
    with pytest.raises(AnsibleFilterError, match=phrase):
        filters.cni_node_pod_subnets(hosts, nodes, pods, mask, "10.77.0.0/24")


@given(
    management_prefix=st.integers(20, 28),
    offsets=st.sets(st.integers(1, 2 ** 8 - 2), min_size=1, max_size=12),
    pod_prefix=st.integers(8, 16),
    extra=st.integers(0, 8),
)
def test_derived_subnets_are_disjoint_and_inside_the_pod_range(
    management_prefix: int, offsets: set[int], pod_prefix: int, extra: int,
) -> None:
    management = ipaddress.ip_network(f"10.77.0.0/{management_prefix}")
    mask = pod_prefix + 8 + extra  # room for 2**(8+extra) >= 256 subnets
    pods = ipaddress.ip_network(f"100.64.0.0/{pod_prefix}", strict=False)
    usable = [o for o in offsets if o < management.num_addresses - 1]
    hosts = {f"n{o}": str(management.network_address + o) for o in usable}
    subnets = filters.cni_node_pod_subnets(hosts, NO_NODES, str(pods), mask, str(management))
    networks = [ipaddress.ip_network(s["subnet"]) for s in subnets.values()]
    assert all(n.prefixlen == mask and n.subnet_of(pods) for n in networks)
    assert len({n.network_address for n in networks}) == len(networks)
    for offset in usable:  # subnet number `offset`, counted from the start of the pod range
        subnet = ipaddress.ip_network(subnets[f"n{offset}"]["subnet"])
        assert int(subnet.network_address) - int(pods.network_address) == \
            offset * 2 ** (32 - mask)


def test_routes_are_every_other_node() -> None:
    subnets = filters.cni_node_pod_subnets(HOSTS, NO_NODES, "10.244.0.0/16", 24, "10.77.0.0/24")
    assert filters.cni_host_gw_routes(subnets, HOSTS, "cp1") == [
        {"dest": "10.244.5.0/24", "via": "10.77.0.5"},
        {"dest": "10.244.21.0/24", "via": "10.77.0.21"},
    ]
    assert filters.cni_host_gw_routes({"cp1": subnets["cp1"]}, HOSTS, "cp1") == []


# -- The route module's decisions -----------------------------------------------------------

# `ip -j route show table main proto 201` on a lab node with two taco routes.
IP_ROUTES = ('[{"dst":"10.244.12.0/24","gateway":"10.77.0.12","dev":"eth0","protocol":"201",'
             '"flags":[]},{"dst":"10.244.13.0/24","gateway":"10.77.0.13","dev":"eth0",'
             '"protocol":"201","flags":[]},{"dst":"10.244.99.7","gateway":"10.77.0.13",'
             '"dev":"eth0","protocol":"201","flags":[]}]\n')


def test_parse_routes() -> None:
    assert routes_mod.parse_routes(IP_ROUTES) == {
        "10.244.12.0/24": "10.77.0.12", "10.244.13.0/24": "10.77.0.13",
        "10.244.99.7": "10.77.0.13"}
    assert routes_mod.parse_routes("") == {}
    assert routes_mod.parse_routes("[]") == {}


def test_plan_deletes_stale_replaces_moved_adds_missing() -> None:
    current = routes_mod.parse_routes(IP_ROUTES)
    wanted = routes_mod.wanted_routes([
        {"dest": "10.244.12.0/24", "via": "10.77.0.12"},   # as it is
        {"dest": "10.244.13.0/24", "via": "10.77.0.31"},   # moved
        {"dest": "10.244.14.0/24", "via": "10.77.0.14"},   # new
        {"dest": "10.244.99.8/32", "via": "10.77.0.14"},   # a host route, written with /32
    ])
    assert routes_mod.plan(current, wanted, 201) == [
        ["route", "del", "10.244.99.7", "proto", "201"],
        ["route", "replace", "10.244.13.0/24", "via", "10.77.0.31", "proto", "201"],
        ["route", "replace", "10.244.14.0/24", "via", "10.77.0.14", "proto", "201"],
        ["route", "replace", "10.244.99.8", "via", "10.77.0.14", "proto", "201"],
    ]
    after = {**wanted}
    assert routes_mod.plan(after, wanted, 201) == []


@pytest.mark.parametrize(("routes", "phrase"), [
    ([{"dest": "10.244.1.1/24", "via": "10.77.0.2"}], "not a network"),
    ([{"dest": "10.244.1.0/24", "via": "gateway"}], "not an address"),
    ([{"dest": "10.244.1.0/24", "via": "10.77.0.2"},
      {"dest": "10.244.1.0/24", "via": "10.77.0.3"}], "given twice"),
])
def test_bad_routes_are_refused(routes: list[dict[str, str]], phrase: str) -> None:
    with pytest.raises(ValueError, match=phrase):
        routes_mod.wanted_routes(routes)


# -- Readiness ------------------------------------------------------------------------------


def _ready_node(name: str, status: str | None, message: str = "") -> dict[str, Any]:
    conditions = [{"type": "MemoryPressure", "status": "False"}]
    if status is not None:
        conditions.append({"type": "Ready", "status": status, "message": message,
                           "reason": "KubeletNotReady"})
    return {"metadata": {"name": name}, "status": {"conditions": conditions}}


def test_nodes_not_ready_say_why() -> None:
    nodes = {"items": [_ready_node("a", "True"), _ready_node("b", "False", "cni plugin not "
                                                            "initialized"),
                       _ready_node("c", None), _ready_node("d", "Unknown")]}
    assert filters.cni_nodes_not_ready(nodes, ["a", "b", "c", "d", "e"]) == {
        "b": "cni plugin not initialized",
        "c": "no Ready condition reported yet",
        "d": "KubeletNotReady",
        "e": "not registered with the cluster",
    }
    assert filters.cni_nodes_not_ready(nodes, ["a"]) == {}
