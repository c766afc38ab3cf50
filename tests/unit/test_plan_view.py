"""`taco plan`'s host table: a row per node on small sites, folded on large ones."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

import yaml
from rich.console import Console

from taco.deploy import RunOptions, load_site_file, make_plan
from taco.ui.plan import HOSTS_LISTED, render_plan

if TYPE_CHECKING:
    from pathlib import Path


def site_of(tmp_path: Path, workers: int) -> Path:
    nodes = [{"name": "cp1", "address": "10.0.0.10", "roles": ["control-plane"]}]
    nodes += [{"name": f"w{index:03d}", "address": f"10.0.1.{index}", "roles": ["worker"]}
              for index in range(1, workers + 1)]
    path = tmp_path / "site.yml"
    path.write_text(yaml.safe_dump({
        "name": "fold",
        "networks": {"management": {"purpose": "management", "cidr": "10.0.0.0/16"}},
        "nodes": nodes,
    }))
    return path


def rendered(path: Path, tmp_path: Path) -> str:
    out = io.StringIO()
    plan = make_plan(load_site_file(path, need_files=False),
                     RunOptions(settings={"forks": None, "record_dir": tmp_path / "runs"}))
    render_plan(Console(file=out, width=200, highlight=False, no_color=True), plan)
    return out.getvalue()


def test_small_site_lists_every_node(tmp_path: Path) -> None:
    text = rendered(site_of(tmp_path, HOSTS_LISTED - 1), tmp_path)
    assert "folded" not in text
    assert all(f"w{index:03d}" in text for index in range(1, HOSTS_LISTED))


def test_large_site_folds_alike_nodes_into_one_row(tmp_path: Path) -> None:
    text = rendered(site_of(tmp_path, 200), tmp_path)
    assert "Hosts (201, alike ones folded" in text
    assert "w001 … w200 (200)" in text
    assert "10.0.1.1 … 10.0.1.200" in text
    # The lone control plane keeps its own row, and no worker in between is listed.
    assert "cp1 " in text
    assert "w100" not in text
