"""From a site (or a release and architectures) to the files it needs and their URLs.

`site_artifacts(site)` is the inventory variable `taco_artifacts`: for every artifact
of the site's release, its kind, version, file name, and per architecture the URL
(the site's artifact mirror if `mirrors.artifacts` is set, upstream otherwise) and
the sha256 (from the manifest, or from the lock file for `recorded` files; None if
not recorded yet — such a file cannot be installed).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from taco.artifacts.lock import LOCK_FILENAME, Lock, load_lock
from taco.artifacts.manifest import (
    ALL,
    ARCHITECTURES,
    RECORDED,
    Manifest,
    default_manifest_path,
    load_manifest,
)
from taco.errors import UsageError
from taco.site.load import load_site

if TYPE_CHECKING:
    from collections.abc import Iterable

    from taco.site.model import Site


@dataclass(frozen=True)
class ArtifactFile:
    """One file of one artifact for one architecture (or `all`)."""

    name: str
    kind: str
    version: str
    arch: str
    filename: str
    # Where it is fetched from: upstream, or another taco mirror.
    url: str
    # None when the manifest says `recorded` and the lock holds no digest yet.
    sha256: str | None
    # The digest comes from the lock file, not from the publisher.
    recorded: bool

    @property
    def path(self) -> str:
        """Its place in a mirror: <name>/<version>/<arch>/<filename>."""
        return f"{self.name}/{self.version}/{self.arch}/{self.filename}"

    @property
    def label(self) -> str:
        return f"{self.name} {self.version} ({self.arch})"


def mirror_url(base: str, name: str, version: str, arch: str, filename: str) -> str:
    """A file's URL on a taco mirror: the mirror layout under `base`."""
    parts = (quote(part, safe="+~") for part in (name, version, arch, filename))
    return f"{base.rstrip('/')}/{'/'.join(parts)}"


def release_files(
    manifest: Manifest,
    release: str,
    architectures: Iterable[str] = ARCHITECTURES,
    lock: Lock | None = None,
    mirror: str | None = None,
) -> list[ArtifactFile]:
    """Every file of a release for the given architectures, in manifest order.

    Arch-independent files come once, as arch `all`; an artifact without a digest for
    a requested architecture simply has no file for it.
    """
    lock = lock or Lock()
    wanted = list(dict.fromkeys(architectures))
    files: list[ArtifactFile] = []
    for name, artifact, version in manifest.pinned(release):
        digests = artifact.versions[version]
        arches = [ALL] if ALL in digests else [a for a in wanted if a in digests]
        filename = artifact.filename_for(version)
        for arch in arches:
            recorded = digests[arch] == RECORDED
            digest = lock.digest(name, version, arch) if recorded else digests[arch]
            url = (mirror_url(mirror, name, version, arch, filename) if mirror
                   else artifact.url_for(version, arch))
            files.append(ArtifactFile(name, artifact.kind, version, arch, filename, url,
                                      digest, recorded))
    return files


def artifacts_var(files: Iterable[ArtifactFile]) -> dict[str, Any]:
    """The `taco_artifacts` shape: name -> {kind, version, filename, url, sha256}."""
    result: dict[str, Any] = {}
    for item in files:
        entry = result.setdefault(item.name, {
            "kind": item.kind, "version": item.version, "filename": item.filename,
            "url": {}, "sha256": {},
        })
        entry["url"][item.arch] = item.url
        entry["sha256"][item.arch] = item.sha256
    return result


# -- a site's view ----------------------------------------------------------------


def site_manifest_path(site: Site) -> Path:
    """The manifest the site names (absolute once loaded from a file), or taco's own."""
    named = site.mirrors.artifact_manifest
    return Path(named).expanduser() if named else default_manifest_path()


def site_lock(site: Site) -> Lock:
    named = site.mirrors.artifact_lock
    return load_lock(Path(named).expanduser()) if named else Lock()


def site_release(site: Site) -> str:
    """The manifest release of the site: its Kubernetes minor, e.g. 1.35."""
    return ".".join(site.kubernetes.version.split(".")[:2])


def site_files(site: Site, *, upstream: bool = False) -> list[ArtifactFile]:
    """The site's files: its release and architectures, URLs on its mirror if it has one."""
    manifest = load_manifest(site_manifest_path(site))
    mirror = None if upstream else site.mirrors.artifacts
    return release_files(manifest, site_release(site), site.mirrors.architectures,
                         site_lock(site), mirror)


def site_artifacts(site: Site) -> dict[str, Any]:
    """The inventory variable `taco_artifacts` of a validated site."""
    return artifacts_var(site_files(site))


def site_images(site: Site) -> dict[str, str]:
    """The inventory variable `taco_images`: listed image name -> reference (tag form).

    Only the images the manifest lists (kubeadm's, pause, CoreDNS) for the site's
    release; images of applied manifests are named by those manifests themselves.
    References are upstream names: the container runtime maps registries to the
    site's mirror, so they need no rewriting.
    """
    manifest = load_manifest(site_manifest_path(site))
    return {name: image.ref_for(version)
            for name, image, version in manifest.images_of(site_release(site))}


def missing_digests(site: Site) -> list[ArtifactFile]:
    """The site's files that cannot be installed yet: no published or recorded digest.

    For a check before a phase that needs them (the fix: `taco mirror sync DIR
    --record-digests` on a connected host, and the lock file in mirrors.artifact_lock).
    """
    return [item for item in site_files(site) if item.sha256 is None]


# -- what a `taco mirror` command works on ------------------------------------------


@dataclass(frozen=True)
class Selection:
    """The files a mirror command handles, and where their pins come from."""

    manifest_path: Path
    release: str
    architectures: tuple[str, ...]
    lock_path: Path
    lock: Lock
    files: list[ArtifactFile]
    # The site the choices came from (--site), if any: it names images of its own.
    site: Site | None = None


def select_files(
    *,
    directory: Path,
    site_file: Path | None = None,
    manifest_file: Path | None = None,
    release: str | None = None,
    architectures: Iterable[str] = (),
    lock_file: Path | None = None,
    source: str | None = None,
) -> Selection:
    """Resolve the command-line choices: a site's release and architectures, or flags.

    The manifest is the site's (or --manifest, or taco's own); the release is --release,
    else the site's, else the manifest's default; the lock file is --lock, else the
    site's `mirrors.artifact_lock`, else `DIR/artifacts.lock.yml`. `source` fetches from
    another taco mirror instead of upstream.
    """
    if site_file is not None and manifest_file is not None:
        raise UsageError("give --site or --manifest, not both: a site names its manifest "
                         "in mirrors.artifact_manifest")
    site = load_site(site_file) if site_file is not None else None
    if manifest_file is not None:
        manifest_path = manifest_file
    elif site is not None:
        manifest_path = site_manifest_path(site)
    else:
        manifest_path = default_manifest_path()
    manifest = load_manifest(manifest_path)
    if release is None:
        release = site_release(site) if site is not None else manifest.default_release
    elif release not in manifest.releases:
        raise UsageError(f"--release {release}: the manifest {manifest_path} has releases "
                         f"{', '.join(manifest.releases)}")
    arches = tuple(dict.fromkeys(architectures))
    unknown = [a for a in arches if a not in ARCHITECTURES]
    if unknown:
        raise UsageError(f"--arch {unknown[0]} is not known; use {' or '.join(ARCHITECTURES)}")
    if not arches:
        arches = tuple(site.mirrors.architectures) if site is not None else ARCHITECTURES
    if lock_file is not None:
        lock_path = lock_file
    elif site is not None and site.mirrors.artifact_lock:
        lock_path = Path(site.mirrors.artifact_lock)
    else:
        lock_path = directory / LOCK_FILENAME
    lock = load_lock(lock_path)
    files = release_files(manifest, release, arches, lock, source)
    return Selection(manifest_path, release, arches, lock_path, lock, files, site)
