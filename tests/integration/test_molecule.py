"""Every role's molecule scenario (converge, idempotence, verify on a systemd node container)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# Every scenario of every role: (role directory, scenario name).
SCENARIOS = sorted((path.parent.parent.parent, path.parent.name) for path in
                   REPO.glob("roles/*/molecule/*/molecule.yml"))

pytestmark = pytest.mark.molecule


@pytest.mark.parametrize(("role", "scenario"), SCENARIOS,
                         ids=[f"{role.name}/{scenario}" for role, scenario in SCENARIOS])
def test_role_scenario(role: Path, scenario: str) -> None:
    if shutil.which("podman") is None:
        missing = pytest.fail if os.environ.get("CI") else pytest.skip
        missing("podman is not installed; run scripts/setup-machine.sh")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
           "ANSIBLE_FORCE_COLOR": "0", "PY_COLORS": "0"}
    result = subprocess.run(["molecule", "test", "-s", scenario], cwd=role, env=env,
                            capture_output=True, text=True, timeout=2700)
    if result.returncode != 0:
        sys.stdout.write(result.stdout[-20000:])
        sys.stderr.write(result.stderr[-8000:])
    assert result.returncode == 0, f"molecule test of {role.name} ({scenario}) failed"
    assert "idempotence" in (result.stdout + result.stderr).lower()
