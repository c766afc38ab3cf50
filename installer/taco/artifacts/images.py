"""Container images: references, the images a manifest pulls, and a release's image list.

A release's images are those the artifact manifest lists under `images:` (kubeadm's
control-plane images, pause, CoreDNS) plus the images of every `kind: manifest` artifact
of the release (Calico, Tekton, Prow), read from the manifest files themselves so the
list cannot drift from what the cluster will pull.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import yaml

from taco.artifacts.resolve import release_files
from taco.errors import ArtifactError, TacoError

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator
    from pathlib import Path

    from taco.artifacts.lock import Lock
    from taco.artifacts.manifest import Manifest
    from taco.artifacts.resolve import ArtifactFile
    from taco.site.model import Site

DOCKER_HUB = "docker.io"
# Names Docker Hub is also known by; references normalise to DOCKER_HUB.
_HUB_ALIASES = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})
_HOST = re.compile(r"^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
                   r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*"
                   r"|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?$")
_PATH_COMPONENT = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_MAX_NAME = 255
_EXAMPLES = "e.g. registry.k8s.io/pause:3.10.1 or quay.io/calico/node:v3.31.5@sha256:<64 hex>"

# Pod spec lists whose entries are containers (each with an `image`).
CONTAINER_KEYS = ("containers", "initContainers", "ephemeralContainers")
# A controller flag naming an image it starts: -entrypoint-image, --el-image=...
# (Tekton). `-shell-image-win` does not match on purpose: Windows nodes only.
_IMAGE_FLAG = re.compile(r"^--?[A-Za-z0-9][A-Za-z0-9_.-]*-image(?:=(?P<value>.*))?$")


class InvalidImageRef(TacoError, ValueError):
    """A text that is not a container image reference."""

    exit_code = 2


@dataclass(frozen=True)
class ImageRef:
    """A normalised image reference: registry host, repository path, tag and/or digest.

    `parse("nginx")` is docker.io/library/nginx:latest; a reference with a digest and
    no tag keeps no tag (it is pinned by the digest alone).
    """

    registry: str
    repository: str
    tag: str | None = None
    # "sha256:<64 hex>"
    digest: str | None = None

    @classmethod
    def parse(cls, text: str) -> ImageRef:
        """Parse and normalise `text`; InvalidImageRef says what is wrong with it."""
        if not isinstance(text, str):
            raise InvalidImageRef(f"{text!r} is not an image reference: it is not text "
                                  f"({_EXAMPLES})")
        if not text.strip():
            raise InvalidImageRef(f"'{text}' is not an image reference: it is empty ({_EXAMPLES})")
        if text != text.strip() or any(c.isspace() for c in text):
            raise InvalidImageRef(f"'{text}' is not an image reference: it contains "
                                  "white space")
        name, at, digest = text.partition("@")
        if at and not _DIGEST.match(digest):
            raise InvalidImageRef(f"'{text}': the digest '{digest}' is not sha256:<64 "
                                  "lowercase hex digits>")
        tag: str | None = None
        last = name.rsplit("/", 1)[-1]
        if ":" in last:
            name, _, tag = name.rpartition(":")
            if not _TAG.match(tag):
                raise InvalidImageRef(f"'{text}': the tag '{tag}' is not valid (letters, "
                                      "digits, '_', '.', '-', at most 128, not starting with "
                                      "'.' or '-')")
        registry, repository = _split_registry(name, text)
        if len(f"{registry}/{repository}") > _MAX_NAME:
            raise InvalidImageRef(f"'{text}': the name is longer than {_MAX_NAME} characters")
        if tag is None and not at:
            tag = "latest"
        return cls(registry, repository, tag, digest if at else None)

    @property
    def name(self) -> str:
        """The reference without its digest: registry/repository[:tag]."""
        base = f"{self.registry}/{self.repository}"
        return f"{base}:{self.tag}" if self.tag is not None else base

    def without_digest(self) -> ImageRef:
        return ImageRef(self.registry, self.repository, self.tag)

    def __str__(self) -> str:
        return f"{self.name}@{self.digest}" if self.digest else self.name


def _split_registry(name: str, text: str) -> tuple[str, str]:
    """(registry, repository) of a name without tag or digest; Docker Hub by default."""
    first, slash, rest = name.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"
                  or first.startswith("[")):
        registry, path = first, rest
        if not _HOST.match(registry):
            raise InvalidImageRef(f"'{text}': '{registry}' is not a registry host[:port]")
        if registry.lower() in _HUB_ALIASES:
            registry = DOCKER_HUB
    else:
        registry, path = DOCKER_HUB, name
    if not path:
        raise InvalidImageRef(f"'{text}' names no repository ({_EXAMPLES})")
    components = path.split("/")
    for component in components:
        if not _PATH_COMPONENT.match(component):
            problem = ("repository names are lowercase" if component.lower() != component
                       else "each part of the path is lowercase letters and digits, "
                       "joined by '.', '_', '__' or '-'")
            raise InvalidImageRef(f"'{text}': '{component}' is not a valid repository part "
                                  f"({problem}; {_EXAMPLES})")
    if registry == DOCKER_HUB and len(components) == 1:
        path = f"library/{path}"
    return registry, path


# -- the images a Kubernetes manifest pulls ----------------------------------------------


def images_in_manifest(text: str, source: str = "the manifest") -> list[str]:
    """Every image a multi-document Kubernetes YAML manifest will pull, normalised.

    Found: `image` of every container, init container and ephemeral container (any
    object, any depth: Deployments, DaemonSets, Jobs, CronJobs, Pods...), images passed
    to controllers in container args/command (`-x-image REF`, `-x-image=REF`,
    `--x-image=REF`), env vars named `*_IMAGE`, and Prow's pod utilities
    (`utility_images` in the YAML a ConfigMap carries). Not found: job images inside
    Prow's job configuration (the site's jobs, not the install), Windows-only images
    (`-shell-image-win`), ConfigMap `_example` blocks. A container `image` that is not a
    reference is an error naming `source`; a flag or env value that does not parse as
    one is not an image and is skipped.
    """
    try:
        documents = [doc for doc in yaml.safe_load_all(text) if doc is not None]
    except yaml.YAMLError as error:
        raise ArtifactError(f"{source}: not valid YAML, so its images cannot be read: "
                            f"{error}") from None
    found: set[str] = set()
    for document in documents:
        if not isinstance(document, dict):
            continue
        where = _describe(document, source)
        for container in _containers(document):
            image = container.get("image")
            if image is not None:
                try:
                    found.add(str(ImageRef.parse(image)))
                except InvalidImageRef as error:
                    name = container.get("name", "?")
                    raise ArtifactError(f"{where}, container {name}: {error}") from None
            found.update(_flag_images(container))
            found.update(_env_images(container))
        if document.get("kind") == "ConfigMap":
            found.update(_configmap_images(document))
    return sorted(found)


def _describe(document: dict[str, Any], source: str) -> str:
    metadata = document.get("metadata")
    name = metadata.get("name", "?") if isinstance(metadata, dict) else "?"
    return f"{source}: {document.get('kind', '?')} {name}"


def _containers(node: object) -> Iterator[dict[str, Any]]:
    """Every container mapping under a containers/initContainers/ephemeralContainers list."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in CONTAINER_KEYS and isinstance(value, list):
                for item in value:
                    if isinstance(item, dict):
                        yield item
            yield from _containers(value)
    elif isinstance(node, list):
        for item in node:
            yield from _containers(item)


def _looks_like_image(value: object) -> str | None:
    """`value` normalised if it is an image reference with a path, tag or digest."""
    if not isinstance(value, str) or not any(c in value for c in "/:@"):
        return None
    try:
        return str(ImageRef.parse(value))
    except InvalidImageRef:
        return None


def _flag_images(container: dict[str, Any]) -> Iterator[str]:
    for key in ("command", "args"):
        words = container.get(key)
        if not isinstance(words, list):
            continue
        for index, word in enumerate(words):
            match = _IMAGE_FLAG.match(word) if isinstance(word, str) else None
            if match is None:
                continue
            value = match.group("value")
            if value is None and index + 1 < len(words):
                value = words[index + 1]
            image = _looks_like_image(value)
            if image is not None:
                yield image


def _env_images(container: dict[str, Any]) -> Iterator[str]:
    env = container.get("env")
    if not isinstance(env, list):
        return
    for variable in env:
        if isinstance(variable, dict) and str(variable.get("name", "")).endswith("_IMAGE"):
            image = _looks_like_image(variable.get("value"))
            if image is not None:
                yield image


def _configmap_images(document: dict[str, Any]) -> Iterator[str]:
    """Prow's pod utility images: `utility_images` in a ConfigMap's embedded YAML."""
    data = document.get("data")
    if not isinstance(data, dict):
        return
    for key, value in data.items():
        if key == "_example" or not isinstance(value, str) or "utility_images" not in value:
            continue
        try:
            embedded = yaml.safe_load(value)
        except yaml.YAMLError:
            continue
        for utilities in _values_of(embedded, "utility_images"):
            if isinstance(utilities, dict):
                for ref in utilities.values():
                    image = _looks_like_image(ref)
                    if image is not None:
                        yield image


def _values_of(node: object, wanted: str) -> Iterator[object]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == wanted:
                yield value
            else:
                yield from _values_of(value, wanted)
    elif isinstance(node, list):
        for item in node:
            yield from _values_of(item, wanted)


# -- a release's images -----------------------------------------------------------------


@dataclass(frozen=True)
class ExpectedImage:
    """One image a release needs, and the digest it must have if one is known."""

    # The manifest's image name (kube_apiserver), or the artifact it was derived from.
    name: str
    # The reference without digest (tag form). Its tag is None only for an image the
    # publisher pins by digest alone; `digest` is then set.
    ref: ImageRef
    # "sha256:<hex>" expected, or None: not published and not recorded yet.
    digest: str | None
    # Where the digest (or, without one, the image) comes from: "manifest", "lock",
    # "in reference", or "derived from <artifact> <version>".
    source: str
    # The digest comes from the lock file (trust on first use), not from the publisher.
    recorded: bool
    # "<artifact> <version>" for an image read from a manifest file; None if listed.
    derived_from: str | None = None

    @property
    def pull(self) -> str:
        """The reference to pull: by digest when one is expected."""
        return f"{self.ref.name}@{self.digest}" if self.digest else self.ref.name


@dataclass
class ReleaseImages:
    """A release's images, and the manifest files whose images could not be read."""

    images: list[ExpectedImage] = field(default_factory=list)
    # Manifest files of the release missing from the mirror: their images are unknown.
    absent_files: list[ArtifactFile] = field(default_factory=list)

    def __iter__(self) -> Iterator[ExpectedImage]:
        return iter(self.images)

    def __len__(self) -> int:
        return len(self.images)

    @property
    def absent_manifests(self) -> list[str]:
        """Mirror paths (<name>/<version>/all/<file>) of the absent manifest files."""
        return [item.path for item in self.absent_files]

    @property
    def complete(self) -> bool:
        return not self.absent_files

    def incomplete_notes(self) -> list[str]:
        return [f"derived image list incomplete: {item.path} ({item.label}) is not in the "
                "mirror; sync the files first (`taco mirror sync DIR`)"
                for item in self.absent_files]


def release_images(
    manifest: Manifest, release: str, lock: Lock, mirror_dir: Path | None
) -> ReleaseImages:
    """The images of a release: listed ones, plus those of its manifest files in the mirror.

    Without `mirror_dir`, only the listed images. With it, `absent_manifests` names the
    release's manifest files the directory lacks (`<name>/<version>/all/<filename>`,
    the mirror layout of taco.artifacts.resolve): the derived list is incomplete then.
    Listed images take their digest from the manifest's `digests`, else from the lock.
    A derived image takes the digest its reference carries, else the lock's. Images
    appear once (by reference); the first source wins, a later one may add a digest.
    """
    result = ReleaseImages()
    by_key: dict[str, ExpectedImage] = {}

    def add(item: ExpectedImage) -> None:
        key = item.ref.name if item.ref.tag is not None else item.pull
        known = by_key.get(key)
        if known is None:
            by_key[key] = item
            result.images.append(item)
        elif known.digest is None and item.digest is not None:
            by_key[key] = item
            result.images[result.images.index(known)] = item

    for name, image, version in manifest.images_of(release):
        ref = ImageRef.parse(image.ref_for(version))
        published = image.digests.get(version)
        if published is not None:
            add(ExpectedImage(name, ref, f"sha256:{published}", "manifest", False))
            continue
        recorded = lock.image_digest(ref.name)
        add(ExpectedImage(name, ref, recorded, "lock" if recorded else "manifest",
                          recorded is not None))
    if mirror_dir is None:
        return result
    for item in release_files(manifest, release, (), lock):
        if item.kind != "manifest":
            continue
        path = mirror_dir / item.path
        if not path.is_file():
            result.absent_files.append(item)
            continue
        origin = f"{item.name} {item.version}"
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise ArtifactError(f"{path}: cannot read it to list its images ({error}); "
                                "sync the mirror again") from None
        for found in images_in_manifest(text, str(path)):
            ref = ImageRef.parse(found)
            plain = ref.without_digest()
            if ref.digest is not None:
                add(ExpectedImage(item.name, plain, ref.digest, "in reference", False, origin))
                continue
            recorded = lock.image_digest(plain.name)
            add(ExpectedImage(item.name, plain, recorded,
                              "lock" if recorded else f"derived from {origin}",
                              recorded is not None, origin))
    return result


def absent_manifest_files(
    manifest: Manifest, release: str, mirror_dir: Path
) -> list[ArtifactFile]:
    """The release's manifest files not in the mirror: their images cannot be derived."""
    return [item for item in release_files(manifest, release, ())
            if item.kind == "manifest" and not (mirror_dir / item.path).is_file()]


# -- images the site's own settings name --------------------------------------------------

# Prow's images live here upstream; the pod utilities share the components' tag.
PROW_REGISTRY = "us-docker.pkg.dev/k8s-infra-prow/images"
PROW_UTILITIES = ("clonerefs", "entrypoint", "initupload", "sidecar")


def site_named_images(site: Site, found: Iterable[ExpectedImage], lock: Lock
                      ) -> list[ExpectedImage]:
    """Images the site's settings add to the release's: the chart pipeline's Helm image,
    and with Prow on, its job image and pod utilities (at the tag of Prow's components
    in `found`, or the site's prow.image_tag)."""
    named: list[tuple[str, str]] = []
    if any(group.charts for group in site.charts.groups):
        named.append(("charts.helm_image", site.charts.helm_image))
    if site.prow.enabled:
        named.append(("prow.job_image", site.prow.job_image))
        tag = site.prow.image_tag or next(
            (image.ref.tag for image in found
             if f"{image.ref.registry}/{image.ref.repository}".startswith(PROW_REGISTRY + "/")
             and image.ref.tag), None)
        if tag is not None:
            named += [(f"prow pod utility {name}", f"{PROW_REGISTRY}/{name}:{tag}")
                      for name in PROW_UTILITIES]
    known = {image.ref.name for image in found}
    result: list[ExpectedImage] = []
    for setting, text in named:
        ref = ImageRef.parse(text)
        plain = ref.without_digest()
        if plain.name in known:
            continue
        known.add(plain.name)
        recorded = None if ref.digest else lock.image_digest(plain.name)
        digest = ref.digest or recorded
        result.append(ExpectedImage(setting, plain, digest,
                                    "in reference" if ref.digest else
                                    ("lock" if recorded else f"named by the site ({setting})"),
                                    recorded is not None))
    return result
