#!/usr/bin/python3
"""Node-side helper of the taco `network` role: validate, save, apply, check, roll back.

Installed by the role (do not edit on the node). Every subcommand prints one JSON object
on stdout, so the role reads results instead of scraping text.

  validate   parse staged files with the renderer's own parser (netplan generate,
             systemd-networkd itself in a private mount and network namespace)
  save       keep the live files and the running addresses and routes for a rollback
  apply      make the renderer load the installed files
  check      the management address is configured and the gateway answers
  confirm    keep the new configuration: the rollback of this switch-over becomes a no-op,
             unless it has already begun (then confirm fails)
  rollback   put back what `save` kept (run by a systemd timer, or by the role)
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import fnmatch
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterator

NETWORKD = "/lib/systemd/systemd-networkd"
NETWORKD_LIVE = "/etc/systemd/network"
NETWORKD_UNIT = "systemd-networkd.service"
# Markers of the one decision per switch-over: kept, or rolled back.
CONFIRMED = "confirmed"
ROLLBACK_BEGUN = "rollback-begun"
# Link states in which networkd is still working on a link.
BUSY_STATES = {"pending", "initialized", "configuring"}


def emit(result: dict[str, Any], code: int = 0) -> int:
    print(json.dumps(result, indent=2, sort_keys=True))
    return code


def run(argv: list[str], timeout: float = 60,
        stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run a command; a hung command (networkctl waiting on D-Bus) counts as failed."""
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                              input=stdin, check=False)
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(argv, 124, "", f"timed out after {timeout:.0f} s")


# -- validate ---------------------------------------------------------------------------


def networkd_findings(directory: Path, timeout: float = 20) -> tuple[list[str], list[str]]:
    """Run systemd-networkd on `directory` alone and return (findings, files parsed).

    networkd has no check mode, but it parses every file at start-up and names the file and
    line of each problem (unknown key, bad value, missing [Match]) before it enumerates
    links. It runs here in a private mount namespace (the directory bind-mounted over
    /etc/systemd/network, empty vendor directories, private /run) and a private network
    namespace, so the live network and the running networkd are untouched.
    """
    files = sorted(p.name for p in directory.iterdir()
                   if p.suffix in (".network", ".netdev", ".link"))
    if not files:
        return [], []
    # networkd drops to its own user: it reads a world-readable copy, never the staging dir.
    with tempfile.TemporaryDirectory(prefix="taco-network-") as scratch:
        copy = Path(scratch)
        copy.chmod(0o755)
        for name in files:
            shutil.copyfile(directory / name, copy / name)
            (copy / name).chmod(0o644)
        findings = run_networkd(copy, files, timeout)
    return [finding.replace(str(copy), str(directory)) for finding in findings], files


def run_networkd(directory: Path, files: list[str], timeout: float) -> list[str]:
    script = (
        "set -e\n"
        'mount --bind "$1" /etc/systemd/network\n'
        "for d in /usr/lib/systemd/network /lib/systemd/network \\\n"
        "         /usr/local/lib/systemd/network; do\n"
        '  if [ -d "$d" ]; then mount -t tmpfs tmpfs "$d"; fi\n'
        "done\n"
        "mount -t tmpfs tmpfs /run\n"
        "mkdir -p /run/systemd/netif /run/systemd/network\n"
        "chown systemd-network:systemd-network /run/systemd/netif 2>/dev/null || true\n"
        "ls -1 /etc/systemd/network\n"
        "echo '--- taco: networkd starts'\n"
        'exec env SYSTEMD_LOG_LEVEL=debug SYSTEMD_LOG_TARGET=console SYSTEMD_LOG_COLOR=0 "$2"\n'
    )
    argv = ["unshare", "--mount", "--net", "--propagation", "private", "--",
            "sh", "-c", script, "sh", str(directory), NETWORKD]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    try:
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))
            # Files are parsed before links are enumerated.
            if "Enumeration completed" in line or time.monotonic() > deadline:
                break
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    findings: list[str] = []
    if "--- taco: networkd starts" not in lines:
        return ["could not start systemd-networkd in a private namespace: "
                + " | ".join(lines[-5:])]
    split = lines.index("--- taco: networkd starts")
    seen = sorted(lines[:split])
    if seen != files:
        findings.append(f"the private namespace showed {seen}, expected {files}")
    if not any("Enumeration completed" in line for line in lines):
        findings.append("systemd-networkd stopped before reading its configuration: "
                        + " | ".join(lines[-5:]))
    prefix = NETWORKD_LIVE + "/"
    for line in lines[split + 1:]:
        if line.startswith(prefix):
            findings.append(str(directory) + "/" + line[len(prefix):])
        elif line.startswith(("Failed to open directory", "Could not load configuration")):
            findings.append(f"systemd-networkd could not read the files: {line}")
    # A .netdev networkd accepted is logged as `NAME: loaded "KIND"`.
    for name in files:
        if not name.endswith(".netdev"):
            continue
        netdev = netdev_name(directory / name)
        if netdev and not any(line.startswith(f'{netdev}: loaded "') for line in lines):
            findings.append(f"{directory / name}: systemd-networkd did not load netdev {netdev}")
    return findings


def netdev_name(path: Path) -> str:
    section = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if line.startswith("["):
            section = line
        elif section == "[NetDev]" and line.startswith("Name="):
            return line.split("=", 1)[1].strip()
    return ""


def cmd_validate(args: argparse.Namespace) -> int:
    directory = Path(args.dir)
    findings: list[str] = []
    parsed: list[str] = []
    if args.renderer == "netplan":
        # netplan merges every file in etc/netplan: the staging root holds copies of the
        # host's other files too, so the merged result is what gets checked.
        done = run(["netplan", "generate", "--root-dir", str(directory)])
        if done.returncode != 0:
            findings.append(f"netplan generate: {(done.stderr or done.stdout).strip()}")
        generated = directory / "run/systemd/network"
        if done.returncode == 0 and generated.is_dir():
            more, parsed = networkd_findings(generated)
            findings += more
    else:
        findings, parsed = networkd_findings(directory)
    return emit({"ok": not findings, "findings": findings, "parsed": parsed},
                0 if not findings else 1)


# -- save -------------------------------------------------------------------------------


def ip_json(*argv: str) -> list[dict[str, Any]]:
    done = run(["ip", "-j", *argv])
    if done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(argv)}: {done.stderr.strip()}")
    return json.loads(done.stdout or "[]")


def addresses(links: list[str]) -> dict[str, dict[str, Any]]:
    """Global addresses and the up flag of each named link that exists."""
    found: dict[str, dict[str, Any]] = {}
    for entry in ip_json("address", "show"):
        name = entry.get("ifname")
        if name not in links:
            continue
        found[name] = {
            "up": "UP" in (entry.get("flags") or []),
            "addresses": sorted(
                f"{a['local']}/{a['prefixlen']}" for a in entry.get("addr_info") or []
                if a.get("scope") == "global"
            ),
            "broadcast": {
                f"{a['local']}/{a['prefixlen']}": a["broadcast"]
                for a in entry.get("addr_info") or []
                if a.get("scope") == "global" and a.get("broadcast")
            },
        }
    return found


def routes(links: list[str]) -> list[dict[str, Any]]:
    """Main-table routes through the named links, except those the kernel makes."""
    kept = []
    for family in ("-4", "-6"):
        for entry in ip_json(family, "route", "show", "table", "main"):
            if entry.get("dev") not in links or entry.get("protocol") in ("kernel", "ra"):
                continue
            kept.append({key: entry[key] for key in
                         ("dst", "gateway", "dev", "metric", "protocol", "scope", "prefsrc")
                         if key in entry} | {"family": family})
    return kept


def unit_state(verb: str, unit: str) -> str:
    return run(["systemctl", verb, unit]).stdout.strip()


def cmd_save(args: argparse.Namespace) -> int:
    state = Path(args.state_dir)
    saved = state / "files"
    if saved.exists():
        shutil.rmtree(saved)
    saved.mkdir(parents=True, mode=0o700)
    live = Path(args.live_dir)
    kept = []
    if live.is_dir():
        for path in sorted(live.iterdir()):
            if any(fnmatch.fnmatch(path.name, pattern) for pattern in args.pattern):
                shutil.copy2(path, saved / path.name)
                kept.append(path.name)
    manifest = {
        "id": uuid.uuid4().hex,
        "created": time.time(),
        "renderer": args.renderer,
        "live_dir": str(live),
        "patterns": args.pattern,
        "files": kept,
        "networkd_active": unit_state("is-active", NETWORKD_UNIT) == "active",
        "networkd_enabled": unit_state("is-enabled", NETWORKD_UNIT) == "enabled",
        "links": addresses(args.link),
        "routes": routes(args.link),
    }
    for stale in ("result.json", CONFIRMED, ROLLBACK_BEGUN):
        (state / stale).unlink(missing_ok=True)
    path = state / "manifest.json"
    path.write_text(json.dumps(manifest, indent=2, sort_keys=True))
    path.chmod(0o600)
    return emit(manifest)


# -- apply ------------------------------------------------------------------------------


def link_states() -> dict[str, str]:
    """networkd's admin state per link name, from its state files (no D-Bus needed)."""
    states: dict[str, str] = {}
    for entry in ip_json("link", "show"):
        path = Path(f"/run/systemd/netif/links/{entry['ifindex']}")
        state = "unmanaged"
        if path.exists():
            for line in path.read_text().splitlines():
                if line.startswith("ADMIN_STATE="):
                    state = line.split("=", 1)[1]
        states[entry["ifname"]] = state
    return states


def wait_settled(links: list[str], timeout: float) -> dict[str, str]:
    deadline = time.monotonic() + timeout
    states = link_states()
    while time.monotonic() < deadline:
        if not any(states.get(name) in BUSY_STATES for name in links):
            break
        time.sleep(0.5)
        states = link_states()
    return {name: states.get(name, "absent") for name in links}


def cmd_apply(args: argparse.Namespace) -> int:
    """Load the installed files; finishes within --deadline seconds whatever networkd does."""
    deadline = time.monotonic() + args.deadline
    pid_file = Path(args.state_dir) / "apply.pid"
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    # The rollback stops a switch-over still running when the timer fires.
    pid_file.write_text(str(os.getpid()))
    try:
        return apply_files(args, deadline)
    finally:
        pid_file.unlink(missing_ok=True)


def left(deadline: float, cap: float) -> float:
    return max(1.0, min(cap, deadline - time.monotonic()))


def apply_files(args: argparse.Namespace, deadline: float) -> int:
    steps: list[str] = []
    notes: list[str] = []
    if args.renderer == "netplan":
        argvs = [["netplan", "apply"]]
    elif args.restart or unit_state("is-active", NETWORKD_UNIT) != "active":
        argvs = [["systemctl", "restart", NETWORKD_UNIT]]
    else:
        # reload re-reads the files and reconfigures every link whose .network changed.
        argvs = [["networkctl", "reload"]]
    declared: dict[str, set[str]] = {}
    for spec in args.declare:
        link, _, cidr = spec.partition("=")
        declared.setdefault(link, set()).update([cidr] if cidr else [])
    if args.renderer == "networkd":
        steps += add_broadcast(declared, notes)
    for argv in argvs:
        done = run(argv, timeout=left(deadline, 60))
        steps.append(" ".join(argv))
        if done.returncode != 0:
            return emit({"ok": False, "steps": steps, "notes": notes,
                         "error": f"{' '.join(argv)}: {(done.stderr or done.stdout).strip()}"}, 1)
    links = sorted(set(args.link) | set(declared))
    states = wait_settled(links, left(deadline, args.settle))
    existing = {entry["ifname"] for entry in ip_json("link", "show")}
    owned = sorted(name for name in declared if name in existing)
    if args.renderer == "networkd" and owned:
        # Measured on systemd 252: a (re)started networkd leaves what it finds on a link in
        # place - another tool's addresses and routes stay. reconfigure drops what the files
        # do not declare and sets the rest afresh, so the host matches the site, at the price
        # of a moment without the address on the links being switched over. networkctl talks
        # to networkd over D-Bus, which can lag behind a restart: retried within the deadline,
        # and a last failure is left to the checks that follow.
        for attempt in range(3):
            done = run(["networkctl", "reconfigure", *owned], timeout=left(deadline, 20))
            if done.returncode == 0:
                steps.append("networkctl reconfigure " + " ".join(owned))
                break
            notes.append(f"networkctl reconfigure (attempt {attempt + 1}): "
                         f"{(done.stderr or done.stdout).strip()}")
            if deadline - time.monotonic() < 5:
                break
            time.sleep(1)
        time.sleep(1)  # let networkd take the request in before the links are counted
        states = wait_settled(links, left(deadline, args.settle))
    failed = sorted(name for name, state in states.items() if state == "failed")
    pruned = prune(declared)
    return emit({"ok": True, "steps": steps, "states": states, "failed_links": failed,
                 "pruned": pruned, "notes": notes})


def add_broadcast(declared: dict[str, set[str]], notes: list[str]) -> list[str]:
    """Give declared IPv4 addresses that lack a broadcast address one, before networkd looks.

    Measured on systemd 252 (lab kernel 6.x): networkd fails a link ("Failed to configure
    address: Numerical result out of range") when it adopts an address that was added
    without a broadcast (plain `ip address add`, as podman and installers do), and after a
    reconfigure it even put another link's address on it. `ip address replace` does not
    change the broadcast of an existing address, so the address is deleted and added back
    in one `ip -batch` (no gap a session notices); deleting a link's only address flushes
    its routes, so the routes through the link are put back in the same batch.
    """
    done_steps: list[str] = []
    present = addresses(list(declared))
    for link, state in present.items():
        stale = [cidr for cidr in state["addresses"]
                 if cidr in declared[link] and ":" not in cidr and cidr not in state["broadcast"]]
        if not stale:
            continue
        batch = [f"address del {cidr} dev {link}" for cidr in stale]
        batch += [f"address add {cidr} broadcast + dev {link}" for cidr in stale]
        batch += [f"{route['family']} route replace {' '.join(route_argv(route))}"
                  for route in routes([link])]
        done = run(["ip", "-force", "-batch", "-"], stdin="\n".join(batch) + "\n")
        done_steps += [f"ip {line}" for line in batch]
        if done.returncode != 0:
            notes.append(f"setting the broadcast on {link}: {done.stderr.strip()}")
    return done_steps


def prune(declared: dict[str, set[str]]) -> list[str]:
    """Remove global addresses the site does not declare from the links taco manages.

    systemd-networkd leaves addresses it finds at start-up in place (measured: the
    installer's or podman's address stays on a link whose new file declares none), so a
    host could keep working on an address that will be gone after the next boot. Taking
    them away now makes a wrong file fail its checks while the rollback can still act.
    """
    removed = []
    for link, present in addresses(list(declared)).items():
        for cidr in present["addresses"]:
            if cidr not in declared[link]:
                done = run(["ip", "address", "del", cidr, "dev", link])
                removed.append(f"{cidr} from {link}" + ("" if done.returncode == 0
                                                         else f" (failed: {done.stderr.strip()})"))
    return removed


# -- check ------------------------------------------------------------------------------


def cmd_check(args: argparse.Namespace) -> int:
    problems: list[str] = []
    warnings: list[str] = []
    deadline = time.monotonic() + args.timeout
    wanted = {}
    for spec in args.address:
        link, cidr = spec.split("=", 1)
        wanted[link] = cidr
    management_link, _, management = (args.management or "").partition("=")
    while True:
        present = addresses([*wanted, management_link])
        if management and management not in present.get(management_link, {}).get("addresses", []):
            missing_management = True
        else:
            missing_management = False
        if not missing_management or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    if missing_management:
        problems.append(f"management address {management} is not configured on "
                        f"{management_link} (it has "
                        f"{present.get(management_link, {}).get('addresses') or 'no address'})")
    for link, cidr in wanted.items():
        if cidr not in present.get(link, {}).get("addresses", []):
            warnings.append(f"{cidr} is not (yet) configured on {link}")
    gateway_ok = None
    if args.gateway and not missing_management:
        gateway_ok = False
        # ARP and the peer may need a moment after links were reconfigured.
        gateway_deadline = time.monotonic() + args.timeout
        while time.monotonic() <= gateway_deadline:
            if run(["ping", "-n", "-c", "1", "-W", "1", args.gateway], timeout=5).returncode == 0:
                gateway_ok = True
                break
            time.sleep(0.5)
        if not gateway_ok:
            problems.append(f"gateway {args.gateway} does not answer ping from "
                            f"{management_link}")
    return emit({"ok": not problems, "problems": problems, "warnings": warnings,
                 "gateway_answered": gateway_ok, "addresses": present},
                0 if not problems else 1)


# -- rollback ---------------------------------------------------------------------------


def restore_runtime(manifest: dict[str, Any], actions: list[str], errors: list[str]) -> None:
    """Give the saved links exactly their saved global addresses and routes back."""

    def ip(*argv: str) -> None:
        done = run(["ip", *argv])
        actions.append("ip " + " ".join(argv))
        if done.returncode != 0:
            errors.append(f"ip {' '.join(argv)}: {done.stderr.strip()}")

    saved_links: dict[str, Any] = manifest["links"]
    now = addresses(list(saved_links))
    for link, saved in saved_links.items():
        if link not in now:
            errors.append(f"{link} no longer exists")
            continue
        if saved["up"]:
            ip("link", "set", link, "up")
        for cidr in now[link]["addresses"]:
            if cidr not in saved["addresses"]:
                ip("address", "del", cidr, "dev", link)
        for cidr in saved["addresses"]:
            if cidr not in now[link]["addresses"]:
                brd = saved.get("broadcast", {}).get(cidr)
                ip("address", "add", cidr, *(["broadcast", brd] if brd else []), "dev", link)

    def key(route: dict[str, Any]) -> tuple[Any, ...]:
        return (route.get("family"), route.get("dst"), route.get("gateway"), route.get("dev"),
                route.get("metric"))

    wanted = {key(route): route for route in manifest["routes"]}
    current = {key(route): route for route in routes(list(saved_links))}
    for route_key, route in current.items():
        if route_key not in wanted:
            ip(route["family"], "route", "del", *route_argv(route))
    for route_key, route in wanted.items():
        if route_key not in current:
            ip(route["family"], "route", "add", *route_argv(route))


def route_argv(route: dict[str, Any]) -> list[str]:
    argv = [route.get("dst", "default")]
    if route.get("gateway"):
        argv += ["via", route["gateway"]]
    argv += ["dev", route["dev"]]
    for field, word in (("metric", "metric"), ("protocol", "proto"), ("scope", "scope"),
                        ("prefsrc", "src")):
        if route.get(field) not in (None, ""):
            argv += [word, str(route[field])]
    return argv


def stop_apply(state: Path, actions: list[str]) -> None:
    """End a switch-over still at work (networkctl hanging on D-Bus): it would race us."""
    pid_file = state / "apply.pid"
    with contextlib.suppress(OSError, ValueError):
        pid = int(pid_file.read_text())
        # The pid file outlives a helper killed by Ansible's async limit: check the pid is ours.
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        if b"apply" in argv and any(arg.endswith(b"taco-network") for arg in argv):
            os.kill(pid, signal.SIGKILL)
            actions.append(f"stopped the switch-over still running (pid {pid})")
    pid_file.unlink(missing_ok=True)


@contextlib.contextmanager
def decision_lock(state: Path) -> Iterator[None]:
    """Serialises confirm and rollback: exactly one of them wins a switch-over."""
    with (state / "decision.lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def marker(state: Path, name: str) -> str:
    with contextlib.suppress(FileNotFoundError):
        return (state / name).read_text().strip()
    return ""


def cmd_confirm(args: argparse.Namespace) -> int:
    state = Path(args.state_dir)
    manifest = json.loads((state / "manifest.json").read_text())
    with decision_lock(state):
        if marker(state, ROLLBACK_BEGUN) == manifest["id"]:
            waited = time.time() - manifest["created"]
            return emit({"ok": False, "id": manifest["id"], "error": (
                f"the rollback began {waited:.0f} s after the configuration was saved, before "
                "the checks confirmed the new one")}, 1)
        (state / CONFIRMED).write_text(manifest["id"])
    return emit({"ok": True, "id": manifest["id"], "confirmed": True})


def cmd_rollback(args: argparse.Namespace) -> int:
    state = Path(args.state_dir)
    manifest = json.loads((state / "manifest.json").read_text())
    with decision_lock(state):
        if marker(state, CONFIRMED) == manifest["id"]:
            # The timer fired between the confirmation and its being stopped.
            return emit({"ok": True, "id": manifest["id"], "skipped": "confirmed"})
        (state / ROLLBACK_BEGUN).write_text(manifest["id"])
    actions: list[str] = []
    errors: list[str] = []
    stop_apply(state, actions)
    live = Path(manifest["live_dir"])
    for path in sorted(live.iterdir()) if live.is_dir() else []:
        if any(fnmatch.fnmatch(path.name, pattern) for pattern in manifest["patterns"]):
            path.unlink()
            actions.append(f"removed {path}")
    for name in manifest["files"]:
        shutil.copy2(state / "files" / name, live / name)
        actions.append(f"restored {live / name}")

    def systemctl(*argv: str) -> None:
        done = run(["systemctl", *argv])
        actions.append("systemctl " + " ".join(argv))
        if done.returncode != 0:
            errors.append(f"systemctl {' '.join(argv)}: {done.stderr.strip()}")

    links = list(manifest["links"])
    # Disabled first: while enabled, any networkctl call would start networkd again over
    # D-Bus activation, cancelling the stop below.
    if not manifest["networkd_enabled"] and manifest["renderer"] == "networkd":
        systemctl("disable", NETWORKD_UNIT)
    if manifest["renderer"] == "netplan":
        done = run(["netplan", "apply"])
        actions.append("netplan apply")
        if done.returncode != 0:
            errors.append(f"netplan apply: {done.stderr.strip()}")
        wait_settled(links, 30)
    elif manifest["networkd_active"]:
        # The old files back in force; links they do not cover are fixed up below.
        systemctl("restart", NETWORKD_UNIT)
        wait_settled(links, 30)
    else:
        systemctl("stop", NETWORKD_UNIT, "systemd-networkd.socket")
    restore_runtime(manifest, actions, errors)
    result = {"id": manifest["id"], "finished": time.time(), "ok": not errors,
              "actions": actions, "errors": errors, "links": addresses(links)}
    (state / "result.json").write_text(json.dumps(result, indent=2, sort_keys=True))
    return emit(result, 0 if not errors else 1)


def main() -> int:
    parser = argparse.ArgumentParser(prog="taco-network", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    validate = sub.add_parser("validate", help="parse staged files with the renderer's parser")
    validate.add_argument("--renderer", choices=("networkd", "netplan"), required=True)
    validate.add_argument("--dir", required=True)
    validate.set_defaults(func=cmd_validate)

    save = sub.add_parser("save", help="keep the live configuration for a rollback")
    save.add_argument("--renderer", choices=("networkd", "netplan"), required=True)
    save.add_argument("--live-dir", required=True)
    save.add_argument("--pattern", action="append", required=True)
    save.add_argument("--state-dir", required=True)
    save.add_argument("--link", action="append", default=[])
    save.set_defaults(func=cmd_save)

    apply = sub.add_parser("apply", help="load the installed files")
    apply.add_argument("--renderer", choices=("networkd", "netplan"), required=True)
    apply.add_argument("--restart", action="store_true", help="restart networkd, not reload")
    apply.add_argument("--link", action="append", default=[])
    apply.add_argument("--declare", action="append", default=[],
                       help="LINK=ADDRESS/PREFIX (or LINK=): the only global addresses LINK keeps")
    apply.add_argument("--settle", type=float, default=20,
                       help="seconds to wait for networkd to settle the links, each time")
    apply.add_argument("--deadline", type=float, default=90,
                       help="seconds after which the command returns whatever happened")
    apply.add_argument("--state-dir", required=True, help="where the pid file goes")
    apply.set_defaults(func=cmd_apply)

    check = sub.add_parser("check", help="management address configured, gateway answers")
    check.add_argument("--management", help="LINK=ADDRESS/PREFIX that must be configured")
    check.add_argument("--address", action="append", default=[], help="LINK=ADDRESS/PREFIX")
    check.add_argument("--gateway")
    check.add_argument("--timeout", type=float, default=15)
    check.set_defaults(func=cmd_check)

    confirm = sub.add_parser("confirm", help="keep the new configuration (fails if rolled back)")
    confirm.add_argument("--state-dir", required=True)
    confirm.set_defaults(func=cmd_confirm)

    rollback = sub.add_parser("rollback", help="restore what `save` kept")
    rollback.add_argument("--state-dir", required=True)
    rollback.set_defaults(func=cmd_rollback)

    args = parser.parse_args()
    try:
        return int(args.func(args))
    except (OSError, RuntimeError, ValueError, subprocess.SubprocessError) as exc:
        return emit({"ok": False, "error": f"{type(exc).__name__}: {exc}"}, 2)


if __name__ == "__main__":
    sys.exit(main())
