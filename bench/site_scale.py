#!/usr/bin/env python3
"""Site scale: taco's host phases on lab sites of N nodes, against a plain reference script.

For each node count N:
  1. `taco lab up` N nodes (no jump host: the nodes reach this machine's apt cache through
     the management network's gateway), one spare disk each (--disks);
  2. `taco site --only os_bootstrap,network,openvswitch,storage,container_runtime` (preflight
     runs first by itself): wall time of the command, then of a re-run, which must report zero
     changed in its run record; the per-phase split comes from each record's summary.json;
  3. `taco lab down`, a FRESH lab of N nodes (the same clean image), and the reference
     (bench/reference/limit.py: the same package installs, files and services as plain shell
     over parallel SSH, no Ansible): first run and re-run; `taco lab down`.
Both use the same caching apt proxy (apt-cacher-ng on this machine, run as a plain process),
set through the site's `proxy`; the output says how warm it was for each run. The container
runtime comes from Debian's packages (`kubernetes.container_runtime_source: packages`).

Prints tables; writes site_scale.csv, site_scale_phases.csv, site_scale_tasks.csv,
site_scale.png and site_scale_ratio.png into --out.

    .venv/bin/python bench/site_scale.py [--nodes 1 5 10 20] [--out bench/results]
        [--apt-cache/--no-apt-cache] [--warm-up/--no-warm-up] [--disks 1] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from reference import limit
from report import plot, print_table, write_csv

TACO = [sys.executable, "-m", "taco.cli.main"]
LAB = [sys.executable, "-m", "taco.cli.lab"]
HOST_PHASES = ["os_bootstrap", "network", "openvswitch", "storage", "container_runtime"]
ALL_PHASES = ["preflight", *HOST_PHASES]
ACNG_CONF = Path("/etc/apt-cacher-ng")
DEFAULT_CACHE = Path.home() / ".cache" / "taco-bench" / "apt-cacher-ng"


def run(argv: list[str], env: dict[str, str], timeout: float = 3600) -> tuple[float, str]:
    """Run a command that must succeed; its wall seconds and output."""
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout,
                          check=False)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} exited {done.returncode}:\n"
                         f"{done.stdout[-4000:]}\n{done.stderr[-3000:]}")
    return wall, done.stdout


# -- apt cache ----------------------------------------------------------------------------


class AptCache:
    """apt-cacher-ng as a plain foreground process with a private config, cache and log."""

    def __init__(self, root: Path, port: int) -> None:
        self.root = root
        self.port = port
        self.log = root / "log" / "apt-cacher.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        if shutil.which("apt-cacher-ng") is None:
            raise SystemExit("apt-cacher-ng is not installed: apt-get install apt-cacher-ng, "
                             "or run with --no-apt-cache")
        conf = self.root / "conf"
        for sub in ("conf", "cache", "log"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        for source in ACNG_CONF.iterdir():
            if source.suffix == ".conf" or source.name.startswith("backends_"):
                shutil.copy(source, conf / source.name)
        # Debian's package leaves it empty; without it the proxy has no backend to ask.
        (conf / "backends_debian").write_text("http://deb.debian.org/debian/\n")
        argv = ["apt-cacher-ng", "-c", str(conf), "ForeGround=1", f"Port={self.port}",
                "BindAddress=0.0.0.0", f"CacheDir={self.root / 'cache'}",
                f"LogDir={self.root / 'log'}", f"PidFile={self.root / 'pid'}",
                f"SocketPath={self.root / 'socket'}"]
        output = (self.root / "log" / "foreground.txt").open("ab")
        self.process = subprocess.Popen(argv, stdout=output, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            probe = subprocess.run(["ss", "-Hltn", f"sport = :{self.port}"], capture_output=True,
                                   text=True, check=False)
            if probe.stdout.strip():
                return
            if self.process.poll() is not None:
                raise SystemExit(f"apt-cacher-ng exited {self.process.returncode}; see "
                                 f"{self.root / 'log'}")
            time.sleep(0.2)
        raise SystemExit(f"apt-cacher-ng did not listen on port {self.port} within 15 s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()

    def mark(self) -> int:
        return self.log.stat().st_size if self.log.exists() else 0

    def since(self, offset: int) -> dict[str, object]:
        """What the proxy did since `offset` of its log: packages served, fetched upstream."""
        served = fetched = 0
        served_bytes = fetched_bytes = 0
        if self.log.exists():
            with self.log.open("rb") as handle:
                handle.seek(offset)
                for raw in handle.read().decode(errors="replace").splitlines():
                    fields = raw.split("|")
                    if len(fields) < 5 or not fields[4].endswith(".deb"):
                        continue
                    size = int(fields[2]) if fields[2].isdigit() else 0
                    if fields[1] == "O":
                        served += 1
                        served_bytes += size
                    elif fields[1] == "I":
                        fetched += 1
                        fetched_bytes += size
        if served == 0:
            state = "unused"
        elif fetched == 0:
            state = "warm"
        elif fetched < served:
            state = "partly warm"
        else:
            state = "cold"
        return {"cache": state, "debs_served": served, "debs_upstream": fetched,
                "served_mib": served_bytes / 2**20, "upstream_mib": fetched_bytes / 2**20}


# -- labs and runs ------------------------------------------------------------------------


@dataclass
class Bench:
    env: dict[str, str]
    state_dir: Path
    disks: int
    proxy: str | None
    keep: bool
    labs: list[str] = field(default_factory=list)

    def lab_up(self, nodes: int, kind: str) -> Path:
        """A fresh lab; returns the bench site file (the lab's, plus proxy and runtime source)."""
        name = f"s{nodes}{kind}-{secrets.token_hex(3)}"
        self.labs.append(name)
        wall, _ = run([*LAB, "up", name, "--nodes", str(nodes), "--disks", str(self.disks),
                       "--disk-size", "1G"], self.env, timeout=900)
        print(f"  lab {name}: {nodes} nodes up in {wall:.1f} s", flush=True)
        directory = self.state_dir / "labs" / name
        site: dict[str, Any] = yaml.safe_load((directory / "site.yml").read_text())
        site.setdefault("kubernetes", {})["container_runtime_source"] = "packages"
        if self.proxy:
            gateway = site["networks"]["management"]["gateway"]
            site["proxy"] = {
                "http": self.proxy.format(gateway=gateway),
                "no_proxy": ["localhost", "127.0.0.1", site["networks"]["management"]["cidr"],
                             site["networks"]["storage"]["cidr"]],
            }
        path = directory / "bench-site.yml"
        path.write_text(yaml.safe_dump(site, sort_keys=False))
        return path

    def lab_down(self, site_file: Path) -> None:
        name = site_file.parent.name
        if self.keep:
            print(f"  lab {name} kept (--keep): taco lab down {name} "
                  f"with TACO_STATE_DIR={self.state_dir}")
            return
        run([*LAB, "down", name], self.env, timeout=600)
        self.labs.remove(name)

    def down_all(self) -> None:
        for name in list(self.labs):
            if not self.keep:
                subprocess.run([*LAB, "down", name], env=self.env, capture_output=True,
                               timeout=600, check=False)


@dataclass
class InstallerRun:
    wall: float
    summary: dict[str, Any]
    record: Path

    @property
    def phases(self) -> dict[str, float]:
        return {p["name"]: float(p["duration_s"] or 0.0) for p in self.summary["phases"]}

    @property
    def changed(self) -> int:
        return sum(int(counts.get("changed", 0)) for p in self.summary["phases"]
                   for counts in (p.get("hosts") or {}).values())

    def changed_by_phase(self) -> dict[str, int]:
        return {p["name"]: sum(int(c.get("changed", 0)) for c in (p.get("hosts") or {}).values())
                for p in self.summary["phases"]}

    @property
    def forks(self) -> str:
        for command in sorted(self.record.glob("phases/*/command")):
            argv = json.loads(command.read_text()).get("command", [])
            if "--forks" in argv:
                return str(argv[argv.index("--forks") + 1])
        return "?"


def taco_site(bench: Bench, site_file: Path) -> InstallerRun:
    site_name = yaml.safe_load(site_file.read_text())["name"]
    runs = bench.state_dir / "runs" / site_name
    before = set(runs.iterdir()) if runs.is_dir() else set()
    wall, _ = run([*TACO, "site", "-c", str(site_file), "--only", ",".join(HOST_PHASES),
                   "--output", "plain"], bench.env)
    new = sorted(set(runs.iterdir()) - before)
    if len(new) != 1:
        raise SystemExit(f"expected one new run record under {runs}, found {len(new)}")
    summary = json.loads((new[0] / "summary.json").read_text())
    if [p["name"] for p in summary["phases"]] != ALL_PHASES or summary["status"] != "succeeded":
        raise SystemExit(f"run {new[0]} did not run {ALL_PHASES} successfully: "
                         f"{summary['status']}, {[p['name'] for p in summary['phases']]}")
    return InstallerRun(wall, summary, new[0])


def slowest_tasks(record: Path, top: int) -> list[dict[str, object]]:
    """The longest task results in a run record's job_events (per task and host)."""
    rows: list[dict[str, object]] = []
    for phase_dir in sorted((record / "phases").iterdir()):
        for event_file in (phase_dir / "job_events").glob("*.json"):
            event = json.loads(event_file.read_text())
            if event.get("event") not in ("runner_on_ok", "runner_on_failed",
                                          "runner_on_skipped", "runner_item_on_ok"):
                continue
            data = event.get("event_data") or {}
            duration = data.get("duration")
            if duration is None or event["event"] == "runner_item_on_ok":
                continue
            rows.append({"phase": phase_dir.name.split("-", 1)[1], "task": data.get("task", ""),
                         "host": data.get("host", ""), "seconds": float(duration),
                         "status": event["event"].removeprefix("runner_on_")})
    rows.sort(key=lambda row: -float(str(row["seconds"])))
    return rows[:top]


def reference_run(site_file: Path) -> tuple[float, int, dict[str, float]]:
    wall, results = limit.run(site_file)
    phases: dict[str, float] = {}
    for result in results:
        for name, seconds in result.phases.items():
            phases[name] = max(phases.get(name, 0.0), seconds)
    return wall, sum(result.changed for result in results), phases


# -- main ---------------------------------------------------------------------------------


def measure(bench: Bench, nodes: int, cache: AptCache | None, top: int,
            tasks: list[dict[str, object]]) -> tuple[dict[str, object], list[dict[str, object]]]:
    print(f"\n== {nodes} node(s)", flush=True)
    phase_rows: list[dict[str, object]] = []

    def cache_note(offset: int | None) -> dict[str, object]:
        return cache.since(offset) if cache is not None and offset is not None else {
            "cache": "off"}

    site = bench.lab_up(nodes, "i")
    try:
        mark = cache.mark() if cache else None
        first = taco_site(bench, site)
        first_cache = cache_note(mark)
        print(f"  installer first run: {first.wall:.1f} s (changed {first.changed}; apt cache "
              f"{first_cache['cache']})", flush=True)
        mark = cache.mark() if cache else None
        again = taco_site(bench, site)
        rerun_cache = cache_note(mark)
        print(f"  installer re-run:    {again.wall:.1f} s (changed {again.changed})", flush=True)
        if again.changed:
            print(f"  WARNING: the re-run changed {again.changed} things: "
                  f"{again.changed_by_phase()} (record {again.record})")
        for label, result in (("first", first), ("re-run", again)):
            for task in slowest_tasks(result.record, top):
                tasks.append({"nodes": nodes, "run": f"installer {label}", **task})
        for label, result in (("installer first", first), ("installer re-run", again)):
            phase_rows.append({"nodes": nodes, "run": label, "wall_s": result.wall,
                               **{p: result.phases.get(p) for p in ALL_PHASES},
                               "changed": result.changed})
    finally:
        bench.lab_down(site)

    site = bench.lab_up(nodes, "r")
    try:
        mark = cache.mark() if cache else None
        ref_first, ref_first_changed, ref_first_phases = reference_run(site)
        ref_cache = cache_note(mark)
        print(f"  reference first run: {ref_first:.1f} s (changed {ref_first_changed}; apt cache "
              f"{ref_cache['cache']})", flush=True)
        ref_again, ref_again_changed, ref_again_phases = reference_run(site)
        print(f"  reference re-run:    {ref_again:.1f} s (changed {ref_again_changed})",
              flush=True)
        if ref_again_changed:
            print(f"  WARNING: the reference re-run changed {ref_again_changed} things")
        for label, wall, changed, phases in (
                ("reference first", ref_first, ref_first_changed, ref_first_phases),
                ("reference re-run", ref_again, ref_again_changed, ref_again_phases)):
            phase_rows.append({"nodes": nodes, "run": label, "wall_s": wall,
                               **{p: phases.get(p) for p in ALL_PHASES}, "changed": changed})
    finally:
        bench.lab_down(site)

    row: dict[str, object] = {
        "nodes": nodes,
        "installer_first_s": first.wall,
        "installer_rerun_s": again.wall,
        "rerun_changed": again.changed,
        "reference_first_s": ref_first,
        "reference_rerun_s": ref_again,
        "reference_rerun_changed": ref_again_changed,
        "first_ratio": first.wall / ref_first,
        "rerun_ratio": again.wall / ref_again,
        "forks": first.forks,
        "apt_cache_installer": first_cache["cache"],
        "apt_cache_reference": ref_cache["cache"],
        "installer_debs_served": first_cache.get("debs_served"),
        "installer_debs_upstream": first_cache.get("debs_upstream"),
        "reference_debs_served": ref_cache.get("debs_served"),
        "reference_debs_upstream": ref_cache.get("debs_upstream"),
        "rerun_debs_served": rerun_cache.get("debs_served"),
    }
    return row, phase_rows


def warm_up(bench: Bench, cache: AptCache) -> None:
    """Fill the cache: the reference on a one-node lab, which carries every role and a disk."""
    print("\n== warming the apt cache (reference on one node; not measured)", flush=True)
    site = bench.lab_up(1, "w")
    try:
        mark = cache.mark()
        wall, _ = limit.run(site)
        note = cache.since(mark)
        print(f"  warm-up: {wall:.1f} s, {note['debs_served']} packages served, "
              f"{note['debs_upstream']} fetched upstream ({float(str(note['upstream_mib'])):.1f} "
              "MiB)", flush=True)
    finally:
        bench.lab_down(site)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, nargs="+", default=[1, 5, 10, 20])
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    parser.add_argument("--apt-cache", action=argparse.BooleanOptionalAction, default=True,
                        help="run apt-cacher-ng and point the sites' apt proxy at it")
    parser.add_argument("--apt-cache-dir", type=Path, default=DEFAULT_CACHE,
                        help="apt-cacher-ng's config, cache and log (kept between runs)")
    parser.add_argument("--apt-cache-port", type=int, default=3142)
    parser.add_argument("--warm-up", action=argparse.BooleanOptionalAction, default=True,
                        help="fill the apt cache before measuring (with --apt-cache)")
    parser.add_argument("--disks", type=int, default=1, help="spare disks per node")
    parser.add_argument("--top", type=int, default=10, help="slowest tasks listed per run")
    parser.add_argument("--keep", action="store_true",
                        help="keep the labs and the state directory (run records)")
    args = parser.parse_args()

    state_dir = Path(tempfile.mkdtemp(prefix="taco-scale-"))
    env = {**os.environ, "TACO_STATE_DIR": str(state_dir), "NO_COLOR": "1", "COLUMNS": "120"}
    cache = AptCache(args.apt_cache_dir, args.apt_cache_port) if args.apt_cache else None
    proxy = f"http://{{gateway}}:{args.apt_cache_port}" if cache else None
    bench = Bench(env, state_dir, args.disks, proxy, args.keep)
    rows: list[dict[str, object]] = []
    phase_rows: list[dict[str, object]] = []
    tasks: list[dict[str, object]] = []
    print(f"state directory (run records): {state_dir}")
    try:
        if cache is not None:
            cache.start()
            if args.warm_up:
                warm_up(bench, cache)
        for nodes in args.nodes:
            row, per_phase = measure(bench, nodes, cache, args.top, tasks)
            rows.append(row)
            phase_rows.extend(per_phase)
    finally:
        bench.down_all()
        if cache is not None:
            cache.stop()
        if not args.keep:
            shutil.rmtree(state_dir, ignore_errors=True)
    report(rows, phase_rows, tasks, args.out, os.cpu_count())


def report(rows: list[dict[str, object]], phase_rows: list[dict[str, object]],
           tasks: list[dict[str, object]], out: Path, cpus: int | None) -> None:
    if not rows:
        return
    print_table(f"Host phases: taco vs the reference script ({cpus} CPUs; wall seconds)", rows)
    print_table("Per phase (seconds; installer: summary.json duration_s; reference: slowest "
                "node)", phase_rows)
    for nodes in sorted({int(str(t["nodes"])) for t in tasks}):
        for label in ("installer first", "installer re-run"):
            chosen = [t for t in tasks if t["nodes"] == nodes and t["run"] == label]
            print_table(f"Slowest tasks, {label}, {nodes} node(s) (job_events duration)",
                        [{k: v for k, v in t.items() if k not in ("nodes", "run")}
                         for t in chosen])
    write_csv(out / "site_scale.csv", rows)
    write_csv(out / "site_scale_phases.csv", phase_rows)
    if tasks:
        write_csv(out / "site_scale_tasks.csv", tasks)
    xs = [float(str(r["nodes"])) for r in rows]
    plot(out / "site_scale.png", "Host phases: taco vs the reference script", "nodes",
         "wall time (s)", {
             "taco first run": (xs, [float(str(r["installer_first_s"])) for r in rows]),
             "taco re-run": (xs, [float(str(r["installer_rerun_s"])) for r in rows]),
             "reference first run": (xs, [float(str(r["reference_first_s"])) for r in rows]),
             "reference re-run": (xs, [float(str(r["reference_rerun_s"])) for r in rows]),
         })
    plot(out / "site_scale_ratio.png", "taco ÷ reference", "nodes", "ratio", {
        "first run": (xs, [float(str(r["first_ratio"])) for r in rows]),
        "re-run": (xs, [float(str(r["rerun_ratio"])) for r in rows]),
    })


if __name__ == "__main__":
    main()
