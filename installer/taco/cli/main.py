"""The `taco` command: parse, call, print. Error types become exit codes here only."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from taco import __version__
from taco.cli import deploy_cmds, info_cmds, lab, mirror, runs, verify_cmd
from taco.errors import SiteInvalid, TacoError

app = typer.Typer(
    name="taco",
    help="Bring bare machines to a Kubernetes cluster ready for OpenStack-Helm charts.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Exit codes, documented in README.md.
EXIT_CODES = {
    0: "success",
    1: "unexpected error",
    2: "invalid site file or command line (nothing was touched)",
    3: "preflight failed (nothing was changed)",
    4: "a phase failed or a host was unreachable",
    5: "lab error",
    6: "an artifact could not be fetched, failed its checksum or is missing",
    7: "taco verify: a check failed",
    130: "interrupted",
}


def _version(value: bool) -> None:
    if value:
        typer.echo(f"taco {__version__}")
        raise typer.Exit


@app.callback()
def main(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """taco: bare-metal bootstrap and cluster installer."""


deploy_cmds.register(app)
info_cmds.register(app)
verify_cmd.register(app)
app.add_typer(runs.app, name="runs")
app.add_typer(lab.app, name="lab")
app.add_typer(mirror.app, name="mirror")


def run() -> None:
    """Console-script entry: run the app and turn taco errors into exit codes."""
    try:
        app(prog_name="taco", standalone_mode=False)
    except TacoError as exc:
        text = exc.render() if isinstance(exc, SiteInvalid) else str(exc)
        typer.secho(f"error: {exc}" if isinstance(exc, SiteInvalid) else f"error: {text}",
                    err=True, fg="red")
        if isinstance(exc, SiteInvalid):
            typer.echo(text, err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        typer.echo("aborted", err=True)
        sys.exit(1)
    except Exception as exc:  # click's usage errors arrive here in non-standalone mode
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(2 if isinstance(exc, click.UsageError) else exc.exit_code)
        raise


if __name__ == "__main__":
    run()
