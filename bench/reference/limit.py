#!/usr/bin/env python3
"""The reference ("the limit"): taco's host phases as plain shell over parallel SSH, no Ansible.

Reads the site's inventory (`taco inventory -c SITE`: the same contract the roles read) and
host_phases.yml (what each phase installs, writes and starts, with the role task it mirrors),
renders one POSIX shell script per node (lib.sh + the steps) and runs them side by side, one
`ssh ... sh -s` per node. The script is cut in two where the network switch-over happens: the
second part runs on a fresh SSH connection, as the network role reconnects after its switch-over.

    .venv/bin/python bench/reference/limit.py -c SITE.yml [--workers N]

Prints, per node, the seconds each phase took and how many things it changed.
"""

from __future__ import annotations

import argparse
import itertools
import json
import shlex
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
DATA = HERE / "host_phases.yml"
LIB = HERE / "lib.sh"
SPLIT = "# --- reconnect ---"
TACO = [sys.executable, "-m", "taco.cli.main"]

Vars = dict[str, Any]


# -- inventory -------------------------------------------------------------------------


def load_inventory(site: Path) -> dict[str, Any]:
    """The inventory taco builds for the site (no Ansible runs: it is taco's Python)."""
    out = subprocess.run([*TACO, "inventory", "-c", str(site)], capture_output=True, text=True,
                         check=True)
    data: dict[str, Any] = yaml.safe_load(out.stdout)
    return data


def group_hosts(inventory: dict[str, Any], group: str) -> set[str]:
    everything = inventory["all"]
    if group == "all":
        return set(everything.get("hosts") or {})
    node = everything.get("children", {}).get(group) or {}
    hosts = set(node.get("hosts") or {})
    for child in node.get("children") or {}:
        hosts |= group_hosts(inventory, child)
    return hosts


# -- file contents: each mirrors the role template named in host_phases.yml --------------


def _apt_proxy(v: Vars, h: Vars) -> str:
    proxy = v.get("taco_proxy") or {}
    lines = ["// Written by the taco bench reference (os_bootstrap): the site's proxy for APT."]
    if proxy.get("http"):
        lines.append(f'Acquire::http::Proxy "{proxy["http"]}";')
    if proxy.get("https"):
        lines.append(f'Acquire::https::Proxy "{proxy["https"]}";')
    for host in proxy.get("no_proxy") or []:
        if all(c.isalnum() or c in ".-" for c in host) and host[:1].isalnum():
            lines += [f'Acquire::http::Proxy::{host} "DIRECT";',
                      f'Acquire::https::Proxy::{host} "DIRECT";']
    return "\n".join(lines) + "\n"


def _chrony_conf(v: Vars, h: Vars) -> str:
    servers = v.get("taco_ntp_servers") or []
    head = ([f"server {s} iburst" for s in servers] if servers
            else ["pool 2.debian.pool.ntp.org iburst"])
    return "\n".join([
        "# Written by the taco bench reference (os_bootstrap).", *head,
        "confdir /etc/chrony/conf.d", "sourcedir /run/chrony-dhcp",
        "sourcedir /etc/chrony/sources.d", "keyfile /etc/chrony/chrony.keys",
        "driftfile /var/lib/chrony/chrony.drift", "ntsdumpdir /var/lib/chrony",
        "logdir /var/log/chrony", "maxupdateskew 100.0", "rtcsync", "makestep 1 3",
        "leapsectz right/UTC"]) + "\n"


def _sysctl_conf() -> dict[str, int]:
    """os_bootstrap defaults os_bootstrap_sysctl, in their order."""
    return {
        "net.ipv4.ip_forward": 1, "net.ipv6.conf.all.forwarding": 1,
        "net.bridge.bridge-nf-call-iptables": 1, "net.bridge.bridge-nf-call-ip6tables": 1,
        "net.ipv4.conf.all.arp_ignore": 1, "net.ipv4.conf.all.arp_announce": 2,
        "net.ipv4.neigh.default.gc_thresh1": 4096, "net.ipv4.neigh.default.gc_thresh2": 8192,
        "net.ipv4.neigh.default.gc_thresh3": 16384, "fs.inotify.max_user_instances": 8192,
        "fs.inotify.max_user_watches": 1048576, "vm.max_map_count": 262144,
    }


# os_bootstrap_sysctl_container_patterns: the keys of the container's own network namespace.
SYSCTL_NAMESPACED = ("net.ipv4.ip_forward", "net.ipv6.conf.", "net.ipv4.conf.",
                     "net.bridge.bridge-nf-")


def _links(v: Vars, h: Vars) -> list[dict[str, Any]]:
    """network_links for plain interfaces (the lab declares no bonds, VLANs or bridges)."""
    networks = v.get("taco_networks") or {}
    links = []
    for item in h.get("taco_interfaces") or []:
        network = networks.get(item.get("network") or "", {}) if item.get("network") else {}
        cidr = f"{item['address']}/{item['prefix']}" if item.get("address") else None
        management = network.get("purpose") == "management" and bool(item.get("address"))
        links.append({
            "name": item["name"], "network": item.get("network"), "cidr": cidr,
            "address": item.get("address"), "prefix": item.get("prefix"),
            "mtu": item.get("mtu") or network.get("mtu"), "mac": item.get("mac"),
            "purpose": network.get("purpose"), "management": management,
            "gateway": network.get("gateway") if management else None,
            "dns": list(v.get("taco_dns_servers") or []) if management else [],
            "domains": [v["taco_domain"]] if management and v.get("taco_domain") else [],
        })
    return sorted(links, key=lambda link: str(link["name"]))


def _network_file(v: Vars, link: dict[str, Any]) -> str:
    """templates/networkd/network.j2 for an ether link."""
    where = f" on network {link['network']}" if link["network"] else ""
    out = ["# Written by the taco bench reference (network).",
           f"# taco network role: ether {link['name']}{where}.", "[Match]",
           f"Name={link['name']}"]
    if link["mac"]:
        out.append(f"MACAddress={link['mac']}")
    out += ["", "[Link]"]
    if link["mtu"]:
        out.append(f"MTUBytes={link['mtu']}")
    out += [f"RequiredForOnline={'yes' if link['cidr'] else 'no'}", "", "[Network]", "DHCP=no",
            "IPv6AcceptRA=no"]
    if not link["cidr"]:
        out.append("LinkLocalAddressing=no")
    else:
        out.append(f"Address={link['cidr']}")
    out += [f"DNS={server}" for server in link["dns"]]
    if link["domains"]:
        out.append("Domains=" + " ".join(link["domains"]))
    if link["gateway"]:
        out += ["", "[Route]", f"Gateway={link['gateway']}"]
    return "\n".join(out) + "\n"


def _network_fact(v: Vars, h: Vars) -> str:
    def entry(link: dict[str, Any]) -> dict[str, Any]:
        return {"interface": link["name"], "kind": "ether", "network": link["network"],
                "address": link["address"], "prefix": link["prefix"], "cidr": link["cidr"],
                "mtu": link["mtu"], "installed": True, "reason": ""}

    links = _links(v, h)
    management = next((entry(link) for link in links if link["management"]), {})
    tunnel = next((entry(link) for link in links if link["purpose"] == "tunnel"), management)
    return json.dumps({"renderer": "networkd", "management": management, "tunnel": tunnel,
                       "networks": {link["network"]: entry(link) for link in links
                                    if link["network"]},
                       "not_installed": []}, indent=4) + "\n"


def _mappings(h: Vars) -> dict[str, str]:
    mappings: dict[str, str] = {}
    for bridge in h.get("taco_ovs_bridges") or []:
        mappings.update(bridge.get("bridge_mappings") or {})
    return mappings


def _bridge_mappings(v: Vars, h: Vars) -> str:
    return "".join(f"{physnet}:{bridge}\n" for physnet, bridge in sorted(_mappings(h).items()))


def _openvswitch_fact(v: Vars, h: Vars) -> str:
    mappings = _mappings(h)
    return json.dumps({
        "bonds": {}, "bridge_mappings": mappings,
        "bridge_mappings_string": ",".join(sorted(f"{k}:{b}" for k, b in mappings.items())),
        "bridges": h.get("taco_ovs_bridges") or [], "hugepages_2m": 0, "kernel_module": False,
        "mode": v.get("taco_openvswitch_mode", "host")}, indent=4, sort_keys=True) + "\n"


FS_USES = {"local-path": ("taco-local", "/var/lib/local-path-provisioner"),
           "containerd": ("taco-ctrd", "/var/lib/containerd"),
           "kubelet": ("taco-kubelet", "/var/lib/kubelet"),
           "nova-instances": ("taco-nova", "/var/lib/nova/instances")}


def _ceph_osd_devices(v: Vars, h: Vars, name: str) -> str:
    devices = [d["device"] for d in h.get("taco_disks") or [] if d["use"] == "ceph-osd"]
    return json.dumps({name: devices}, indent=4) + "\n"


def _storage_fact(v: Vars, h: Vars) -> str:
    disks = h.get("taco_disks") or []
    paths = {d["use"]: {"path": FS_USES[d["use"]][1], "mounted": True, "lvm": False}
             for d in disks if d["use"] in FS_USES}
    return json.dumps({
        "disks": [{"device": d["device"], "use": d["use"]} for d in disks],
        "ceph_osd_devices": [d["device"] for d in disks if d["use"] == "ceph-osd"],
        "cinder_volume_group": "cinder-volumes" if any(
            d["use"] == "cinder-volumes" for d in disks) else None,
        "local_volume_group": None, "local_paths": paths, "loop_devices": [],
        "device_mapper": False, "lv_skipped": ""}, indent=4) + "\n"


def _pause_image(v: Vars) -> str:
    return str((v.get("taco_images") or {}).get("pause") or "registry.k8s.io/pause:3.10.1")


def _containerd_config(v: Vars, h: Vars) -> str:
    snapshotter = v.get("container_runtime_snapshotter", "overlayfs")
    return f"""# Written by the taco bench reference (container_runtime).
version = 2
root = "/var/lib/containerd"
state = "/run/containerd"
disabled_plugins = []

[grpc]
  address = "/run/containerd/containerd.sock"

[plugins]
  [plugins."io.containerd.grpc.v1.cri"]
    sandbox_image = "{_pause_image(v)}"

    [plugins."io.containerd.grpc.v1.cri".containerd]
      snapshotter = "{snapshotter}"
      default_runtime_name = "runc"

      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
        runtime_type = "io.containerd.runc.v2"

        [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
          BinaryName = "/usr/sbin/runc"
          SystemdCgroup = true

    [plugins."io.containerd.grpc.v1.cri".cni]
      bin_dir = "/opt/cni/bin"
      conf_dir = "/etc/cni/net.d"

    [plugins."io.containerd.grpc.v1.cri".registry]
      config_path = "/etc/containerd/certs.d"
"""


def _containerd_proxy(v: Vars, h: Vars) -> str:
    proxy = v.get("taco_proxy") or {}
    lines = ["# Written by the taco bench reference (container_runtime).", "[Service]"]
    if proxy.get("http"):
        lines.append(f'Environment="HTTP_PROXY={proxy["http"]}"')
    if proxy.get("https"):
        lines.append(f'Environment="HTTPS_PROXY={proxy["https"]}"')
    lines.append(f'Environment="NO_PROXY={",".join(proxy.get("no_proxy") or [])}"')
    return "\n".join(lines) + "\n"


def _container_runtime_fact(v: Vars, h: Vars) -> str:
    return json.dumps({
        "cgroup_driver": "systemd", "cni_bin_dir": "/opt/cni/bin", "cni_conf_dir": "/etc/cni/net.d",
        "config_version": 2, "cri_endpoint": "unix:///run/containerd/containerd.sock",
        "crictl": "", "kinds": {"containerd": "package", "runc": "package",
                                "cni_plugins": "package"},
        "pause_image": _pause_image(v), "registry_mirror_fallback": False,
        "registry_mirrors": {}, "runc": "/usr/sbin/runc",
        "snapshotter": v.get("container_runtime_snapshotter", "overlayfs"),
        "socket": "/run/containerd/containerd.sock", "source": "packages"},
        indent=4, sort_keys=True) + "\n"


def content(name: str, v: Vars, h: Vars, host: str) -> str:
    """The text of a file step, by the builder name host_phases.yml gives."""
    simple = {
        "apt_proxy": _apt_proxy, "chrony_conf": _chrony_conf, "network_fact": _network_fact,
        "bridge_mappings": _bridge_mappings, "openvswitch_fact": _openvswitch_fact,
        "storage_fact": _storage_fact, "containerd_config": _containerd_config,
        "containerd_proxy": _containerd_proxy,
        "container_runtime_fact": _container_runtime_fact,
    }
    if name in simple:
        return simple[name](v, h)
    if name == "hostname":
        return f"{host}\n"
    if name == "sudoers_operator":
        return ("# Written by the taco bench reference (os_bootstrap): the operator account.\n"
                "taco ALL=(ALL:ALL) NOPASSWD: ALL\n")
    if name == "journald_conf":
        return ("# Written by the taco bench reference (os_bootstrap).\n[Journal]\n"
                "SystemMaxUse=2G\nMaxRetentionSec=30day\n")
    if name == "network_helper":
        return (REPO / "roles/network/files/taco-network.py").read_text()
    if name == "networkd_no_udev":
        return ("# Written by the taco bench reference (network).\n[Service]\n"
                "ReadOnlyPaths=/sys\n")
    if name == "crictl_yaml":
        return ("# Written by the taco bench reference (container_runtime).\n"
                "runtime-endpoint: unix:///run/containerd/containerd.sock\n"
                "image-endpoint: unix:///run/containerd/containerd.sock\ntimeout: 10\n")
    if name == "ceph_osd_devices":
        return _ceph_osd_devices(v, h, host)
    raise ValueError(f"host_phases.yml names an unknown content builder {name!r}")


# -- the script ------------------------------------------------------------------------


def heredoc(text: str) -> str:
    marker = "TACO_REFERENCE_EOF"
    if marker in text:
        raise ValueError("file content holds the heredoc marker")
    return f"<<'{marker}'\n{text}{'' if text.endswith(chr(10)) else chr(10)}{marker}"


def q(text: object) -> str:
    return shlex.quote(str(text))


def _special(kind: str, step: dict[str, Any], v: Vars, h: Vars, host: str) -> list[str]:
    """Steps that are one-off snippets (see host_phases.yml for the task each mirrors)."""
    if kind == "preflight_read":
        return ["cat /etc/os-release >/dev/null; nproc >/dev/null; grep MemTotal /proc/meminfo "
                ">/dev/null; df -P / >/dev/null; ss -Hltn >/dev/null; cat /proc/swaps >/dev/null; "
                "date +%s >/dev/null"]
    if kind == "kernel_hostname":
        return [f'DID=0; if [ "$(hostname)" != {q(host)} ]; then hostname {q(host)}; '
                f"changed hostname; fi"]
    if kind == "hosts_block":
        block = "".join(f"{e['address']} " + (f"{e['name']}.{v['taco_domain']} "
                                               if v.get("taco_domain") else "") + f"{e['name']}\n"
                        for e in v.get("taco_site_hosts") or [])
        return [
            "DID=0; tmp=$(mktemp)",
            # blockinfile + lineinfile absent, as one pass: drop 127.0.1.1 and the old block.
            "awk '/^# BEGIN taco site hosts$/ {skip=1} !skip && !/^127\\.0\\.1\\.1[ \\t]/ "
            "{print} /^# END taco site hosts$/ {skip=0}' /etc/hosts >\"$tmp\"",
            "{ echo '# BEGIN taco site hosts'; cat " + heredoc(block) +
            "\necho '# END taco site hosts'; } >>\"$tmp\"",
            'if ! cmp -s "$tmp" /etc/hosts; then cat "$tmp" >/etc/hosts; changed /etc/hosts; fi',
            'rm -f "$tmp"']
    if kind == "operator_user":
        user = q(step["user"])
        return [f"DID=0; if ! id {user} >/dev/null 2>&1; then useradd -m -s {q(step['shell'])} "
                f"{user}; passwd -l {user} >/dev/null; changed user {user}; fi",
                f'absent "$(getent passwd {user} | cut -d: -f6)/.ssh/authorized_keys"']
    if kind == "modules_load":
        # os_bootstrap_kernel_modules_required + _optional and their probe paths.
        probes = [("overlay", "/sys/module/overlay"), ("br_netfilter", "/proc/sys/net/bridge"),
                  ("nf_conntrack", "/proc/sys/net/netfilter/nf_conntrack_max"),
                  ("vxlan", "/sys/module/vxlan"), ("tun", "/sys/class/misc/tun"),
                  ("openvswitch", "/sys/module/openvswitch"), ("8021q", "/proc/net/vlan"),
                  ("bonding", "/sys/class/net/bonding_masters")]
        lines = ["modules='# Written by the taco bench reference (os_bootstrap).'"]
        for name, probe in probes:
            lines.append(f"if [ -e /sys/module/{name} ] || [ -e {probe} ] || modprobe {name} "
                         f"2>/dev/null; then modules=\"$modules\n{name}\"; fi")
        lines.append("tmpm=$(mktemp); printf '%s\\n' \"$modules\" >\"$tmpm\"")
        lines.append(f"put {q(step['path'])} 0644 <\"$tmpm\"; rm -f \"$tmpm\"")
        return lines
    if kind == "sysctl":
        values = _sysctl_conf()
        lines = [f"put {q(step['path'])} 0644 " +
                 heredoc("".join(f"{k}={val}\n" for k, val in values.items()))]
        for key, val in values.items():
            if not key.startswith(SYSCTL_NAMESPACED):
                continue
            proc = "/proc/sys/" + key.replace(".", "/")
            lines.append(f"if [ -e {proc} ] && [ \"$(cat {proc})\" != {val} ]; then "
                         f"sysctl -qw {key}={val}; changed sysctl {key}; fi")
        return lines
    if kind == "fstab_swap":
        return ["if grep -qE '^[[:space:]]*[^#[:space:]][^[:space:]]*[[:space:]]+[^[:space:]]+"
                "[[:space:]]+swap[[:space:]]' /etc/fstab; then sed -i -E 's/^([[:space:]]*[^#"
                "[:space:]][^[:space:]]*[[:space:]]+[^[:space:]]+[[:space:]]+swap[[:space:]].*)$"
                "/# \\1/' /etc/fstab; changed /etc/fstab; fi"]
    if kind == "networkd_files":
        lines = ["NETWORK_FILES=0"]
        for link in _links(v, h):
            path = f"/etc/systemd/network/10-taco-{link['name']}.network"
            lines.append(f"put {q(path)} 0644 {heredoc(_network_file(v, link))}")
            lines.append('if [ "$DID" = 1 ]; then NETWORK_FILES=1; fi')
        return lines
    if kind == "networkd_switch_over":
        links = _links(v, h)
        names = " ".join(q(link["name"]) for link in links)
        management = next((link for link in links if link["management"]), None)
        # The switch-over as one script, run detached (systemd-run): it completes even when it
        # cuts this SSH session. Like the role's helper (files/taco-network.py apply): give
        # addresses added without a broadcast one first (networkd fails such a link with
        # "Numerical result out of range"), restart or reload networkd, reconfigure the links.
        switch = ["set -u", "sleep 1"]
        for link in links:
            if not link["cidr"]:
                continue
            name, cidr = q(link["name"]), link["cidr"]
            batch = [f"address del {cidr} dev {link['name']}",
                     f"address add {cidr} brd + dev {link['name']}"]
            if link["gateway"]:
                batch.append(f"route replace default via {link['gateway']} dev {link['name']}")
            switch.append(
                f"if ip -4 -o addr show dev {name} | grep -F ' {cidr} ' | grep -vq ' brd '; "
                f"then printf '%s\\n' {' '.join(q(b) for b in batch)} | ip -batch -; fi")
        switch += [
            'if [ "${1:-}" = restart ]; then systemctl daemon-reload; '
            "systemctl restart systemd-networkd; else systemctl start systemd-networkd; "
            "networkctl reload; fi",
            f"for attempt in 1 2 3; do networkctl reconfigure {names} && break; sleep 1; done",
        ]
        lines = [
            "service systemd-networkd true false",
            'NETWORK_APPLY=""',
            'case " $HANDLERS " in *" networkd_restart "*) NETWORK_APPLY=restart ;; esac',
            'if [ -z "$NETWORK_APPLY" ] && { [ "$NETWORK_FILES" = 1 ] || '
            '! systemctl is-active -q systemd-networkd; }; then NETWORK_APPLY=reload; fi',
            'HANDLERS=$(echo "$HANDLERS" | sed "s/ networkd_restart//")',
            'if [ -n "$NETWORK_APPLY" ]; then',
            "    cat >/run/taco-reference-network.sh " + heredoc("\n".join(switch) + "\n"),
            "    systemctl reset-failed taco-reference-network >/dev/null 2>&1 || true",
            "    systemd-run --quiet --unit taco-reference-network --collect "
            'sh /run/taco-reference-network.sh "$NETWORK_APPLY"',
            '    changed "network switch-over ($NETWORK_APPLY)"',
            "fi",
            SPLIT,
            "wait_for 120 sh -c '! systemctl is-active -q taco-reference-network'",
        ]
        # The role's checks: the management address and gateway; and no link left failed.
        for link in links:
            lines.append(f"wait_for 30 sh -c '[ \"$(networkctl list --no-legend {link['name']} "
                         f"| awk \"{{print \\$5}}\")\" = configured ]'")
        if management:
            lines.append(f"wait_for 15 sh -c 'ip -4 -o addr show dev {management['name']} | "
                         f"grep -qF \" {management['cidr']} \"'")
            if management["gateway"]:
                lines.append(f"wait_for 15 ping -c1 -W1 {q(management['gateway'])}")
        return lines
    if kind == "ovs_bridges":
        lines = []
        for bridge in h.get("taco_ovs_bridges") or []:
            name = q(bridge["name"])
            datapath = q(bridge.get("datapath_type") or "system")
            lines.append(
                f"DID=0; if ! ovs-vsctl --timeout=10 br-exists {name}; then ovs-vsctl "
                f"--timeout=10 add-br {name} -- set bridge {name} datapath_type={datapath} "
                f"external_ids:bridge-id={name}; changed bridge {name}; elif [ \"$(ovs-vsctl "
                f"get bridge {name} datapath_type)\" != {datapath} ]; then ovs-vsctl set bridge "
                f"{name} datapath_type={datapath}; changed bridge {name}; fi")
            for port in bridge.get("ports") or []:
                lines.append(f"if ! ovs-vsctl --timeout=10 list-ports {name} | grep -qxF "
                             f"{q(port)}; then ovs-vsctl --timeout=10 add-port {name} {q(port)}; "
                             f"changed port {q(port)}; fi")
        return lines
    if kind == "filesystems":
        lines = []
        for disk in h.get("taco_disks") or []:
            if disk["use"] not in FS_USES:
                continue
            label, path = FS_USES[disk["use"]]
            dev = q(disk["device"])
            lines += [
                f"if [ -z \"$(blkid -p -s TYPE -o value {dev} || true)\" ]; then "
                f"mkfs.xfs -q -L {label} {dev}; changed mkfs {dev}; fi",
                f"uuid=$(blkid -p -s UUID -o value {dev})",
                f"[ -d {path} ] || {{ mkdir -p {path}; changed {path}/; }}",
                f"entry=\"UUID=$uuid {path} xfs defaults,noatime 0 0\"",
                f"if ! grep -qxF \"$entry\" /etc/fstab; then grep -v ' {path} ' /etc/fstab "
                f"> /etc/fstab.taco || true; echo \"$entry\" >>/etc/fstab.taco; "
                f"cat /etc/fstab.taco >/etc/fstab; rm -f /etc/fstab.taco; changed fstab {path}; "
                f"notify daemon_reload; fi",
                f"if ! findmnt -n {path} >/dev/null; then mount {path}; changed mount {path}; fi",
            ]
        return lines
    if kind == "cni_copy":
        return ["for plugin in /usr/lib/cni/*; do target=/opt/cni/bin/${plugin##*/}; "
                'if ! cmp -s "$plugin" "$target"; then install -m 0755 "$plugin" "$target"; '
                'changed "$target"; fi; done']
    raise ValueError(f"host_phases.yml names an unknown step kind {kind!r}")


def _step(step: dict[str, Any], v: Vars, h: Vars, host: str) -> list[str]:
    kind = step["do"]
    when = step.get("when")
    if when == "proxy" and not any((v.get("taco_proxy") or {}).get(k) for k in ("http", "https")):
        return []
    if when == "disks" and not h.get("taco_disks"):
        return []
    lines: list[str]
    if kind == "packages":
        lines = [f"packages {'true' if step['recommends'] else 'false'} "
                 + " ".join(q(n) for n in step["names"])]
    elif kind == "file":
        text = content(step["content"], v, h, host)
        validate = " validate" if step.get("validate") else ""
        lines = [f"put {q(step['path'])} {step['mode']}{validate} {heredoc(text)}"]
    elif kind == "absent":
        lines = [f"absent {q(step['path'])}"]
    elif kind == "directory":
        lines = [f"directory {q(step['path'])} {step['mode']}"]
    elif kind == "line":
        lines = [f"line {q(step['path'])} {q(step['regexp'])} {q(step['line'])}"]
    elif kind == "service":
        lines = [f"service {q(step['name'])} {str(step.get('enabled', False)).lower()} "
                 f"{str(step.get('started', False)).lower()} "
                 + " ".join(q(u) for u in step.get("unmask") or [])]
    elif kind == "wait":
        lines = [f"wait_for {int(step['seconds'])} {step['command']}"]
    elif kind == "flush_handlers":
        lines = ["run_handlers"]
    else:
        lines = _special(kind, step, v, h, host)
    if step.get("notify") and lines:
        lines.append(f"on_change {step['notify']}")
    return [f"# {step['mirrors']}", *lines]


def node_script(host: str, inventory: dict[str, Any], data: dict[str, Any]) -> list[str]:
    """The node's script, in parts: each part runs over its own SSH connection."""
    v: Vars = inventory["all"]["vars"]
    h: Vars = inventory["all"]["hosts"][host]
    library = LIB.read_text()
    parts: list[list[str]] = [[library]]
    for phase in data["phases"]:
        if not any(host in group_hosts(inventory, g) for g in phase["groups"]):
            continue
        handlers = phase.get("handlers") or {}
        cases = "".join(f"        {name}) {command} ;;\n" for name, command in handlers.items())
        define = (f"run_handlers() {{\n    for handler in $HANDLERS; do\n"
                  f"        case $handler in\n{cases}        *) ;;\n        esac\n    done\n"
                  f'    HANDLERS=""\n}}')
        parts[-1] += [define, f"phase {phase['name']}"]
        for step in phase["steps"]:
            for text in _step(step, v, h, host):
                if text == SPLIT:
                    # A fresh shell on a fresh connection: the library and handlers again.
                    parts.append([library, define, f"phase {phase['name']}"])
                else:
                    parts[-1].append(text)
        parts[-1].append("run_handlers")
    parts[-1].append("phase end")
    return ["\n".join([*part, 'echo "@changed $CHANGED"']) + "\n" for part in parts]


# -- running ----------------------------------------------------------------------------


@dataclass
class NodeResult:
    host: str
    seconds: float
    changed: int
    phases: dict[str, float] = field(default_factory=dict)
    log: str = ""


def ssh_base(site: dict[str, Any]) -> list[str]:
    ssh = site["ssh"]
    argv = ["ssh", "-i", ssh["private_key"], "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
            "-o", "StrictHostKeyChecking=yes", "-o", "ConnectTimeout=10",
            "-o", "ConnectionAttempts=6", "-o", "LogLevel=ERROR",
            "-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=6"]
    if ssh.get("known_hosts"):
        argv += ["-o", f"UserKnownHostsFile={ssh['known_hosts']}"]
    if ssh.get("port"):
        argv += ["-p", str(ssh["port"])]
    jump = ssh.get("jump_host")
    if jump:
        hop = [*argv, "-W", "%h:%p", f"{jump.get('user') or ssh['user']}@{jump['address']}"]
        argv += ["-o", f"ProxyCommand={shlex.join(hop)}"]
    return argv


def _phase_times(log: str) -> dict[str, float]:
    marks: list[tuple[str, float]] = []
    for text in log.splitlines():
        if text.startswith("@phase "):
            _, name, moment = text.split()
            marks.append((name, float(moment)))
    times: dict[str, float] = {}
    for (name, stamp), (_, following) in itertools.pairwise(marks):
        times[name] = times.get(name, 0.0) + following - stamp
    return times


def run_node(host: str, address: str, parts: list[str], base: list[str], user: str) -> NodeResult:
    started = time.time()
    logs = []
    changed = 0
    for part in parts:
        # Saved to a file first: with `sh -s` a command reading stdin would eat the script.
        runner = "sh" if user == "root" else "sudo sh"
        remote = (f'f=$(mktemp) && cat >"$f" && {runner} "$f"; rc=$?; rm -f "$f"; exit $rc')
        done = subprocess.run([*base, f"{user}@{address}", remote], input=part,
                              capture_output=True, text=True, timeout=1800, check=False)
        logs.append(done.stdout)
        if done.returncode != 0:
            raise RuntimeError(f"reference script failed on {host} (exit {done.returncode}):\n"
                               f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
        counts = [int(x.split()[1]) for x in done.stdout.splitlines() if x.startswith("@changed")]
        changed += counts[-1] if counts else 0
    log = "".join(logs)
    return NodeResult(host, time.time() - started, changed, _phase_times(log), log)


def run(site_file: Path, workers: int | None = None,
        data_file: Path = DATA) -> tuple[float, list[NodeResult]]:
    """Run the reference on every node of the site at once; wall seconds and per-node results."""
    site = yaml.safe_load(site_file.read_text())
    inventory = load_inventory(site_file)
    data = yaml.safe_load(data_file.read_text())
    hosts = inventory["all"]["hosts"]
    scripts = {host: node_script(host, inventory, data) for host in hosts}
    base = ssh_base(site)
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers or len(hosts)) as pool:
        futures = [pool.submit(run_node, host, hosts[host]["ansible_host"], scripts[host], base,
                               site["ssh"]["user"]) for host in hosts]
        results = [future.result() for future in futures]
    return time.perf_counter() - started, results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-c", "--config", type=Path, required=True, help="site file")
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--print-script", metavar="HOST",
                        help="print HOST's script instead of running it")
    args = parser.parse_args()
    if args.print_script:
        inventory = load_inventory(args.config)
        parts = node_script(args.print_script, inventory, yaml.safe_load(DATA.read_text()))
        print(f"\n{SPLIT}\n".join(parts))
        return
    wall, results = run(args.config, args.workers)
    for result in results:
        phases = ", ".join(f"{name} {seconds:.1f}s" for name, seconds in result.phases.items())
        print(f"{result.host}: {result.seconds:.1f} s, changed {result.changed} ({phases})")
    print(f"wall {wall:.1f} s")


if __name__ == "__main__":
    main()
