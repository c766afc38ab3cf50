"""`taco mirror`: sync, verify and serve against a real HTTP server on loopback.

"Upstream" is tests/unit/fileserver.py (real sockets, misbehaving on request); the
manifest is written per test with digests computed from the served bytes. Retries
use short delays through RetryPolicy, never a patched urllib or sleep.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import subprocess
import sys
import threading
import time
import urllib.request
from typing import TYPE_CHECKING

import pytest
import yaml
from fileserver import FileServer, closed_port

from taco.artifacts.download import ChecksumMismatch, DownloadFailed, RetryPolicy, download
from taco.artifacts.lock import LOCK_FILENAME, Lock, load_lock
from taco.artifacts.manifest import Manifest, load_manifest
from taco.artifacts.mirror import (
    INDEX_FILENAME,
    UnrecordedDigests,
    read_index,
    sync,
    verify,
)
from taco.artifacts.resolve import ArtifactFile, release_files
from taco.artifacts.serve import make_server
from taco.errors import ArtifactError, UsageError

if TYPE_CHECKING:
    from collections.abc import Iterator
    from http.server import ThreadingHTTPServer
    from pathlib import Path

FAST = RetryPolicy(attempts=3, delay=0.05, timeout=5)
TOOL_AMD64 = os.urandom(300_000)
TOOL_ARM64 = os.urandom(2_000)
BUNDLE = b"\x1f\x8b" + os.urandom(50_000)
CRD = b"apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\n"


@pytest.fixture
def upstream() -> Iterator[FileServer]:
    files = {"/dl/v1.35.4/amd64/tool": TOOL_AMD64, "/dl/v1.35.4/arm64/tool": TOOL_ARM64,
             "/rel/bundle-2.0-amd64.tgz": BUNDLE, "/rel/bundle-2.0-arm64.tgz": BUNDLE[::-1],
             "/crd/v7/crd.yaml": CRD}
    with FileServer(files) as server:
        yield server


def write_manifest(path: Path, server: FileServer, base: str | None = None) -> Path:
    """A small manifest whose digests are those of the files `server` serves."""
    base = base or server.base

    def sha(name: str) -> str:
        return server.digest(name)

    path.write_text(yaml.safe_dump({
        "schema": 1,
        "default_release": "1.35",
        "releases": {"1.35": {"kubeadm": "1.35.4", "bundle": "2.0", "crd": "7"}},
        "artifacts": {
            "kubeadm": {"kind": "binary", "url": base + "/dl/v{version}/{arch}/tool",
                        "filename": "kubeadm", "versions": {"1.35.4": {
                            "amd64": sha("/dl/v1.35.4/amd64/tool"),
                            "arm64": sha("/dl/v1.35.4/arm64/tool")}}},
            "bundle": {"kind": "archive", "url": base + "/rel/bundle-{version}-{arch}.tgz",
                       "filename": "bundle-{version}.tgz", "versions": {"2.0": {
                           "amd64": sha("/rel/bundle-2.0-amd64.tgz"),
                           "arm64": sha("/rel/bundle-2.0-arm64.tgz")}}},
            "crd": {"kind": "manifest", "url": base + "/crd/v{version}/crd.yaml",
                    "versions": {"7": {"all": "recorded"}}},
        },
    }, sort_keys=False))
    return path


@pytest.fixture
def manifest(tmp_path: Path, upstream: FileServer) -> Manifest:
    return load_manifest(write_manifest(tmp_path / "manifest.yml", upstream))


def files_of(manifest: Manifest, lock: Lock | None = None,
             arches: tuple[str, ...] = ("amd64", "arm64")) -> list[ArtifactFile]:
    return release_files(manifest, "1.35", arches, lock)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def leftovers(directory: Path) -> list[Path]:
    return [p for p in directory.rglob("*") if p.name.endswith(".part")]


# -- sync -----------------------------------------------------------------------------


def test_sync_fetches_verifies_and_records(
    tmp_path: Path, manifest: Manifest, upstream: FileServer
) -> None:
    mirror, lock_path = tmp_path / "mirror", tmp_path / "mirror" / LOCK_FILENAME
    lines: list[str] = []
    result = sync(mirror, files_of(manifest), lock=Lock(), lock_path=lock_path,
                  record_digests=True, policy=FAST, log=lines.append)
    assert len(result.fetched) == 4 and len(result.recorded) == 1
    assert (mirror / "kubeadm/1.35.4/amd64/kubeadm").read_bytes() == TOOL_AMD64
    assert (mirror / "kubeadm/1.35.4/arm64/kubeadm").read_bytes() == TOOL_ARM64
    assert (mirror / "bundle/2.0/arm64/bundle-2.0.tgz").read_bytes() == BUNDLE[::-1]
    assert (mirror / "crd/7/all/crd.yaml").read_bytes() == CRD
    assert load_lock(lock_path).digest("crd", "7", "all") == sha256(CRD)
    index = read_index(mirror)
    assert index["crd/7/all/crd.yaml"] == sha256(CRD)
    assert index["kubeadm/1.35.4/amd64/kubeadm"] == sha256(TOOL_AMD64)
    assert len(index) == 5
    assert not leftovers(mirror)
    assert any(line.startswith("recorded crd/7/all/crd.yaml") for line in lines)


def test_second_sync_downloads_nothing(
    tmp_path: Path, manifest: Manifest, upstream: FileServer
) -> None:
    mirror = tmp_path / "mirror"
    sync(mirror, files_of(manifest), lock=Lock(), lock_path=mirror / LOCK_FILENAME,
         record_digests=True, policy=FAST)
    assert sum(upstream.requests.values()) == 5
    lock = load_lock(mirror / LOCK_FILENAME)
    again = sync(mirror, files_of(manifest, lock), lock=lock, lock_path=mirror / LOCK_FILENAME,
                 policy=FAST)
    assert sum(upstream.requests.values()) == 5, "nothing fetched a second time"
    assert len(again.present) == 5 and not again.fetched


def test_a_damaged_local_file_is_fetched_again(
    tmp_path: Path, manifest: Manifest, upstream: FileServer
) -> None:
    mirror = tmp_path / "mirror"
    files = files_of(manifest, arches=("amd64",))
    published = [f for f in files if f.sha256 is not None]
    sync(mirror, published, lock=Lock(), lock_path=tmp_path / "lock.yml", policy=FAST)
    target = mirror / "kubeadm/1.35.4/amd64/kubeadm"
    target.write_bytes(b"half")
    result = sync(mirror, published, lock=Lock(), lock_path=tmp_path / "lock.yml", policy=FAST)
    assert [f.path for f in result.fetched] == ["kubeadm/1.35.4/amd64/kubeadm"]
    assert target.read_bytes() == TOOL_AMD64


def test_unrecorded_files_are_skipped_and_reported(
    tmp_path: Path, manifest: Manifest, upstream: FileServer
) -> None:
    mirror = tmp_path / "mirror"
    with pytest.raises(UnrecordedDigests) as raised:
        sync(mirror, files_of(manifest), lock=Lock(), lock_path=mirror / LOCK_FILENAME,
             policy=FAST)
    text = str(raised.value)
    assert "crd/7/all/crd.yaml" in text
    assert "--record-digests" in text
    assert upstream.requests["/crd/v7/crd.yaml"] == 0, "nothing fetched without a digest"
    assert not (mirror / "crd").exists()
    assert len(read_index(mirror)) == 4, "the files with digests were still fetched"
    assert not (mirror / LOCK_FILENAME).exists()
    assert raised.value.exit_code == 6


def test_a_recorded_digest_is_enforced_later(
    tmp_path: Path, manifest: Manifest, upstream: FileServer
) -> None:
    mirror, lock_path = tmp_path / "mirror", tmp_path / "site.lock.yml"
    crd = [f for f in files_of(manifest) if f.name == "crd"]
    sync(mirror, crd, lock=Lock(), lock_path=lock_path, record_digests=True, policy=FAST)
    upstream.files["/crd/v7/crd.yaml"] = CRD + b"# changed upstream\n"
    (mirror / "crd/7/all/crd.yaml").unlink()
    lock = load_lock(lock_path)
    with pytest.raises(ChecksumMismatch) as raised:
        sync(tmp_path / "other", [f for f in files_of(manifest, lock) if f.name == "crd"],
             lock=lock, lock_path=lock_path, record_digests=True, policy=FAST)
    assert raised.value.expected == sha256(CRD)
    assert raised.value.actual == sha256(CRD + b"# changed upstream\n")


def test_corrupt_upstream_file_is_a_hard_stop(
    tmp_path: Path, manifest: Manifest, upstream: FileServer
) -> None:
    mirror = tmp_path / "mirror"
    corrupted = bytearray(TOOL_AMD64)
    corrupted[1000] ^= 0xFF
    upstream.files["/dl/v1.35.4/amd64/tool"] = bytes(corrupted)
    with pytest.raises(ChecksumMismatch) as raised:
        sync(mirror, files_of(manifest), lock=Lock(), lock_path=mirror / LOCK_FILENAME,
             record_digests=True, policy=FAST)
    text = str(raised.value)
    assert "kubeadm/1.35.4/amd64/kubeadm" in text
    assert f"expected sha256 {sha256(TOOL_AMD64)}" in text
    assert f"actual sha256   {sha256(bytes(corrupted))}" in text
    assert raised.value.exit_code == 6
    assert upstream.requests["/dl/v1.35.4/amd64/tool"] == 1, "a mismatch is not retried"
    assert upstream.requests["/dl/v1.35.4/arm64/tool"] == 0, "the sync stopped there"
    assert not (mirror / "kubeadm/1.35.4/amd64/kubeadm").exists()
    assert not leftovers(mirror)


def test_server_down_is_retried_then_a_clear_error(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{closed_port()}/kubeadm"
    retries: list[tuple[int, float]] = []
    started = time.monotonic()
    with pytest.raises(DownloadFailed) as raised:
        download(url, tmp_path / "out" / "kubeadm", "0" * 64, policy=FAST,
                 on_retry=lambda attempt, reason, wait: retries.append((attempt, wait)))
    elapsed = time.monotonic() - started
    assert retries == [(1, 0.05), (2, 0.1)], "exponential backoff between the attempts"
    assert elapsed >= 0.15
    text = str(raised.value)
    assert url in text
    assert "gave up after 3 attempts" in text
    assert "connection refused" in text
    assert list((tmp_path / "out").iterdir()) == []


def test_unavailable_answers_are_retried(
    tmp_path: Path, manifest: Manifest, upstream: FileServer
) -> None:
    upstream.unavailable["/dl/v1.35.4/amd64/tool"] = 2
    lines: list[str] = []
    mirror = tmp_path / "mirror"
    sync(mirror, files_of(manifest, arches=("amd64",))[:1], lock=Lock(),
         lock_path=tmp_path / "l.yml", policy=FAST, log=lines.append)
    assert upstream.requests["/dl/v1.35.4/amd64/tool"] == 3
    assert (mirror / "kubeadm/1.35.4/amd64/kubeadm").read_bytes() == TOOL_AMD64
    assert sum("503" in line for line in lines) == 2


def test_a_body_broken_off_is_retried_and_never_kept(
    tmp_path: Path, manifest: Manifest, upstream: FileServer
) -> None:
    upstream.truncate["/dl/v1.35.4/amd64/tool"] = 1
    mirror = tmp_path / "mirror"
    sync(mirror, files_of(manifest, arches=("amd64",))[:1], lock=Lock(),
         lock_path=tmp_path / "l.yml", policy=FAST)
    assert upstream.requests["/dl/v1.35.4/amd64/tool"] == 2
    assert (mirror / "kubeadm/1.35.4/amd64/kubeadm").read_bytes() == TOOL_AMD64


def test_not_found_is_not_retried(tmp_path: Path, upstream: FileServer) -> None:
    with pytest.raises(DownloadFailed) as raised:
        download(upstream.url("/nothing"), tmp_path / "x", None, policy=FAST)
    assert upstream.requests["/nothing"] == 1
    assert "404" in str(raised.value)
    assert not (tmp_path / "x").exists()


# -- verify ---------------------------------------------------------------------------


@pytest.fixture
def synced(tmp_path: Path, manifest: Manifest, upstream: FileServer) -> Path:
    mirror = tmp_path / "mirror"
    sync(mirror, files_of(manifest), lock=Lock(), lock_path=mirror / LOCK_FILENAME,
         record_digests=True, policy=FAST)
    return mirror


def test_verify_passes_then_finds_a_flipped_byte_and_a_missing_file(synced: Path) -> None:
    assert verify(synced).ok
    target = synced / "bundle/2.0/amd64/bundle-2.0.tgz"
    data = bytearray(target.read_bytes())
    data[7] ^= 0x01
    target.write_bytes(bytes(data))
    (synced / "crd/7/all/crd.yaml").unlink()
    result = verify(synced)
    assert not result.ok
    assert result.missing == ["crd/7/all/crd.yaml"]
    assert result.mismatched == [("bundle/2.0/amd64/bundle-2.0.tgz", sha256(BUNDLE),
                                  sha256(bytes(data)))]
    assert len(result.good) == 3
    assert any("expected sha256" in line for line in result.problems())


def test_verify_against_the_manifest_finds_what_was_never_synced(
    tmp_path: Path, manifest: Manifest, synced: Path
) -> None:
    lock = load_lock(synced / LOCK_FILENAME)
    assert verify(synced, files_of(manifest, lock)).ok
    (synced / INDEX_FILENAME).write_text("schema: 1\nfiles: {}\n")
    (synced / "kubeadm/1.35.4/arm64/kubeadm").unlink()
    result = verify(synced, files_of(manifest, lock))
    assert result.missing == ["kubeadm/1.35.4/arm64/kubeadm"]
    unlocked = verify(synced, files_of(manifest))
    assert unlocked.unrecorded == ["crd/7/all/crd.yaml"]


def test_verify_needs_a_mirror(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match=r"taco-mirror\.yml"):
        verify(tmp_path)
    (tmp_path / INDEX_FILENAME).write_text("schema: 1\nfiles:\n  ../../etc/passwd: abc\n")
    with pytest.raises(ArtifactError, match="not a mirror path"):
        verify(tmp_path)


# -- serve ----------------------------------------------------------------------------


@pytest.fixture
def served(synced: Path) -> Iterator[tuple[ThreadingHTTPServer, str]]:
    server = make_server(synced, "127.0.0.1", 0, quiet=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def _status(base: str, method: str, path: str) -> int:
    host, port = base.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=5)
    try:
        connection.request(method, path)
        return connection.getresponse().status
    finally:
        connection.close()


def test_serve_serves_the_layout_and_a_second_mirror_syncs_from_it(
    tmp_path: Path, manifest: Manifest, synced: Path,
    served: tuple[ThreadingHTTPServer, str],
) -> None:
    _, base = served
    with urllib.request.urlopen(f"{base}/kubeadm/1.35.4/amd64/kubeadm", timeout=5) as answer:
        assert answer.read() == TOOL_AMD64
    lock = load_lock(synced / LOCK_FILENAME)
    chained = release_files(manifest, "1.35", ("amd64", "arm64"), lock, mirror=base)
    assert all(f.url.startswith(base) for f in chained)
    second = tmp_path / "second"
    result = sync(second, chained, lock=lock, lock_path=second / LOCK_FILENAME, policy=FAST)
    assert len(result.fetched) == 5
    assert read_index(second) == read_index(synced)


def test_serve_is_read_only_and_hides_what_is_not_the_mirror(
    tmp_path: Path, synced: Path, served: tuple[ThreadingHTTPServer, str]
) -> None:
    _, base = served
    (synced / "crd/7/all/.crd.yaml.x1.part").write_bytes(b"half")
    (tmp_path / "secret").write_text("not for the network")
    (synced / "link").symlink_to(tmp_path / "secret")
    assert _status(base, "HEAD", "/crd/7/all/crd.yaml") == 200
    assert _status(base, "GET", "/crd/7/all/.crd.yaml.x1.part") == 404
    assert _status(base, "GET", "/link") == 404
    assert _status(base, "GET", "/../secret") == 404
    assert _status(base, "PUT", "/crd/7/all/crd.yaml") == 501
    assert _status(base, "DELETE", "/crd/7/all/crd.yaml") == 501
    with urllib.request.urlopen(f"{base}/crd/7/all/", timeout=5) as answer:
        listing = answer.read().decode()
    assert "crd.yaml" in listing and ".part" not in listing
    assert (synced / "crd/7/all/crd.yaml").read_bytes() == CRD


def test_serve_refuses_a_busy_port(synced: Path, served: tuple[ThreadingHTTPServer, str]) -> None:
    server, _ = served
    with pytest.raises(UsageError, match="cannot listen"):
        make_server(synced, "127.0.0.1", int(server.server_address[1]))


# -- the command line -----------------------------------------------------------------


def taco(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "taco.cli.main", *args], capture_output=True,
                          text=True, timeout=120, env=env, check=False)


def test_cli_sync_verify_and_exit_codes(tmp_path: Path, upstream: FileServer) -> None:
    manifest = write_manifest(tmp_path / "manifest.yml", upstream)
    mirror = tmp_path / "mirror"
    first = taco("mirror", "sync", str(mirror), "--manifest", str(manifest), "--arch", "amd64")
    assert first.returncode == 6, first.stderr
    assert "--record-digests" in first.stderr
    recorded = taco("mirror", "sync", str(mirror), "--manifest", str(manifest), "--arch",
                    "amd64", "--record-digests")
    assert recorded.returncode == 0, recorded.stderr
    assert "done: 0 fetched, 2 already present, 1 recorded" in recorded.stdout
    assert taco("mirror", "verify", str(mirror)).returncode == 0
    target = mirror / "kubeadm/1.35.4/amd64/kubeadm"
    data = bytearray(target.read_bytes())
    data[-1] ^= 0x80
    target.write_bytes(bytes(data))
    broken = taco("mirror", "verify", str(mirror))
    assert broken.returncode == 6
    assert "mismatch    kubeadm/1.35.4/amd64/kubeadm" in broken.stdout
    assert f"actual sha256   {sha256(bytes(data))}" in broken.stdout
    wrong = taco("mirror", "sync", str(mirror), "--manifest", str(manifest), "--release", "1.9")
    assert wrong.returncode == 2
    assert "has releases 1.35" in wrong.stderr


def test_cli_sync_with_a_site_writes_the_sites_lock(tmp_path: Path, upstream: FileServer) -> None:
    write_manifest(tmp_path / "manifest.yml", upstream)
    site = tmp_path / "site.yml"
    site.write_text(
        "name: s\nnetworks:\n  management: {purpose: management, cidr: 10.77.0.0/24}\n"
        "mirrors:\n  artifact_manifest: manifest.yml\n  artifact_lock: site.lock.yml\n"
        "  architectures: [arm64]\n"
        "nodes:\n  - {name: n1, address: 10.77.0.11, roles: [control-plane]}\n")
    result = taco("mirror", "sync", str(tmp_path / "mirror"), "--site", str(site),
                  "--record-digests")
    assert result.returncode == 0, result.stderr
    assert "release 1.35 (arm64)" in result.stdout
    assert load_lock(tmp_path / "site.lock.yml").digest("crd", "7", "all") == sha256(CRD)
    assert sorted(read_index(tmp_path / "mirror")) == [
        "bundle/2.0/arm64/bundle-2.0.tgz", "crd/7/all/crd.yaml", "kubeadm/1.35.4/arm64/kubeadm"]
    checked = taco("mirror", "verify", str(tmp_path / "mirror"), "--site", str(site))
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_cli_server_down_exits_6_naming_url_and_attempts(tmp_path: Path) -> None:
    port = closed_port()

    class Down(FileServer):
        @property
        def base(self) -> str:
            return f"http://127.0.0.1:{port}"

    fake = Down({"/dl/v1.35.4/amd64/tool": b"x", "/dl/v1.35.4/arm64/tool": b"y",
                 "/rel/bundle-2.0-amd64.tgz": b"z", "/rel/bundle-2.0-arm64.tgz": b"w",
                 "/crd/v7/crd.yaml": b"v"})
    manifest = write_manifest(tmp_path / "manifest.yml", fake)
    result = taco("mirror", "sync", str(tmp_path / "mirror"), "--manifest", str(manifest),
                  "--attempts", "2", "--retry-delay", "0.01")
    assert result.returncode == 6
    assert f"cannot download http://127.0.0.1:{port}/dl/v1.35.4/amd64/tool" in result.stderr
    assert "gave up after 2 attempts" in result.stderr
    assert "retry    " in result.stdout


def test_cli_serve_answers_until_stopped(synced: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "taco.cli.main", "mirror", "serve", str(synced), "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith(f"serving {synced} at http://127.0.0.1:"), line
        base = line.split(" at ", 1)[1].split("/ ", 1)[0]
        with urllib.request.urlopen(f"{base}/crd/7/all/crd.yaml", timeout=5) as answer:
            assert answer.read() == CRD
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_cli_mirror_help() -> None:
    for command in (["mirror"], ["mirror", "sync"], ["mirror", "verify"], ["mirror", "serve"]):
        result = taco(*command, "--help")
        assert result.returncode == 0, result.stderr
        assert "Usage: taco" in result.stdout
