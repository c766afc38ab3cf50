"""The engine, run for real: ansible-runner against localhost (ansible_connection=local).

Playbooks come from tests/fixtures/content and touch files only inside a tmp dir
passed as `fixture_dir`; nothing on this machine changes outside tmp.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from taco.engine.events import (
    NO_LOG_MESSAGE,
    Event,
    HostCounts,
    HostResult,
    PhaseFinished,
    PhaseStarted,
    TaskStarted,
    from_runner_event,
)
from taco.engine.phases import Phase
from taco.engine.records import RunRecord, resume_point
from taco.engine.runner import RunRequest, RunResult, run_phases, runner_cmdline, runner_envvars
from taco.errors import PhaseFailed, PreflightFailed

CONTENT = Path(__file__).resolve().parents[1] / "fixtures" / "content"


def phase(name: str, *, read_only: bool = False) -> Phase:
    return Phase(name, f"{name.title()} phase", f"{name}.yml", ("all",), read_only=read_only)


def local_inventory(**all_vars: Any) -> dict[str, Any]:
    return {
        "all": {
            "hosts": {
                "localhost": {
                    "ansible_connection": "local",
                    "ansible_python_interpreter": sys.executable,
                }
            },
            "vars": all_vars,
        }
    }


def run(
    root: Path,
    workdir: Path,
    phases: tuple[Phase, ...],
    *,
    inventory: dict[str, Any] | None = None,
    extravars: dict[str, Any] | None = None,
    check: bool = False,
    limit: str | None = None,
    sink: Any = None,
) -> tuple[RunResult, list[Event]]:
    events: list[Event] = []
    record = RunRecord.create("fixture", "pytest", root=root, check=check)
    request = RunRequest(
        site="fixture",
        inventory=inventory or local_inventory(),
        phases=phases,
        record=record,
        content_root=CONTENT,
        extravars={"fixture_dir": str(workdir), **(extravars or {})},
        check=check,
        limit=limit,
        forks=5,
    )
    return run_phases(request, sink or events.append), events


def processes_mentioning(marker: str) -> list[int]:
    """Processes whose command line names `marker` (ansible-playbook and its forked workers)."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if marker.encode() in (proc / "cmdline").read_bytes():
                    found.append(int(proc.name))
            except OSError:
                continue
    return found


def assert_no_survivors(record_dir: Path) -> None:
    deadline = time.monotonic() + 10
    while processes_mentioning(str(record_dir)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert processes_mentioning(str(record_dir)) == []


def summary_of(result: RunResult) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((result.record_dir / "summary.json").read_text())
    return data


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[RunResult, RunResult, Path]:
    """The same two phases run twice: the second run should change nothing."""
    root = tmp_path_factory.mktemp("runs")
    workdir = tmp_path_factory.mktemp("work")
    phases = (phase("files"), phase("more"))
    first, _ = run(root, workdir, phases)
    second, _ = run(root, workdir, phases)
    return first, second, workdir


def test_two_phase_run_succeeds_and_counts_changes(
    two_runs: tuple[RunResult, RunResult, Path],
) -> None:
    first, second, workdir = two_runs
    assert first.succeeded and first.failed_phase is None
    assert (workdir / "first.txt").read_text() == "first\n"
    assert (workdir / "second.txt").read_text() == "second\n"
    summary = summary_of(first)
    assert summary["status"] == "succeeded"
    assert summary["site"] == "fixture" and summary["command"] == "pytest"
    assert summary["run_id"] == first.record_dir.name
    assert summary["record_dir"] == str(first.record_dir)
    assert summary["finished"] is not None
    assert [p["name"] for p in summary["phases"]] == ["files", "more"]
    files, more = summary["phases"]
    assert files["status"] == more["status"] == "succeeded"
    assert files["hosts"] == {"localhost": {"ok": 2, "changed": 1, "failed": 0,
                                            "unreachable": 0, "skipped": 0}}
    assert more["hosts"]["localhost"]["changed"] == 1
    assert files["failure"] is None and files["duration_s"] > 0
    again = summary_of(second)
    assert [p["hosts"]["localhost"]["changed"] for p in again["phases"]] == [0, 0]
    assert [p["hosts"]["localhost"]["ok"] for p in again["phases"]] == [2, 2]  # facts + copy


def test_record_holds_ansible_runner_artifacts_privately(
    two_runs: tuple[RunResult, RunResult, Path],
) -> None:
    record = two_runs[0].record_dir
    phase_dir = record / "phases" / "01-files"
    assert (phase_dir / "status").read_text() == "successful"
    assert (phase_dir / "rc").read_text() == "0"
    assert "Marker | Write first.txt" in (phase_dir / "stdout").read_text()
    events = [json.loads(p.read_text()) for p in (phase_dir / "job_events").glob("*.json")]
    assert "playbook_on_stats" in {event["event"] for event in events}
    assert (record / "phases" / "02-more" / "rc").read_text() == "0"
    # The phase gathered facts; the host's environment did not land in the record.
    assert not list(record.rglob("fact_cache"))
    assert not any("ansible_env" in p.read_text() for p in record.rglob("*.json"))
    inventory = (record / "inventory.yml").read_text()
    assert "ansible_connection: local" in inventory
    # The command artifact keeps Ansible's settings, not the caller's whole environment.
    command = json.loads((phase_dir / "command").read_text())
    assert command["env"]["ANSIBLE_ROLES_PATH"] == str(CONTENT / "roles")
    assert command["env"]["ANSIBLE_HOST_KEY_CHECKING"] == "True"
    assert "HOME" not in command["env"]
    for path in [record, *record.rglob("*")]:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o700 if path.is_dir() else 0o600), path


def test_events_carry_phase_task_role_and_host(tmp_path: Path) -> None:
    result, events = run(tmp_path / "runs", tmp_path, (phase("files"),))
    assert result.succeeded
    assert events[0] == PhaseStarted("files", "Files phase", 1, 1)
    assert TaskStarted("files", "Marker | Write first.txt", "fixture_marker", "localhost") in events
    results = [e for e in events if isinstance(e, HostResult)]
    assert [(r.host, r.task, r.status) for r in results] == [
        ("localhost", "Marker | Write first.txt", "changed"),
        ("localhost", "Marker | Read first.txt back", "ok"),
    ]
    finished = events[-1]
    assert isinstance(finished, PhaseFinished)
    assert finished.status == "succeeded"
    assert finished.hosts == {"localhost": HostCounts(ok=2, changed=1)}


def test_failed_phase_stops_the_run(tmp_path: Path) -> None:
    workdir = tmp_path / "work"
    workdir.mkdir()
    result, events = run(tmp_path / "runs", workdir, (phase("files"), phase("fail"), phase("more")))
    assert result.status == "failed"
    assert result.failed_phase is not None and result.failed_phase.name == "fail"
    assert result.failure is not None
    assert result.failure.host == "localhost"
    assert result.failure.task == "Fail | List a directory that is not there"
    assert "No such file or directory" in result.failure.message
    assert "rc=2" in result.failure.message
    assert not (workdir / "second.txt").exists()
    summary = summary_of(result)
    assert summary["status"] == "failed"
    assert [p["status"] for p in summary["phases"]] == ["succeeded", "failed", "not-run"]
    assert summary["phases"][1]["failure"]["task"] == result.failure.task
    assert summary["phases"][1]["hosts"]["localhost"]["failed"] == 1
    assert (result.record_dir / "phases" / "02-fail" / "status").read_text() == "failed"
    assert (result.record_dir / "phases" / "02-fail" / "rc").read_text() == "2"
    assert not (result.record_dir / "phases" / "03-more").exists()
    assert not any(isinstance(e, PhaseStarted) and e.phase == "more" for e in events)
    with pytest.raises(PhaseFailed, match="phase 'fail' failed on localhost") as raised:
        result.raise_for_status()
    assert raised.value.exit_code == 4
    assert resume_point("fixture", tmp_path / "runs", (phase("files"), phase("fail"))) == "fail"


def test_failed_read_only_phase_is_a_preflight_failure(tmp_path: Path) -> None:
    result, _ = run(tmp_path / "runs", tmp_path, (phase("fail", read_only=True),))
    with pytest.raises(PreflightFailed) as raised:
        result.raise_for_status()
    assert raised.value.exit_code == 3


def test_unreachable_host_fails_the_phase_fast(tmp_path: Path) -> None:
    inventory = local_inventory()
    # Nothing listens on port 1 of the loopback: ssh is refused at once, no network needed.
    inventory["all"]["hosts"]["ghost"] = {
        "ansible_host": "127.0.0.1",
        "ansible_port": 1,
        "ansible_connection": "ssh",
        "ansible_ssh_common_args": "-o ConnectTimeout=2",
    }
    began = time.monotonic()
    result, events = run(tmp_path / "runs", tmp_path, (phase("ping"), phase("more")),
                         inventory=inventory)
    assert time.monotonic() - began < 60
    assert result.status == "failed"
    assert result.failure is not None and result.failure.host == "ghost"
    assert result.failure.task == "Ping | Answer"
    assert "ssh" in result.failure.message.lower()
    hosts = summary_of(result)["phases"][0]["hosts"]
    assert hosts["ghost"]["unreachable"] == 1
    assert hosts["localhost"] == {"ok": 1, "changed": 0, "failed": 0, "unreachable": 0,
                                  "skipped": 0}
    assert summary_of(result)["phases"][1]["status"] == "not-run"
    assert any(isinstance(e, HostResult) and e.status == "unreachable" for e in events)


def test_limit_keeps_other_hosts_out(tmp_path: Path) -> None:
    inventory = local_inventory()
    inventory["all"]["hosts"]["ghost"] = {"ansible_host": "127.0.0.1", "ansible_port": 1}
    result, _ = run(tmp_path / "runs", tmp_path, (phase("ping"),), inventory=inventory,
                    limit="localhost")
    assert result.succeeded
    assert set(summary_of(result)["phases"][0]["hosts"]) == {"localhost"}


def test_check_mode_changes_nothing(tmp_path: Path) -> None:
    workdir = tmp_path / "work"
    workdir.mkdir()
    result, _ = run(tmp_path / "runs", workdir, (phase("files"),), check=True)
    assert result.succeeded
    assert not (workdir / "first.txt").exists()
    summary = summary_of(result)
    assert summary["check"] is True
    # Check mode still reports what would change.
    assert summary["phases"][0]["hosts"]["localhost"]["changed"] == 1
    assert "--check" in (result.record_dir / "phases" / "01-files" / "env" / "cmdline").read_text()


def test_no_log_secrets_never_reach_the_record(tmp_path: Path) -> None:
    workdir = tmp_path / "work"
    workdir.mkdir()
    secret = f"extravar-{uuid.uuid4().hex}"
    token = f"inventory-{uuid.uuid4().hex}"
    result, events = run(
        tmp_path / "runs", workdir, (phase("files"), phase("secret")),
        inventory=local_inventory(fixture_api_token=token),
        extravars={"fixture_secret": secret},
    )
    # Both secrets did reach Ansible: the no_log task wrote them into the work dir.
    assert (workdir / "secret.txt").read_text() == f"{secret}\n{token}\n"
    assert result.status == "failed"
    assert result.failure is not None
    assert result.failure.message == NO_LOG_MESSAGE
    files = [p for p in result.record_dir.rglob("*") if p.is_file()]
    assert len(files) > 10
    for path in files:
        content = path.read_bytes()
        assert secret.encode() not in content, path
        assert token.encode() not in content, path
    assert "<redacted>" in (result.record_dir / "inventory.yml").read_text()
    assert not (result.record_dir / "phases" / "02-secret" / "env" / "extravars").exists()
    assert all(secret not in repr(e) and token not in repr(e) for e in events)
    # The extra-vars file lived outside the record and is gone.
    command = json.loads((result.record_dir / "phases" / "01-files" / "command").read_text())
    extravars_file = Path(command["command"][command["command"].index("-e") + 1][1:])
    assert not extravars_file.exists()


def test_interrupt_cancels_the_running_phase(tmp_path: Path) -> None:
    def sink(event: Event) -> None:
        # What Ctrl-C does: KeyboardInterrupt in the main thread, here while the task waits.
        if isinstance(event, TaskStarted) and event.host == "localhost":
            raise KeyboardInterrupt

    began = time.monotonic()
    result, _ = run(tmp_path / "runs", tmp_path, (phase("slow"), phase("more")), sink=sink)
    assert time.monotonic() - began < 30  # the task alone would wait 120 s
    assert result.status == "interrupted"
    summary = summary_of(result)
    assert summary["status"] == "interrupted"
    assert [p["status"] for p in summary["phases"]] == ["interrupted", "not-run"]
    assert_no_survivors(result.record_dir)
    assert not (tmp_path / "second.txt").exists()
    with pytest.raises(KeyboardInterrupt):
        result.raise_for_status()
    assert resume_point("fixture", tmp_path / "runs", (phase("slow"), phase("more"))) == "slow"


def test_real_sigint_is_an_interrupt(tmp_path: Path) -> None:
    timers: list[threading.Timer] = []

    def sink(event: Event) -> None:
        if isinstance(event, TaskStarted) and event.host == "localhost" and not timers:
            # A real SIGINT a moment later, while the engine waits on the queue.
            timers.append(threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGINT)))
            timers[0].start()

    began = time.monotonic()
    result, _ = run(tmp_path / "runs", tmp_path, (phase("slow"),), sink=sink)
    timers[0].join()
    assert time.monotonic() - began < 30
    assert result.status == "interrupted"
    assert summary_of(result)["phases"][0]["status"] == "interrupted"
    assert_no_survivors(result.record_dir)


def test_a_crashing_sink_stops_ansible_and_leaves_a_true_record(tmp_path: Path) -> None:
    def sink(event: Event) -> None:
        if isinstance(event, TaskStarted) and event.host == "localhost":
            raise RuntimeError("the UI broke")

    began = time.monotonic()
    with pytest.raises(RuntimeError, match="the UI broke"):
        run(tmp_path / "runs", tmp_path, (phase("slow"), phase("more")), sink=sink)
    assert time.monotonic() - began < 30  # ansible was cancelled, not waited for
    (record,) = (tmp_path / "runs" / "fixture").iterdir()
    summary = json.loads((record / "summary.json").read_text())
    assert summary["status"] == "failed"
    assert [p["status"] for p in summary["phases"]] == ["failed", "not-run"]
    assert_no_survivors(record)


def test_ansible_error_outside_tasks_is_the_failure_message(tmp_path: Path) -> None:
    result, _ = run(tmp_path / "runs", tmp_path, (phase("broken"),))
    assert result.status == "failed"
    assert result.failure is not None
    assert "fixture.missing.module" in result.failure.message


def test_missing_playbook_fails_the_phase(tmp_path: Path) -> None:
    result, _ = run(tmp_path / "runs", tmp_path, (phase("absent"), phase("more")))
    assert result.status == "failed"
    assert result.failure is not None and "absent.yml does not exist" in result.failure.message
    assert [p["status"] for p in summary_of(result)["phases"]] == ["failed", "not-run"]


def test_facts_gathered_by_one_phase_serve_the_next(tmp_path: Path) -> None:
    result, events = run(tmp_path / "runs", tmp_path, (phase("facts_gather"), phase("facts_reuse")))
    assert result.succeeded
    distribution = (tmp_path / "gathered").read_text().strip()
    # The second play asks for all facts; from the cache it gets the first one's min subset.
    assert (tmp_path / "reused").read_text().split() == [distribution, "min"]
    gathering = [e for e in events if isinstance(e, TaskStarted) and e.task == "Gathering Facts"]
    assert {e.phase for e in gathering} == {"facts_gather"}
    # The cache lives in the run's scratch directory, never in the record.
    assert not [p for p in result.record_dir.rglob("*") if p.name in ("fact_cache", "localhost")]


def test_runner_settings() -> None:
    env = runner_envvars(CONTENT, host_key_checking=True)
    assert env["ANSIBLE_ROLES_PATH"] == str(CONTENT / "roles")
    assert env["ANSIBLE_PIPELINING"] == "True"
    assert "ControlPersist=60s" in env["ANSIBLE_SSH_ARGS"]
    assert env["ANSIBLE_HOST_KEY_CHECKING"] == "True"
    assert "ANSIBLE_LIBRARY" not in env  # the fixture content has no library/
    assert "ANSIBLE_CACHE_PLUGIN" not in env
    cached = runner_envvars(CONTENT, fact_cache=Path("/s/facts"))
    assert (cached["ANSIBLE_GATHERING"], cached["ANSIBLE_CACHE_PLUGIN"]) == ("smart", "jsonfile")
    assert cached["ANSIBLE_CACHE_PLUGIN_CONNECTION"] == "/s/facts"
    assert runner_envvars(CONTENT, host_key_checking=False)["ANSIBLE_HOST_KEY_CHECKING"] == "False"
    assert runner_cmdline(check=True, diff=True, extravars_file=Path("/t/x y.json")) == (
        "--check --diff -e '@/t/x y.json'"
    )
    assert runner_cmdline(check=False, diff=False, extravars_file=None) == ""


def test_censored_results_are_never_copied() -> None:
    failed_item = {
        "event": "runner_on_failed",
        "event_data": {
            "host": "n1", "task": "T", "role": "r",
            "res": {"msg": "One or more items failed", "results": [
                {"failed": True, "censored": "hidden"}]},
        },
    }
    event = from_runner_event("p", failed_item)
    assert isinstance(event, HostResult)
    assert event.message == f"One or more items failed\n{NO_LOG_MESSAGE}"
    marked = {"event": "runner_on_failed",
              "event_data": {"host": "n1", "task": "T",
                             "res": {"_ansible_no_log": True, "msg": "pw=hunter2"}}}
    event = from_runner_event("p", marked)
    assert isinstance(event, HostResult) and "hunter2" not in event.message


def handover_of(result: RunResult) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((result.record_dir / "handover.json").read_text())
    return data


def test_handover_data_reaches_the_record_redacted(tmp_path: Path) -> None:
    token = f"{uuid.uuid4().hex[:6]}.{uuid.uuid4().hex[:16]}"
    result, _ = run(tmp_path / "runs", tmp_path, (phase("handover"),),
                    extravars={"fixture_token": token})
    assert result.status == "succeeded"
    data = handover_of(result)
    assert data["roles"] == {
        "demo": {"localhost": {"bridge_mappings": {"physnet1": "br-ex"},
                               "join_token": "<redacted>"}},
    }
    assert data["from"]["demo"] == {"run": result.summary.run_id, "phase": "handover"}
    assert stat.S_IMODE((result.record_dir / "handover.json").stat().st_mode) == 0o600
    assert token not in (result.record_dir / "handover.json").read_text()


def test_handover_data_carries_over_to_later_runs(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    first, _ = run(root, tmp_path, (phase("handover"),))
    # A later run that does not repeat the phase still holds its data, and says whence.
    later, _ = run(root, tmp_path, (phase("files"),))
    assert handover_of(later)["roles"] == handover_of(first)["roles"]
    assert handover_of(later)["from"]["demo"]["run"] == first.summary.run_id


def test_failed_or_check_runs_hand_nothing_over(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    checked, _ = run(root, tmp_path, (phase("handover"),), check=True)
    assert checked.status == "succeeded"
    later, _ = run(root, tmp_path, (phase("files"),))
    # Check mode predicts; a later real run must not build on a prediction.
    assert not (later.record_dir / "handover.json").exists()
