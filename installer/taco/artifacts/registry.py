"""Container images in the mirror: a real registry (Debian's docker-registry) and skopeo.

The mirror keeps each image under a path named after its upstream registry
(registry.k8s.io/pause:3.10.1 -> <mirror>/registry.k8s.io/pause:3.10.1), which is what
containerd's hosts.toml (override_path) asks for, so manifests need no rewriting.

A mirror directory carries its images as the registry's own storage in `DIR/registry`:
`taco mirror sync` fills it through a registry it runs on loopback for the copy, and
`taco mirror serve` serves it read-only. Copies keep digests byte for byte (skopeo
`--all --preserve-digests`); every image is checked against the digest its publisher
gives (or the lock records) before it is copied, and again once it is in the mirror.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import ipaddress
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from taco.artifacts.lock import save_lock, write_atomically
from taco.artifacts.mirror import VerifyResult
from taco.errors import ArtifactError, UsageError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

    from taco.artifacts.images import ExpectedImage, ImageRef
    from taco.artifacts.lock import Lock

REGISTRY_DIRNAME = "registry"
IMAGES_INDEX = "taco-images.yml"
_SKOPEO = "skopeo"
_REGISTRY = "docker-registry"
_START_TIMEOUT = 20.0
_SKOPEO_TIMEOUT = 900.0
# prctl(2): the signal a child gets when its parent thread ends.
_PR_SET_PDEATHSIG = 1


def docker_reference(base: str, ref: ImageRef, digest: str | None = None) -> str:
    """skopeo's reference of an image under `base` (a mirror's host:port, or "" for its
    upstream registry): by digest when one is given, else by tag."""
    path = "/".join(part for part in (base, ref.registry, ref.repository) if part)
    return f"docker://{path}@{digest}" if digest else f"docker://{path}:{ref.tag or 'latest'}"


def _quiet(_: str) -> None:
    """Default log: say nothing."""


def _need(tool: str, package: str) -> str:
    found = shutil.which(tool)
    if found is None:
        raise ArtifactError(f"{tool} is not installed: install Debian's {package} package "
                            f"(apt-get install {package}) on this host")
    return found


# -- a registry endpoint ------------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    """A registry skopeo talks to: host[:port], plain HTTP or TLS with a CA."""

    address: str
    plain_http: bool = False
    ca_file: Path | None = None

    @classmethod
    def parse(cls, url: str, ca_file: Path | None = None, *, what: str) -> Endpoint:
        """`http://host:port` (plain, said explicitly), `https://host:port` or `host:port`."""
        text = url.strip().rstrip("/")
        plain = text.startswith("http://")
        address = text.removeprefix("http://").removeprefix("https://")
        if not address or "/" in address or " " in address:
            raise UsageError(f"{what} {url!r}: write a registry as host:port, https://host:port "
                             "or (plain HTTP, only on a trusted network) http://host:port")
        if plain and ca_file is not None:
            raise UsageError(f"{what} {url} is plain HTTP: a CA file makes no sense with it; "
                             "use https:// or drop the CA")
        return cls(address, plain, ca_file)

    @property
    def url(self) -> str:
        return f"{'http' if self.plain_http else 'https'}://{self.address}"

    def reference(self, ref: ImageRef, digest: str | None = None) -> str:
        """The skopeo reference of an upstream image in this mirror."""
        return docker_reference(self.address, ref, digest)


# -- running docker-registry --------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def registry_config(storage: Path, listen: str, *, read_only: bool,
                    cert: Path | None = None, key: Path | None = None) -> str:
    """docker-registry's configuration: filesystem storage, one listener, optional TLS."""
    http: dict[str, object] = {"addr": listen, "headers": {"X-Content-Type-Options": ["nosniff"]}}
    if cert is not None and key is not None:
        http["tls"] = {"certificate": str(cert), "key": str(key)}
    config = {
        "version": 0.1,
        "log": {"level": "warn", "accesslog": {"disabled": True}},
        "storage": {"filesystem": {"rootdirectory": str(storage)},
                    "delete": {"enabled": False},
                    "maintenance": {"uploadpurging": {"enabled": False},
                                    "readonly": {"enabled": read_only}}},
        "http": http,
    }
    return yaml.safe_dump(config, sort_keys=False)


@dataclass
class RegistryProcess:
    """A docker-registry child process; stop() ends it."""

    process: subprocess.Popen[bytes]
    endpoint: Endpoint
    workdir: Path
    log_path: Path

    @property
    def port(self) -> int:
        return int(self.endpoint.address.rsplit(":", 1)[1])

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def log_tail(self, lines: int = 5) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.strip().splitlines()[-lines:])


def _die_with_parent() -> None:
    """In the child: be sent SIGTERM when taco ends, however it ends (PR_SET_PDEATHSIG),
    so a killed `taco mirror serve` or sync never leaves a registry behind."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def start_registry(storage: Path, *, bind: str = "127.0.0.1", port: int = 0,
                   read_only: bool = False, cert: Path | None = None,
                   key: Path | None = None, ca: Path | None = None) -> RegistryProcess:
    """Start docker-registry over `storage` and wait until it answers /v2/."""
    binary = _need(_REGISTRY, "docker-registry")
    storage.mkdir(parents=True, exist_ok=True)
    port = port or _free_port()
    shown = f"[{bind}]" if ":" in bind else bind
    listen = f"{shown}:{port}"
    workdir = Path(tempfile.mkdtemp(prefix="taco-registry-"))
    config = workdir / "config.yml"
    config.write_text(registry_config(storage, listen, read_only=read_only, cert=cert, key=key),
                      encoding="utf-8")
    log_path = workdir / "registry.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen([binary, "serve", str(config)], stdout=log,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   preexec_fn=_die_with_parent)
    connect = bind
    if unspecified_address(bind):
        connect = "::1" if ":" in bind else "127.0.0.1"
    connect_shown = f"[{connect}]" if ":" in connect else connect
    endpoint = Endpoint(f"{connect_shown}:{port}", plain_http=cert is None,
                        ca_file=ca if cert is not None else None)
    running = RegistryProcess(process, endpoint, workdir, log_path)
    deadline = time.monotonic() + _START_TIMEOUT
    while True:
        if process.poll() is not None:
            tail = running.log_tail()
            running.stop()
            raise ArtifactError(f"docker-registry exited at start (code {process.returncode}) "
                                f"listening on {listen}: {tail or 'no output'}")
        if _answers(endpoint):
            return running
        if time.monotonic() > deadline:
            running.stop()
            raise ArtifactError(f"docker-registry did not answer on {listen} within "
                                f"{_START_TIMEOUT:g} s")
        time.sleep(0.1)


def unspecified_address(bind: str) -> bool:
    """0.0.0.0, :: or empty: every address."""
    if not bind:
        return True
    try:
        return ipaddress.ip_address(bind).is_unspecified
    except ValueError:
        return False


def _answers(endpoint: Endpoint) -> bool:
    """True once our own child's API root answers (any HTTP status counts).

    Only liveness is asked here, so the certificate (issued for the names nodes use,
    maybe not loopback) is not checked; skopeo checks it on every real request.
    """
    context = None
    if not endpoint.plain_http:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    try:
        with urllib.request.urlopen(f"{endpoint.url}/v2/", timeout=2,  # noqa: S310
                                    context=context):
            return True
    except urllib.error.HTTPError:
        return True
    except (urllib.error.URLError, OSError):
        return False


@contextlib.contextmanager
def mirror_registry(directory: Path, *, read_only: bool) -> Iterator[Endpoint]:
    """The registry stored in DIR/registry, on loopback for the length of the block."""
    running = start_registry(directory / REGISTRY_DIRNAME, read_only=read_only)
    try:
        yield running.endpoint
    finally:
        running.stop()


# -- skopeo -------------------------------------------------------------------------


def _tls_flags(endpoint: Endpoint | None, prefix: str, certs: Path) -> list[str]:
    """skopeo's TLS options for one side of a copy (none for an upstream registry)."""
    if endpoint is None:
        return []
    if endpoint.plain_http:
        return [f"--{prefix}tls-verify=false"]
    flags = [f"--{prefix}tls-verify=true"]
    if endpoint.ca_file is not None:
        # skopeo trusts every *.crt of a certificate directory: one directory per CA file.
        trusted = certs / hashlib.sha256(str(endpoint.ca_file).encode()).hexdigest()[:16]
        if not (trusted / "ca.crt").exists():
            trusted.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(endpoint.ca_file, trusted / "ca.crt")
        flags.append(f"--{prefix}cert-dir={trusted}")
    return flags


def _skopeo(args: list[str]) -> subprocess.CompletedProcess[str]:
    binary = _need(_SKOPEO, "skopeo")
    return subprocess.run([binary, *args], capture_output=True, text=True, check=False,
                          timeout=_SKOPEO_TIMEOUT)


def _error_line(stderr: str) -> str:
    """skopeo's message without its logrus decoration."""
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    last = lines[-1] if lines else "no output"
    if 'msg="' in last:
        last = last.split('msg="', 1)[1].rsplit('"', 1)[0].replace('\\"', '"')
    return last


def manifest_digest(reference: str, endpoint: Endpoint | None, certs: Path) -> str | None:
    """sha256 of an image's manifest bytes as the registry serves them; None if absent."""
    binary = _need(_SKOPEO, "skopeo")
    result = subprocess.run([binary, "inspect", "--raw", "--retry-times=2",
                             *_tls_flags(endpoint, "", certs), reference],
                            capture_output=True, check=False, timeout=_SKOPEO_TIMEOUT)
    if result.returncode != 0:
        message = _error_line(result.stderr.decode("utf-8", "replace"))
        if any(text in message for text in ("manifest unknown", "name unknown", "not found")):
            return None
        raise ArtifactError(f"cannot read {reference}: {message}")
    return "sha256:" + hashlib.sha256(result.stdout).hexdigest()


def copy_image(source: str, source_endpoint: Endpoint | None, destination: str,
               destination_endpoint: Endpoint, certs: Path) -> None:
    """Copy every architecture of an image, keeping its manifests byte for byte."""
    result = _skopeo(["copy", "--quiet", "--all", "--preserve-digests", "--retry-times=3",
                      *_tls_flags(source_endpoint, "src-", certs),
                      *_tls_flags(destination_endpoint, "dest-", certs),
                      source, destination])
    if result.returncode != 0:
        raise ArtifactError(f"copying {source} to {destination} failed: "
                            f"{_error_line(result.stderr)}")


# -- sync ---------------------------------------------------------------------------


class ImageDigestMismatch(ArtifactError):
    """The source serves an image other than the one the manifest or lock pins."""

    def __init__(self, label: str, source: str, expected: str, actual: str, pinned_by: str):
        super().__init__(
            f"image {label} from {source} is not the pinned one, so the sync stopped:\n"
            f"    expected {expected} ({pinned_by})\n    actual   {actual}\n"
            "    fix: find out why the source changed (a re-pushed tag?); if the new image is "
            "right, update the pin and sync again")


class UnrecordedImages(ArtifactError):
    """Images whose publisher gives no digest and whose digest is not recorded yet."""

    def __init__(self, labels: list[str], lock_path: Path) -> None:
        self.labels = labels
        names = "".join(f"\n    {label}" for label in labels)
        super().__init__(
            f"{len(labels)} image(s) have no published digest and none recorded in "
            f"{lock_path}, so they were not copied:{names}\n"
            "    fix: on a connected host run `taco mirror sync DIR --record-digests` "
            "(with the same --site or --lock), review the lock file and keep it with the "
            "site (mirrors.artifact_lock)")


@dataclass
class ImageSyncResult:
    copied: list[str] = field(default_factory=list)
    present: list[str] = field(default_factory=list)
    recorded: list[str] = field(default_factory=list)
    unrecorded: list[str] = field(default_factory=list)


def source_reference(ref: ImageRef, source: Endpoint | None,
                     digest: str | None = None) -> str:
    """Where an image is copied from: its upstream registry, or a mirror laid out like ours."""
    return docker_reference(source.address if source is not None else "", ref, digest)


def sync_images(
    images: Iterable[ExpectedImage],
    target: Endpoint,
    *,
    source: Endpoint | None,
    lock: Lock,
    lock_path: Path,
    record_digests: bool = False,
    index_dir: Path | None = None,
    log: Callable[[str], None] = _quiet,
) -> ImageSyncResult:
    """Copy each image into `target`, checked against its pinned digest before and after.

    An image already in the target with the pinned digest is not copied again. One
    whose source digest differs from the pin stops the sync (ImageDigestMismatch);
    images without a pin are recorded in the lock with `record_digests`, else skipped
    and reported (UnrecordedImages). `index_dir` gets taco-images.yml: ref -> digest.
    """
    result = ImageSyncResult()
    index = read_images_index(index_dir) if index_dir is not None else {}
    from_where = source.url if source is not None else "its upstream registry"
    with tempfile.TemporaryDirectory(prefix="taco-skopeo-") as scratch:
        certs = Path(scratch)
        try:
            for image in images:
                label = image.ref.name
                expected = image.digest or lock.image_digest(label)
                pinned_by = image.source if image.digest else f"recorded in {lock_path}"
                if expected is None and not record_digests:
                    result.unrecorded.append(label)
                    log(f"skip     {label}: no digest published or recorded")
                    continue
                if expected is not None and manifest_digest(
                        target.reference(image.ref), target, certs) == expected:
                    result.present.append(label)
                    index[label] = expected
                    log(f"present  {label}")
                    continue
                actual = manifest_digest(source_reference(image.ref, source), source, certs)
                if actual is None:
                    raise ArtifactError(f"image {label} is not in {from_where} (tag "
                                        f"{image.ref.tag or 'latest'} unknown); fix: check "
                                        "the manifest's version or the source")
                if expected is not None and actual != expected:
                    raise ImageDigestMismatch(label, from_where, expected, actual, pinned_by)
                copy_image(source_reference(image.ref, source, actual), source,
                           target.reference(image.ref), target, certs)
                landed = manifest_digest(target.reference(image.ref), target, certs)
                if landed != actual:
                    raise ArtifactError(f"image {label} reached {target.url} as {landed}, not "
                                        f"{actual}: the mirror changed it; check its storage")
                index[label] = actual
                if expected is None:
                    lock.record_image(label, actual)
                    save_lock(lock_path, lock)
                    result.recorded.append(label)
                    log(f"recorded {label}: {actual} (in {lock_path})")
                else:
                    result.copied.append(label)
                    log(f"copied   {label}")
        finally:
            if index_dir is not None:
                write_images_index(index_dir, index)
    if result.unrecorded:
        raise UnrecordedImages(result.unrecorded, lock_path)
    return result


# -- verify -------------------------------------------------------------------------


@dataclass
class ImageVerifyResult(VerifyResult):
    """VerifyResult of images (labels instead of paths) in one mirror."""

    mirror: str = ""

    def problems(self) -> list[str]:
        lines = [f"missing     image {label} in {self.mirror}" for label in self.missing]
        lines += [f"mismatch    image {label} in {self.mirror}\n    expected {expected}\n"
                  f"    actual   {actual}" for label, expected, actual in self.mismatched]
        lines += [f"unrecorded  image {label}: no digest to check it against (record it with "
                  "`taco mirror sync DIR --record-digests`)" for label in self.unrecorded]
        return lines


def verify_images(images: Iterable[ExpectedImage], mirror: Endpoint, *, lock: Lock,
                  shown_as: str | None = None) -> ImageVerifyResult:
    """Check that the mirror holds every image with its pinned digest."""
    result = ImageVerifyResult(mirror=shown_as or mirror.url)
    with tempfile.TemporaryDirectory(prefix="taco-skopeo-") as scratch:
        certs = Path(scratch)
        for image in images:
            label = image.ref.name
            actual = manifest_digest(mirror.reference(image.ref), mirror, certs)
            expected = image.digest or lock.image_digest(label)
            if actual is None:
                result.missing.append(label)
            elif expected is None:
                result.unrecorded.append(label)
            elif actual != expected:
                result.mismatched.append((label, expected, actual))
            else:
                result.good.append(label)
    return result


# -- the images index of a mirror directory -----------------------------------------


def read_images_index(directory: Path) -> dict[str, str]:
    path = directory / IMAGES_INDEX
    if not path.exists():
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise ArtifactError(f"{path}: cannot read the images index ({error}); run "
                            f"`taco mirror sync {directory}` again to rewrite it") from None
    images = data.get("images") if isinstance(data, dict) else None
    if not isinstance(images, dict):
        raise ArtifactError(f"{path}: images: is missing or not a mapping; run "
                            f"`taco mirror sync {directory}` again to rewrite it")
    return {str(key): str(value) for key, value in images.items()}


def write_images_index(directory: Path, index: dict[str, str]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    body = yaml.safe_dump({"schema": 1, "images": dict(sorted(index.items()))},
                          default_flow_style=False, sort_keys=False, width=10_000)
    write_atomically(directory / IMAGES_INDEX,
                     "# Written by `taco mirror sync`: every image in registry/ and its "
                     "manifest digest.\n" + body)

