"""What a lab is made of, kept on disk so `down` can remove exactly that."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

from taco.errors import LabError
from taco.paths import state_dir

if TYPE_CHECKING:
    from pathlib import Path

# Short: container, network and bridge names are built from it.
LAB_NAME = re.compile(r"^[a-z][a-z0-9-]{0,18}[a-z0-9]$|^[a-z]$")


def labs_dir() -> Path:
    return state_dir() / "labs"


def lab_dir(name: str) -> Path:
    check_name(name)
    return labs_dir() / name


def check_name(name: str) -> None:
    if not LAB_NAME.match(name):
        raise LabError(
            f"invalid lab name {name!r}: use 1 to 20 lowercase letters, digits or '-', "
            "starting with a letter"
        )


@dataclass
class LoopDevice:
    device: str
    file: str


@dataclass
class NodeRecord:
    name: str
    container: str
    addresses: dict[str, str] = field(default_factory=dict)  # network purpose -> address
    disks: list[str] = field(default_factory=list)


@dataclass
class LabState:
    """Every resource is recorded before (or, for loop devices, as soon as) it exists."""

    name: str
    suite: str
    node_count: int
    jump: bool
    disks_per_node: int
    disk_size: str
    status: str = "creating"  # creating | up
    subnets: dict[str, str] = field(default_factory=dict)  # network key -> cidr
    networks: list[str] = field(default_factory=list)
    containers: list[str] = field(default_factory=list)
    loop_devices: list[LoopDevice] = field(default_factory=list)
    backing_files: list[str] = field(default_factory=list)
    nodes: list[NodeRecord] = field(default_factory=list)
    jump_address: str | None = None
    jump_container: str | None = None

    @property
    def directory(self) -> Path:
        return lab_dir(self.name)

    @property
    def site_file(self) -> Path:
        return self.directory / "site.yml"

    @property
    def private_key(self) -> Path:
        return self.directory / "id_ed25519"

    @property
    def known_hosts(self) -> Path:
        return self.directory / "known_hosts"

    def save(self) -> None:
        path = self.directory / "state.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2) + "\n")
        tmp.replace(path)

    @classmethod
    def load(cls, name: str) -> LabState | None:
        path = lab_dir(name) / "state.json"
        if not path.is_file():
            return None
        try:
            data = json.loads(path.read_text())
            data["loop_devices"] = [LoopDevice(**d) for d in data.get("loop_devices", [])]
            data["nodes"] = [NodeRecord(**n) for n in data.get("nodes", [])]
            return cls(**data)
        except (ValueError, TypeError) as exc:
            raise LabError(f"cannot read {path}: {exc}") from exc

    def node(self, name: str) -> NodeRecord:
        for node in self.nodes:
            if node.name == name:
                return node
        known = ", ".join(n.name for n in self.nodes)
        raise LabError(f"lab {self.name} has no node {name!r} (nodes: {known})")


def all_labs() -> list[LabState]:
    if not labs_dir().is_dir():
        return []
    found = []
    for entry in sorted(labs_dir().iterdir()):
        if (entry / "state.json").is_file() and LAB_NAME.match(entry.name):
            state = LabState.load(entry.name)
            if state is not None:
                found.append(state)
    return found
