"""The test artifact mirror: stand-ins and real Debian packages, served with real checksums.

Building it downloads containerd, runc and containernetworking-plugins from Debian's mirror
(into a private apt state; nothing is installed on this machine), once per content hash.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "standins"))

import build_mirror

import fixtures
from fixtures import Mirror
from taco.artifacts.manifest import load_manifest
from taco.artifacts.resolve import release_files

standin_mirror = fixtures.standin_mirror


def layout_files(mirror: Mirror) -> list[tuple[str, str, str, Path, str]]:
    """(name, version, arch, file, sha256) of every file, as taco's own loader reads them."""
    manifest = load_manifest(mirror.manifest)
    return [(item.name, item.version, item.arch, mirror.directory / item.path, str(item.sha256))
            for item in release_files(manifest, manifest.default_release)]


def test_manifest_describes_the_files(standin_mirror: Mirror) -> None:
    manifest = standin_mirror.load()
    assert manifest["schema"] == 1
    assert manifest["default_release"] == "1.35"
    release = manifest["releases"]["1.35"]
    assert {"kubeadm", "kubelet", "kubectl", "helm", "containerd", "runc",
            "cni_plugins"} <= set(release)
    assert release["kubeadm"] == "1.35.4"
    kinds = {name: artifact["kind"] for name, artifact in manifest["artifacts"].items()}
    assert kinds["kubeadm"] == "binary"
    assert kinds["containerd"] == kinds["runc"] == kinds["cni_plugins"] == "deb"
    assert kinds["helm"] == "archive"
    assert kinds["tekton_pipelines"] == kinds["tekton_dashboard_full"] == "manifest"
    for name, version, _, path, digest in layout_files(standin_mirror):
        assert release[manifest["artifacts"][name].get("component", name)] == version
        assert hashlib.sha256(path.read_bytes()).hexdigest() == digest, path


def test_debs_are_the_real_packages(standin_mirror: Mirror) -> None:
    packages = {"containerd": "containerd", "runc": "runc",
                "cni_plugins": "containernetworking-plugins"}
    for name, version, _, path, _ in layout_files(standin_mirror):
        if name not in packages:
            continue
        fields = subprocess.run(["dpkg-deb", "-f", str(path), "Package", "Version"],
                                capture_output=True, text=True, check=True).stdout
        assert f"Package: {packages[name]}" in fields
        assert f"Version: {version}" in fields


def test_served_over_http_with_matching_digests(standin_mirror: Mirror, tmp_path: Path) -> None:
    for name, version, arch, path, digest in layout_files(standin_mirror):
        url = f"{standin_mirror.url}/{name}/{version}/{arch}/{path.name}"
        with urllib.request.urlopen(url, timeout=30) as answer:
            assert hashlib.sha256(answer.read()).hexdigest() == digest, url
    kubeadm = tmp_path / "kubeadm"
    with urllib.request.urlopen(f"{standin_mirror.url}/kubeadm/1.35.4/amd64/kubeadm",
                                timeout=30) as answer:
        kubeadm.write_bytes(answer.read())
    result = subprocess.run([sys.executable, str(kubeadm), "version", "-o", "short"],
                            capture_output=True, text=True, check=False)
    assert result.stdout.strip() == "v1.35.4"


def test_taco_mirror_verify_accepts_the_mirror(standin_mirror: Mirror) -> None:
    """The test mirror is a taco mirror: `taco mirror verify` with its manifest passes."""
    result = subprocess.run(
        [sys.executable, "-m", "taco.cli.main", "mirror", "verify", str(standin_mirror.directory),
         "--manifest", str(standin_mirror.manifest), "--arch", build_mirror.host_arch(),
             # The mirror serves files; its images are built by the tests that need them.
             "--no-images"],
        capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "with the right sha256" in result.stdout
