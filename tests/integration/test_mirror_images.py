"""`taco mirror` with container images: skopeo and Debian's docker-registry, for real.

An "upstream" docker-registry on loopback holds small images built here under upstream
names (registry.k8s.io/pause:3.10.1, and the images a manifest artifact names). Sync
copies them into the mirror directory's registry, checked against the pinned or
recorded digests; a re-pushed tag stops the sync; serve gives the images read-only over
TLS from a site CA. No lab: nothing here touches a node (test_aio pulls through it).
"""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "standins"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))

from fileserver import FileServer
from images import push_image

from taco.artifacts.ca import server_certificate
from taco.artifacts.registry import start_registry

if TYPE_CHECKING:
    from collections.abc import Iterator

    from taco.artifacts.registry import RegistryProcess

PAUSE = "registry.k8s.io/pause:3.10.1"
APISERVER = "registry.k8s.io/kube-apiserver:v1.35.4"
# What the manifest artifact below names: a container, an init container, a controller flag.
DERIVED = ("quay.io/demo/app:v1", "ghcr.io/demo/init:v2", "docker.io/demo/helper:v3")
DEMO_MANIFEST = f"""\
apiVersion: apps/v1
kind: Deployment
metadata: {{name: demo, namespace: demo}}
spec:
  selector: {{matchLabels: {{app: demo}}}}
  template:
    metadata: {{labels: {{app: demo}}}}
    spec:
      initContainers:
        - {{name: init, image: {DERIVED[1]}}}
      containers:
        - name: app
          image: {DERIVED[0]}
          args: [-helper-image, {DERIVED[2]}]
"""


def taco(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "taco.cli.main", *args], capture_output=True,
                          text=True, timeout=timeout, env=env, check=False)


@pytest.fixture
def upstream_registry(tmp_path: Path) -> Iterator[RegistryProcess]:
    running = start_registry(tmp_path / "upstream-storage")
    yield running
    running.stop()


@pytest.fixture
def files() -> Iterator[FileServer]:
    server = FileServer({"/demo/1.0/demo.yaml": DEMO_MANIFEST.encode()})
    server.start()
    yield server
    server.stop()


def write_manifest(path: Path, files: FileServer, pause_digest: str,
                   apiserver_digest: str) -> Path:
    manifest = {
        "schema": 1,
        "default_release": "1.35",
        "releases": {"1.35": {"kubeadm": "1.35.4", "pause": "3.10.1", "demo": "1.0"}},
        "artifacts": {"demo": {
            "kind": "manifest", "url": files.base + "/demo/{version}/demo.yaml",
            "versions": {"1.0": {"all": hashlib.sha256(DEMO_MANIFEST.encode()).hexdigest()}},
        }},
        "images": {
            "pause": {"ref": "registry.k8s.io/pause:{version}",
                      "digests": {"3.10.1": pause_digest.removeprefix("sha256:")}},
            "kube_apiserver": {"component": "kubeadm",
                               "ref": "registry.k8s.io/kube-apiserver:v{version}",
                               "digests": {"1.35.4": apiserver_digest.removeprefix("sha256:")}},
        },
    }
    path.write_text(yaml.safe_dump(manifest, sort_keys=False))
    return path


def push_release(tmp_path: Path, source: str, files: FileServer) -> tuple[dict[str, str], Path]:
    """Every image of the test release pushed upstream, and its manifest pinning the listed."""
    pushed = {ref: push_image(tmp_path / "build", source, ref)
              for ref in (PAUSE, APISERVER, *DERIVED)}
    return pushed, write_manifest(tmp_path / "artifacts.yml", files, pushed[PAUSE],
                                  pushed[APISERVER])


def synced_mirror(tmp_path: Path, upstream: RegistryProcess, files: FileServer
                  ) -> tuple[dict[str, str], Path, Path, Path]:
    """The test release pushed upstream and synced with recorded digests: the pushed
    digests, the manifest, the mirror directory and the lock file."""
    source = upstream.endpoint.address
    pushed, manifest = push_release(tmp_path, source, files)
    mirror, lock = tmp_path / "mirror", tmp_path / "lock.yml"
    synced = taco("mirror", "sync", str(mirror), "--manifest", str(manifest), "--lock",
                  str(lock), "--images-from", f"http://{source}", "--record-digests")
    assert synced.returncode == 0, synced.stdout + synced.stderr
    return pushed, manifest, mirror, lock


def test_sync_copies_pinned_and_recorded_images_and_a_rerun_copies_nothing(
        tmp_path: Path, upstream_registry: RegistryProcess, files: FileServer) -> None:
    source = upstream_registry.endpoint.address
    pushed, manifest = push_release(tmp_path, source, files)
    mirror, lock = tmp_path / "mirror", tmp_path / "artifacts.lock.yml"
    common = ["--manifest", str(manifest), "--lock", str(lock)]
    sync = ["mirror", "sync", str(mirror), *common, "--images-from", f"http://{source}"]

    # The derived images have no published digest: not copied until recorded.
    first = taco(*sync)
    assert first.returncode == 6, first.stdout + first.stderr
    for ref in DERIVED:
        assert ref in first.stderr, first.stderr
    assert f"copied   {PAUSE}" in first.stdout, first.stdout

    recorded = taco(*sync, "--record-digests")
    assert recorded.returncode == 0, recorded.stdout + recorded.stderr
    images_in_lock = yaml.safe_load(lock.read_text())["images"]
    assert {ref: images_in_lock[ref] for ref in DERIVED} == {ref: pushed[ref] for ref in DERIVED}

    again = taco(*sync)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "images: 0 copied, 5 already present, 0 recorded" in again.stdout, again.stdout

    verify = taco("mirror", "verify", str(mirror), *common)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert "5 image(s) present with the right digest" in verify.stdout, verify.stdout
    # The directory's index names every image with the digest it was checked against.
    index = yaml.safe_load((mirror / "taco-images.yml").read_text())["images"]
    assert index == pushed


def test_a_re_pushed_tag_stops_the_sync_and_verify_names_what_is_missing(
        tmp_path: Path, upstream_registry: RegistryProcess, files: FileServer) -> None:
    source = upstream_registry.endpoint.address
    pinned = push_image(tmp_path / "build", source, PAUSE)
    manifest = write_manifest(tmp_path / "artifacts.yml", files, pinned,
                              push_image(tmp_path / "build", source, APISERVER))
    # Somebody pushes another image under the same tag upstream.
    actual = push_image(tmp_path / "build", source, PAUSE, marker="re-pushed")
    assert actual != pinned
    mirror = tmp_path / "mirror"
    result = taco("mirror", "sync", str(mirror), "--manifest", str(manifest), "--lock",
                  str(tmp_path / "lock.yml"), "--images-from", f"http://{source}")
    assert result.returncode == 6, result.stdout + result.stderr
    assert f"image {PAUSE} from http://{source} is not the pinned one" in result.stderr
    assert f"expected {pinned}" in result.stderr and f"actual   {actual}" in result.stderr

    verify = taco("mirror", "verify", str(mirror), "--manifest", str(manifest), "--lock",
                  str(tmp_path / "lock.yml"))
    assert verify.returncode == 6, verify.stdout + verify.stderr
    assert f"missing     image {PAUSE} in {mirror / 'registry'}" in verify.stdout, verify.stdout


def test_serve_gives_the_images_read_only_over_tls_from_the_site_ca(
        tmp_path: Path, upstream_registry: RegistryProcess, files: FileServer) -> None:
    _, manifest, mirror, lock = synced_mirror(tmp_path, upstream_registry, files)

    ca_dir = tmp_path / "ca"
    port = free_port()
    serve = subprocess.Popen(
        [sys.executable, "-m", "taco.cli.main", "mirror", "serve", str(mirror), "--port", "0",
         "--registry-port", str(port), "--ca-dir", str(ca_dir), "--name", "mirror.test"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert read_line(serve, "serving images at https://mirror.test"), "serve did not start"
        assert (ca_dir / "ca-key.pem").stat().st_mode & 0o777 == 0o600
        registry = f"https://127.0.0.1:{port}"
        good = taco("mirror", "verify", str(mirror), "--manifest", str(manifest), "--lock",
                    str(lock), "--registry", registry, "--registry-ca", str(ca_dir / "ca.pem"))
        assert good.returncode == 0, good.stdout + good.stderr
        assert f"5 image(s) present with the right digest in {registry}" in good.stdout

        # Without the site CA the certificate is not trusted.
        untrusted = taco("mirror", "verify", str(mirror), "--manifest", str(manifest),
                         "--lock", str(lock), "--registry", registry)
        assert untrusted.returncode == 6
        assert "certificate signed by unknown authority" in untrusted.stderr, untrusted.stderr

        # Another site copies from this mirror into its own TLS registry: each side is
        # checked against its own CA.
        other = server_certificate(tmp_path / "other-ca", ["127.0.0.1"])
        target = start_registry(tmp_path / "other-storage", cert=other.cert, key=other.key,
                                ca=other.ca)
        try:
            copied = taco("mirror", "sync", str(tmp_path / "other"), "--manifest",
                          str(manifest), "--lock", str(lock), "--images-from", registry,
                          "--images-from-ca", str(ca_dir / "ca.pem"), "--registry",
                          f"https://{target.endpoint.address}", "--registry-ca",
                          str(other.ca))
        finally:
            target.stop()
        assert copied.returncode == 0, copied.stdout + copied.stderr
        assert "images: 5 copied, 0 already present, 0 recorded" in copied.stdout

        # Read-only: nothing can be pushed into the site's mirror.
        certs = tmp_path / "certs"
        certs.mkdir()
        (certs / "ca.crt").write_bytes((ca_dir / "ca.pem").read_bytes())
        push = subprocess.run(
            ["skopeo", "copy", "--quiet", "--src-tls-verify=false", f"--dest-cert-dir={certs}",
             f"docker://{upstream_registry.endpoint.address}/{PAUSE}",
             f"docker://127.0.0.1:{port}/evil/pause:1"],
            capture_output=True, text=True, timeout=120, check=False)
        assert push.returncode != 0
        assert "405, Method not allowed" in push.stderr, push.stderr
    finally:
        serve.terminate()
        serve.wait(timeout=30)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def read_line(process: subprocess.Popen[str], text: str, timeout: float = 60) -> str | None:
    """Read the process's output until a line holds `text` (None at exit or timeout)."""
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            return None
        if text in line:
            return line
    return None


def test_plain_http_serving_is_asked_for_and_says_so(
        tmp_path: Path, upstream_registry: RegistryProcess, files: FileServer) -> None:
    pushed, _, mirror, _ = synced_mirror(tmp_path, upstream_registry, files)
    serve = subprocess.Popen(
        [sys.executable, "-m", "taco.cli.main", "mirror", "serve", str(mirror), "--port", "0",
         "--registry-port", "0", "--plain-http"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        line = read_line(serve, "serving images at http://127.0.0.1:")
        assert line is not None, "serve did not start"
        port = int(line.split("http://127.0.0.1:", 1)[1].split()[0])
        assert port > 0
        digest = subprocess.run(
            ["skopeo", "inspect", "--tls-verify=false", "--format", "{{.Digest}}",
             f"docker://127.0.0.1:{port}/{PAUSE}"],
            capture_output=True, text=True, timeout=60, check=True).stdout.strip()
        assert digest == pushed[PAUSE]
    finally:
        serve.terminate()
        serve.wait(timeout=30)
    # Stopped as a service manager stops it: the registry went with it.
    assert "stopped" in (serve.stdout.read() if serve.stdout else "")
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0, "the registry outlived serve"
