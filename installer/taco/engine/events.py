"""Typed events: what the UI and the run record learn from a run.

ansible-runner hands us one dict per Ansible callback; `from_runner_event` turns
the ones we show into small frozen dataclasses, so nothing downstream parses
stdout. A result Ansible marked `no_log` (or ansible-runner censored) is never
copied: its message becomes a fixed placeholder.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

HostStatus = Literal["ok", "changed", "failed", "unreachable", "skipped"]
PhaseStatus = Literal["running", "succeeded", "failed", "interrupted", "skipped", "not-run"]

NO_LOG_MESSAGE = "output hidden (no_log)"
# Long stderr is cut to its tail: the end of a command's output usually says why it failed.
_MAX_MESSAGE = 2000
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


@dataclass(frozen=True)
class HostCounts:
    """Ansible's recap for one host in one phase."""

    ok: int = 0
    changed: int = 0
    failed: int = 0
    unreachable: int = 0
    skipped: int = 0

    @property
    def broken(self) -> bool:
        return self.failed > 0 or self.unreachable > 0

    def to_dict(self) -> dict[str, int]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> HostCounts:
        return cls(**{key: int(data.get(key, 0)) for key in cls.__dataclass_fields__})


@dataclass(frozen=True)
class Failure:
    """Where a phase broke: the first host and task that failed, and Ansible's words why."""

    host: str
    task: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Failure:
        return cls(str(data.get("host", "")), str(data.get("task", "")),
                   str(data.get("message", "")))


@dataclass(frozen=True)
class PhaseStarted:
    phase: str
    title: str
    index: int  # 1-based position in this run
    total: int


@dataclass(frozen=True)
class PhaseFinished:
    phase: str
    title: str
    index: int
    total: int
    status: PhaseStatus
    duration_s: float
    hosts: Mapping[str, HostCounts] = field(default_factory=dict)
    failure: Failure | None = None


@dataclass(frozen=True)
class PlayStarted:
    phase: str
    name: str
    pattern: str


@dataclass(frozen=True)
class TaskStarted:
    """A task begins: for the play (host None) or on one host."""

    phase: str
    task: str
    role: str
    host: str | None = None


@dataclass(frozen=True)
class HostResult:
    """One host finished one task. `ignored` failures do not fail the phase."""

    phase: str
    host: str
    task: str
    role: str
    status: HostStatus
    message: str = ""
    ignored: bool = False

    @property
    def breaks_phase(self) -> bool:
        return self.status == "unreachable" or (self.status == "failed" and not self.ignored)


@dataclass(frozen=True)
class PlayRecap:
    """Ansible's PLAY RECAP for a phase's playbook."""

    phase: str
    hosts: Mapping[str, HostCounts]
    # What the roles handed over with set_stats (`taco_handover_<role>` keys only).
    handover: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RunnerError:
    """Ansible reported an error outside any task (syntax, missing role, bad inventory)."""

    phase: str
    message: str


@dataclass(frozen=True)
class CheckReport:
    """A host's check rows, printed by a task named `... | Report results` (debug var).

    The preflight role reports this way, so its rows join the SSH checks in one table; the
    verify role too (`verify_results`), for `taco verify`'s summary.
    """

    phase: str
    host: str
    rows: tuple[Mapping[str, Any], ...]


Event = (
    PhaseStarted | PhaseFinished | PlayStarted | TaskStarted | HostResult | PlayRecap
    | RunnerError | CheckReport
)

# The variables a `... | Report results` task may print: the roles that report check rows.
REPORT_VARS = ("preflight_results", "verify_results")

_RESULT_STATUS: dict[str, HostStatus] = {
    "runner_on_failed": "failed",
    "runner_on_unreachable": "unreachable",
    "runner_on_skipped": "skipped",
}


def from_runner_event(phase: str, event: Mapping[str, Any]) -> Event | None:
    """The typed event for one ansible-runner event dict, or None if the UI has no use for it.

    Loop items (runner_item_on_*) are dropped: the task's own result follows them.
    """
    kind = event.get("event")
    data: Mapping[str, Any] = event.get("event_data") or {}
    task = str(data.get("task") or "")
    role = str(data.get("role") or "")
    if kind == "playbook_on_play_start":
        return PlayStarted(phase, str(data.get("name") or ""), str(data.get("pattern") or ""))
    if kind in ("playbook_on_task_start", "playbook_on_handler_task_start"):
        return TaskStarted(phase, task, role)
    if kind == "runner_on_start":
        return TaskStarted(phase, task, role, host=str(data.get("host") or ""))
    if kind == "runner_on_ok":
        res = _result(data)
        status: HostStatus = "changed" if res.get("changed") else "ok"
        rows = next((res[key] for key in REPORT_VARS if key in res), None)
        if task.endswith("| Report results") and isinstance(rows, list) and not _censored(res):
            return CheckReport(phase, str(data.get("host") or ""),
                               tuple(row for row in rows if isinstance(row, Mapping)))
        return HostResult(phase, str(data.get("host") or ""), task, role, status)
    if kind in _RESULT_STATUS:
        status = _RESULT_STATUS[kind]
        message = "" if status == "skipped" else result_message(_result(data))
        return HostResult(phase, str(data.get("host") or ""), task, role, status, message,
                          ignored=bool(data.get("ignore_errors")))
    if kind == "playbook_on_stats":
        return PlayRecap(phase, recap_counts(data), handover_data(data))
    if kind in ("verbose", "error"):
        text = _ANSI.sub("", str(event.get("stdout") or "")).strip()
        if text.startswith("[ERROR]:"):
            return RunnerError(phase, text.removeprefix("[ERROR]:").strip())
    return None


def _result(data: Mapping[str, Any]) -> Mapping[str, Any]:
    res = data.get("res")
    return res if isinstance(res, Mapping) else {}


def _censored(res: Mapping[str, Any]) -> bool:
    return bool(res.get("_ansible_no_log")) or "censored" in res


def result_message(res: Mapping[str, Any]) -> str:
    """Why a task failed, from its result: msg, stderr and rc — never a no_log result."""
    if _censored(res):
        return NO_LOG_MESSAGE
    parts: list[str] = []
    msg = res.get("msg")
    if msg:
        parts.append(str(msg).strip())
    stderr = res.get("stderr") or res.get("module_stderr")
    if stderr:
        parts.append(str(stderr).strip())
    elif not msg and res.get("stdout"):
        parts.append(str(res["stdout"]).strip())
    rc = res.get("rc")
    if isinstance(rc, int) and rc != 0:
        parts.append(f"rc={rc}")
    items = res.get("results")
    if isinstance(items, list):
        for item in items:
            if isinstance(item, Mapping) and item.get("failed"):
                label = item.get("_ansible_item_label", item.get("item", ""))
                inner = result_message(item)
                if inner == NO_LOG_MESSAGE:
                    parts.append(NO_LOG_MESSAGE)
                else:
                    parts.append(f"item {label}: {inner}")
                break
    text = "\n".join(part for part in parts if part)
    return text if len(text) <= _MAX_MESSAGE else "…" + text[-_MAX_MESSAGE:]


HANDOVER_PREFIX = "taco_handover_"


def handover_data(data: Mapping[str, Any]) -> dict[str, Any]:
    """The roles' handover data from a playbook_on_stats event, keyed by role.

    Roles publish it with set_stats (aggregate, not per host) as `taco_handover_<role>`;
    ansible-runner passes the custom stats on as the event's artifact_data.
    """
    custom = data.get("artifact_data")
    if not isinstance(custom, Mapping):
        return {}
    return {
        key.removeprefix(HANDOVER_PREFIX): value
        for key, value in custom.items()
        if isinstance(key, str) and key.startswith(HANDOVER_PREFIX) and isinstance(value, Mapping)
    }


def recap_counts(data: Mapping[str, Any]) -> dict[str, HostCounts]:
    """Per-host counts from a playbook_on_stats event."""

    def table(key: str) -> Mapping[str, int]:
        value = data.get(key)
        return value if isinstance(value, Mapping) else {}

    ok, changed, failures = table("ok"), table("changed"), table("failures")
    dark, skipped = table("dark"), table("skipped")
    hosts = set(table("processed")) | set(ok) | set(changed) | set(failures) | set(dark)
    return {
        host: HostCounts(
            ok=int(ok.get(host, 0)),
            changed=int(changed.get(host, 0)),
            failed=int(failures.get(host, 0)),
            unreachable=int(dark.get(host, 0)),
            skipped=int(skipped.get(host, 0)),
        )
        for host in sorted(hosts)
    }
