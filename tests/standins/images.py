"""Tiny real container images for mirror tests, pushed under upstream names to a local registry.

No registry here holds registry.k8s.io/pause or Tekton's images, so a test builds one
small OCI image per name (one layer holding a file that names the image, so every
image has its own digest), and pushes it with skopeo to a docker-registry on loopback
at the path a taco mirror uses for it (HOST:PORT/registry.k8s.io/pause:3.10.1). The
images are real OCI images containerd can pull and unpack; nothing runs them.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import subprocess
import tarfile
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path


def _blob(layout: Path, data: bytes) -> str:
    digest = hashlib.sha256(data).hexdigest()
    (layout / "blobs" / "sha256" / digest).write_bytes(data)
    return f"sha256:{digest}"


def build_oci_image(layout: Path, label: str, marker: str = "") -> Path:
    """An OCI image layout at `layout` whose one layer holds /taco-image (its label)."""
    (layout / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        content = f"{label}\n{marker}".encode()
        info = tarfile.TarInfo("taco-image")
        info.size, info.mode, info.mtime = len(content), 0o644, 0
        tar.addfile(info, io.BytesIO(content))
    layer_tar = raw.getvalue()
    layer = gzip.compress(layer_tar, mtime=0)
    config = json.dumps({
        "architecture": "amd64", "os": "linux",
        "config": {"Cmd": ["/taco-image"], "Labels": {"taco.test/image": label}},
        "rootfs": {"type": "layers",
                   "diff_ids": [f"sha256:{hashlib.sha256(layer_tar).hexdigest()}"]},
    }, sort_keys=True).encode()
    manifest = json.dumps({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": _blob(layout, config), "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": _blob(layout, layer), "size": len(layer)}],
    }, sort_keys=True).encode()
    index = {"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": _blob(layout, manifest), "size": len(manifest),
        "annotations": {"org.opencontainers.image.ref.name": "latest"}}]}
    (layout / "index.json").write_text(json.dumps(index))
    (layout / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
    return layout


def push_image(work: Path, registry: str, upstream_ref: str, marker: str = "") -> str:
    """Build an image for `upstream_ref` and push it to http://registry/<upstream_ref>.

    Returns the digest the registry serves it under.
    """
    layout = build_oci_image(work / hashlib.sha256(f"{upstream_ref}{marker}".encode())
                             .hexdigest()[:16], upstream_ref, marker)
    destination = f"docker://{registry}/{upstream_ref}"
    subprocess.run(["skopeo", "copy", "--quiet", "--dest-tls-verify=false",
                    "--preserve-digests", f"oci:{layout}:latest", destination],
                   check=True, capture_output=True, text=True, timeout=120)
    raw = subprocess.run(["skopeo", "inspect", "--raw", "--tls-verify=false", destination],
                         check=True, capture_output=True, timeout=60).stdout
    return f"sha256:{hashlib.sha256(raw).hexdigest()}"
