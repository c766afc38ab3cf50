"""The artifact manifest: model, loading and checks.

A manifest is data (`taco/data/artifacts.yml` or a file a site names): releases map a
Kubernetes minor to component versions, artifacts say how to fetch each file and its
sha256 per architecture, images name the container images a release needs beyond
those its manifest files carry (see taco.artifacts.images). Problems are reported like
site problems — file, field path, line and fix — all at once.
"""

from __future__ import annotations

import difflib
import functools
import re
from importlib import resources
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Annotated, Literal, Protocol, TypeVar
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from taco.errors import SiteInvalid, SiteIssue
from taco.site.load import parse_yaml, shape_issues
from taco.site.validate import LineMap, format_path

if TYPE_CHECKING:
    from taco.site.validate import FieldPath

_Model = TypeVar("_Model", bound=BaseModel)

ARCHITECTURES: tuple[str, ...] = ("amd64", "arm64")
# The arch of a file that is the same everywhere (a YAML manifest).
ALL = "all"
# Digest placeholder for a file whose publisher gives none: the lock file holds it.
RECORDED = "recorded"

_NAME = r"^[a-z][a-z0-9_]{0,62}$"
_VERSION = r"^[A-Za-z0-9][A-Za-z0-9.+~_-]{0,127}$"
_MINOR = r"^1\.\d+$"
_DIGEST = r"^([0-9a-f]{64}|recorded)$"
_ARCH = r"^(amd64|arm64|all)$"
SHA256 = r"^[0-9a-f]{64}$"
# An image digest as registries and the lock file write it.
IMAGE_DIGEST = r"^sha256:[0-9a-f]{64}$"
PATTERN_HINTS = {
    _NAME: "names are lowercase letters, digits and '_', starting with a letter "
    "(they become directory names and Ansible keys)",
    _VERSION: "versions are letters, digits and '.', '+', '~', '_' or '-' (no 'v' "
    "prefix needed: the URL template adds it)",
    _MINOR: "a release is a Kubernetes minor written as text, e.g. \"1.35\"",
    _DIGEST: "write the 64 lowercase hex digits of the sha256, or recorded if the "
    "publisher gives none",
    SHA256: "write the 64 lowercase hex digits of the sha256",
    IMAGE_DIGEST: "write sha256: and the 64 lowercase hex digits of the image digest",
    _ARCH: "use amd64 and arm64, or all for a file that is the same on every architecture",
}
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")

Name = Annotated[str, StringConstraints(pattern=_NAME)]
Version = Annotated[str, StringConstraints(pattern=_VERSION)]
Minor = Annotated[str, StringConstraints(pattern=_MINOR)]
Digest = Annotated[str, StringConstraints(pattern=_DIGEST)]
Arch = Annotated[str, StringConstraints(pattern=_ARCH)]
Sha256 = Annotated[str, StringConstraints(pattern=SHA256)]
Kind = Literal["binary", "archive", "manifest", "deb"]


class StrictData(BaseModel):
    """Base: unknown keys are errors and types are never coerced (1.35 is not "1.35")."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class Artifact(StrictData):
    kind: Kind
    url: str
    # The release key holding this artifact's version; the artifact's own name if unset.
    component: Name | None = None
    # Stored file name: the same for every architecture (the mirror path carries it).
    filename: str | None = None
    versions: dict[Version, dict[Arch, Digest]] = Field(min_length=1)

    def component_of(self, name: str) -> str:
        return self.component or name

    def filename_for(self, version: str) -> str:
        template = self.filename or PurePosixPath(urlsplit(self.url).path).name
        return template.replace("{version}", version)

    def url_for(self, version: str, arch: str) -> str:
        return self.url.replace("{version}", version).replace("{arch}", arch)


class Image(StrictData):
    """A container image: a reference template and, where published, digests by version."""

    # Full reference with {version}, e.g. registry.k8s.io/kube-apiserver:v{version}.
    ref: str
    # The release key holding this image's version; the image's own name if unset.
    component: Name | None = None
    # version -> sha256 hex of the image (its manifest list), only where the publisher
    # gives one; otherwise `taco mirror sync` records it in the lock file.
    digests: dict[Version, Sha256] = Field(default_factory=dict)

    def component_of(self, name: str) -> str:
        return self.component or name

    def ref_for(self, version: str) -> str:
        return self.ref.replace("{version}", version)


class Manifest(StrictData):
    schema_version: Literal[1] = Field(alias="schema")
    default_release: Minor
    releases: dict[Minor, dict[Name, Version]] = Field(min_length=1)
    artifacts: dict[Name, Artifact] = Field(min_length=1)
    images: dict[Name, Image] = Field(default_factory=dict)

    def pinned(self, release: str) -> list[tuple[str, Artifact, str]]:
        """(name, artifact, version) of every artifact the release pins, in manifest order."""
        components = self.releases[release]
        return [
            (name, artifact, components[artifact.component_of(name)])
            for name, artifact in self.artifacts.items()
            if artifact.component_of(name) in components
        ]

    def images_of(self, release: str) -> list[tuple[str, Image, str]]:
        """(name, image, version) of every listed image the release pins, in manifest order."""
        components = self.releases[release]
        return [
            (name, image, components[image.component_of(name)])
            for name, image in self.images.items()
            if image.component_of(name) in components
        ]

    def kubernetes_version(self, release: str) -> str:
        return self.releases[release]["kubeadm"]


class ManifestInvalid(SiteInvalid):
    """An artifact manifest (or lock file) is not valid; every issue names its file."""

    def __init__(self, issues: list[SiteIssue], what: str = "artifact manifest") -> None:
        super().__init__(issues)
        self.args = (f"{len(issues)} problem(s) in the {what}",)


def default_manifest_path() -> Path:
    """taco's own manifest, shipped as package data."""
    return Path(str(resources.files("taco.data").joinpath("artifacts.yml")))


def load_manifest(path: Path) -> Manifest:
    """Read and check a manifest file; cached while the file is unchanged."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        raise ManifestInvalid([SiteIssue(
            str(path), format_path(()), "the artifact manifest does not exist",
            "check the path (relative to the site file), or leave artifact_manifest "
            "out to use taco's own")]) from None
    except OSError as error:
        raise ManifestInvalid([SiteIssue(str(path), format_path(()),
                                         f"cannot read the manifest: {error.strerror}",
                                         "check the file's permissions")]) from None
    return _load_cached(str(path), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=16)
def _load_cached(path: str, _mtime: int, _size: int) -> Manifest:
    return load_manifest_text(read_text(Path(path), "manifest"), path)


def read_text(path: Path, what: str) -> str:
    """A YAML file's text, or an issue saying why it cannot be read."""
    try:
        return path.read_text(encoding="utf-8")
    except IsADirectoryError:
        problem, hint = "this is a directory", f"give the path of the {what} file"
    except UnicodeDecodeError as error:
        problem, hint = f"the file is not UTF-8 text ({error.reason})", "save it as UTF-8"
    except OSError as error:
        problem, hint = f"cannot read the {what}: {error.strerror}", "check the path and " \
            "the file's permissions"
    raise ManifestInvalid([SiteIssue(str(path), format_path(()), problem, hint)], what)


def load_manifest_text(text: str, filename: str) -> Manifest:
    """Check manifest YAML given as text; `filename` is what issues name."""
    data, lines = parse_document(text, filename, "artifact manifest",
                                 "start with schema: 1, default_release:, releases: "
                                 "and artifacts: (see taco/data/artifacts.yml)")
    manifest = validate_shape(Manifest, data, filename, lines, "artifact manifest")
    issues = check_manifest(manifest, filename, lines)
    if issues:
        raise ManifestInvalid(issues)
    return manifest


def parse_document(text: str, filename: str, what: str, start: str) -> tuple[object, LineMap]:
    """A YAML mapping and the line of each key; ManifestInvalid if it is not one."""
    if not text.strip():
        raise ManifestInvalid([SiteIssue(filename, format_path(()), f"the {what} is empty",
                                         start)], what)
    data, lines, issues = parse_yaml(text, filename)
    if data is not None and not isinstance(data, dict):
        issues.append(SiteIssue(filename, format_path(()), f"the {what} must be a mapping "
                                "of keys", start, 1))
    if issues:
        raise ManifestInvalid(issues, what)
    return data, lines


def validate_shape(
    model: type[_Model], data: object, filename: str, lines: LineMap, what: str
) -> _Model:
    """The document as `model`, or ManifestInvalid with every shape problem."""
    try:
        return model.model_validate(data)
    except ValidationError as error:
        issues = shape_issues(error, data, filename, lines, model, PATTERN_HINTS)
        raise ManifestInvalid(sorted(dict.fromkeys(issues), key=lambda i: i.line or 0),
                              what) from None


def check_manifest(manifest: Manifest, filename: str, lines: LineMap) -> list[SiteIssue]:
    """Rules across fields: releases name real artifacts and versions, URLs fit the arches."""
    issues: list[SiteIssue] = []

    def add(path: FieldPath, message: str, hint: str) -> None:
        issues.append(SiteIssue(filename, format_path(path), message, hint, lines.line(path)))

    if manifest.default_release not in manifest.releases:
        add(("default_release",), f"release {manifest.default_release} is not under releases",
            f"use one of: {', '.join(manifest.releases)}")
    components = {a.component_of(n) for n, a in manifest.artifacts.items()} | \
        {i.component_of(n) for n, i in manifest.images.items()}
    for release, pins in manifest.releases.items():
        base: FieldPath = ("releases", release)
        kubeadm = pins.get("kubeadm")
        if kubeadm is None:
            add(base, f"release {release} pins no kubeadm version",
                f"add kubeadm: {release}.N (the Kubernetes version of the release)")
        elif not kubeadm.startswith(f"{release}."):
            add((*base, "kubeadm"), f"kubeadm {kubeadm} is not a {release} version",
                f"pin a {release}.N version, or move it under release "
                f"\"{'.'.join(kubeadm.split('.')[:2])}\"")
        for component, version in pins.items():
            if component not in components:
                close = difflib.get_close_matches(component, sorted(components), n=1)
                add((*base, component), f"no artifact provides component '{component}'",
                    f"did you mean '{close[0]}'?" if close else
                    f"add an artifact or image named {component} (or with component: "
                    f"{component})")
                continue
            for name, artifact in manifest.artifacts.items():
                if artifact.component_of(name) == component and version not in artifact.versions:
                    add((*base, component), f"artifacts.{name} has no version {version}",
                        f"add \"{version}\" with its digests under artifacts.{name}.versions, "
                        f"or pin one it lists: {', '.join(artifact.versions)}")
    for name, artifact in manifest.artifacts.items():
        _check_artifact(name, artifact, add)
    pinned = {component for pins in manifest.releases.values() for component in pins}
    for name, image in manifest.images.items():
        _check_image(name, image, pinned, add)
    return issues


def _check_artifact(name: str, artifact: Artifact, add: _Add) -> None:
    base: FieldPath = ("artifacts", name)
    url_fields = set(_PLACEHOLDER.findall(artifact.url))
    if url_fields - {"version", "arch"}:
        add((*base, "url"), f"unknown placeholder(s) {sorted(url_fields - {'version', 'arch'})}"
            " in the URL", "use {version} and {arch} only")
    parts = urlsplit(artifact.url.replace("{version}", "1").replace("{arch}", "amd64"))
    if parts.scheme not in ("http", "https") or not parts.netloc:
        add((*base, "url"), f"'{artifact.url}' is not an http(s) URL",
            "write a full URL template, e.g. https://dl.k8s.io/release/v{version}/bin/linux/"
            "{arch}/kubeadm")
    template = artifact.filename if artifact.filename is not None else \
        PurePosixPath(urlsplit(artifact.url).path).name
    where: FieldPath = (*base, "filename") if artifact.filename is not None else (*base, "url")
    if "{arch}" in template:
        add(where, "the file name depends on the architecture",
            "set filename: without {arch} (the mirror keeps architectures apart by directory)"
            if artifact.filename is None else "remove {arch} from filename: the mirror keeps "
            "architectures apart by directory")
    elif set(_PLACEHOLDER.findall(template)) - {"version"}:
        add(where, "unknown placeholder in the file name", "use {version} only")
    elif not template or "/" in template or template.startswith("."):
        add(where, f"'{template}' cannot be a file name",
            "set filename: to a plain name, not empty, without '/' and not starting with '.'")
    for version, digests in artifact.versions.items():
        path: FieldPath = (*base, "versions", version)
        arches = set(digests)
        if not arches:
            add(path, "no digests for this version",
                "add {amd64: SHA256, arm64: SHA256}, or {all: SHA256} for an arch-independent "
                "file")
        elif ALL in arches and len(arches) > 1:
            add(path, "'all' cannot be mixed with architectures",
                "use all: alone for a file that is the same everywhere, else amd64/arm64")
        elif ALL in arches and "arch" in url_fields:
            add(path, "the URL depends on {arch} but the digest is for all architectures",
                "list a digest per architecture, or remove {arch} from the URL")
        elif ALL not in arches and "arch" not in url_fields:
            add(path, "digests per architecture but the URL has no {arch}",
                "put {arch} in the URL, or give one digest as all: SHA256")


class _Add(Protocol):
    """The issue-adding callback: (field path, message, hint)."""

    def __call__(self, path: FieldPath, message: str, hint: str) -> None: ...


# A version to fill a reference template with when checking it (a valid tag).
_SAMPLE_VERSION = "0.0.0-taco-sample"


def _check_image(name: str, image: Image, pinned: set[str], add: _Add) -> None:
    """The reference template is a full image reference with {version}; a release pins it."""
    # Late import: taco.artifacts.images imports resolve, which imports this module.
    from taco.artifacts.images import ImageRef, InvalidImageRef

    base: FieldPath = ("images", name)
    example = "write a full reference with {version} where the version goes, e.g. " \
        "registry.k8s.io/kube-apiserver:v{version}"
    fields = set(_PLACEHOLDER.findall(image.ref))
    if fields - {"version"}:
        add((*base, "ref"), f"unknown placeholder(s) {sorted(fields - {'version'})} in the "
            "reference", "use {version} only")
    elif "version" not in fields:
        add((*base, "ref"), f"'{image.ref}' has no {{version}}", example)
    else:
        sample = image.ref_for(_SAMPLE_VERSION)
        try:
            ref = ImageRef.parse(sample)
        except InvalidImageRef as error:
            add((*base, "ref"), str(error).replace(_SAMPLE_VERSION, "{version}"), example)
        else:
            if ref.digest is not None:
                add((*base, "ref"), "the reference carries a digest",
                    "remove @sha256:... from ref: and give it under digests: as "
                    "\"VERSION\": 64 hex digits")
            elif str(ref) != sample:
                full = str(ref).replace(_SAMPLE_VERSION, "{version}")
                add((*base, "ref"), f"'{image.ref}' is not a full reference (registry and "
                    "tag explicit)", f"write ref: {full}")
    component = image.component_of(name)
    if component not in pinned:
        close = difflib.get_close_matches(component, sorted(pinned), n=1)
        path: FieldPath = (*base, "component") if image.component else base
        add(path, f"no release pins a version of '{component}'",
            f"did you mean '{close[0]}'?" if close else
            f"add {component}: VERSION under each release that needs this image, or set "
            "component: to the release key holding its version")
