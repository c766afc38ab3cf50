"""`taco mirror`: fetch a site's artifacts into a directory, verify it, serve it.

The artifacts package is imported inside each command, so `taco --help` stays fast.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from taco.errors import ArtifactError, UsageError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from taco.artifacts.images import ExpectedImage
    from taco.artifacts.registry import Endpoint, RegistryProcess
    from taco.artifacts.resolve import Selection

app = typer.Typer(
    help="Artifact mirror: fetch the files a site needs into a directory, verify, serve.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

DirArgument = Annotated[Path, typer.Argument(help="The mirror directory.")]
SiteOption = Annotated[
    Path | None,
    typer.Option("--site", "-c", help="Site file: its manifest, release, architectures, lock."),
]
ManifestOption = Annotated[
    Path | None, typer.Option("--manifest", help="An artifact manifest instead of taco's own.")
]
ReleaseOption = Annotated[
    str | None, typer.Option("--release", help="Kubernetes release of the manifest, e.g. 1.35.")
]
ArchOption = Annotated[
    list[str] | None, typer.Option("--arch", help="amd64 or arm64 (repeat for both).")
]
LockOption = Annotated[
    Path | None,
    typer.Option("--lock", help="Lock file of recorded digests "
                 "(default: the site's mirrors.artifact_lock, else DIR/artifacts.lock.yml)."),
]
ImagesOption = Annotated[
    bool, typer.Option("--images/--no-images", help="Also handle the release's container images.")
]
RegistryOption = Annotated[
    str | None,
    typer.Option("--registry",
                 help="A running registry to hold the images (host:port or https://…; "
                      "http:// only when said) instead of DIR/registry."),
]
RegistryCaOption = Annotated[
    Path | None, typer.Option("--registry-ca", help="CA file of --registry's certificate.")
]


def _expected_images(chosen: Selection, directory: Path) -> list[ExpectedImage]:
    """The release's images: listed in the manifest, named by its manifests in DIR, and
    (with --site) named by the site's settings."""
    from taco.artifacts.images import release_images, site_named_images
    from taco.artifacts.manifest import load_manifest

    manifest = load_manifest(chosen.manifest_path)
    found = release_images(manifest, chosen.release, chosen.lock, directory)
    for missing in found.absent_manifests:
        typer.echo(f"note: {missing} is not in {directory}: the images it names are not "
                   "listed (sync the files first)")
    if chosen.site is None:
        return found.images
    return found.images + site_named_images(chosen.site, found.images, chosen.lock)


@contextlib.contextmanager
def _image_target(directory: Path, registry: str | None, registry_ca: Path | None, *,
                  read_only: bool) -> Iterator[tuple[Endpoint, str]]:
    """--registry as given, or the registry stored in DIR/registry served on loopback."""
    from taco.artifacts.registry import REGISTRY_DIRNAME, Endpoint, mirror_registry

    if registry:
        endpoint = Endpoint.parse(registry, registry_ca, what="--registry")
        yield endpoint, endpoint.url
        return
    with mirror_registry(directory, read_only=read_only) as endpoint:
        yield endpoint, str(directory / REGISTRY_DIRNAME)


def _verify_images(chosen: Selection, directory: Path, registry: str | None,
                   registry_ca: Path | None) -> int:
    """Report images missing from the mirror or with another digest; the problem count."""
    from taco.artifacts.registry import REGISTRY_DIRNAME, verify_images

    expected = _expected_images(chosen, directory)
    if not expected:
        return 0
    if not registry and not (directory / REGISTRY_DIRNAME).is_dir():
        typer.echo(f"missing     every image: {directory / REGISTRY_DIRNAME} does not exist "
                   "(run `taco mirror sync` with --images)")
        return len(expected)
    with _image_target(directory, registry, registry_ca, read_only=True) as (endpoint, shown):
        result = verify_images(expected, endpoint, lock=chosen.lock, shown_as=shown)
    for line in result.problems():
        typer.echo(line)
    typer.echo(f"{len(result.good)} image(s) present with the right digest in {shown}")
    return len(result.missing) + len(result.mismatched) + len(result.unrecorded)


@app.command()
def sync(
    directory: DirArgument,
    site: SiteOption = None,
    manifest: ManifestOption = None,
    release: ReleaseOption = None,
    arch: ArchOption = None,
    lock: LockOption = None,
    record_digests: Annotated[
        bool,
        typer.Option("--record-digests",
                     help="Fetch files whose publisher gives no digest and record theirs."),
    ] = False,
    source: Annotated[
        str | None,
        typer.Option("--from", help="Fetch from another taco mirror (URL) instead of upstream."),
    ] = None,
    attempts: Annotated[int, typer.Option(min=1, help="Attempts per file.")] = 4,
    retry_delay: Annotated[
        float, typer.Option(min=0.0, help="Seconds before the first retry (doubles each time).")
    ] = 2.0,
    images: ImagesOption = True,
    images_from: Annotated[
        str | None,
        typer.Option("--images-from",
                     help="Copy images from this registry (laid out like a taco mirror: "
                          "HOST:PORT/registry.k8s.io/pause) instead of their upstream "
                          "registries. http:// only when said."),
    ] = None,
    images_from_ca: Annotated[
        Path | None, typer.Option("--images-from-ca", help="CA file for --images-from.")
    ] = None,
    registry: RegistryOption = None,
    registry_ca: RegistryCaOption = None,
) -> None:
    """Download every file of the release into DIR, verifying each sha256 on arrival.

    Then copy the release's container images (those the manifest lists and those the
    downloaded manifests name) into DIR/registry, or into --registry, each checked
    against its pinned digest.
    """
    from taco.artifacts.download import RetryPolicy
    from taco.artifacts.mirror import sync as sync_mirror
    from taco.artifacts.resolve import select_files

    chosen = select_files(directory=directory, site_file=site, manifest_file=manifest,
                          release=release, architectures=arch or (), lock_file=lock,
                          source=source)
    typer.echo(f"release {chosen.release} ({', '.join(chosen.architectures)}) from "
               f"{chosen.manifest_path}: {len(chosen.files)} file(s) into {directory}")
    result = sync_mirror(directory, chosen.files, lock=chosen.lock, lock_path=chosen.lock_path,
                         record_digests=record_digests,
                         policy=RetryPolicy(attempts=attempts, delay=retry_delay), log=typer.echo)
    typer.echo(f"done: {len(result.fetched)} fetched, {len(result.present)} already present, "
               f"{len(result.recorded)} recorded")
    if not images:
        return
    from taco.artifacts.registry import Endpoint, sync_images

    expected = _expected_images(chosen, directory)
    if not expected:
        typer.echo("no container images in this release")
        return
    image_source = (Endpoint.parse(images_from, images_from_ca, what="--images-from")
                    if images_from else None)
    with _image_target(directory, registry, registry_ca, read_only=False) as (target, shown):
        typer.echo(f"{len(expected)} image(s) into {shown} from "
                   f"{image_source.url if image_source else 'their upstream registries'}")
        copied = sync_images(expected, target, source=image_source, lock=chosen.lock,
                             lock_path=chosen.lock_path, record_digests=record_digests,
                             index_dir=None if registry else directory, log=typer.echo)
    typer.echo(f"images: {len(copied.copied)} copied, {len(copied.present)} already present, "
               f"{len(copied.recorded)} recorded")


@app.command()
def verify(
    directory: DirArgument,
    site: SiteOption = None,
    manifest: ManifestOption = None,
    release: ReleaseOption = None,
    arch: ArchOption = None,
    lock: LockOption = None,
    images: ImagesOption = True,
    registry: RegistryOption = None,
    registry_ca: RegistryCaOption = None,
) -> None:
    """Check every file in DIR by its sha256; with --site/--release also that none is missing.

    With --site/--release, also every container image of the release, in DIR/registry
    or in --registry (the site's running mirror), by its digest.
    """
    from taco.artifacts.mirror import verify as verify_mirror
    from taco.artifacts.resolve import select_files

    chosen = None
    if site or manifest or release or arch or lock:
        chosen = select_files(directory=directory, site_file=site, manifest_file=manifest,
                              release=release, architectures=arch or (), lock_file=lock)
    result = verify_mirror(directory, chosen.files if chosen else None)
    for line in result.problems():
        typer.echo(line)
    image_problems = 0
    if chosen is not None and images:
        image_problems = _verify_images(chosen, directory, registry, registry_ca)
    if not result.ok or image_problems:
        raise ArtifactError(
            f"mirror {directory}: {len(result.missing)} missing, {len(result.mismatched)} "
            f"with a wrong sha256, {len(result.unrecorded)} without a recorded digest "
            f"({len(result.good)} good); {image_problems} image problem(s)")
    typer.echo(f"{len(result.good)} file(s) present with the right sha256")


@app.command()
def serve(
    directory: DirArgument,
    bind: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port for the files.")] = 8080,
    registry_port: Annotated[
        int, typer.Option(min=0, max=65535,
                          help="Port for the images' registry (DIR/registry), when DIR has one.")
    ] = 5000,
    name: Annotated[
        list[str] | None,
        typer.Option("--name", help="Host name or address the nodes reach the registry by "
                                    "(repeat); the certificate is issued for them and --bind."),
    ] = None,
    ca_dir: Annotated[
        Path | None,
        typer.Option("--ca-dir", help="The site CA that signs the registry's certificate "
                                      "(made on first use; default: taco's state dir/ca)."),
    ] = None,
    plain_http: Annotated[
        bool, typer.Option("--plain-http",
                           help="Serve the registry without TLS (a trusted network only).")
    ] = False,
) -> None:
    """Serve DIR's files over HTTP and its images from a read-only registry until interrupted.

    The registry is Debian's docker-registry over DIR/registry, with TLS from the site
    CA unless --plain-http. A long-lived mirror may serve the files with nginx instead
    (docs/artifacts.md).
    """
    import signal
    import threading

    from taco.artifacts.registry import REGISTRY_DIRNAME, start_registry

    def stop_on_term(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    # A service manager stops us with SIGTERM: shut down as on Ctrl-C.
    signal.signal(signal.SIGTERM, stop_on_term)
    from taco.artifacts.serve import make_server

    server = make_server(directory, bind, port)
    host, actual_port = str(server.server_address[0]), server.server_address[1]
    shown = f"[{host}]" if ":" in host else host
    typer.echo(f"serving {directory} at http://{shown}:{actual_port}/ (set mirrors.artifacts "
               "to this URL)")
    running: RegistryProcess | None = None
    storage = directory / REGISTRY_DIRNAME
    try:
        if storage.is_dir():
            running = _serve_registry(storage, bind, registry_port, name or [], ca_dir,
                                      plain_http, start_registry)
        else:
            typer.echo(f"no images: {storage} does not exist (`taco mirror sync` fills it)")
        typer.echo("Ctrl-C stops")
        worker = threading.Thread(target=server.serve_forever, daemon=True)
        worker.start()
        while worker.is_alive():
            if running is not None and running.process.poll() is not None:
                raise ArtifactError(f"docker-registry stopped (code {running.process.returncode}):"
                                    f" {running.log_tail() or 'no output'}")
            worker.join(timeout=1.0)
    except KeyboardInterrupt:
        typer.echo("stopped")
    finally:
        server.shutdown()
        server.server_close()
        if running is not None:
            running.stop()


def _serve_registry(storage: Path, bind: str, port: int, names: list[str],
                    ca_dir: Path | None, plain_http: bool,
                    start: Callable[..., RegistryProcess]) -> RegistryProcess:
    """Start the read-only registry; say what the site file needs to use it."""
    if plain_http:
        running = start(storage, bind=bind, port=port, read_only=True)
        typer.echo(f"serving images at http://{running.endpoint.address} (plain HTTP: set "
                   f"mirrors.registry to http://<this host>:{running.port})")
        return running
    from taco.artifacts.ca import server_certificate
    from taco.artifacts.registry import unspecified_address
    from taco.paths import state_dir

    directory = ca_dir or state_dir() / "ca"
    subjects = [*names, *([] if unspecified_address(bind) else [bind])]
    if not subjects:
        raise UsageError("the registry listens on every address: name the ones the nodes use "
                         "with --name (its certificate is issued for them)")
    issued = server_certificate(directory, subjects)
    running = start(storage, bind=bind, port=port, read_only=True, cert=issued.cert,
                    key=issued.key, ca=issued.ca)
    typer.echo(f"serving images at https://{subjects[0]}:{running.port} for "
               f"{', '.join(subjects)} "
               f"(set mirrors.registry to it and mirrors.registry_ca to {issued.ca})")
    return running
