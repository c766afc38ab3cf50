#!/usr/bin/python
"""Inventory a node's declared disks and judge whether taco may use them (read-only)."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
---
module: storage_disk_info
short_description: Inventory declared disks and say whether each is empty, taco's own or in use
description:
  - Resolves every declared device (a by-id/by-path symlink, a loop device, or a loop-backed
    disk under O(link_dir)) to its kernel name and collects size, partitions, signatures
    (C(wipefs --no-act --json)), mounts, swap, device-mapper holders, the LVM volume group of
    a physical volume (C(pvs)) and the stable paths that point at it.
  - Judges each disk as C(missing), C(pending) (a loop-backed disk not attached yet),
    C(invalid), C(empty), C(taco) (already what taco makes of it), C(foreign) (data on it:
    taco wipes it only on request) or C(busy) (mounted, swap or held: never touched).
  - Never changes anything; runs in check mode.
options:
  disks:
    description: Declared disks, each with C(device), C(use) and C(wipe).
    type: list
    elements: dict
    default: []
  loop_backing:
    description: Loop-backed disks, each with C(name) and C(use) (and optionally C(wipe)).
    type: list
    elements: dict
    default: []
  loop_dir:
    description: Directory of the loop backing files (C(<name>.img)).
    type: path
    default: /var/lib/taco/loop
  link_dir:
    description: Directory of the stable symlinks of loop-backed disks.
    type: path
    default: /dev/taco
  cinder_vg:
    description: Volume group of cinder-volumes disks.
    type: str
    default: cinder-volumes
  local_vg:
    description: Volume group of local-path disks placed on LVM.
    type: str
    default: taco-local-paths
  lvm_uses:
    description: Local-path uses placed on LVM rather than a filesystem on the disk.
    type: list
    elements: str
    default: []
  fs_type:
    description: Filesystem taco creates on local-path disks.
    type: str
    default: xfs
  fs_labels:
    description: Filesystem label taco gives each local-path use.
    type: dict
    default: {}
  mount_paths:
    description: Where each local-path use is mounted.
    type: dict
    default: {}
"""

RETURN = r"""
disks:
  description: One entry per declared and loop-backed disk, in that order.
  type: list
  returned: always
device_mapper:
  description: C(available) and, when not, C(reason).
  type: dict
  returned: always
mounted:
  description: For each path in O(mount_paths), whether something is mounted there now.
  type: dict
  returned: always
tools:
  description: Paths of optional tools (C(sgdisk), C(pvs)), null when absent.
  type: dict
  returned: always
"""

CEPH_USE = "ceph-osd"
CINDER_USE = "cinder-volumes"
PARTITION_TABLES = {"gpt", "dos", "PMBR"}
LSBLK_COLUMNS = "NAME,PATH,SIZE,TYPE,FSTYPE,LABEL,UUID,MOUNTPOINTS,PKNAME"
STABLE_DIRS = ("/dev/disk/by-id", "/dev/disk/by-path")


def _real(path: str | Path) -> str:
    """The kernel name behind a stable path (symlinks resolved)."""
    return str(Path(path).resolve())


def _json_or_none(text: str) -> Any:
    try:
        return json.loads(text) if text.strip() else None
    except ValueError:
        return None


def _signatures(module: AnsibleModule, path: str) -> list[dict[str, str]]:
    """Low-level probe: lsblk's FSTYPE needs udev's database, wipefs reads the disk."""
    rc, out, _err = module.run_command(["wipefs", "--no-act", "--json", path])
    data = _json_or_none(out) if rc == 0 else None
    found = (data or {}).get("signatures", [])
    return [
        {key: str(sig.get(key) or "") for key in ("type", "label", "uuid", "offset")}
        for sig in found
    ]


def _lsblk(module: AnsibleModule, path: str) -> dict[str, Any] | None:
    rc, out, _err = module.run_command(["lsblk", "--json", "-b", "-o", LSBLK_COLUMNS, path])
    if rc != 0:
        return None
    devices = (_json_or_none(out) or {}).get("blockdevices", [])
    return devices[0] if devices else None


def _mountpoints(node: dict[str, Any]) -> list[str]:
    return [point for point in node.get("mountpoints") or [] if point]


def _holders(name: str) -> list[str]:
    path = Path("/sys/class/block", name, "holders")
    return sorted(entry.name for entry in path.iterdir()) if path.is_dir() else []


def _physical_volumes(module: AnsibleModule, pvs: str | None) -> dict[str, str] | None:
    """Kernel path -> VG name ('' for an orphan PV); None when lvm2 is not installed."""
    if not pvs:
        return None
    _rc, out, _err = module.run_command(
        [pvs, "--reportformat", "json", "--options", "pv_name,vg_name"]
    )
    reports = (_json_or_none(out) or {}).get("report", [])
    return {
        _real(pv["pv_name"]): pv.get("vg_name", "")
        for report in reports
        for pv in report.get("pv", [])
    }


def _stable_paths(kname: str, declared: str, link_dir: str) -> list[str]:
    found = []
    for directory in (Path(path) for path in (*STABLE_DIRS, link_dir)):
        if directory.is_dir():
            found += [str(link) for link in sorted(directory.iterdir()) if _real(link) == kname]
    if declared != kname and declared not in found:
        found.insert(0, declared)
    return found


def _device_mapper() -> dict[str, Any]:
    missing = [path for path in ("/dev/mapper/control", "/sys/module/dm_mod")
               if not Path(path).exists()]
    if not missing:
        return {"available": True, "reason": ""}
    return {"available": False, "reason": f"{' and '.join(missing)} missing"}


class Judge:
    """What taco would have made of a disk for its use, and how the disk compares."""

    def __init__(self, params: dict[str, Any]) -> None:
        self.cinder_vg: str = params["cinder_vg"]
        self.local_vg: str = params["local_vg"]
        self.lvm_uses: list[str] = params["lvm_uses"]
        self.fs_type: str = params["fs_type"]
        self.fs_labels: dict[str, str] = params["fs_labels"]
        self.mount_paths: dict[str, str] = params["mount_paths"]

    def expected_vg(self, use: str) -> str | None:
        if use == CINDER_USE:
            return self.cinder_vg
        if use in self.lvm_uses:
            return self.local_vg
        return None

    def owned(self, use: str, sigs: list[dict[str, str]], vg: str | None) -> str:
        """Why the disk is already taco's (or handed on to Ceph), '' when it is not."""
        types = [sig["type"] for sig in sigs]
        if use == CEPH_USE:
            if "ceph_bluestore" in types:
                return "Ceph BlueStore OSD"
            if types == ["LVM2_member"] and (vg or "").startswith("ceph-"):
                return f"Ceph OSD (LVM, VG '{vg}')"
            return ""
        expected_vg = self.expected_vg(use)
        if expected_vg is not None:
            if types == ["LVM2_member"] and vg == expected_vg:
                return f"LVM physical volume of VG '{vg}'"
            return ""
        label = self.fs_labels.get(use)
        if len(sigs) == 1 and types[0] == self.fs_type and label and sigs[0]["label"] == label:
            return f"{self.fs_type} filesystem labelled '{label}'"
        return ""

    def findings(self, use: str, sigs: list[dict[str, str]], vg: str | None,
                 partitions: list[dict[str, Any]]) -> list[str]:
        notes = []
        if partitions:
            parts = ", ".join(
                part["name"] + (f" ({part['fstype']})" if part["fstype"] else "")
                for part in partitions
            )
            notes.append(f"partitions {parts}")
        for sig in sigs:
            kind = sig["type"]
            if kind in PARTITION_TABLES:
                if kind != "PMBR":
                    notes.append(f"partition table ({kind})")
            elif kind == "LVM2_member":
                if vg is None:
                    notes.append("LVM physical volume (VG unknown: lvm2 is not installed)")
                elif vg:
                    notes.append(f"LVM physical volume of VG '{vg}'")
                else:
                    notes.append("LVM physical volume in no VG")
            else:
                label = f" (label '{sig['label']}')" if sig["label"] else ""
                notes.append(f"filesystem {kind}{label}")
                if sig["label"] and sig["label"] == self.fs_labels.get(use) \
                        and kind != self.fs_type:
                    notes.append(f"taco's label, but storage_fs_type is {self.fs_type}")
        # A GPT shows twice (primary and backup header).
        return list(dict.fromkeys(notes))


def _loop_backing_file(kname: str) -> str:
    path = Path("/sys/class/block", Path(kname).name, "loop", "backing_file")
    return path.read_text(encoding="utf-8").strip() if path.exists() else ""


def inspect(module: AnsibleModule, judge: Judge, entry: dict[str, Any],
            pv_vgs: dict[str, str] | None, link_dir: str) -> dict[str, Any]:
    """Everything taco needs to know about one declared disk."""
    device: str = entry["device"]
    use: str = entry["use"]
    disk: dict[str, Any] = {
        "device": device, "use": use, "wipe": bool(entry.get("wipe", False)),
        "loop_name": entry.get("loop_name", ""), "loop_file": entry.get("loop_file", ""),
        "found": False, "kname": "", "size": 0, "type": "", "stable_paths": [],
        "stable_path": device, "partitions": [], "partition_paths": [], "signatures": [],
        "fstype": "", "label": "", "uuid": "", "pv_vg": None, "mountpoints": [],
        "holders": [], "owned": "", "findings": [], "busy": [], "state": "missing",
    }
    if not Path(device).exists():
        if disk["loop_name"]:
            disk["state"] = "pending"
            exists = Path(disk["loop_file"]).exists()
            disk["findings"] = [f"loop-backed, not attached yet; backing file "
                                f"{disk['loop_file']} {'exists' if exists else 'to be created'}"]
        else:
            disk["findings"] = ["no such device"]
        return disk
    kname = _real(device)
    disk.update(found=True, kname=kname)
    if not stat.S_ISBLK(Path(kname).stat().st_mode):
        disk.update(state="invalid", findings=[f"{kname} is not a block device"])
        return disk
    node = _lsblk(module, kname) or {}
    children = node.get("children") or []
    sigs = _signatures(module, kname)
    partitions = []
    for child in children:
        child_sigs = _signatures(module, child["path"])
        partitions.append({
            "name": child["name"], "path": child["path"],
            "fstype": child_sigs[0]["type"] if child_sigs else "",
            "mountpoints": _mountpoints(child), "holders": _holders(child["name"]),
        })
    vg = pv_vgs.get(kname, "") if pv_vgs is not None else None
    fs_sig = next((sig for sig in sigs if sig["type"] not in PARTITION_TABLES), None)
    disk.update(
        size=int(node.get("size") or 0), type=node.get("type") or "",
        stable_paths=_stable_paths(kname, device, link_dir),
        partitions=[part["name"] for part in partitions],
        partition_paths=[part["path"] for part in partitions],
        signatures=sigs,
        fstype=fs_sig["type"] if fs_sig else "",
        label=fs_sig["label"] if fs_sig else "",
        uuid=fs_sig["uuid"] if fs_sig else "",
        pv_vg=vg if any(sig["type"] == "LVM2_member" for sig in sigs) else None,
        mountpoints=_mountpoints(node) + [p for part in partitions for p in part["mountpoints"]],
        holders=_holders(Path(kname).name) + [h for part in partitions
                                                     for h in part["holders"]],
    )
    disk["stable_path"] = disk["stable_paths"][0] if disk["stable_paths"] else kname
    disk["owned"] = "" if partitions else judge.owned(use, sigs, disk["pv_vg"])
    disk["findings"] = judge.findings(use, sigs, disk["pv_vg"], partitions)

    busy = []
    expected_mount = judge.mount_paths.get(use) if judge.expected_vg(use) is None else None
    for point in disk["mountpoints"]:
        if point == "[SWAP]":
            busy.append("used as swap")
        elif not (disk["owned"] and point == expected_mount and use != CEPH_USE):
            busy.append(f"mounted at {point}")
    # Active LVs of taco's VG or of Ceph's OSD hold the disk by design.
    if disk["holders"] and not (disk["owned"] and (use == CEPH_USE or judge.expected_vg(use))):
        busy.append(f"held by {', '.join(disk['holders'])} (device-mapper)")
    if disk["loop_name"]:
        backing = _loop_backing_file(kname)
        if backing.removesuffix(" (deleted)") != disk["loop_file"]:
            busy.append(f"{device} points at {kname}, backed by '{backing or 'nothing'}', "
                        f"not {disk['loop_file']}")
    disk["busy"] = busy
    if busy:
        disk["state"] = "busy"
    elif disk["owned"]:
        disk["state"] = "taco"
    elif sigs or partitions:
        disk["state"] = "foreign"
    else:
        disk["state"] = "empty"
    return disk


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "disks": {"type": "list", "elements": "dict", "default": []},
            "loop_backing": {"type": "list", "elements": "dict", "default": []},
            "loop_dir": {"type": "path", "default": "/var/lib/taco/loop"},
            "link_dir": {"type": "path", "default": "/dev/taco"},
            "cinder_vg": {"type": "str", "default": "cinder-volumes"},
            "local_vg": {"type": "str", "default": "taco-local-paths"},
            "lvm_uses": {"type": "list", "elements": "str", "default": []},
            "fs_type": {"type": "str", "default": "xfs"},
            "fs_labels": {"type": "dict", "default": {}},
            "mount_paths": {"type": "dict", "default": {}},
        },
        supports_check_mode=True,
    )
    params = module.params
    entries = [dict(disk) for disk in params["disks"]]
    entries += [
        {"device": str(Path(params["link_dir"], loop["name"])), "use": loop["use"],
         "wipe": loop.get("wipe", False), "loop_name": loop["name"],
         "loop_file": str(Path(params["loop_dir"], f"{loop['name']}.img"))}
        for loop in params["loop_backing"]
    ]
    tools = {tool: module.get_bin_path(tool) for tool in ("sgdisk", "pvs")}
    pv_vgs = _physical_volumes(module, tools["pvs"]) if entries else {}
    judge = Judge(params)
    disks = [inspect(module, judge, entry, pv_vgs, params["link_dir"]) for entry in entries]

    seen: dict[str, str] = {}
    for disk in disks:
        disk["duplicate_of"] = seen.get(disk["kname"], "") if disk["kname"] else ""
        seen.setdefault(disk["kname"], disk["device"])
    mounted = {path: Path(path).is_mount() for path in params["mount_paths"].values()}
    module.exit_json(changed=False, disks=disks, device_mapper=_device_mapper(), tools=tools,
                     mounted=mounted)


if __name__ == "__main__":
    main()
