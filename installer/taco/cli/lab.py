"""`taco lab`: disposable bare-metal-like nodes (systemd containers) to run taco against."""

from __future__ import annotations

import os
import sys
from typing import Annotated, NoReturn

import typer

from taco.errors import LabError
from taco.lab import image as lab_image

app = typer.Typer(
    help="Disposable labs: privileged systemd node containers on podman networks.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

SuiteOption = Annotated[
    str, typer.Option("--suite", help=f"Debian suite of the nodes ({', '.join(lab_image.SUITES)}).")
]


def _fail(exc: LabError) -> NoReturn:
    typer.secho(f"error: {exc}", err=True, fg="red")
    raise typer.Exit(code=exc.exit_code)


def _say(text: str) -> None:
    typer.echo(text)


@app.command()
def image(
    suite: SuiteOption = lab_image.DEFAULT_SUITE,
    rebuild: Annotated[bool, typer.Option("--rebuild", help="Build even if cached.")] = False,
    mirror: Annotated[str, typer.Option(help="Debian mirror.")] = lab_image.DEFAULT_MIRROR,
) -> None:
    """Build the node image localhost/taco-node:SUITE (reused while its recipe is unchanged)."""
    try:
        result = lab_image.build_image(suite, mirror=mirror, rebuild=rebuild, log=_say)
    except LabError as exc:
        _fail(exc)
    for step, seconds in result.timings.items():
        typer.echo(f"  {step}: {seconds:.1f} s")


@app.command()
def up(
    name: Annotated[str, typer.Argument(help="Lab name (short: it prefixes podman names).")],
    nodes: Annotated[int, typer.Option("--nodes", "-n", help="Number of nodes.")] = 3,
    jump: Annotated[
        bool, typer.Option("--jump", help="Isolate the nodes behind a jump host.")
    ] = False,
    suite: SuiteOption = lab_image.DEFAULT_SUITE,
    disks: Annotated[int, typer.Option(help="Spare disks (loop devices) per node.")] = 0,
    disk_size: Annotated[str, typer.Option(help="Size of each spare disk (sparse).")] = "10G",
) -> None:
    """Start a lab and write its site file."""
    try:
        from taco.lab import lab as labs
        state = labs.up(name, nodes=nodes, jump=jump, suite=suite, disks=disks,
                        disk_size=disk_size, log=_say)
    except LabError as exc:
        _fail(exc)
    typer.echo(f"taco plan -c {state.site_file}    # or: taco lab ssh {name} node1")


@app.command()
def down(name: Annotated[str, typer.Argument(help="Lab name.")]) -> None:
    """Remove a lab: containers, networks, loop devices, files."""
    try:
        from taco.lab import lab as labs
        removed = labs.down(name, log=_say)
    except LabError as exc:
        _fail(exc)
    if not removed:
        typer.echo(f"no lab named {name}; nothing to remove")


@app.command("ls")
def list_labs() -> None:
    """List labs: name, nodes, jump host, state, site file."""
    try:
        from taco.lab import lab as labs
        rows = labs.list_labs()
    except LabError as exc:
        _fail(exc)
    if not rows:
        typer.echo("no labs")
        return
    typer.echo(f"{'NAME':<20} {'NODES':>5} {'JUMP':<4} {'STATE':<14} SITE")
    for row in rows:
        jump = "yes" if row.jump else "no"
        typer.echo(f"{row.name:<20} {row.nodes:>5} {jump:<4} {row.state:<14} {row.site_file}")


@app.command()
def ssh(
    name: Annotated[str, typer.Argument(help="Lab name.")],
    node: Annotated[str, typer.Argument(help="Node name, e.g. node1.")],
    command: Annotated[
        list[str] | None, typer.Argument(help="Command to run (after --).")
    ] = None,
) -> None:
    """SSH to a node (through the jump host if there is one), host keys checked."""
    try:
        from taco.lab import lab as labs
        argv = labs.ssh(name, node, command or [])
    except LabError as exc:
        _fail(exc)
    sys.stdout.flush()
    os.execvp(argv[0], argv)  # noqa: S606 - replace this process with ssh, argv list


if __name__ == "__main__":
    app(prog_name="taco lab")
