"""Lab fixtures: real labs brought up through the real CLI, always torn down."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

IMAGE = "localhost/taco-node:bookworm"

# Minutes each long test (module or molecule scenario) took in a full run (`--durations`).
# xdist hands out single tests in collection order: the longest go first, so the two workers
# end together instead of one running a long scenario alone. Unlisted tests count as short.
MINUTES = {
    "test_site.py": 40, "test_aio.py": 13, "roles/kubernetes/default": 10,
    "test_network_rollback.py": 10, "roles/cni/default": 6, "roles/tekton/default": 5,
    "roles/network/default": 4, "roles/verify/default": 3, "roles/api_loadbalancer/default": 3,
    "roles/prow/default": 3, "roles/container_runtime/default": 3,
    "roles/handover/default": 3, "roles/storage/default": 2, "roles/node_labels/default": 2,
    "roles/os_bootstrap/default": 2,
}


def expected_minutes(item: pytest.Item) -> int:
    role = item.callspec.params.get("role") if hasattr(item, "callspec") else None
    if role is not None:
        return MINUTES.get(f"roles/{role.name}/{item.callspec.params['scenario']}", 3)
    return MINUTES.get(item.path.name, 0)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Stable: the tests of one module keep their order (they may build on each other).
    items.sort(key=lambda item: -expected_minutes(item))


def pytest_collection_finish(session: pytest.Session) -> None:
    """Modules that share a lab must stay on one worker: stop if xdist does not group them."""
    if not session.config.getoption("loadgroup", default=False):
        return
    for item in session.items:
        group = item.get_closest_marker("xdist_group")
        if group is not None and not item.nodeid.endswith(f"@{group.args[0]}"):
            raise pytest.UsageError(
                f"pytest-xdist's loadgroup did not group {item.nodeid} (pytest "
                f"{pytest.__version__}); install the pytest pyproject.toml pins")


@dataclass
class Lab:
    """A lab started by `lab_factory`, and how to drive the CLI with its state dir."""

    name: str
    state_dir: Path
    env: dict[str, str] = field(repr=False)

    @property
    def directory(self) -> Path:
        return self.state_dir / "labs" / self.name

    @property
    def site_file(self) -> Path:
        return self.directory / "site.yml"

    def cli(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return run_lab_cli(self.env, *args, timeout=timeout)


def run_lab_cli(
    env: dict[str, str], *args: str, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """The real `taco lab` (as a module: works whatever state cli/main.py is in)."""
    return subprocess.run([sys.executable, "-m", "taco.cli.lab", *args], env=env,
                          capture_output=True, text=True, timeout=timeout, check=False)


def _require_lab_host() -> None:
    # CI must run these tests: a missing prerequisite there is a failure, not a skip.
    missing = pytest.fail if os.environ.get("CI") else pytest.skip
    if shutil.which("podman") is None:
        missing("podman is not installed; run scripts/setup-machine.sh")
    if os.geteuid() != 0:
        missing("labs need root (privileged containers, loop devices)")
    found = subprocess.run(["podman", "image", "exists", IMAGE], check=False)
    if found.returncode != 0:
        missing(f"no {IMAGE}; build it with `taco lab image`")


@pytest.fixture(scope="module")
def lab_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Lab]]:
    """Start labs in a private TACO_STATE_DIR; every lab is removed afterwards, pass or fail."""
    _require_lab_host()
    state_dir = tmp_path_factory.mktemp("taco-state")
    env = {**os.environ, "TACO_STATE_DIR": str(state_dir), "NO_COLOR": "1"}
    started: list[Lab] = []

    def factory(nodes: int = 3, *, jump: bool = False, disks: int = 0,
                disk_size: str = "1G") -> Lab:
        # Random: container and network names are global to the machine.
        lab = Lab(name=f"it-{secrets.token_hex(3)}", state_dir=state_dir, env=env)
        started.append(lab)
        args = ["up", lab.name, "--nodes", str(nodes), "--disks", str(disks),
                "--disk-size", disk_size]
        result = lab.cli(*args, *(["--jump"] if jump else []))
        assert result.returncode == 0, f"lab up failed:\n{result.stdout}\n{result.stderr}"
        return lab

    yield factory
    failures = []
    for lab in started:
        result = lab.cli("down", lab.name)
        if result.returncode != 0:
            failures.append(f"{lab.name}: {result.stderr}")
    assert not failures, f"lab down failed: {failures}"
