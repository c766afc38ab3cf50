"""The progress UI, fed by the events of real runs (localhost, fixture content)."""

from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from taco.engine.phases import Phase
from taco.engine.records import RunRecord
from taco.engine.runner import RunRequest, RunResult, run_phases
from taco.ui.progress import Mode, Progress, pick_mode

CONTENT = Path(__file__).resolve().parents[1] / "fixtures" / "content"
PHASES = tuple(Phase(name, f"{name.title()} phase", f"{name}.yml", ("all",))
               for name in ("files", "fail", "more"))


def render(tmp_path: Path, mode: Mode, *, terminal: bool = False) -> tuple[str, RunResult]:
    """Run files → fail → more with the UI as sink; return what it printed."""
    out = io.StringIO()
    console = Console(file=out, width=160, force_terminal=terminal, highlight=False)
    inventory: dict[str, Any] = {"all": {"hosts": {"localhost": {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}}
    record = RunRecord.create("fixture", "pytest", root=tmp_path / "runs")
    request = RunRequest(site="fixture", inventory=inventory, phases=PHASES, record=record,
                         content_root=CONTENT, extravars={"fixture_dir": str(tmp_path)})
    with Progress(console, mode) as progress:
        result = run_phases(request, progress)
        progress.finish(result)
    return out.getvalue(), result


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, RunResult]:
    return render(tmp_path_factory.mktemp("plain"), "plain")


def test_plain_mode_lines(plain: tuple[str, RunResult]) -> None:
    text, result = plain
    lines = text.splitlines()
    assert "\x1b" not in text
    assert lines[0] == "==> [1/3] files: Files phase"
    assert "    changed: localhost | Marker | Write first.txt" in lines
    assert "<== [1/3] files: succeeded in" in text
    assert "    localhost: ok=2 changed=1 failed=0 unreachable=0 skipped=0" in lines
    assert "==> [2/3] fail: Fail phase" in lines
    assert "    FAILED: localhost | Fail | List a directory that is not there" in lines
    assert any("No such file or directory" in line for line in lines)
    assert "<== [2/3] fail: failed in" in text
    assert "[3/3]" not in text  # the phase after the failure never started
    # Unchanged ok tasks do not get a line of their own.
    assert "Read first.txt back" not in text
    assert f"Run record: {result.record_dir}" in lines


def test_plain_mode_recap_table(plain: tuple[str, RunResult]) -> None:
    text, result = plain
    recap = text[text.index(f"Run {result.summary.run_id}"):]
    rows = {line.split()[0]: line.split() for line in recap.splitlines()
            if line.split() and line.split()[0] in ("files", "fail", "more")}
    assert rows["files"][:7] == ["files", "succeeded", "localhost", "2", "1", "0", "0"]
    assert rows["fail"][:7] == ["fail", "failed", "localhost", "0", "0", "1", "0"]
    assert rows["more"][:3] == ["more", "not-run", "-"]
    assert "Phase fail failed on localhost, task 'Fail | List a directory that is not there':" \
        in recap
    assert "Run failed" in recap


def test_quiet_mode_shows_only_failures_and_summary(tmp_path: Path) -> None:
    text, result = render(tmp_path, "quiet")
    assert "==>" not in text and "<==" not in text and "changed:" not in text
    assert "FAILED: localhost | Fail | List a directory that is not there" in text
    assert "Run failed" in text
    assert f"Run record: {result.record_dir}" in text


def test_live_mode_prints_failure_and_recap(tmp_path: Path) -> None:
    text, result = render(tmp_path, "live", terminal=True)
    assert "\x1b[" in text  # it drew on a terminal
    assert "FAILED: " in text and "List a directory that is not there" in text
    assert "Phase 1/3" in text  # the live area showed the phase
    assert "Run record:" in text and str(result.record_dir.name) in text


def test_pick_mode() -> None:
    assert pick_mode(Console(file=io.StringIO())) == "plain"
    assert pick_mode(Console(file=io.StringIO(), force_terminal=True)) == "live"
    assert pick_mode(Console(file=io.StringIO(), force_terminal=True), quiet=True) == "quiet"
