"""The phase list: data, in the order a site is built.

A phase names its playbook and the inventory groups it acts on. Phases whose
playbook is not in the tree yet are listed (so `taco plan` shows the whole road)
but marked unavailable and never run; the issue that adds each is named.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from taco.errors import UsageError

if TYPE_CHECKING:
    from pathlib import Path


@dataclass(frozen=True)
class Phase:
    name: str
    title: str
    playbook: str
    groups: tuple[str, ...]
    # Read-only phases may run before a resume point and in `--check` without risk.
    read_only: bool = False
    # Where the playbook is still to be written: the issue that brings it.
    pending: str = ""


PHASES: tuple[Phase, ...] = (
    Phase("preflight", "Preflight checks", "preflight.yml", ("all",), read_only=True),
    Phase("os_bootstrap", "OS bootstrap", "os_bootstrap.yml", ("all",)),
    Phase("network", "Host networking", "network.yml", ("all",)),
    Phase("openvswitch", "Open vSwitch", "openvswitch.yml", ("ovs_nodes",)),
    Phase("storage", "Storage", "storage.yml", ("all",)),
    Phase("container_runtime", "Container runtime", "container_runtime.yml", ("k8s_cluster",)),
    Phase("kubernetes", "Kubernetes (kubeadm)", "kubernetes.yml", ("k8s_cluster",)),
    Phase("cni_labels", "CNI and node labels", "cni_labels.yml", ("k8s_cluster",)),
    Phase("helm", "Helm", "helm.yml", ("kube_control_plane",)),
    Phase("tekton", "Tekton", "tekton.yml", ("kube_control_plane",)),
    Phase("prow", "Prow", "prow.yml", ("kube_control_plane",)),
    Phase("handover", "Chart deployment handover", "handover.yml", ("kube_control_plane",)),
)

PHASE_NAMES: tuple[str, ...] = tuple(phase.name for phase in PHASES)


def phase_by_name(name: str) -> Phase:
    for phase in PHASES:
        if phase.name == name:
            return phase
    raise UsageError(f"unknown phase '{name}'; phases are: {', '.join(PHASE_NAMES)}")


def available_phases(playbook_dir: Path) -> tuple[Phase, ...]:
    """Phases whose playbook exists and that no issue still owes."""
    return tuple(
        phase for phase in PHASES if not phase.pending and (playbook_dir / phase.playbook).is_file()
    )


def select_phases(
    playbook_dir: Path,
    *,
    start_at: str | None = None,
    only: list[str] | None = None,
) -> tuple[Phase, ...]:
    """The phases a run executes, in order, after `--from` / `--only`.

    Preflight always runs first: it is read-only and guards every change.
    """
    if start_at and only:
        raise UsageError("--from and --only cannot be combined; pick one")
    ready = available_phases(playbook_dir)
    for name in [*(only or []), *([start_at] if start_at else [])]:
        phase = phase_by_name(name)
        if phase not in ready:
            why = f"it comes with the {phase.pending} work" if phase.pending else "no playbook"
            raise UsageError(f"phase '{name}' cannot run yet: {why}")
    if only:
        chosen = [phase for phase in ready if phase.name in only]
    elif start_at:
        names = [phase.name for phase in ready]
        chosen = list(ready[names.index(start_at):])
    else:
        chosen = list(ready)
    if ready and ready[0].read_only and ready[0] not in chosen:
        chosen.insert(0, ready[0])
    return tuple(chosen)
