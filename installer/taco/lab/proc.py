"""Run host commands for the lab: argv lists only, failures become LabError."""

from __future__ import annotations

import shutil
import subprocess
from typing import TYPE_CHECKING

from taco.errors import LabError

if TYPE_CHECKING:
    from collections.abc import Sequence


def require(*tools: str) -> None:
    """Fail early, naming the missing tool, rather than midway through a build."""
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if missing:
        raise LabError(
            f"missing on this machine: {', '.join(missing)}; run scripts/setup-machine.sh"
        )


def run(
    argv: Sequence[str],
    *,
    input_text: str | None = None,
    timeout: float | None = 600,
) -> str:
    """Run argv, return stdout; a non-zero exit raises LabError carrying stderr."""
    try:
        done = subprocess.run(
            list(argv),
            input=input_text,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError as exc:
        raise LabError(f"{argv[0]} is not installed; run scripts/setup-machine.sh") from exc
    except subprocess.TimeoutExpired as exc:
        raise LabError(f"{' '.join(argv)} did not finish within {timeout} s") from exc
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip()
        raise LabError(f"{' '.join(argv)} failed (exit {done.returncode}): {detail}")
    return done.stdout


def probe(argv: Sequence[str], *, timeout: float | None = 60) -> subprocess.CompletedProcess[str]:
    """Run argv whose failure is an answer, not an error (exists? running?)."""
    return subprocess.run(
        list(argv), capture_output=True, text=True, timeout=timeout, check=False
    )
