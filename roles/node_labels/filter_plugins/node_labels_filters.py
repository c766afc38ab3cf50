"""node_labels_filters: what to change on each node's labels.

Tested in tests/unit/test_node_labels.py.

taco remembers the label keys it set in one node annotation. A label is removed only when
taco set it earlier and the site no longer wants it, so labels set by hand (or by the
kubelet, or another tool) are never removed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ansible.errors import AnsibleFilterError

if TYPE_CHECKING:
    from collections.abc import Mapping


def _fail(message: str) -> AnsibleFilterError:
    return AnsibleFilterError(f"node_labels_plan: {message}")


def managed_keys(text: str | None) -> list[str]:
    """The label keys recorded in the annotation (comma-separated; label keys hold no comma)."""
    return sorted({key.strip() for key in (text or "").split(",") if key.strip()})


def node_labels_plan(
    nodes: Mapping[str, Any], wanted: Mapping[str, Mapping[str, str]], annotation: str,
) -> dict[str, dict[str, Any]]:
    """Node -> {labels, set, remove, managed, patch} for every node in `wanted`.

    `nodes` is `kubectl get nodes -o json`. `patch` is the JSON merge patch that makes the
    node right in one request (labels and the annotation together), or {} when it already is.
    """
    present = {
        str((item.get("metadata") or {}).get("name", "")): item.get("metadata") or {}
        for item in nodes.get("items") or []
    }
    missing = sorted(name for name in wanted if name not in present)
    if missing:
        raise _fail(f"node(s) {', '.join(missing)} are not in the cluster (kubectl get nodes "
                    "lists " + (", ".join(sorted(present)) or "none") + "): run the "
                    "kubernetes phase for them first")
    plans: dict[str, dict[str, Any]] = {}
    for name, labels in wanted.items():
        metadata = present[name]
        current = {str(k): str(v) for k, v in (metadata.get("labels") or {}).items()}
        annotations = metadata.get("annotations") or {}
        before = managed_keys(annotations.get(annotation))
        desired = {str(k): str(v) for k, v in labels.items()}
        to_set = {k: v for k, v in sorted(desired.items()) if current.get(k) != v}
        to_remove = sorted(k for k in before if k not in desired and k in current)
        managed = sorted(desired)
        patch_labels: dict[str, str | None] = {**to_set, **dict.fromkeys(to_remove)}
        metadata_patch: dict[str, Any] = {}
        if patch_labels:
            metadata_patch["labels"] = patch_labels
        # No managed label: no annotation either (null removes it).
        recorded = ",".join(managed) or None
        if annotations.get(annotation) != recorded:
            metadata_patch["annotations"] = {annotation: recorded}
        plans[name] = {
            "labels": desired,
            "set": to_set,
            "remove": to_remove,
            "managed": managed,
            "patch": {"metadata": metadata_patch} if metadata_patch else {},
        }
    return plans


def node_labels_handover(plans: Mapping[str, Any], annotation: str) -> dict[str, Any]:
    """Node -> {labels, annotation}: what later stages need from a plan."""
    return {name: {"labels": plan["labels"], "annotation": annotation}
            for name, plan in plans.items()}


class FilterModule:
    """Ansible entry point."""

    def filters(self) -> dict[str, Any]:
        return {"node_labels_plan": node_labels_plan, "node_labels_handover": node_labels_handover}
