"""Run records: layout, redaction, truthful summaries, listing and the resume point."""

from __future__ import annotations

import json
import re
import stat
from typing import TYPE_CHECKING, Any

import pytest
import yaml

from taco.engine.events import Failure, HostCounts, PhaseStatus
from taco.engine.phases import PHASES, Phase
from taco.engine.records import (
    REDACTED,
    RunRecord,
    RunStatus,
    list_runs,
    load_run,
    redact,
    resume_point,
)
from taco.errors import UsageError
from taco.site.model import Site

if TYPE_CHECKING:
    from pathlib import Path

ONE_TWO_THREE = (
    Phase("one", "One", "one.yml", ("all",), read_only=True),
    Phase("two", "Two", "two.yml", ("all",)),
    Phase("three", "Three", "three.yml", ("all",)),
)


def recorded(
    root: Path,
    statuses: list[PhaseStatus],
    *,
    site: str = "demo",
    check: bool = False,
    finish: RunStatus | None = None,
) -> RunRecord:
    """A record whose phases ended as `statuses` ("running" leaves one as a crash would)."""
    record = RunRecord.create(site, "taco site -c demo.yml", root=root, check=check)
    record.begin(ONE_TWO_THREE)
    for phase, status in zip(ONE_TWO_THREE, statuses, strict=False):
        record.phase_started(phase.name)
        if status != "running":
            record.phase_finished(phase.name, status, duration_s=1.5,
                                  hosts={"n1": HostCounts(ok=3, changed=1)}, failure=None)
    if finish:
        record.finish(finish)
    return record


def test_record_layout_and_modes(tmp_path: Path) -> None:
    record = RunRecord.create("demo", "taco site", root=tmp_path / "runs")
    assert record.path.parent == tmp_path / "runs" / "demo"
    assert re.fullmatch(r"\d{8}-\d{6}-[0-9a-f]{6}", record.run_id)
    assert record.path.name == record.run_id
    assert stat.S_IMODE(record.path.stat().st_mode) == 0o700
    summary = json.loads((record.path / "summary.json").read_text())
    assert summary["status"] == "running" and summary["finished"] is None
    assert stat.S_IMODE((record.path / "summary.json").stat().st_mode) == 0o600
    phase_dir = record.phase_dir(2, "network")
    assert phase_dir == record.path / "phases" / "02-network"
    assert stat.S_IMODE(phase_dir.stat().st_mode) == 0o700


def test_default_root_is_the_state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TACO_STATE_DIR", str(tmp_path))
    record = RunRecord.create("demo", "taco site")
    assert record.path.parent == tmp_path / "runs" / "demo"
    assert [run.run_id for run in list_runs("demo")] == [record.run_id]


def test_summary_is_truthful_at_every_step(tmp_path: Path) -> None:
    record = RunRecord.create("demo", "taco site", root=tmp_path)
    record.begin(ONE_TWO_THREE)

    def on_disk() -> Any:
        return json.loads((record.path / "summary.json").read_text())

    assert [p["status"] for p in on_disk()["phases"]] == ["not-run"] * 3
    record.phase_started("one")
    assert on_disk()["phases"][0]["status"] == "running"
    record.phase_finished("one", "failed", duration_s=2.25,
                          hosts={"n1": HostCounts(ok=1, failed=1)},
                          failure=Failure("n1", "Check | Assert", "too little memory"))
    record.finish("failed")
    data = on_disk()
    first = data["phases"][0]
    assert first["status"] == "failed"
    assert first["duration_s"] == 2.25
    assert first["hosts"] == {"n1": {"ok": 1, "changed": 0, "failed": 1, "unreachable": 0,
                                     "skipped": 0}}
    assert first["failure"] == {"host": "n1", "task": "Check | Assert",
                                "message": "too little memory"}
    assert data["status"] == "failed" and data["finished"] is not None
    assert not list(record.path.glob(".summary.json.*"))  # no temp files left behind
    loaded = load_run(record.run_id, tmp_path)
    assert loaded == record.summary


def test_redact_hides_secrets_and_keeps_paths() -> None:
    pem = "-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH PRIVATE KEY-----\n"
    data = {
        "ansible_ssh_private_key_file": "/keys/id_ed25519",
        "ssh": {"private_key": "/keys/id_ed25519", "user": "root"},
        "ansible_become_password": "hunter2",
        "registry_token": "t0k3n",
        "db_secret": "s",
        "tls_key_pem": "x",
        "aws_access_key": "AKIA",
        "unset_password": None,
        "extra": {"payload": pem, "list": [{"api_key": "k"}, "plain"]},
        "taco_mirrors": {"apt": "http://user:pw@mirror.example/debian",
                         "registry": "https://registry.example:5000"},
        "api_port": 6443,
    }
    clean = redact(data)
    assert clean["ansible_ssh_private_key_file"] == "/keys/id_ed25519"
    assert clean["ssh"] == {"private_key": "/keys/id_ed25519", "user": "root"}
    for key in ("ansible_become_password", "registry_token", "db_secret", "tls_key_pem",
                "aws_access_key"):
        assert clean[key] == REDACTED, key
    assert clean["unset_password"] is None
    assert clean["extra"] == {"payload": REDACTED, "list": [{"api_key": REDACTED}, "plain"]}
    assert clean["taco_mirrors"] == {"apt": f"http://user:{REDACTED}@mirror.example/debian",
                                     "registry": "https://registry.example:5000"}
    assert clean["api_port"] == 6443
    assert data["registry_token"] == "t0k3n"  # the input is left alone


def test_site_yml_is_the_redacted_site(tmp_path: Path) -> None:
    site = Site.model_validate({
        "name": "demo",
        "ssh": {"private_key": "/keys/id_ed25519"},
        "networks": {"management": {"purpose": "management", "cidr": "10.77.0.0/24"}},
        "nodes": [{"name": "node1", "address": "10.77.0.11", "roles": ["control-plane"]}],
        "extra_vars": {"registry_password": "hunter2", "dashboard_theme": "dark"},
    })
    record = RunRecord.create("demo", "taco site", root=tmp_path)
    path = record.write_site(site)
    text = path.read_text()
    assert "hunter2" not in text
    written = yaml.safe_load(text)
    assert written["ssh"]["private_key"] == "/keys/id_ed25519"
    assert written["extra_vars"] == {"registry_password": REDACTED, "dashboard_theme": "dark"}
    assert written["nodes"][0]["roles"] == ["control-plane"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_list_and_load_runs(tmp_path: Path) -> None:
    older = recorded(tmp_path, ["succeeded"] * 3, finish="succeeded")
    newer = recorded(tmp_path, ["failed"], finish="failed")
    other = recorded(tmp_path, ["succeeded"], site="other", finish="succeeded")
    (tmp_path / "demo" / "junk").mkdir()
    (tmp_path / "demo" / "junk" / "summary.json").write_text("{not json")
    assert [r.run_id for r in list_runs("demo", tmp_path)] == [newer.run_id, older.run_id]
    assert {r.run_id for r in list_runs(None, tmp_path)} == {
        older.run_id, newer.run_id, other.run_id}
    assert list_runs("demo", tmp_path / "nowhere") == []
    loaded = load_run(newer.run_id, tmp_path)
    assert loaded.status == "failed" and loaded.site == "demo"
    assert loaded.phases[0].hosts == {"n1": HostCounts(ok=3, changed=1)}
    assert loaded.phases[1].status == "not-run"
    with pytest.raises(UsageError, match="no run 'nope'"):
        load_run("nope", tmp_path)


def test_load_run_by_unique_prefix(tmp_path: Path) -> None:
    record = recorded(tmp_path, [], finish="succeeded")
    assert load_run(record.run_id[:-2], tmp_path).run_id == record.run_id
    recorded(tmp_path, [], finish="succeeded")
    with pytest.raises(UsageError, match="ambiguous"):
        load_run(record.run_id[:8], tmp_path)


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        (["succeeded", "failed"], "two"),
        (["succeeded", "succeeded", "interrupted"], "three"),
        (["succeeded", "running"], "two"),  # a crash mid-phase
        (["failed"], "one"),
        (["succeeded", "succeeded", "not-run"], "three"),
        (["succeeded", "skipped", "succeeded"], None),
        (["succeeded", "succeeded", "succeeded"], None),
    ],
)
def test_resume_point(tmp_path: Path, statuses: list[PhaseStatus], expected: str | None) -> None:
    recorded(tmp_path, ["failed"], finish="failed")  # older runs do not matter
    recorded(tmp_path, statuses, finish="failed")
    assert resume_point("demo", tmp_path, ONE_TWO_THREE) == expected


def test_resume_point_without_runs_and_across_sites(tmp_path: Path) -> None:
    assert resume_point("demo", tmp_path, ONE_TWO_THREE) is None
    recorded(tmp_path, ["succeeded", "failed"], site="other", finish="failed")
    assert resume_point("demo", tmp_path, ONE_TWO_THREE) is None
    assert resume_point("other", tmp_path, ONE_TWO_THREE) == "two"


def test_resume_point_ignores_check_runs(tmp_path: Path) -> None:
    recorded(tmp_path, ["succeeded", "failed"], finish="failed")
    recorded(tmp_path, ["succeeded"] * 3, check=True, finish="succeeded")
    assert resume_point("demo", tmp_path, ONE_TWO_THREE) == "two"


def test_resume_point_judges_only_phases_the_run_had(tmp_path: Path) -> None:
    # An --only run of one phase, then asked about the real phase list.
    record = RunRecord.create("demo", "taco site --only os_bootstrap", root=tmp_path)
    record.begin((PHASES[1],))
    record.phase_started(PHASES[1].name)
    record.phase_finished(PHASES[1].name, "failed", duration_s=1.0, hosts={}, failure=None)
    record.finish("failed")
    assert resume_point("demo", tmp_path, PHASES) == "os_bootstrap"
