"""`taco verify` on the command line: which site it verifies, and its usage errors (exit 2)."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path


def taco(*args: str, state: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200", "TACO_STATE_DIR": str(state)}
    return subprocess.run([sys.executable, "-m", "taco.cli.main", *args], capture_output=True,
                          text=True, timeout=120, env=env, check=False)


def test_help_documents_the_exit_codes_and_the_one_write(tmp_path: Path) -> None:
    result = taco("verify", "--help", state=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Exit 0 when no check failed, 7 when one did" in result.stdout
    assert "--junit-xml" in result.stdout
    assert "hello TaskRun" in result.stdout


def test_a_site_is_required(tmp_path: Path) -> None:
    result = taco("verify", state=tmp_path)
    assert result.returncode == 2
    assert "-c SITE_FILE, or --aio" in result.stderr


def test_aio_options_need_aio(tmp_path: Path) -> None:
    result = taco("verify", "--host", "10.0.0.5", "--cidr", "10.0.0.0/24", state=tmp_path)
    assert result.returncode == 2
    assert "--host, --cidr describe(s) the AIO node: add --aio" in result.stderr


def test_aio_validates_its_site_like_taco_aio(tmp_path: Path) -> None:
    result = taco("verify", "--aio", "--host", "not-an-address", state=tmp_path)
    assert result.returncode == 2
    assert "--host 'not-an-address' is not an IP address" in result.stderr
    result = taco("verify", "--aio", "--host", "10.0.0.5", "--set", "kubernetes.cni=flannel",
                  state=tmp_path)
    assert result.returncode == 2
    assert "kubernetes.cni" in result.stderr


def test_an_invalid_site_file_exits_2_before_any_host(tmp_path: Path) -> None:
    site = tmp_path / "site.yml"
    site.write_text("name: demo\nnodes: []\n")
    result = taco("verify", "-c", str(site), state=tmp_path)
    assert result.returncode == 2
    assert str(site) in result.stderr
    assert not (tmp_path / "runs").exists()
