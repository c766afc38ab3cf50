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
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "standins"))

import fixtures
from fixtures import Mirror

standin_mirror = fixtures.standin_mirror


def layout_files(mirror: Mirror) -> list[tuple[str, str, str, Path, str]]:
    """(name, version, arch, file, sha256) for every artifact the manifest lists."""
    manifest: dict[str, Any] = mirror.load()
    found = []
    for name, artifact in manifest["artifacts"].items():
        for version, digests in artifact["versions"].items():
            filename = artifact["url"].format(version=version, arch="ARCH").rsplit("/", 1)[-1]
            for arch, digest in digests.items():
                path = mirror.directory / name / version / arch / filename.replace("ARCH", arch)
                found.append((name, version, arch, path, digest))
    return found


def test_manifest_describes_the_files(standin_mirror: Mirror) -> None:
    manifest = standin_mirror.load()
    assert manifest["schema"] == 1
    release = manifest["releases"]["1.35"]
    assert {"kubeadm", "kubelet", "kubectl", "helm", "containerd", "runc",
            "cni_plugins"} <= set(release)
    assert release["kubeadm"] == "1.35.4"
    kinds = {name: artifact["kind"] for name, artifact in manifest["artifacts"].items()}
    assert kinds["kubeadm"] == "binary"
    assert kinds["containerd"] == kinds["runc"] == kinds["cni_plugins"] == "deb"
    for name, version, _, path, digest in layout_files(standin_mirror):
        assert release[name] == version
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
