"""Chart ordering: group order plus depends_on, topological, minimal runAfter, named cycles."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from taco.handover.graph import (
    CycleError,
    deploy_order,
    describe_cycle,
    find_cycle,
    prerequisites,
    run_after,
)
from taco.site.model import Charts


def charts(*groups: list[tuple[str, list[str]]]) -> Charts:
    return Charts.model_validate({"groups": [
        {"name": f"g{g}", "charts": [{"name": name, "chart": f"repo/{name}", "depends_on": deps}
                                     for name, deps in group]}
        for g, group in enumerate(groups)]})


def test_group_order_and_dependencies_give_a_reduced_run_after() -> None:
    manifest = charts(
        [("mariadb", []), ("openvswitch", []), ("libvirt", ["openvswitch"])],
        [("keystone", []), ("neutron", ["keystone"]), ("nova", ["neutron", "keystone"])],
    )
    assert deploy_order(manifest) == ["mariadb", "openvswitch", "libvirt", "keystone",
                                      "neutron", "nova"]
    after = run_after(manifest)
    assert after["libvirt"] == ["openvswitch"]
    # openvswitch is implied by libvirt, keystone by neutron.
    assert after["keystone"] == ["mariadb", "libvirt"]
    assert after["nova"] == ["neutron"]
    assert after["mariadb"] == []


def test_a_dependency_on_a_later_group_is_a_cycle_naming_both_rules() -> None:
    manifest = charts([("mariadb", ["keystone"])], [("keystone", [])])
    cycle = find_cycle(manifest)
    assert cycle is not None
    text = describe_cycle(cycle)
    assert text.startswith("mariadb → keystone → mariadb") or \
        text.startswith("keystone → mariadb → keystone")
    assert "mariadb depends_on keystone" in text
    assert "group g1 comes after group g0" in text
    with pytest.raises(CycleError, match="depends_on keystone"):
        deploy_order(manifest)


def test_a_chart_depending_on_itself_is_a_cycle() -> None:
    cycle = find_cycle(charts([("a", ["a"])]))
    assert cycle is not None
    assert describe_cycle(cycle).startswith("a → a")


def test_unknown_dependencies_are_left_to_validation() -> None:
    assert prerequisites(charts([("a", ["ghost"])])) == {"a": set()}


names = st.sampled_from([f"c{k}" for k in range(8)])


@st.composite
def manifests(draw: st.DrawFn) -> Charts:
    chosen = draw(st.lists(names, min_size=1, max_size=8, unique=True))
    cuts = sorted(draw(st.lists(st.integers(0, len(chosen)), max_size=3)))
    bounds = [0, *cuts, len(chosen)]
    groups = [chosen[a:b] for a, b in itertools.pairwise(bounds) if chosen[a:b]]
    return charts(*[[(name, draw(st.lists(st.sampled_from(chosen), max_size=3, unique=True)))
                     for name in group] for group in groups])


@settings(max_examples=200, deadline=None)
@given(manifests())
def test_order_respects_every_edge_or_a_real_cycle_is_found(manifest: Charts) -> None:
    needs = prerequisites(manifest)
    cycle = find_cycle(manifest)
    if cycle is None:
        order = deploy_order(manifest)
        position = {name: k for k, name in enumerate(order)}
        assert sorted(order) == sorted(needs)
        for name, before in needs.items():
            assert all(position[b] < position[name] for b in before)
        # The reduced runAfter keeps the same order: its closure equals the full one.
        after = run_after(manifest)

        def closure(edges: dict[str, set[str]] | dict[str, list[str]], name: str) -> set[str]:
            seen: set[str] = set()
            todo = list(edges[name])
            while todo:
                item = todo.pop()
                if item not in seen:
                    seen.add(item)
                    todo.extend(edges[item])
            return seen

        for name in needs:
            assert closure(after, name) == closure(needs, name)
            assert set(after[name]) <= needs[name]
    else:
        # Each step of the reported cycle is a real edge and it closes.
        for edge in cycle:
            assert edge.before in needs[edge.after]
        assert cycle[0].before == cycle[-1].after
        with pytest.raises(CycleError):
            deploy_order(manifest)
