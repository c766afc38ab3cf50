"""Tables for `taco runs` and `taco runs show`, built from run summaries."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich import box
from rich.console import Group
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from collections.abc import Sequence

    from rich.console import RenderableType

    from taco.engine.events import HostCounts
    from taco.engine.records import RunSummary

_STATUS_STYLE = {"succeeded": "green", "failed": "bold red", "interrupted": "bold red",
                 "running": "blue", "not-run": "dim", "skipped": "cyan"}


def _status(value: str) -> Text:
    return Text(value, style=_STATUS_STYLE.get(value, ""))


def runs_table(runs: Sequence[RunSummary]) -> RenderableType:
    if not runs:
        return Text("no runs recorded yet")
    table = Table(box=box.SIMPLE, title="Runs (newest first)", title_justify="left")
    for column in ("run id", "site", "command", "started", "status", "last phase"):
        table.add_column(column)
    for run in runs:
        reached = [phase.name for phase in run.phases if phase.status != "not-run"]
        table.add_row(run.run_id, run.site, run.command, run.started, _status(run.status),
                      reached[-1] if reached else "-")
    return table


def run_detail(run: RunSummary) -> RenderableType:
    table = Table(box=box.SIMPLE, title=f"Run {run.run_id} of site {run.site} ({run.command})",
                  title_justify="left")
    for column in ("phase", "status", "duration", "host", "ok", "changed", "failed",
                   "unreachable"):
        table.add_column(column)
    for phase in run.phases:
        duration = f"{phase.duration_s:.1f}s" if phase.duration_s is not None else "-"
        hosts: list[tuple[str, HostCounts | None]] = list(phase.hosts.items()) or [("-", None)]
        for index, (host, counts) in enumerate(hosts):
            numbers = ([str(counts.ok), str(counts.changed), str(counts.failed),
                        str(counts.unreachable)] if counts else ["-"] * 4)
            table.add_row(phase.name if index == 0 else "",
                          _status(phase.status) if index == 0 else Text(""),
                          duration if index == 0 else "", host, *numbers)
    parts: list[RenderableType] = [table]
    for phase in run.phases:
        if phase.failure:
            parts.append(Text(f"{phase.name} failed on {phase.failure.host}, task "
                              f"'{phase.failure.task}': {phase.failure.message}",
                              style="red"))
    parts.append(Text(f"status: {run.status}   started {run.started}   finished "
                      f"{run.finished or '-'}\nrecord: {run.record_dir}"))
    return Group(*parts)
