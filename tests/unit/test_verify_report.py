"""`taco verify`'s Python: rows from reports, the test-run summary, JUnit XML, which phases
have run (from real run records), and one run through the engine.

The engine run uses the fixture content (tests/fixtures/content/playbooks/verify.yml: facts
and debug only) on localhost over the local connection: nothing on this machine changes.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from taco.deploy import LoadedSite
from taco.engine.events import CheckReport, from_runner_event
from taco.engine.phases import PHASE_NAMES, PHASES
from taco.engine.records import RunRecord, list_runs, resume_point
from taco.errors import VerifyFailed
from taco.site.load import load_site_text
from taco.verify.junit import to_junit, write_junit
from taco.verify.prerequisites import phases_not_run
from taco.verify.results import (
    CheckResult,
    Outcome,
    Totals,
    from_report,
    summary_lines,
    totals,
    totals_line,
)
from taco.verify.run import VerifyOptions, verify

if TYPE_CHECKING:
    from taco.engine.events import PhaseStatus

ROOT = Path(__file__).resolve().parents[2]
CONTENT = ROOT / "tests" / "fixtures" / "content"

ROWS: tuple[dict[str, Any], ...] = (
    {"check": "containerd", "phase": "container_runtime", "status": "pass",
     "detail": "containerd active (running)"},
    {"check": "node", "phase": "cni_labels", "status": "fail", "host": "node2",
     "detail": "node node2: label(s) missing or different: ceph-osd (want 'enabled', has none)"},
    {"check": "tekton_taskrun", "phase": "tekton", "status": "skip",
     "detail": "the tekton phase is not enabled yet (it comes with the CI/CD stack work)"},
)


def results() -> list[CheckResult]:
    return from_report(CheckReport("verify", "node1", ROWS))


def test_rows_become_results_attributed_to_the_host_they_concern() -> None:
    found = results()
    assert [(r.host, r.test_id, r.outcome) for r in found] == [
        ("node1", "container_runtime::containerd[node1]", Outcome.PASSED),
        ("node2", "cni_labels::node[node2]", Outcome.FAILED),
        ("node1", "tekton::tekton_taskrun[node1]", Outcome.SKIPPED),
    ]
    odd = from_report(CheckReport("verify", "node1", ({"check": "x", "status": "warn",
                                                        "detail": "hm"},)))
    assert odd[0].outcome is Outcome.FAILED
    assert odd[0].detail == "unknown status 'warn' in the verify role's report: hm"


def test_summary_reads_like_a_test_run() -> None:
    lines = summary_lines(results())
    assert lines == [
        "PASSED   container_runtime::containerd[node1]  containerd active (running)",
        "FAILED   cni_labels::node[node2]               node node2: label(s) missing or "
        "different: ceph-osd (want 'enabled', has none)",
        "SKIPPED  tekton::tekton_taskrun[node1]         the tekton phase is not enabled yet "
        "(it comes with the CI/CD stack work)",
    ]
    assert totals_line(results(), 12.34) == "1 passed, 1 failed, 1 skipped in 12.3s"
    assert totals_line(results()[:1], 1) == "1 passed in 1.0s"


def test_junit_xml_has_a_suite_per_phase_and_a_case_per_check_and_host(tmp_path: Path) -> None:
    path = write_junit(tmp_path / "out" / "verify.xml", results(), site="demo", duration_s=3.5)
    root = ET.parse(path).getroot()
    assert path.read_text(encoding="utf-8").startswith("<?xml version='1.0' encoding='utf-8'?>")
    assert root.tag == "testsuites"
    assert {k: root.get(k) for k in ("name", "tests", "failures", "errors", "skipped", "time")} \
        == {"name": "taco verify demo", "tests": "3", "failures": "1", "errors": "0",
            "skipped": "1", "time": "3.500"}
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == ["container_runtime", "cni_labels", "tekton"]
    for suite in suites:
        cases = suite.findall("testcase")
        assert suite.get("tests") == str(len(cases))
        failures = [case for case in cases if case.find("failure") is not None]
        skips = [case for case in cases if case.find("skipped") is not None]
        assert (suite.get("failures"), suite.get("skipped")) == (str(len(failures)),
                                                                  str(len(skips)))
        for attribute in ("id", "package", "timestamp", "hostname", "time", "errors"):
            assert suite.get(attribute) is not None, attribute
    failing = suites[1].find("testcase")
    assert failing is not None
    assert (failing.get("name"), failing.get("classname")) == (
        "node[node2]", "taco.verify.cni_labels.node")
    failure = failing.find("failure")
    assert failure is not None
    assert failure.get("message") == ROWS[1]["detail"]
    assert failure.text == ROWS[1]["detail"]
    skipped = suites[2].find("testcase/skipped")
    assert skipped is not None
    assert skipped.get("message") == ROWS[2]["detail"]
    passing = suites[0].find("testcase")
    assert passing is not None and list(passing) == []


def test_junit_escapes_what_kubectl_may_print() -> None:
    nasty = CheckResult("n1", "kubernetes", "system_pods", Outcome.FAILED,
                        'pod "a" <Pending> & \x1b[31mred\x1b[0m\x00')
    text = ET.tostring(to_junit([nasty], site="s", duration_s=0), encoding="unicode")
    parsed = ET.fromstring(text)
    failure = parsed.find("testsuite/testcase/failure")
    assert failure is not None
    assert failure.get("message") == 'pod "a" <Pending> & red\ufffd'
    assert "<Pending>" not in text


def test_the_verify_role_report_is_a_check_report() -> None:
    event = {"event": "runner_on_ok", "event_data": {
        "task": "Verify | Report results", "host": "node1", "role": "verify",
        "res": {"verify_results": list(ROWS), "changed": False}}}
    report = from_runner_event("verify", event)
    assert isinstance(report, CheckReport)
    assert report.rows == ROWS


# -- which phases have run -------------------------------------------------------------------


def recorded(root: Path, statuses: dict[str, PhaseStatus], *, command: str = "site",
             check: bool = False, read_only: bool = False) -> RunRecord:
    record = RunRecord.create("demo", command, root=root, check=check, read_only=read_only)
    for name, status in statuses.items():
        record.phase_finished(name, status, duration_s=1.0, hosts={}, failure=None)
    record.finish("failed" if "failed" in statuses.values() else "succeeded")
    return record


PLAYBOOKS = ROOT / "playbooks"
AVAILABLE = [p.name for p in PHASES if not p.pending and (PLAYBOOKS / p.playbook).is_file()]


def test_without_runs_no_phase_has_run(tmp_path: Path) -> None:
    reasons = phases_not_run("demo", tmp_path, PLAYBOOKS)
    assert set(reasons) == set(PHASE_NAMES)
    assert reasons["kubernetes"] == (f"the kubernetes phase has not run for site 'demo' (no run "
                                     f"under {tmp_path / 'demo'} finished it)")
    for phase in PHASES:
        if phase.pending:
            assert reasons[phase.name] == (f"the {phase.name} phase is not enabled yet (it comes "
                                           f"with the {phase.pending} work)")


def test_finished_phases_have_run_and_failed_ones_not(tmp_path: Path) -> None:
    statuses: dict[str, PhaseStatus] = dict.fromkeys(AVAILABLE, "succeeded")
    statuses["openvswitch"] = "skipped"  # no hosts in ovs_nodes: done all the same
    statuses["cni_labels"] = "failed"
    recorded(tmp_path, statuses)
    reasons = phases_not_run("demo", tmp_path, PLAYBOOKS)
    assert set(reasons) == {p.name for p in PHASES if p.pending} | {"cni_labels"}
    # A later run that finishes it counts; a check run and a read-only run do not.
    recorded(tmp_path, {"cni_labels": "succeeded"}, check=True)
    recorded(tmp_path, {"cni_labels": "succeeded"}, read_only=True)
    assert "cni_labels" in phases_not_run("demo", tmp_path, PLAYBOOKS)
    recorded(tmp_path, {"preflight": "succeeded", "cni_labels": "succeeded"})
    assert "cni_labels" not in phases_not_run("demo", tmp_path, PLAYBOOKS)


def test_a_reset_undoes_the_cluster_phases(tmp_path: Path) -> None:
    recorded(tmp_path, dict.fromkeys(AVAILABLE, "succeeded"))
    reset = recorded(tmp_path, {"reset": "succeeded"}, command="reset")
    reasons = phases_not_run("demo", tmp_path, PLAYBOOKS)
    assert reasons["kubernetes"] == (f"the kubernetes phase has not run since `taco reset` "
                                     f"(run {reset.run_id})")
    assert "cni_labels" in reasons
    assert "container_runtime" not in reasons and "os_bootstrap" not in reasons
    recorded(tmp_path, {"kubernetes": "succeeded", "cni_labels": "succeeded"})
    assert "kubernetes" not in phases_not_run("demo", tmp_path, PLAYBOOKS)


def test_a_read_only_run_is_never_a_resume_point(tmp_path: Path) -> None:
    statuses: dict[str, PhaseStatus] = {"preflight": "succeeded", "os_bootstrap": "failed"}
    recorded(tmp_path, statuses)
    recorded(tmp_path, {"verify": "succeeded"}, command="verify", read_only=True)
    assert resume_point("demo", tmp_path, PHASES) == "os_bootstrap"


# -- through the engine ---------------------------------------------------------------------


SITE = """
name: verifysite
networks:
  management: {purpose: management, cidr: 192.0.2.0/24}
nodes:
  - {name: node1, address: 192.0.2.11, roles: [control-plane, worker]}
extra_vars:
  fixture_verify_rows: {rows}
"""


def run_verify(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
               rows: list[dict[str, Any]]) -> tuple[Any, Path]:
    monkeypatch.setenv("TACO_CONTENT_DIR", str(CONTENT))
    monkeypatch.setenv("TACO_STATE_DIR", str(tmp_path / "state"))
    site = load_site_text(SITE.replace("{rows}", json.dumps(rows)), "verifysite.yml")
    loaded = LoadedSite(site, "verifysite.yml", local=True)
    events: list[Any] = []
    outcome = verify(loaded, VerifyOptions(settings={"output": "plain"}),
                     sink=events.append, on_reach=lambda checks: None)
    return outcome, tmp_path / "state" / "runs"


def test_a_green_run_through_the_engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    outcome, runs = run_verify(tmp_path, monkeypatch, [dict(ROWS[0])])
    outcome.raise_for_status()
    # The fixture content has no tekton/prow playbook: those phases are reported skipped.
    assert totals(outcome.results) == Totals(passed=1, failed=0, skipped=2)
    assert outcome.skipped_phases["tekton"] == (
        "the tekton phase has no playbook in this installation")
    [summary] = list_runs("verifysite", runs)
    assert (summary.command, summary.status, summary.read_only) == ("verify", "succeeded", True)
    assert [p.name for p in summary.phases] == ["verify"]
    saved = json.loads((summary.record_dir / "verify.json").read_text())
    assert saved[0] == {"host": "node1", "phase": "container_runtime", "check": "containerd",
                        "status": "pass", "detail": "containerd active (running)"}


def test_a_failed_check_exits_7_and_names_it(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    outcome, runs = run_verify(tmp_path, monkeypatch, [dict(row) for row in ROWS[:2]])
    assert totals(outcome.results).failed == 1
    with pytest.raises(VerifyFailed) as failed:
        outcome.raise_for_status()
    assert failed.value.exit_code == 7
    assert "cni_labels::node[node2]: node node2: label(s) missing" in str(failed.value)
    [summary] = list_runs("verifysite", runs)
    assert summary.status == "failed"
