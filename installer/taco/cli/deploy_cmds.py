"""`taco aio`, `taco site`, `taco preflight`, `taco reset`: parse, call taco.deploy, print."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from taco.deploy import LoadedSite, Plan, RunOptions
    from taco.engine.events import Event
    from taco.preflight.checks import HostCheck

ConfigOpt = Annotated[Path, typer.Option("--config", "-c", help="Site file (YAML).")]
FromOpt = Annotated[
    str | None, typer.Option("--from", help="Start at this phase (preflight still runs).")
]
OnlyOpt = Annotated[
    str | None, typer.Option("--only", help="Run only these phases, comma-separated.")
]
ResumeOpt = Annotated[
    bool, typer.Option("--resume", help="Restart at the first phase the last run did not finish.")
]
LimitOpt = Annotated[str | None, typer.Option("--limit", help="Ansible host pattern.")]
CheckOpt = Annotated[bool, typer.Option("--check", help="Dry run: report, change nothing.")]
DiffOpt = Annotated[bool, typer.Option("--diff", help="Show file differences.")]
VerboseOpt = Annotated[int, typer.Option("--verbose", "-v", count=True, help="Ansible verbosity.")]
ForksOpt = Annotated[int | None, typer.Option("--forks", help="Parallel hosts (Ansible forks).")]
RecordOpt = Annotated[
    Path | None, typer.Option("--record-dir", help="Where run records are kept.")
]
OutputOpt = Annotated[
    str | None, typer.Option("--output", help="auto, live, plain or quiet.")
]
WipeOpt = Annotated[
    bool,
    typer.Option("--wipe-marked-disks",
                 help="Destructive: wipe the disks the site file marks `wipe: true`."),
]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="Only failures and the recap.")]
VaultOpt = Annotated[
    Path | None,
    typer.Option("--vault-password-file",
                 help="Ansible Vault password file, for a vault-encrypted prow.secrets_file."),
]


def _options(
    start_at: str | None, only: str | None, resume: bool, limit: str | None, check: bool,
    diff: bool, verbose: int, forks: int | None, record_dir: Path | None, output: str | None,
    quiet: bool, wipe: bool = False, vault: Path | None = None,
) -> RunOptions:
    from taco.deploy import RunOptions

    if vault is not None and not vault.is_file():
        from taco.errors import UsageError

        raise UsageError(f"--vault-password-file {vault}: the file does not exist")
    return RunOptions(
        start_at=start_at,
        only=[name.strip() for name in only.split(",") if name.strip()] if only else None,
        resume=resume,
        limit=limit,
        check=check,
        diff=diff,
        verbosity=verbose,
        wipe_marked_disks=wipe,
        vault_password_file=vault.absolute() if vault is not None else None,
        settings={"forks": forks, "record_dir": record_dir,
                  "output": "quiet" if quiet else output},
    )


def _run(loaded: LoadedSite, options: RunOptions, command: str, plan: Plan | None = None) -> None:
    from rich.console import Console

    from taco.deploy import execute, kubeconfig_path, make_plan
    from taco.engine.events import CheckReport
    from taco.preflight.checks import failures, from_results
    from taco.preflight.render import checks_table
    from taco.ui.progress import Progress

    plan = plan or make_plan(loaded, options)
    console = Console(highlight=False)
    mode = plan.settings["output"].value
    for note in loaded.notes:
        console.print(f"note: {note}")
    if plan.resumed_from:
        console.print(f"resuming site '{loaded.site.name}' at phase {plan.resumed_from}")

    rows: list[HostCheck] = []

    def show_reach(checks: list[HostCheck]) -> None:
        rows.extend(checks)
        if failures(checks) and mode != "quiet":
            console.print(checks_table(checks, title="Preflight: reach"))

    def sink(event: Event) -> None:
        if isinstance(event, CheckReport):
            rows.extend(from_results(event.host, event.rows))
        progress(event)

    with Progress(console, None if mode == "auto" else mode) as progress:
        result = execute(plan, options, command=command, sink=sink, on_reach=show_reach)
        progress.finish(result)
    if rows and mode != "quiet":
        console.print(checks_table(rows, title="Preflight"))
    kubeconfig = kubeconfig_path(loaded.site)
    if result.succeeded and "kubernetes" in {p.name for p in plan.phases} and kubeconfig.is_file():
        # One line whatever the width: operators copy the path.
        console.print(f"kubeconfig: {kubeconfig} (kubectl --kubeconfig {kubeconfig} get nodes)",
                      soft_wrap=True)
    result.raise_for_status()


def aio(
    host: Annotated[
        str | None, typer.Option("--host", help="Node address (SSH); default: this machine.")
    ] = None,
    cidr: Annotated[
        str | None, typer.Option("--cidr", help="Management network of --host.")
    ] = None,
    user: Annotated[str | None, typer.Option("--user", help="SSH user.")] = None,
    key: Annotated[Path | None, typer.Option("--key", help="SSH private key.")] = None,
    known_hosts: Annotated[
        Path | None, typer.Option("--known-hosts", help="known_hosts with the node's key.")
    ] = None,
    jump: Annotated[
        str | None, typer.Option("--jump", help="Jump host, [user@]host[:port].")
    ] = None,
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="A one-node site file instead.")
    ] = None,
    overrides: Annotated[
        list[str] | None,
        typer.Option("--set", help="Change the embedded site: PATH=VALUE (YAML value), e.g. "
                     "mirrors.artifacts=http://10.0.0.5:8080 or kubernetes.cni=host-gw. "
                     "Repeatable."),
    ] = None,
    start_at: FromOpt = None, only: OnlyOpt = None, resume: ResumeOpt = False,
    limit: LimitOpt = None, check: CheckOpt = False, diff: DiffOpt = False,
    verbose: VerboseOpt = 0, forks: ForksOpt = None, record_dir: RecordOpt = None,
    output: OutputOpt = None, quiet: QuietOpt = False, wipe: WipeOpt = False,
    vault: VaultOpt = None,
) -> None:
    """All phases on one node: this machine, or --host over SSH."""
    from taco.deploy import AioTarget, load_aio

    # Options first: a bad flag is named before the site is looked at.
    options = _options(start_at, only, resume, limit, check, diff, verbose, forks, record_dir,
                       output, quiet, wipe, vault)
    loaded = load_aio(AioTarget(host, cidr, user, key, known_hosts, jump, config,
                                tuple(overrides or ())))
    _run(loaded, options, "aio")


def site(
    config: ConfigOpt,
    start_at: FromOpt = None, only: OnlyOpt = None, resume: ResumeOpt = False,
    limit: LimitOpt = None, check: CheckOpt = False, diff: DiffOpt = False,
    verbose: VerboseOpt = 0, forks: ForksOpt = None, record_dir: RecordOpt = None,
    output: OutputOpt = None, quiet: QuietOpt = False, wipe: WipeOpt = False,
    vault: VaultOpt = None,
) -> None:
    """A whole site from this jump/deploy host over SSH."""
    from taco.deploy import load_site_file

    options = _options(start_at, only, resume, limit, check, diff, verbose, forks, record_dir,
                       output, quiet, wipe, vault)
    _run(load_site_file(config), options, "site")


def preflight(
    config: ConfigOpt,
    limit: LimitOpt = None, verbose: VerboseOpt = 0, record_dir: RecordOpt = None,
    output: OutputOpt = None, quiet: QuietOpt = False,
) -> None:
    """Read-only checks of every node (SSH, sudo, OS, resources, NICs, clock, ports, swap)."""
    from taco.deploy import load_site_file

    _run(load_site_file(config), _options(None, "preflight", False, limit, False, False,
                                          verbose, None, record_dir, output, quiet),
         "preflight")


def reset(
    config: ConfigOpt,
    yes_really_reset: Annotated[
        bool, typer.Option("--yes-really-reset", help="Confirm: this destroys cluster state.")
    ] = False,
    limit: LimitOpt = None, verbose: VerboseOpt = 0, forks: ForksOpt = None,
    record_dir: RecordOpt = None, output: OutputOpt = None, quiet: QuietOpt = False,
) -> None:
    """Drain and reset nodes (kubeadm reset, CNI, iptables, kubelet and containerd state)."""
    from dataclasses import replace

    from taco.deploy import load_site_file, make_reset_plan

    # The flag is checked before the deploy host's SSH files: nothing is wanted from them yet.
    loaded = load_site_file(config, need_files=yes_really_reset)
    if not yes_really_reset:
        from taco.errors import UsageError

        raise UsageError(
            f"reset destroys the Kubernetes state of every node of site '{loaded.site.name}'; "
            "run again with --yes-really-reset to confirm"
        )
    options = replace(_options(None, None, False, limit, False, False, verbose, forks,
                               record_dir, output, quiet), reset_confirmed=True)
    _run(loaded, options, "reset", plan=make_reset_plan(loaded, options))


def register(app: typer.Typer) -> None:
    app.command()(aio)
    app.command()(site)
    app.command()(preflight)
    app.command()(reset)
