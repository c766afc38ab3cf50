"""`--vault-password-file`: taco site/aio hand it to ansible-playbook for the secrets file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from taco.engine.runner import runner_cmdline

ROOT = Path(__file__).resolve().parents[2]


def test_runner_cmdline_passes_the_password_file() -> None:
    line = runner_cmdline(check=False, diff=False, extravars_file=None,
                          vault_password_file=Path("/etc/taco/vault pass"))
    assert line == "--vault-password-file '/etc/taco/vault pass'"
    assert "vault" not in runner_cmdline(check=False, diff=False, extravars_file=None)


def test_a_missing_password_file_is_refused_before_anything_runs(tmp_path: Path) -> None:
    for command in ("site", "aio"):
        args = [command, "--vault-password-file", str(tmp_path / "nope")]
        if command == "site":
            args += ["-c", str(ROOT / "inventories" / "multinode" / "site.yml")]
        answer = subprocess.run([sys.executable, "-m", "taco.cli.main", *args],
                                capture_output=True, text=True, check=False,
                                env={"TACO_STATE_DIR": str(tmp_path / "state"),
                                     "PATH": "/usr/bin:/bin", "COLUMNS": "200"})
        assert answer.returncode == 2, answer.stderr
        assert "--vault-password-file" in answer.stderr
        assert "does not exist" in answer.stderr
        assert not (tmp_path / "state").exists()
