"""Verify results: one row per check and host, from the verify role's reports.

The verify role prints its rows in `Verify | Report results` tasks; the engine turns each
into a `CheckReport` event (as for preflight), and `from_report` turns those into
`CheckResult`s. A row names the host it concerns when that is not the reporting host
(node rows come from the first control plane).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from taco.engine.events import CheckReport


class Outcome(StrEnum):
    PASSED = "pass"
    FAILED = "fail"
    SKIPPED = "skip"


@dataclass(frozen=True)
class CheckResult:
    """One check on one host: `phase` is what it proves (its JUnit suite), `detail` why."""

    host: str
    phase: str
    check: str
    outcome: Outcome
    detail: str

    @property
    def test_id(self) -> str:
        return f"{self.phase}::{self.check}[{self.host}]"


def from_report(report: CheckReport) -> list[CheckResult]:
    """Results from one report; an unknown status fails: a broken report must not pass."""
    results = []
    for row in report.rows:
        raw = str(row.get("status", ""))
        detail = str(row.get("detail", ""))
        try:
            outcome = Outcome(raw)
        except ValueError:
            outcome = Outcome.FAILED
            detail = f"unknown status {raw!r} in the verify role's report: {detail}"
        results.append(CheckResult(str(row.get("host") or report.host),
                                   str(row.get("phase") or "verify"),
                                   str(row.get("check", "?")), outcome, detail))
    return results


@dataclass(frozen=True)
class Totals:
    passed: int
    failed: int
    skipped: int

    @property
    def total(self) -> int:
        return self.passed + self.failed + self.skipped


def totals(results: Iterable[CheckResult]) -> Totals:
    counts = Counter(result.outcome for result in results)
    return Totals(counts[Outcome.PASSED], counts[Outcome.FAILED], counts[Outcome.SKIPPED])


def failed(results: Iterable[CheckResult]) -> list[CheckResult]:
    return [result for result in results if result.outcome is Outcome.FAILED]


WORDS = {Outcome.PASSED: "PASSED", Outcome.FAILED: "FAILED", Outcome.SKIPPED: "SKIPPED"}


def summary_lines(results: Sequence[CheckResult]) -> list[str]:
    """pytest-style lines: `PASSED  phase::check[host]  detail`, in the order the checks ran."""
    width = max((len(result.test_id) for result in results), default=0)
    return [f"{WORDS[result.outcome]:<7}  {result.test_id:<{width}}  {result.detail}".rstrip()
            for result in results]


def totals_line(results: Sequence[CheckResult], duration_s: float) -> str:
    """`3 passed, 1 failed, 2 skipped in 12.3s` (only the non-zero counts but passed)."""
    count = totals(results)
    parts = [f"{count.passed} passed"]
    if count.failed:
        parts.append(f"{count.failed} failed")
    if count.skipped:
        parts.append(f"{count.skipped} skipped")
    return f"{', '.join(parts)} in {duration_s:.1f}s"
