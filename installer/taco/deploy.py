"""What `taco aio`, `taco site`, `taco preflight` and `taco plan` do, apart from printing.

Order of a run: load and validate the site (no host touched), resolve settings,
reach every node over SSH (read-only), then hand the selected phases to the engine.
"""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from taco.engine.phases import PHASES, Phase, select_phases
from taco.errors import PreflightFailed, SiteInvalid, SiteIssue, UsageError
from taco.inventory.build import build_inventory, node_groups
from taco.paths import content_root, state_dir
from taco.settings import Setting, resolve
from taco.site.load import load_site, load_site_text

if TYPE_CHECKING:
    from collections.abc import Callable

    from taco.engine.events import Event
    from taco.engine.records import RunRecord
    from taco.engine.runner import RunResult
    from taco.preflight.checks import HostCheck
    from taco.site.model import Site

AIO_SOURCE = "<embedded aio.yml>"
# Not in the phase list: `taco reset` runs it alone, behind --yes-really-reset.
RESET = Phase("reset", "Reset Kubernetes", "reset.yml", ("k8s_cluster",))
# The handover bundle's directory inside a run record.
HANDOVER_BUNDLE_DIR = "handover"


@dataclass(frozen=True)
class LoadedSite:
    site: Site
    source: str
    # True when the single node is this machine, reached without SSH.
    local: bool = False
    # Assumptions taco made on the operator's behalf, shown by `plan` and at run start.
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class AioTarget:
    """`taco aio` options: where the one node is and how to log in."""

    host: str | None = None
    cidr: str | None = None
    user: str | None = None
    private_key: Path | None = None
    known_hosts: Path | None = None
    jump: str | None = None
    config: Path | None = None
    # --set PATH=VALUE on the embedded site, e.g. mirrors.artifacts=http://mirror:8080.
    overrides: tuple[str, ...] = ()


@dataclass(frozen=True)
class RunOptions:
    start_at: str | None = None
    only: list[str] | None = None
    resume: bool = False
    limit: str | None = None
    check: bool = False
    diff: bool = False
    verbosity: int = 0
    # Destructive: wipe the disks the site marks `wipe: true` (and only those).
    wipe_marked_disks: bool = False
    # Destructive: `taco reset --yes-really-reset` (reset.yml refuses without it).
    reset_confirmed: bool = False
    # Ansible Vault password file (--vault-password-file): decrypts Prow's secrets file.
    vault_password_file: Path | None = None
    # Values given on the command line for settings (forks, record_dir, output).
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Plan:
    """What a run would do; a pure function of the site, the options and the tree."""

    loaded: LoadedSite
    phases: tuple[Phase, ...]
    pending: tuple[Phase, ...]
    groups: dict[str, list[str]]
    settings: dict[str, Setting]
    resumed_from: str | None = None


# -- loading ----------------------------------------------------------------------


def load_site_file(path: Path, *, need_files: bool = True) -> LoadedSite:
    """Load and validate; `need_files` also requires the SSH key and known_hosts to exist."""
    site = load_site(path)
    if need_files:
        _check_local_files(site, str(path))
    return LoadedSite(site, str(path))


def load_aio(target: AioTarget) -> LoadedSite:
    """The embedded one-node site, aimed at --host (SSH) or at this machine (local)."""
    if target.config:
        if target.overrides:
            raise UsageError("--set changes the embedded site; with --config, edit the file")
        loaded = load_site_file(target.config)
        if len(loaded.site.nodes) != 1:
            raise UsageError(
                f"{target.config}: an AIO site has exactly one node, this one has "
                f"{len(loaded.site.nodes)}; use `taco site -c {target.config}` instead"
            )
        return loaded
    data = yaml.safe_load(resources.files("taco.data").joinpath("aio.yml").read_text())
    notes: list[str] = []
    local = target.host is None
    if local:
        address, cidr = _local_address()
        notes.append(f"this machine: {address} on {cidr} (from its default route)")
    else:
        address = str(target.host)
        cidr = target.cidr or _assumed_cidr(address)
        if not target.cidr:
            notes.append(f"management network assumed to be {cidr}; pass --cidr to set it")
    data["networks"]["management"]["cidr"] = cidr
    data["nodes"][0]["address"] = address
    ssh = data.setdefault("ssh", {})
    if target.user:
        ssh["user"] = target.user
    if target.private_key:
        ssh["private_key"] = str(target.private_key)
    if target.known_hosts:
        ssh["known_hosts"] = str(target.known_hosts)
    if target.jump:
        user, _, rest = target.jump.rpartition("@")
        host, _, port = rest.partition(":")
        ssh["jump_host"] = {"address": host, "user": user or "root", "port": int(port or 22)}
    for override in target.overrides:
        apply_override(data, override)
    site = load_site_text(yaml.safe_dump(data, sort_keys=False), AIO_SOURCE)
    _check_local_files(site, AIO_SOURCE)
    return LoadedSite(site, AIO_SOURCE, local=local, notes=tuple(notes))


def apply_override(data: dict[str, Any], override: str) -> None:
    """Set one `--set PATH=VALUE` in the site data; VALUE is read as YAML (1, true, [a, b])."""
    path, sep, text = override.partition("=")
    keys = path.strip().split(".")
    if not sep or not all(keys):
        raise UsageError(f"--set {override!r}: expected PATH=VALUE, e.g. "
                         "--set mirrors.artifacts=http://10.0.0.5:8080")
    try:
        value = yaml.safe_load(text) if text.strip() else ""
    except yaml.YAMLError as exc:
        raise UsageError(f"--set {override!r}: the value is not valid YAML: {exc}") from None
    node: Any = data
    for depth, key in enumerate(keys):
        last = depth == len(keys) - 1
        if isinstance(node, list):
            if not key.isdigit() or int(key) >= len(node):
                raise UsageError(f"--set {override!r}: '{'.'.join(keys[:depth])}' is a list of "
                                 f"{len(node)}; use an index below {len(node)}")
            if last:
                node[int(key)] = value
            else:
                node = node[int(key)]
        elif isinstance(node, dict):
            if last:
                node[key] = value
            else:
                node = node.setdefault(key, {})
        else:
            raise UsageError(f"--set {override!r}: '{'.'.join(keys[:depth])}' is a value, not a "
                             f"section; it has no field '{key}'")


def _assumed_cidr(address: str) -> str:
    try:
        return str(ipaddress.ip_interface(f"{address}/24").network)
    except ValueError as exc:
        raise UsageError(f"--host {address!r} is not an IP address: {exc}") from None


def _local_address() -> tuple[str, str]:
    """This machine's primary IPv4 address and its network, read-only via `ip -j`."""
    route = json.loads(_ip("-4", "route", "show", "default") or "[]")
    if not route:
        raise UsageError("this machine has no default IPv4 route; pass --host and --cidr")
    device = route[0]["dev"]
    for entry in json.loads(_ip("-4", "addr", "show", "dev", device)):
        for info in entry.get("addr_info", []):
            if info.get("family") == "inet":
                iface = ipaddress.ip_interface(f"{info['local']}/{info['prefixlen']}")
                return str(iface.ip), str(iface.network)
    raise UsageError(f"no IPv4 address on {device}; pass --host and --cidr")


def _ip(*args: str) -> str:
    return subprocess.run(["ip", "-j", *args], check=True, capture_output=True,
                          text=True).stdout


def _check_local_files(site: Site, filename: str) -> None:
    """Files the deploy host must hold before any SSH: the key and the known_hosts file."""
    issues = []
    for name, value in (("ssh.private_key", site.ssh.private_key),
                        ("ssh.known_hosts", site.ssh.known_hosts)):
        if value and not Path(value).expanduser().is_file():
            issues.append(SiteIssue(filename, name, f"file {value} does not exist",
                                    "give the path of an existing file on this deploy host"))
    if issues:
        raise SiteInvalid(issues)


# -- planning ---------------------------------------------------------------------


def make_plan(loaded: LoadedSite, options: RunOptions) -> Plan:
    """Phases, groups and settings of a run; touches nothing."""
    settings = resolve(loaded.site, options.settings)
    start_at = options.start_at
    resumed_from = None
    if options.resume:
        if options.start_at or options.only:
            raise UsageError("--resume picks its own starting phase; drop --from/--only")
        from taco.engine.records import resume_point

        resumed_from = resume_point(loaded.site.name, settings["record_dir"].value, PHASES)
        if resumed_from is None:
            raise UsageError(
                f"nothing to resume for site '{loaded.site.name}': its last run succeeded "
                "or there is no run yet (see `taco runs`)"
            )
        start_at = resumed_from
    playbooks = content_root() / "playbooks"
    phases = select_phases(playbooks, start_at=start_at, only=options.only)
    pending = tuple(phase for phase in PHASES if phase.pending)
    return Plan(loaded, phases, pending, node_groups(loaded.site), settings, resumed_from)


def make_reset_plan(loaded: LoadedSite, options: RunOptions) -> Plan:
    """The reset run: reach every node, then the reset playbook alone."""
    settings = resolve(loaded.site, options.settings)
    return Plan(loaded, (RESET,), (), node_groups(loaded.site), settings)


def kubeconfig_path(site: Site) -> Path:
    """Where the kubernetes phase leaves the site's admin kubeconfig (mode 0600)."""
    return state_dir() / "kubeconfig" / f"{site.name}.conf"


def deploy_host_paths(site: Site) -> dict[str, str]:
    """Where roles keep files on the deploy host: every run of the site shares them."""
    return {
        # Downloads land here once per deploy host and are pushed to nodes from it.
        "taco_artifact_cache": str(state_dir() / "cache" / "artifacts"),
        "taco_kubeconfig_path": str(kubeconfig_path(site)),
    }


def prepare_phase(site: Site) -> Callable[[Phase, RunRecord], None]:
    """The engine's per-phase hook: the handover phase gets its bundle rendered first.

    Rendered then, not at the start of the run, so it reads the handover data the
    run's earlier phases (or the runs it builds on) recorded.
    """
    def prepare(phase: Phase, record: RunRecord) -> None:
        if phase.name == "handover":
            from taco.handover.bundle import render, write_bundle

            bundle = render(site, record.handover(), kubeconfig_path(site))
            write_bundle(bundle, site, record.path / HANDOVER_BUNDLE_DIR)

    return prepare


def inventory_for(loaded: LoadedSite) -> dict[str, Any]:
    inventory = build_inventory(loaded.site)
    if loaded.local:
        for host in inventory["all"]["hosts"].values():
            host["ansible_connection"] = "local"
    return inventory


# -- running ----------------------------------------------------------------------


def reach(loaded: LoadedSite) -> list[HostCheck]:
    """SSH, sudo and OS checks from this deploy host; nothing on the nodes changes."""
    from taco.preflight.reach import check_reach

    if loaded.local:
        return []
    return check_reach(loaded.site)


def reach_and_record(
    loaded: LoadedSite, record: RunRecord, on_reach: Callable[[list[HostCheck]], None]
) -> list[HostCheck]:
    """Reach every node, show the rows, keep them in the record; the failed rows."""
    from taco.engine.records import write_private
    from taco.preflight.checks import failures

    checks = reach(loaded)
    on_reach(checks)
    write_private(record.path / "reach.json",
                  json.dumps([{"host": c.host, "check": c.check, "status": str(c.status),
                               "detail": c.detail} for c in checks], indent=2))
    return failures(checks)


def execute(
    plan: Plan,
    options: RunOptions,
    *,
    command: str,
    sink: Callable[[Event], None],
    on_reach: Callable[[list[HostCheck]], None],
) -> RunResult:
    """Reach every node, then run the plan's phases through the engine."""
    from taco.engine.records import RunRecord
    from taco.engine.runner import RunRequest, run_phases

    site = plan.loaded.site
    record = RunRecord.create(site.name, command, root=plan.settings["record_dir"].value,
                              check=options.check, limit=options.limit)
    record.write_site(site)
    failed = reach_and_record(plan.loaded, record, on_reach)
    if failed:
        record.finish("failed")
        rows = "\n".join(f"  {c.host}: {c.check}: {c.detail}" for c in failed)
        raise PreflightFailed(f"preflight: {len(failed)} check(s) failed; nothing was changed\n"
                              f"{rows}\nrun record: {record.path}")
    inventory = inventory_for(plan.loaded)
    request = RunRequest(
        site=site.name,
        inventory=inventory,
        phases=plan.phases,
        record=record,
        content_root=content_root(),
        limit=options.limit,
        check=options.check,
        diff=options.diff,
        verbosity=options.verbosity,
        extravars={
            "taco_wipe_marked_disks": options.wipe_marked_disks,
            **deploy_host_paths(site),
            "taco_reset_confirmed": options.reset_confirmed,
            # A reset leaves no images, containers or snapshots of the old cluster behind.
            "taco_reset_containerd_state": options.reset_confirmed,
            # The handover bundle, written just before the handover phase runs.
            "taco_handover_bundle_dir": str(record.path / HANDOVER_BUNDLE_DIR),
        },
        forks=int(plan.settings["forks"].value),
        host_key_checking=site.ssh.host_key_checking,
        vault_password_file=options.vault_password_file,
        before_phase=prepare_phase(site),
    )
    return run_phases(request, sink)


def output_is_tty() -> bool:
    return os.isatty(1)
