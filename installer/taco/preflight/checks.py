"""Preflight results: one row per host and check, whatever produced it.

The reach checks (Python, over SSH) and the preflight role (Ansible, on the host)
both end up as `HostCheck` rows, so the CLI renders and judges them in one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from taco.errors import PreflightFailed

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping


class Status(StrEnum):
    PASS = "pass"  # noqa: S105 - a check status, not a password
    WARN = "warn"
    FAIL = "fail"


@dataclass(frozen=True)
class HostCheck:
    """The outcome of one check on one host; `detail` says what was seen or what to change."""

    host: str
    check: str
    status: Status
    detail: str


def failures(checks: Iterable[HostCheck]) -> list[HostCheck]:
    return [check for check in checks if check.status is Status.FAIL]


def from_results(host: str, results: Iterable[Mapping[str, object]]) -> list[HostCheck]:
    """Rows from the preflight role's `preflight_results` (the `Preflight | Report results` event).

    An entry with an unknown status is kept as a failure: a broken report must not pass.
    """
    rows = []
    for entry in results:
        raw = str(entry.get("status", ""))
        try:
            status = Status(raw)
        except ValueError:
            status = Status.FAIL
        detail = str(entry.get("detail", ""))
        if status is Status.FAIL and raw != Status.FAIL:
            detail = f"unknown status {raw!r} in the role's report: {detail}"
        rows.append(HostCheck(host, str(entry.get("check", "?")), status, detail))
    return rows


def ensure_passed(checks: Iterable[HostCheck]) -> None:
    """Raise PreflightFailed listing every failed row, so the run stops before any change."""
    failed = failures(checks)
    if failed:
        lines = [f"{row.host}: {row.check}: {row.detail}" for row in failed]
        raise PreflightFailed(
            f"{len(failed)} preflight check(s) failed:\n" + "\n".join(f"  {line}" for line in lines)
        )
