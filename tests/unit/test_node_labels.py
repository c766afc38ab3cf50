"""The node_labels role's plan: which labels change, and which taco may remove.

Nodes are `kubectl get nodes -o json` items; each plan's patch is applied with JSON merge
patch semantics (RFC 7386, what `kubectl patch --type merge` sends), and planning again on
the result must ask for nothing. The role runs for real in roles/node_labels/molecule.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from ansible.errors import AnsibleFilterError
from hypothesis import given
from hypothesis import strategies as st
from rolecode import load_module

from taco.inventory.build import build_inventory
from taco.site.load import load_site

ROOT = Path(__file__).resolve().parents[2]
ANNOTATION = "taco.dev/labels"




filters = load_module(ROOT / "roles" / "node_labels" / "filter_plugins" / "node_labels_filters.py",
                "taco_test_node_labels_filters")
plan = filters.node_labels_plan


def _merge(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = _merge(result.get(key), value)
    return result


def _node(name: str, labels: dict[str, str], annotations: dict[str, str] | None = None
          ) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": labels, "annotations": annotations or {}}}


def _apply(nodes: dict[str, Any], plans: dict[str, Any]) -> dict[str, Any]:
    result = copy.deepcopy(nodes)
    for item in result["items"]:
        patch = plans.get(item["metadata"]["name"], {}).get("patch") or {}
        item.update(_merge(item, patch))
    return result


KUBELET = {"kubernetes.io/hostname": "n1", "kubernetes.io/os": "linux"}


def test_first_run_sets_labels_and_records_them() -> None:
    nodes = {"items": [_node("n1", dict(KUBELET))]}
    wanted = {"n1": {"openvswitch": "enabled", "openstack-compute-node": "enabled"}}
    plans = plan(nodes, wanted, ANNOTATION)
    assert plans["n1"]["set"] == wanted["n1"]
    assert plans["n1"]["remove"] == []
    assert plans["n1"]["patch"] == {"metadata": {
        "labels": {"openstack-compute-node": "enabled", "openvswitch": "enabled"},
        "annotations": {ANNOTATION: "openstack-compute-node,openvswitch"}}}
    after = _apply(nodes, plans)
    again = plan(after, wanted, ANNOTATION)
    assert again["n1"]["patch"] == {}
    assert after["items"][0]["metadata"]["labels"] == {**KUBELET, **wanted["n1"]}


def test_dropped_site_label_is_removed_but_hand_labels_stay() -> None:
    nodes = {"items": [_node("n1", {**KUBELET, "openvswitch": "enabled", "l3-agent": "enabled",
                                    "rack": "r7"},
                             {ANNOTATION: "l3-agent,openvswitch"})]}
    plans = plan(nodes, {"n1": {"openvswitch": "enabled"}}, ANNOTATION)
    assert plans["n1"]["remove"] == ["l3-agent"]
    after = _apply(nodes, plans)
    assert after["items"][0]["metadata"]["labels"] == {**KUBELET, "openvswitch": "enabled",
                                                       "rack": "r7"}
    assert after["items"][0]["metadata"]["annotations"] == {ANNOTATION: "openvswitch"}


def test_changed_value_is_overwritten_and_a_hand_label_can_be_taken_over() -> None:
    nodes = {"items": [_node("n1", {"zone": "a", "openvswitch": "disabled"},
                             {ANNOTATION: "openvswitch"})]}
    plans = plan(nodes, {"n1": {"openvswitch": "enabled", "zone": "a"}}, ANNOTATION)
    # zone already has the value: not set again, but taco owns it from now on.
    assert plans["n1"]["set"] == {"openvswitch": "enabled"}
    assert plans["n1"]["patch"]["metadata"]["annotations"] == {ANNOTATION: "openvswitch,zone"}


def test_nothing_wanted_clears_what_taco_set_and_its_annotation() -> None:
    nodes = {"items": [_node("n1", {"a": "1", "b": "2"}, {ANNOTATION: "a"})]}
    plans = plan(nodes, {"n1": {}}, ANNOTATION)
    assert plans["n1"]["patch"] == {"metadata": {"labels": {"a": None},
                                                 "annotations": {ANNOTATION: None}}}
    after = _apply(nodes, plans)
    assert after["items"][0]["metadata"] == {"name": "n1", "labels": {"b": "2"},
                                             "annotations": {}}
    assert plan(after, {"n1": {}}, ANNOTATION)["n1"]["patch"] == {}


def test_recorded_label_already_gone_is_not_removed_again() -> None:
    nodes = {"items": [_node("n1", {}, {ANNOTATION: "gone"})]}
    plans = plan(nodes, {"n1": {"x": "y"}}, ANNOTATION)
    assert plans["n1"]["remove"] == []


def test_missing_node_is_named() -> None:
    nodes = {"items": [_node("n1", {})]}
    with pytest.raises(AnsibleFilterError, match=r"node\(s\) n2, n3 are not in the cluster "
                                                 r"\(kubectl get nodes lists n1\)"):
        plan(nodes, {"n1": {}, "n2": {}, "n3": {}}, ANNOTATION)


def test_only_wanted_nodes_are_planned() -> None:
    nodes = {"items": [_node("n1", {}), _node("stranger", {"x": "y"}, {ANNOTATION: "x"})]}
    assert list(plan(nodes, {"n1": {"a": "b"}}, ANNOTATION)) == ["n1"]


KEYS = st.sampled_from(["openvswitch", "l3-agent", "ceph-osd", "rack", "zone", "tier"])
VALUES = st.sampled_from(["enabled", "a", "b"])
LABELS = st.dictionaries(KEYS, VALUES, max_size=6)


@given(hand=LABELS, first=LABELS, second=LABELS)
def test_two_site_versions_converge_and_spare_hand_labels(
    hand: dict[str, str], first: dict[str, str], second: dict[str, str],
) -> None:
    nodes = {"items": [_node("n1", dict(hand))]}
    nodes = _apply(nodes, plan(nodes, {"n1": first}, ANNOTATION))
    nodes = _apply(nodes, plan(nodes, {"n1": second}, ANNOTATION))
    labels = nodes["items"][0]["metadata"]["labels"]
    # The site's labels are there; the hand labels taco never owned are untouched.
    assert {k: labels.get(k) for k in second} == second
    untouched = {k: v for k, v in hand.items() if k not in first and k not in second}
    assert {k: labels.get(k) for k in untouched} == untouched
    # Whatever taco set for the first version and the second dropped is gone.
    assert not (set(first) - set(second)) & set(labels)
    assert plan(nodes, {"n1": second}, ANNOTATION)["n1"]["patch"] == {}


def test_aio_node_gets_every_openstack_helm_label() -> None:
    site = load_site(ROOT / "inventories" / "aio" / "site.yml")
    inventory = build_inventory(site)
    # Host vars live under all.hosts; the groups only list names.
    assert "aio" in inventory["all"]["children"]["kube_control_plane"]["hosts"]
    hosts: dict[str, Any] = inventory["all"]["hosts"]
    labels = hosts["aio"]["taco_node_labels"]
    assert {key for key, value in labels.items() if value == "enabled"} >= {
        "openstack-control-plane", "openstack-compute-node", "openstack-network-node",
        "openvswitch", "l3-agent", "ceph-mon", "ceph-mgr", "ceph-osd", "ceph-mds", "ceph-rgw"}


def test_handover_keeps_labels_and_annotation() -> None:
    nodes = {"items": [_node("n1", {"x": "1"}, {ANNOTATION: "x"})]}
    plans = plan(nodes, {"n1": {"y": "2"}}, ANNOTATION)
    assert filters.node_labels_handover(plans, ANNOTATION) == {
        "n1": {"labels": {"y": "2"}, "annotation": ANNOTATION}}
