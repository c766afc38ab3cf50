"""Serve the stand-in test mirror for this scenario and write the catalog the roles read.

    standin_mirror.py up STATE_DIR     build (or reuse) the mirror, serve it on loopback,
                                       write STATE_DIR/standin.yml (taco_artifacts, ...)
    standin_mirror.py down STATE_DIR   stop the server started by `up`

The mirror is tests/standins/build_mirror.py's, cached where the pytest fixture keeps it
($TMPDIR/taco-standin-mirror-<hash>), so both share one build. The catalog is what taco's
inventory gives as taco_artifacts for a site pointing at this mirror.
Run with the project's venv Python (it imports taco and the stand-ins' builder).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[4]
sys.path.insert(0, str(REPO / "tests" / "standins"))

import build_mirror  # noqa: E402

from taco.artifacts.manifest import load_manifest  # noqa: E402
from taco.artifacts.resolve import artifacts_var, release_files  # noqa: E402


def mirror_dir() -> Path:
    """The built mirror, shared with the pytest fixture `standin_mirror`."""
    cache = Path(tempfile.gettempdir()) / f"taco-standin-mirror-{build_mirror.cache_key()[:16]}"
    if not (cache / "artifacts.yml").exists():
        partial = cache.with_name(cache.name + f".partial{os.getpid()}")
        build_mirror.build(partial)
        try:
            partial.rename(cache)
        except OSError:  # another build finished first
            shutil.rmtree(partial, ignore_errors=True)
    return cache


def catalog(directory: Path, base: str) -> dict[str, Any]:
    """taco_artifacts for the mirror's default release, as taco's inventory resolves it
    for a site with mirrors.artifacts = base and mirrors.artifact_manifest = the mirror's."""
    manifest = load_manifest(directory / "artifacts.yml")
    files = release_files(manifest, manifest.default_release, mirror=base)
    for item in files:
        if not (directory / item.path).is_file():
            raise SystemExit(f"{item.label}: {item.path} is not in the mirror {directory}")
    return artifacts_var(files)


def alive(pid_file: Path) -> int | None:
    """The pid of our server when it still runs (and is an http.server), else None."""
    try:
        pid = int(pid_file.read_text())
        command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (OSError, ValueError):
        return None
    return pid if b"http.server" in command else None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def up(state: Path) -> None:
    state.mkdir(parents=True, exist_ok=True)
    directory = mirror_dir()
    pid_file, url_file = state / "mirror.pid", state / "mirror.url"
    if alive(pid_file) is None:
        port = free_port()
        with (state / "mirror.log").open("ab") as log:
            server = subprocess.Popen(
                [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port),
                 "--directory", str(directory)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
        pid_file.write_text(str(server.pid))
        url_file.write_text(f"http://127.0.0.1:{port}")
    url = url_file.read_text().strip()
    port = int(url.rsplit(":", 1)[1])
    for _ in range(50):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
            break
        except OSError:
            time.sleep(0.2)
    else:
        raise SystemExit(f"the mirror server at {url} does not answer; see {state}/mirror.log")
    written = {"taco_artifacts": catalog(directory, url),
               "kubernetes_test_mirror_url": url,
               "kubernetes_test_mirror_dir": str(directory)}
    (state / "standin.yml").write_text(yaml.safe_dump(written, sort_keys=True))
    print(url)


def down(state: Path) -> None:
    pid = alive(state / "mirror.pid")
    if pid is not None:
        os.killpg(pid, signal.SIGTERM)
    (state / "mirror.pid").unlink(missing_ok=True)


def main() -> int:
    if len(sys.argv) != 3 or sys.argv[1] not in ("up", "down"):
        print(__doc__, file=sys.stderr)
        return 2
    (up if sys.argv[1] == "up" else down)(Path(sys.argv[2]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
