"""`taco runs` and `taco runs show ID`: the records of past runs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(help="List past runs and show one.", no_args_is_help=False)

RecordOpt = Annotated[Path | None, typer.Option("--record-dir", help="Run record root.")]


@app.callback(invoke_without_command=True)
def runs(
    ctx: typer.Context,
    site: Annotated[str | None, typer.Option("--site", help="Only this site's runs.")] = None,
    record_dir: RecordOpt = None,
) -> None:
    """List runs, newest first."""
    if ctx.invoked_subcommand:
        return
    from rich.console import Console

    from taco.engine.records import list_runs
    from taco.settings import resolve
    from taco.ui.runs import runs_table

    root = resolve(None, {"record_dir": record_dir})["record_dir"].value
    Console(highlight=False).print(runs_table(list_runs(site, root)))


@app.command()
def show(
    run_id: Annotated[str, typer.Argument(help="Run ID from `taco runs`.")],
    record_dir: RecordOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print summary.json.")] = False,
) -> None:
    """One run: phases, per-host counts, the failure and where its record is."""
    from rich.console import Console

    from taco.engine.records import load_run
    from taco.settings import resolve
    from taco.ui.runs import run_detail

    root = resolve(None, {"record_dir": record_dir})["record_dir"].value
    summary = load_run(run_id, root)
    if as_json:
        typer.echo((summary.record_dir / "summary.json").read_text(), nl=False)
        return
    Console(highlight=False).print(run_detail(summary))
