#!/usr/bin/env python3
"""Installer overhead: CLI start-up, and plan / inventory for generated sites of many nodes.

Each measurement is a fresh `taco` process (as an operator runs it): wall time from
start to exit and the process's peak RSS (wait4's ru_maxrss). Prints a table, writes
overhead.csv and overhead.png into --out.

    .venv/bin/python bench/overhead.py [--sizes 10 500 5000] [--repeat 3] [--out bench/results]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import plot, print_table, write_csv

TACO = [sys.executable, "-m", "taco.cli.main"]


def generated_site(nodes: int, key: Path) -> dict[str, object]:
    """A valid site of `nodes` nodes: three control planes, the rest compute/storage
    workers, each with management, storage and provider NICs, an OVS bridge and a disk."""
    control = 3 if nodes >= 3 else 1
    members = []
    for index in range(nodes):
        host = index + 10
        address = f"10.0.{host // 250}.{host % 250 + 2}"
        roles = (["control-plane", "openstack-control", "network"] if index < control
                 else ["worker", "compute", "storage"])
        members.append({
            "name": f"node{index + 1:05d}",
            "address": address,
            "roles": roles,
            "interfaces": [
                {"name": "eth0", "network": "management", "address": address},
                {"name": "eth1", "network": "storage",
                 "address": address.replace("10.0.", "10.1.", 1)},
                {"name": "eth2"},
            ],
            "ovs_bridges": [{"name": "br-ex", "ports": ["eth2"], "networks": ["provider"]}],
            "disks": [{"device": "/dev/disk/by-id/wwn-0x5000c500a0000001",
                       "use": "ceph-osd" if index >= control else "local-path"}],
        })
    return {
        "name": f"bench-{nodes}",
        "ssh": {"user": "root", "private_key": str(key)},
        "networks": {
            "management": {"purpose": "management", "cidr": "10.0.0.0/16",
                           "gateway": "10.0.0.1"},
            "storage": {"purpose": "storage", "cidr": "10.1.0.0/16"},
            "provider": {"purpose": "provider", "cidr": "10.2.0.0/16", "physnet": "physnet1"},
        },
        "kubernetes": {"api_vip": "10.0.255.250"},
        "nodes": members,
    }


def measure(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one process; it must exit 0."""
    with tempfile.TemporaryFile() as errors:
        started = time.perf_counter()
        process = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=errors)
        # wait4, not wait: the rusage of this one child, not of all children so far.
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode != 0:
            errors.seek(0)
            raise SystemExit(f"{' '.join(argv)} exited {process.returncode}:\n"
                             f"{errors.read().decode()[-2000:]}")
    return wall, usage.ru_maxrss / 1024


def best_of(argv: list[str], env: dict[str, str], repeat: int) -> tuple[float, float, float]:
    """Median and minimum wall time, and the largest peak RSS, over `repeat` runs."""
    walls, peaks = [], []
    for _ in range(repeat):
        wall, peak = measure(argv, env)
        walls.append(wall)
        peaks.append(peak)
    return statistics.median(walls), min(walls), max(peaks)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 500, 5000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="taco-bench-"))
    try:
        key = work / "id_ed25519"
        key.write_text("not a key: plan and inventory only check that the file exists\n")
        key.chmod(0o600)
        env = {**os.environ, "TACO_STATE_DIR": str(work / "state"), "NO_COLOR": "1",
               "COLUMNS": "120"}
        rows: list[dict[str, object]] = []
        median, low, peak = best_of([*TACO, "--help"], env, args.repeat)
        rows.append({"command": "taco --help", "nodes": 0, "median_s": median, "min_s": low,
                     "peak_rss_mib": peak})
        for size in args.sizes:
            site = work / f"site-{size}.yml"
            site.write_text(yaml.safe_dump(generated_site(size, key), sort_keys=False))
            for command in ("plan", "inventory"):
                median, low, peak = best_of([*TACO, command, "-c", str(site)], env, args.repeat)
                rows.append({"command": f"taco {command}", "nodes": size, "median_s": median,
                             "min_s": low, "peak_rss_mib": peak})
        print_table(f"Installer overhead (median of {args.repeat} fresh processes, "
                    f"{os.cpu_count()} CPUs)", rows)
        write_csv(args.out / "overhead.csv", rows)
        series = {
            command: ([float(r["nodes"]) for r in rows if r["command"] == f"taco {command}"],
                      [float(r["median_s"]) for r in rows if r["command"] == f"taco {command}"])
            for command in ("plan", "inventory")
        }
        plot(args.out / "overhead.png", "taco plan / inventory on generated sites",
             "nodes", "wall time (s)", series, log_x=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
