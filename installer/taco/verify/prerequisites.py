"""Which phases have not run for a site, and why: the verify role skips their checks.

A phase counts as run when a real run of the site (not --check, not read-only) finished it
(succeeded, or skipped for want of hosts) and no later `taco reset` undid it. Phases the
phase list still marks pending are not enabled yet.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from taco.engine.phases import PHASE_NAMES, PHASES, available_phases
from taco.engine.records import list_runs, runs_root

if TYPE_CHECKING:
    from pathlib import Path

    from taco.engine.records import RunSummary

# `taco reset` (the reset playbook) undoes the cluster: this phase and every later one.
RESET_PHASE = "reset"
FIRST_RESET_PHASE = "kubernetes"
_DONE = ("succeeded", "skipped")


def _finished(run: RunSummary, phase: str) -> bool:
    recorded = run.phase(phase)
    return recorded is not None and recorded.status in _DONE


def phases_not_run(site: str, record_root: Path | None, playbook_dir: Path) -> dict[str, str]:
    """Phase name -> why its checks are skipped, for every phase that has not run."""
    ready = {phase.name for phase in available_phases(playbook_dir)}
    runs = [run for run in list_runs(site, record_root) if not run.check and not run.read_only]
    reset_at = next((index for index, run in enumerate(runs) if _finished(run, RESET_PHASE)),
                    None)
    undone = set(PHASE_NAMES[PHASE_NAMES.index(FIRST_RESET_PHASE):])
    where = runs_root(record_root) / site
    reasons: dict[str, str] = {}
    for phase in PHASES:
        if phase.pending:
            reasons[phase.name] = (f"the {phase.name} phase is not enabled yet "
                                   f"(it comes with the {phase.pending} work)")
            continue
        if phase.name not in ready:
            reasons[phase.name] = f"the {phase.name} phase has no playbook in this installation"
            continue
        done_at = next((index for index, run in enumerate(runs) if _finished(run, phase.name)),
                       None)
        if done_at is None:
            reasons[phase.name] = (f"the {phase.name} phase has not run for site '{site}' "
                                   f"(no run under {where} finished it)")
        elif reset_at is not None and reset_at < done_at and phase.name in undone:
            reasons[phase.name] = (f"the {phase.name} phase has not run since `taco reset` "
                                   f"(run {runs[reset_at].run_id})")
    return reasons
