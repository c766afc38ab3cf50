"""`taco mirror`: fetch a site's artifacts into a directory, verify it, serve it.

The artifacts package is imported inside each command, so `taco --help` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from taco.errors import ArtifactError

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
) -> None:
    """Download every file of the release into DIR, verifying each sha256 on arrival."""
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


@app.command()
def verify(
    directory: DirArgument,
    site: SiteOption = None,
    manifest: ManifestOption = None,
    release: ReleaseOption = None,
    arch: ArchOption = None,
    lock: LockOption = None,
) -> None:
    """Check every file in DIR by its sha256; with --site/--release also that none is missing."""
    from taco.artifacts.mirror import verify as verify_mirror
    from taco.artifacts.resolve import select_files

    expected = None
    if site or manifest or release or arch or lock:
        expected = select_files(directory=directory, site_file=site, manifest_file=manifest,
                                release=release, architectures=arch or (),
                                lock_file=lock).files
    result = verify_mirror(directory, expected)
    for line in result.problems():
        typer.echo(line)
    if not result.ok:
        raise ArtifactError(
            f"mirror {directory}: {len(result.missing)} missing, {len(result.mismatched)} "
            f"with a wrong sha256, {len(result.unrecorded)} without a recorded digest "
            f"({len(result.good)} good)")
    typer.echo(f"{len(result.good)} file(s) present with the right sha256")


@app.command()
def serve(
    directory: DirArgument,
    bind: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port to listen on.")] = 8080,
) -> None:
    """Serve DIR read-only over HTTP until interrupted (for production, see nginx in docs)."""
    from taco.artifacts.serve import make_server

    server = make_server(directory, bind, port)
    host, actual_port = str(server.server_address[0]), server.server_address[1]
    shown = f"[{host}]" if ":" in host else host
    typer.echo(f"serving {directory} at http://{shown}:{actual_port}/ (set mirrors.artifacts "
               "to this URL); Ctrl-C stops")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        typer.echo("stopped")
    finally:
        server.server_close()
