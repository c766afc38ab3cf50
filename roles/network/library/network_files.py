#!/usr/bin/python
"""Ansible module: a directory holding exactly the rendered files given, in one call.

The network role stages a dozen small files twice per run (declared and installable
trees); one template task per file cost about 1.3 s each over a container connection.
This writes them all in one module run, changed only where content differs, and compares
the result with the live directory so the role knows what a switch-over would install.
"""

from __future__ import annotations

import fnmatch
import os
import tempfile
from pathlib import Path
from typing import Any

from ansible.module_utils.basic import AnsibleModule  # type: ignore[import-untyped]

DOCUMENTATION = r"""
---
module: network_files
short_description: Keep a directory holding exactly the given rendered files
description:
  - Writes each of I(files) (name to content) into I(path), only where the content
    differs, with mode I(mode); removes other regular files directly in I(path) unless
    named in I(keep). Reports which files changed.
  - With I(compare_dir), also reports which of I(files) differ from their namesakes there
    (C(differs)) and which files there match I(compare_patterns) but are not in I(files)
    (C(extra)); I(compare_dir) itself is never changed.
  - Supports check mode.
version_added: "1.0.0"
author: taco
options:
  path:
    description: Directory to keep (created with I(dir_mode) when missing).
    type: path
    required: true
  files:
    description: File name (no directories) to content.
    type: dict
    required: true
  mode:
    description: Mode of the files written.
    type: str
    default: "0644"
  dir_mode:
    description: Mode of I(path) when it is created.
    type: str
    default: "0700"
  keep:
    description: Names in I(path) that are not removed although not in I(files).
    type: list
    elements: str
    default: []
  compare_dir:
    description: Directory the files are compared with (read only).
    type: path
  compare_patterns:
    description: Shell patterns of the files in I(compare_dir) the caller owns.
    type: list
    elements: str
    default: []
"""

EXAMPLES = r"""
- name: Render | Stage the installable configuration
  network_files:
    path: /var/lib/taco/network/staging/applied
    files: {10-taco-eth0.network: "[Match]\nName=eth0\n"}
    compare_dir: /etc/systemd/network
    compare_patterns: ["*-taco-*.network", "*-taco-*.netdev"]
"""

RETURN = r"""
written:
  description: Files of I(path) written (or to be written in check mode).
  type: list
  returned: always
removed:
  description: Files removed from I(path).
  type: list
  returned: always
differs:
  description: Names of I(files) missing from I(compare_dir) or different there.
  type: list
  returned: always
extra:
  description: Files in I(compare_dir) matching I(compare_patterns) but not in I(files).
  type: list
  returned: always
"""


def read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def differs(path: Path, data: bytes, mode: int | None = None) -> bool:
    """Whether `path` lacks `data` (or, when given, `mode`)."""
    if read(path) != data:
        return True
    return mode is not None and path.stat().st_mode & 0o7777 != mode


def owned(directory: Path, wanted: dict[str, bytes], keep: list[str],
          patterns: list[str] | None) -> list[str]:
    """Regular files in `directory` not in `wanted` nor `keep` (matching `patterns` if given)."""
    if not directory.is_dir():
        return []
    return sorted(
        entry.name for entry in directory.iterdir()
        if entry.name not in wanted and entry.name not in keep and entry.is_file()
        and (patterns is None or any(fnmatch.fnmatch(entry.name, p) for p in patterns))
    )


def write_file(module: AnsibleModule, path: Path, data: bytes, mode: int) -> None:
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".taco-")
    with os.fdopen(handle, "wb") as out:
        out.write(data)
    Path(temporary).chmod(mode)
    module.atomic_move(temporary, str(path))
    path.chmod(mode)


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "required": True},
            "files": {"type": "dict", "required": True},
            "mode": {"type": "str", "default": "0644"},
            "dir_mode": {"type": "str", "default": "0700"},
            "keep": {"type": "list", "elements": "str", "default": []},
            "compare_dir": {"type": "path"},
            "compare_patterns": {"type": "list", "elements": "str", "default": []},
        },
        supports_check_mode=True,
    )
    params = module.params
    path = Path(params["path"])
    bad = [name for name in params["files"] if not name or "/" in name or name.startswith(".")]
    if bad:
        module.fail_json(msg=f"file names must be plain names, not {bad}")
    files = {name: str(content).encode() for name, content in params["files"].items()}
    mode = int(params["mode"], 8)
    write = sorted(name for name, data in files.items() if differs(path / name, data, mode))
    remove = owned(path, files, params["keep"], None)
    result: dict[str, Any] = {"changed": bool(write or remove), "written": write,
                              "removed": remove, "differs": [], "extra": []}
    if not module.check_mode:
        if not path.is_dir():
            path.mkdir(parents=True, mode=int(params["dir_mode"], 8))
            result["changed"] = True
        for name in write:
            write_file(module, path / name, files[name], mode)
        for name in remove:
            (path / name).unlink()
    if params["compare_dir"]:
        live = Path(params["compare_dir"])
        result["differs"] = sorted(name for name, data in files.items()
                                   if differs(live / name, data))
        result["extra"] = owned(live, files, [], params["compare_patterns"])
    module.exit_json(**result)


if __name__ == "__main__":
    main()
