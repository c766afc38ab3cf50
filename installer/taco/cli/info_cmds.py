"""`taco plan` and `taco inventory`: show what a run would do; touch nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

ConfigOpt = Annotated[Path, typer.Option("--config", "-c", help="Site file (YAML).")]


def plan(
    config: ConfigOpt,
    start_at: Annotated[str | None, typer.Option("--from", help="Start at this phase.")] = None,
    only: Annotated[str | None, typer.Option("--only", help="Only these phases.")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Plan a resume.")] = False,
    forks: Annotated[int | None, typer.Option("--forks")] = None,
    record_dir: Annotated[Path | None, typer.Option("--record-dir")] = None,
) -> None:
    """Phases, hosts, groups, versions and settings of a run; touches no host."""
    from rich.console import Console

    from taco.deploy import RunOptions, load_site_file, make_plan
    from taco.ui.plan import render_plan

    options = RunOptions(
        start_at=start_at,
        only=[name.strip() for name in only.split(",")] if only else None,
        resume=resume,
        settings={"forks": forks, "record_dir": record_dir},
    )
    loaded = load_site_file(config, need_files=False)
    render_plan(Console(highlight=False), make_plan(loaded, options))


def inventory(config: ConfigOpt) -> None:
    """Print the Ansible inventory derived from the site file."""
    from taco.deploy import load_site_file
    from taco.inventory.build import render_inventory

    typer.echo(render_inventory(load_site_file(config, need_files=False).site), nl=False)


def register(app: typer.Typer) -> None:
    app.command()(plan)
    app.command()(inventory)
