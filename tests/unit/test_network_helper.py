"""The network helper's dead-man handshake: one switch-over is either kept or rolled back.

Only `confirm` runs here (it touches nothing but its state directory); a confirmed
switch-over's rollback being a no-op is checked on a lab node in test_network_rollback.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HELPER = Path(__file__).parents[2] / "roles/network/files/taco-network.py"


def saved_state(tmp_path: Path, switch_over: str = "a1") -> Path:
    (tmp_path / "manifest.json").write_text(json.dumps({"id": switch_over, "created": 0}))
    return tmp_path


def confirm(state: Path) -> tuple[int, dict[str, object]]:
    done = subprocess.run([sys.executable, str(HELPER), "confirm", f"--state-dir={state}"],
                          capture_output=True, text=True, timeout=30, check=False)
    return done.returncode, json.loads(done.stdout)


def test_confirm_keeps_the_switch_over(tmp_path: Path) -> None:
    state = saved_state(tmp_path)

    rc, answer = confirm(state)

    assert (rc, answer["confirmed"]) == (0, True)
    assert (state / "confirmed").read_text() == "a1"


def test_confirm_fails_once_the_rollback_has_begun(tmp_path: Path) -> None:
    state = saved_state(tmp_path)
    (state / "rollback-begun").write_text("a1")

    rc, answer = confirm(state)

    assert rc == 1 and answer["ok"] is False
    assert "rollback began" in str(answer["error"])
    assert not (state / "confirmed").exists()


def test_a_rollback_of_an_earlier_switch_over_does_not_block_this_one(tmp_path: Path) -> None:
    state = saved_state(tmp_path, "b2")
    (state / "rollback-begun").write_text("a1")

    rc, _ = confirm(state)

    assert rc == 0
    assert (state / "confirmed").read_text() == "b2"
