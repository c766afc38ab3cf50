"""Progress of a run, drawn from typed engine events only (never from Ansible's stdout).

Three modes: `live` (a rich Live view, for a terminal), `plain` (one line per
phase start/finish and per changed or failed host-task, no ANSI: CI logs) and
`quiet` (failures and the final summary). `Progress` is the sink handed to
`run_phases`; `finish` prints the recap table and where the run record is.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from rich import box
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from taco.engine.events import (
    Event,
    HostCounts,
    HostResult,
    HostStatus,
    PhaseFinished,
    PhaseStarted,
    RunnerError,
    TaskStarted,
)

if TYPE_CHECKING:
    from types import TracebackType

    from rich.console import RenderableType

    from taco.engine.runner import RunResult

Mode = Literal["live", "plain", "quiet"]

_STYLE: dict[str, str] = {
    "ok": "green",
    "changed": "yellow",
    "failed": "bold red",
    "unreachable": "bold red",
    "skipped": "cyan",
    "running": "blue",
    "succeeded": "green",
    "interrupted": "bold red",
    "not-run": "dim",
}


def pick_mode(console: Console, *, quiet: bool = False) -> Mode:
    """Quiet when asked; live on a terminal; plain otherwise (pipes, CI)."""
    if quiet:
        return "quiet"
    return "live" if console.is_terminal else "plain"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes}m{rest:02d}s" if minutes else f"{seconds:.1f}s"


def _counts(counts: HostCounts) -> str:
    return (f"ok={counts.ok} changed={counts.changed} failed={counts.failed} "
            f"unreachable={counts.unreachable} skipped={counts.skipped}")


@dataclass
class _HostState:
    state: str = "waiting"
    task: str = ""
    counts: dict[HostStatus, int] = field(default_factory=dict)


@dataclass
class _PhaseView:
    """What the live area shows for the running phase; rendered afresh on every refresh."""

    started: PhaseStarted
    since: float = field(default_factory=time.monotonic)
    task: str = ""
    hosts: dict[str, _HostState] = field(default_factory=dict)

    def __rich__(self) -> RenderableType:
        head = Text.assemble(
            (f"Phase {self.started.index}/{self.started.total} ", "bold"),
            (self.started.title, "bold cyan"),
            f"  {_duration(time.monotonic() - self.since)}",
        )
        task = Text(f"  {self.task}" if self.task else "  starting…", style="dim")
        table = Table(box=box.SIMPLE, show_edge=False, pad_edge=False)
        for column in ("host", "state", "task", "ok", "changed", "failed"):
            table.add_column(column, justify="right" if column in ("ok", "changed", "failed")
                             else "left", no_wrap=column != "task")
        for host, state in sorted(self.hosts.items()):
            table.add_row(
                host,
                Text(state.state, style=_STYLE.get(state.state, "")),
                Text(state.task, overflow="ellipsis"),
                str(state.counts.get("ok", 0) + state.counts.get("changed", 0)),
                str(state.counts.get("changed", 0)),
                str(state.counts.get("failed", 0) + state.counts.get("unreachable", 0)),
            )
        return Group(head, task, table) if self.hosts else Group(head, task)


class Progress:
    """The event sink for `run_phases`: use as a context manager, then call `finish`."""

    def __init__(self, console: Console | None = None, mode: Mode | None = None) -> None:
        self.console = console or Console(highlight=False)
        self.mode: Mode = mode or pick_mode(self.console)
        self._live: Live | None = None
        self._view: _PhaseView | None = None

    def __enter__(self) -> Progress:
        if self.mode == "live":
            self._live = Live(console=self.console, refresh_per_second=4, transient=True,
                              get_renderable=self._renderable)
            self._live.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stop()

    def _stop(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None

    def _renderable(self) -> RenderableType:
        return self._view if self._view is not None else Text("")

    def _say(self, text: Text) -> None:
        # With Live running, console.print lands above the live area.
        self.console.print(text, soft_wrap=True, highlight=False)

    def __call__(self, event: Event) -> None:
        if isinstance(event, PhaseStarted):
            self._phase_started(event)
        elif isinstance(event, PhaseFinished):
            self._phase_finished(event)
        elif isinstance(event, TaskStarted):
            self._task_started(event)
        elif isinstance(event, HostResult):
            self._host_result(event)
        elif isinstance(event, RunnerError):
            self._say(Text(f"    ERROR: {event.message}", style="bold red"))

    def _phase_started(self, event: PhaseStarted) -> None:
        self._view = _PhaseView(event)
        if self.mode == "plain":
            self._say(Text(f"==> [{event.index}/{event.total}] {event.phase}: {event.title}"))

    def _phase_finished(self, event: PhaseFinished) -> None:
        self._view = None
        if self.mode == "quiet":
            return
        text = Text(f"<== [{event.index}/{event.total}] {event.phase}: ")
        text.append(event.status, style=_STYLE.get(event.status, ""))
        text.append(f" in {_duration(event.duration_s)}")
        for host, counts in sorted(event.hosts.items()):
            text.append(f"\n    {host}: {_counts(counts)}")
        self._say(text)

    def _task_started(self, event: TaskStarted) -> None:
        if self._view is None:
            return
        label = f"{event.role} : {event.task}" if event.role else event.task
        if event.host is None:
            self._view.task = label
        else:
            state = self._view.hosts.setdefault(event.host, _HostState())
            state.state, state.task = "running", label

    def _host_result(self, event: HostResult) -> None:
        if self._view is not None:
            state = self._view.hosts.setdefault(event.host, _HostState())
            state.state = "failed (ignored)" if event.ignored else event.status
            state.counts[event.status] = state.counts.get(event.status, 0) + 1
        if event.breaks_phase:
            self._say(self._failure_text(event))
        elif self.mode == "plain" and event.status == "changed":
            self._say(Text(f"    changed: {event.host} | {event.task}"))
        elif self.mode == "plain" and event.ignored:
            self._say(Text(f"    failed (ignored): {event.host} | {event.task}"))

    @staticmethod
    def _failure_text(event: HostResult) -> Text:
        text = Text(f"    {event.status.upper()}: ", style="bold red")
        text.append(f"{event.host} | {event.task}")
        for line in event.message.splitlines() or [""]:
            text.append(f"\n        {line}")
        return text

    def finish(self, result: RunResult) -> None:
        """Stop the live view; print the recap table, any failure and the record path."""
        self._stop()
        summary = result.summary
        table = Table(title=f"Run {summary.run_id} ({summary.site})", box=box.SIMPLE,
                      title_justify="left")
        for column in ("phase", "status", "host", "ok", "changed", "failed", "unreachable",
                       "duration"):
            table.add_column(column, justify="right" if column not in
                             ("phase", "status", "host") else "left")
        for phase in summary.phases:
            status = Text(phase.status, style=_STYLE.get(phase.status, ""))
            hosts: list[tuple[str, HostCounts | None]] = [*sorted(phase.hosts.items())]
            hosts = hosts or [("-", None)]
            for position, (host, counts) in enumerate(hosts):
                numbers = ([str(counts.ok), str(counts.changed), str(counts.failed),
                            str(counts.unreachable)] if counts else ["-"] * 4)
                first = position == 0
                table.add_row(phase.name if first else "", status if first else "", host,
                              *numbers, _duration(phase.duration_s) if first else "")
        self.console.print(table)
        if result.failure is not None and result.failed_phase is not None:
            failure = result.failure
            where = f" on {failure.host}, task '{failure.task}'" if failure.host else ""
            text = Text(f"Phase {result.failed_phase.name} failed{where}:", style="bold red")
            for line in failure.message.splitlines():
                text.append(f"\n    {line}", style="")
            self._say(text)
        verdict = Text("Run ")
        verdict.append(result.status, style=_STYLE.get(result.status, ""))
        if summary.check:
            verdict.append(" (check mode: nothing was changed)")
        self._say(verdict)
        self._say(Text(f"Run record: {summary.record_dir}"))
