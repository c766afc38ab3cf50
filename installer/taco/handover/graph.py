"""The chart graph: which chart waits for which, in what order, and where it loops.

Edges come from two places: a chart's `depends_on` and group order (every chart of a
group waits for every chart of the previous group). Each edge remembers why it
exists, so a cycle is reported in words an operator can act on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from taco.site.model import Chart, Charts


@dataclass(frozen=True)
class Placed:
    """A chart with where it sits in the manifest."""

    chart: Chart
    group: str
    group_index: int
    index: int


@dataclass(frozen=True)
class Edge:
    """`before` must be deployed before `after`; `why` says which rule wants it."""

    before: str
    after: str
    why: str


def placed_charts(charts: Charts) -> dict[str, Placed]:
    """Every chart by name, in manifest order; a repeated name keeps its first place."""
    found: dict[str, Placed] = {}
    for g, group in enumerate(charts.groups):
        for k, chart in enumerate(group.charts):
            found.setdefault(chart.name, Placed(chart, group.name, g, k))
    return found


def edges(charts: Charts) -> list[Edge]:
    """Every ordering constraint; references to unknown charts are left out."""
    placed = placed_charts(charts)
    result: list[Edge] = []
    for g, group in enumerate(charts.groups):
        for chart in group.charts:
            if placed[chart.name].group_index != g:
                continue
            for need in chart.depends_on:
                if need in placed:
                    result.append(Edge(need, chart.name, f"{chart.name} depends_on {need}"))
            if g > 0:
                previous = charts.groups[g - 1]
                for earlier in previous.charts:
                    if placed[earlier.name].group_index == g - 1:
                        result.append(Edge(earlier.name, chart.name,
                                           f"group {group.name} comes after group "
                                           f"{previous.name}"))
    return result


def prerequisites(charts: Charts) -> dict[str, set[str]]:
    """Chart -> the charts it must wait for directly."""
    needs: dict[str, set[str]] = {name: set() for name in placed_charts(charts)}
    for edge in edges(charts):
        needs[edge.after].add(edge.before)
    return needs


def find_cycle(charts: Charts) -> list[Edge] | None:
    """The first cycle in manifest order, as the edges that close it; None if there is none."""
    placed = placed_charts(charts)
    outgoing: dict[str, list[Edge]] = {name: [] for name in placed}
    for edge in edges(charts):
        outgoing[edge.before].append(edge)
    for targets in outgoing.values():
        targets.sort(key=lambda e: (placed[e.after].group_index, placed[e.after].index))
    state: dict[str, int] = {}  # 1: on the current path, 2: finished
    path: list[Edge] = []

    def visit(name: str) -> list[Edge] | None:
        state[name] = 1
        for edge in outgoing[name]:
            if state.get(edge.after) == 1:
                start = next((i for i, e in enumerate(path) if e.before == edge.after), len(path))
                return [*path[start:], edge]
            if edge.after not in state:
                path.append(edge)
                found = visit(edge.after)
                if found is not None:
                    return found
                path.pop()
        state[name] = 2
        return None

    for name in placed:
        if name not in state:
            found = visit(name)
            if found is not None:
                return found
    return None


def describe_cycle(cycle: list[Edge]) -> str:
    """`a → b → a (a depends_on b; ...)`: the loop and the rule behind each step."""
    names = [cycle[0].before, *(edge.after for edge in cycle)]
    return f"{' → '.join(names)} ({'; '.join(edge.why for edge in cycle)})"


class CycleError(ValueError):
    """The charts cannot be ordered; site validation reports this before anything runs."""


def deploy_order(charts: Charts) -> list[str]:
    """A topological order: among charts that are ready, manifest order decides."""
    placed = placed_charts(charts)
    needs = prerequisites(charts)
    rank = {name: (p.group_index, p.index) for name, p in placed.items()}
    done: list[str] = []
    waiting = dict(needs)
    while waiting:
        ready = sorted((n for n, pre in waiting.items() if pre <= set(done)), key=rank.__getitem__)
        if not ready:
            cycle = find_cycle(charts)
            raise CycleError(describe_cycle(cycle) if cycle else "the charts cannot be ordered")
        done.append(ready[0])
        del waiting[ready[0]]
    return done


def run_after(charts: Charts) -> dict[str, list[str]]:
    """Chart -> its runAfter: the direct prerequisites not already implied by another one.

    The transitive reduction keeps the pipeline readable (a chart of the third group
    names the second group, not all of the first) without changing the order.
    """
    order = deploy_order(charts)
    needs = prerequisites(charts)
    reach: dict[str, set[str]] = {}
    for name in order:
        reach[name] = set(needs[name]).union(*(reach[n] for n in needs[name]))
    position = {name: k for k, name in enumerate(order)}
    result: dict[str, list[str]] = {}
    for name in order:
        direct = needs[name]
        implied = set().union(*(reach[n] for n in direct))
        result[name] = sorted(direct - implied, key=position.__getitem__)
    return result
