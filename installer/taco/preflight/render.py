"""Preflight rows as a host x check table (rich) or as plain text (logs, CI, no tty)."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from rich.table import Table
from rich.text import Text

from taco.preflight.checks import HostCheck, Status

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

STATUS_STYLE = {Status.PASS: "green", Status.WARN: "yellow", Status.FAIL: "bold red"}


def _ordered(values: Iterable[str]) -> list[str]:
    """Distinct values in first-seen order (hosts in site order, checks in run order)."""
    return list(dict.fromkeys(values))


def summary(checks: Sequence[HostCheck]) -> str:
    counts = Counter(check.status for check in checks)
    hosts = len(_ordered(check.host for check in checks))
    return (
        f"{hosts} host(s): {counts[Status.PASS]} pass, "
        f"{counts[Status.WARN]} warn, {counts[Status.FAIL]} fail"
    )


def checks_table(checks: Sequence[HostCheck], *, title: str = "Preflight") -> Table:
    """One row per host, one column per check; warn/fail cells carry their detail."""
    checks_seen = _ordered(check.check for check in checks)
    cells = {(check.host, check.check): check for check in checks}
    table = Table(title=title, caption=summary(checks), show_lines=True)
    table.add_column("host", style="bold", no_wrap=True)
    for name in checks_seen:
        table.add_column(name, overflow="fold")
    for host in _ordered(check.host for check in checks):
        row: list[Text | str] = [host]
        for name in checks_seen:
            cell = cells.get((host, name))
            if cell is None:
                row.append(Text("-", style="dim"))
                continue
            text = Text(cell.status.value, style=STATUS_STYLE[cell.status])
            if cell.status is not Status.PASS and cell.detail:
                text.append(f"\n{cell.detail}", style="default")
            row.append(text)
        table.add_row(*row)
    return table


def render_text(checks: Sequence[HostCheck]) -> str:
    """Aligned `host  check  status  detail` lines plus a summary line."""
    if not checks:
        return "no preflight checks ran"
    host_width = max(len(check.host) for check in checks)
    check_width = max(len(check.check) for check in checks)
    lines = [
        f"{check.host:<{host_width}}  {check.check:<{check_width}}  "
        f"{check.status.value:<4}  {check.detail}".rstrip()
        for check in checks
    ]
    return "\n".join([*lines, summary(checks)])
