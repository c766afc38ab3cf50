"""What `taco verify` does, apart from printing: load the site, work out what has run, reach
the nodes, run playbooks/verify.yml through the engine, collect the rows.

The run is recorded like any other (`taco runs` lists it) but marked read-only, so it is
never a place for `--resume` to start from.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, cast

from taco.deploy import deploy_host_paths, inventory_for, reach_and_record
from taco.engine.events import CheckReport
from taco.engine.phases import Phase
from taco.errors import PreflightFailed, VerifyFailed
from taco.paths import content_root
from taco.settings import resolve
from taco.verify.prerequisites import phases_not_run
from taco.verify.results import CheckResult, failed, from_report

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from taco.deploy import LoadedSite
    from taco.engine.events import Event
    from taco.engine.runner import RunResult
    from taco.preflight.checks import HostCheck
    from taco.ui.progress import Mode

# Not in the phase list: it builds nothing. Read-only: it changes no host.
VERIFY = Phase("verify", "Verify the installation", "verify.yml", ("all",), read_only=True)


@dataclass(frozen=True)
class VerifyOptions:
    limit: str | None = None
    verbosity: int = 0
    # Values given on the command line for settings (forks, record_dir, output).
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass
class VerifyOutcome:
    """The engine's result and the rows the verify role reported."""

    result: RunResult
    results: list[CheckResult]
    duration_s: float
    skipped_phases: dict[str, str]

    def raise_for_status(self) -> None:
        """VerifyFailed when a check failed; else the engine's error, if the run broke."""
        bad = failed(self.results)
        if bad:
            lines = "\n".join(f"  {row.test_id}: {row.detail}" for row in bad)
            raise VerifyFailed(f"verify: {len(bad)} check(s) failed\n{lines}\n"
                               f"run record: {self.result.record_dir}")
        self.result.raise_for_status()


def verify(
    loaded: LoadedSite,
    options: VerifyOptions,
    *,
    sink: Callable[[Event], None],
    on_reach: Callable[[list[HostCheck]], None],
) -> VerifyOutcome:
    """Reach every node (read-only), then run the verify playbook; nothing on a host changes."""
    from taco.engine.records import RunRecord, write_private
    from taco.engine.runner import RunRequest, run_phases

    site = loaded.site
    settings = resolve(site, options.settings)
    record_root = settings["record_dir"].value
    skipped = phases_not_run(site.name, record_root, content_root() / "playbooks")
    started = time.monotonic()
    record = RunRecord.create(site.name, "verify", root=record_root, limit=options.limit,
                              read_only=True)
    record.write_site(site)
    unreachable = reach_and_record(loaded, record, on_reach)
    if unreachable:
        record.finish("failed")
        rows = "\n".join(f"  {c.host}: {c.check}: {c.detail}" for c in unreachable)
        raise PreflightFailed(f"verify: {len(unreachable)} node check(s) failed before any "
                              f"check could run\n{rows}\nrun record: {record.path}")
    results: list[CheckResult] = []

    def collect(event: Event) -> None:
        if isinstance(event, CheckReport) and event.phase == VERIFY.name:
            results.extend(from_report(event))
        sink(event)

    request = RunRequest(
        site=site.name,
        inventory=inventory_for(loaded),
        phases=(VERIFY,),
        record=record,
        content_root=content_root(),
        limit=options.limit,
        verbosity=options.verbosity,
        extravars={
            "taco_verify_phases_not_run": skipped,
            **deploy_host_paths(site),
        },
        forks=int(settings["forks"].value),
        host_key_checking=site.ssh.host_key_checking,
    )
    result = run_phases(request, collect)
    write_private(record.path / "verify.json", json.dumps(
        [{"host": r.host, "phase": r.phase, "check": r.check, "status": str(r.outcome),
          "detail": r.detail} for r in results], indent=2) + "\n")
    return VerifyOutcome(result, results, time.monotonic() - started, skipped)


def progress_mode(loaded: LoadedSite, options: VerifyOptions) -> Mode | None:
    """The resolved output setting as a progress mode; None (auto) picks by the terminal."""
    value = str(resolve(loaded.site, options.settings)["output"].value)
    return None if value == "auto" else cast("Mode", value)


__all__ = ["VERIFY", "VerifyOptions", "VerifyOutcome", "progress_mode", "verify"]
