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

    hosts = Table(box=box.SIMPLE, title="Hosts", title_justify="left")
    for column in ("node", "address", "roles", "groups"):
        hosts.add_column(column)
    for node in site.nodes:
        member_of = [group for group, names in plan.groups.items() if node.name in names]
        hosts.add_row(node.name, node.address, ", ".join(role.value for role in node.roles),
                      ", ".join(member_of))
    console.print(hosts)

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
