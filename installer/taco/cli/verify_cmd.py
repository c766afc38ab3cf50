"""`taco verify`: parse, call taco.verify, print the summary (and JUnit XML when asked)."""

from __future__ import annotations

# typer reads the annotations at run time: these names must exist then.
from pathlib import Path  # noqa: TC003
from typing import TYPE_CHECKING, Annotated

import typer

from taco.cli.deploy_cmds import OutputOpt, QuietOpt, RecordOpt, VerboseOpt  # noqa: TC001

if TYPE_CHECKING:
    from rich.console import Console

    from taco.deploy import LoadedSite
    from taco.preflight.checks import HostCheck
    from taco.verify.results import CheckResult


def _load(config: Path | None, aio: bool, host: str | None, cidr: str | None, user: str | None,
          key: Path | None, known_hosts: Path | None, jump: str | None,
          overrides: list[str] | None) -> LoadedSite:
    """The site as `taco site -c` or `taco aio` would load it, so verify sees the same nodes."""
    from taco.deploy import AioTarget, load_aio, load_site_file
    from taco.errors import UsageError

    aio_only = {"--host": host, "--cidr": cidr, "--user": user, "--key": key,
                "--known-hosts": known_hosts, "--jump": jump, "--set": overrides}
    if aio:
        return load_aio(AioTarget(host, cidr, user, key, known_hosts, jump, config,
                                  tuple(overrides or ())))
    given = [flag for flag, value in aio_only.items() if value]
    if given:
        raise UsageError(f"{', '.join(given)} describe(s) the AIO node: add --aio, or give the "
                         "site file with -c")
    if config is None:
        raise UsageError("say which site to verify: -c SITE_FILE, or --aio for the node "
                         "`taco aio` installed")
    return load_site_file(config)


def _print_summary(console: Console, results: list[CheckResult], duration_s: float) -> None:
    from rich.text import Text

    from taco.verify.results import Outcome, summary_lines, totals, totals_line

    style = {Outcome.PASSED: "green", Outcome.FAILED: "bold red", Outcome.SKIPPED: "yellow"}
    console.rule("taco verify")
    for result, line in zip(results, summary_lines(results), strict=True):
        console.print(Text(line, style=style[result.outcome]), soft_wrap=True)
    count = totals(results)
    closing = "bold red" if count.failed else "bold green"
    console.rule(Text(totals_line(results, duration_s), style=closing))


def verify(
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="Site file (YAML).")
    ] = None,
    aio: Annotated[
        bool, typer.Option("--aio", help="Verify the node `taco aio` installed (its options).")
    ] = False,
    host: Annotated[
        str | None, typer.Option("--host", help="With --aio: the node address (SSH).")
    ] = None,
    cidr: Annotated[str | None, typer.Option("--cidr", help="With --aio: its network.")] = None,
    user: Annotated[str | None, typer.Option("--user", help="With --aio: SSH user.")] = None,
    key: Annotated[Path | None, typer.Option("--key", help="With --aio: SSH key.")] = None,
    known_hosts: Annotated[
        Path | None, typer.Option("--known-hosts", help="With --aio: known_hosts file.")
    ] = None,
    jump: Annotated[
        str | None, typer.Option("--jump", help="With --aio: jump host, [user@]host[:port].")
    ] = None,
    overrides: Annotated[
        list[str] | None,
        typer.Option("--set", help="With --aio: the same --set PATH=VALUE as the install."),
    ] = None,
    junit_xml: Annotated[
        Path | None, typer.Option("--junit-xml", help="Also write the results as JUnit XML.")
    ] = None,
    limit: Annotated[str | None, typer.Option("--limit", help="Ansible host pattern.")] = None,
    verbose: VerboseOpt = 0,
    record_dir: RecordOpt = None,
    output: OutputOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Read-only checks of an installed site, summarised like a test run.

    Exit 0 when no check failed, 7 when one did (4 when the checks could not run).
    Its one write is to the cluster: a hello TaskRun, deleted once judged.
    """
    from rich.console import Console

    from taco.preflight.checks import failures
    from taco.preflight.render import checks_table
    from taco.ui.progress import Progress
    from taco.verify.junit import write_junit
    from taco.verify.run import VerifyOptions, progress_mode
    from taco.verify.run import verify as run_verify

    loaded = _load(config, aio, host, cidr, user, key, known_hosts, jump, overrides)
    options = VerifyOptions(limit=limit, verbosity=verbose,
                            settings={"record_dir": record_dir,
                                      "output": "quiet" if quiet else output})
    mode = progress_mode(loaded, options)
    console = Console(highlight=False)
    for note in loaded.notes:
        console.print(f"note: {note}")

    def show_reach(checks: list[HostCheck]) -> None:
        if failures(checks) and mode != "quiet":
            console.print(checks_table(checks, title="Verify: reach"))

    with Progress(console, mode) as progress:
        outcome = run_verify(loaded, options, sink=progress, on_reach=show_reach)
        progress.finish(outcome.result)
    _print_summary(console, outcome.results, outcome.duration_s)
    if junit_xml is not None:
        path = write_junit(junit_xml, outcome.results, site=loaded.site.name,
                           duration_s=outcome.duration_s)
        console.print(f"JUnit XML: {path}", soft_wrap=True)
    outcome.raise_for_status()


def register(app: typer.Typer) -> None:
    app.command()(verify)
