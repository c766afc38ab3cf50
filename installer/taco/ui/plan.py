"""`taco plan` output: phases, hosts and groups, versions and settings with their sources."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich import box
from rich.table import Table

if TYPE_CHECKING:
    from rich.console import Console

    from taco.deploy import Plan


def render_plan(console: Console, plan: Plan) -> None:
    site = plan.loaded.site
    console.print(f"[bold]Site[/bold] {site.name} from {plan.loaded.source}: "
                  f"{len(site.nodes)} node(s), Kubernetes {site.kubernetes.version}, "
                  f"CNI {site.kubernetes.cni}")
    for note in plan.loaded.notes:
        console.print(f"note: {note}")

    phases = Table(box=box.SIMPLE, title="Phases", title_justify="left")
    for column in ("#", "phase", "playbook", "groups", "will run"):
        phases.add_column(column)
    chosen = {phase.name for phase in plan.phases}
    from taco.engine.phases import PHASES

    for index, phase in enumerate(PHASES, start=1):
        if phase.pending:
            verdict = f"[dim]later ({phase.pending})[/dim]"
        else:
            verdict = "[green]yes[/green]" if phase.name in chosen else "[dim]skipped[/dim]"
        phases.add_row(str(index), phase.title, phase.playbook,
                       ", ".join(phase.groups), verdict)
    console.print(phases)

    console.print(_hosts_table(plan))

    settings = Table(box=box.SIMPLE, title="Settings", title_justify="left")
    for column in ("setting", "value", "from"):
        settings.add_column(column)
    for setting in plan.settings.values():
        settings.add_row(setting.name, str(setting.value), setting.source)
    k8s = site.kubernetes
    endpoint = k8s.api_vip or k8s.api_endpoint or f"{site.nodes[0].address} (first control plane)"
    for name, value in (("kubernetes.api", f"{endpoint}:{k8s.api_port}"),
                        ("kubernetes.pod_cidr", k8s.pod_cidr),
                        ("kubernetes.service_cidr", k8s.service_cidr),
                        ("ssh", f"{site.ssh.user}, host keys "
                                f"{'checked' if site.ssh.host_key_checking else 'NOT checked'}"
                                + (f", via {site.ssh.jump_host.address}"
                                   if site.ssh.jump_host else ""))):
        settings.add_row(name, value, "site file")
    console.print(settings)
    if plan.resumed_from:
        console.print(f"resume: starts at phase {plan.resumed_from}")


# Above this many nodes a row per node drowns the plan: nodes alike are folded into one row.
HOSTS_LISTED = 30


def _hosts_table(plan: Plan) -> Table:
    """One row per node on small sites; one row per kind of node (same roles and groups)
    on large ones, with a count and the first and last of them."""
    members = {group: set(names) for group, names in plan.groups.items()}
    profiles: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for node in plan.loaded.site.nodes:
        roles = ", ".join(role.value for role in node.roles)
        groups = ", ".join(group for group, names in members.items() if node.name in names)
        profiles.setdefault((roles, groups), []).append((node.name, node.address))
    nodes = len(plan.loaded.site.nodes)
    folded = nodes > HOSTS_LISTED
    title = f"Hosts ({nodes}, alike ones folded; `taco inventory` lists each)" if folded \
        else "Hosts"
    table = Table(box=box.SIMPLE, title=title, title_justify="left")
    for column in ("node", "address", "roles", "groups"):
        table.add_column(column)
    for (roles, groups), alike in profiles.items():
        if not folded or len(alike) == 1:
            for name, address in alike:
                table.add_row(name, address, roles, groups)
        else:
            (first, first_address), (last, last_address) = alike[0], alike[-1]
            table.add_row(f"{first} … {last} ({len(alike)})",
                          f"{first_address} … {last_address}", roles, groups)
    return table
