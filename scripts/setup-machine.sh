#!/usr/bin/env bash
# Make a fresh Debian 12 machine ready for taco's lab: podman (runc, lowered
# ulimits), debootstrap, inotify limits, the venv and the lab node image.
# Idempotent and unattended: every step says whether it did something or skipped.
#
# Usage: scripts/setup-machine.sh [--skip-venv] [--skip-image] [--rebuild-image]
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
skip_venv=false
skip_image=false
rebuild_image=false
for arg in "$@"; do
  case "$arg" in
    --skip-venv) skip_venv=true ;;
    --skip-image) skip_image=true ;;
    --rebuild-image) rebuild_image=true ;;
    -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
    *) echo "unknown argument: $arg (see --help)" >&2; exit 2 ;;
  esac
done

if [[ $(id -u) -ne 0 ]]; then
  echo "run as root: podman must run privileged node containers and attach loop devices" >&2
  exit 1
fi

step_started=0
step() { step_started=$(date +%s.%N); echo "==> $*"; }
done_step() {
  local elapsed
  elapsed=$(awk -v a="$step_started" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
  echo "    $* (${elapsed} s)"
}

# --- Packages -------------------------------------------------------------
# runc: crun cannot run here (cgroup v1 hybrid mounts). uidmap/iptables come with
# podman; openssh-client for `taco lab ssh` and molecule's SSH; util-linux (losetup) is
# essential; jq runs Prow's job script in its unit test (the job image carries jq);
# skopeo and docker-registry are what `taco mirror` copies and serves images with.
packages=(podman runc debootstrap openssh-client jq skopeo docker-registry)
step "Packages: ${packages[*]}"
missing=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" \
    || missing+=("$pkg")
done
if ((${#missing[@]})); then
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
  done_step "installed ${missing[*]}"
else
  done_step "skipped: all installed"
fi
# The package enables a registry on :5000; taco starts its own when asked, so none idles.
if [[ -d /run/systemd/system ]] && systemctl is-enabled -q docker-registry 2>/dev/null; then
  systemctl disable --now docker-registry
fi

# --- containers.conf --------------------------------------------------------
# Sets only our keys; other settings in the file are kept.
conf=/etc/containers/containers.conf
step "Podman settings in $conf"
mkdir -p /etc/containers
touch "$conf"
changed=$(python3 - "$conf" <<'PY'
import re
import sys

path = sys.argv[1]
wanted = {
    "containers": {"default_ulimits": '["nofile=20000:20000", "nproc=32768:32768"]'},
    "engine": {"runtime": '"runc"'},
}
lines = open(path, encoding="utf-8").read().splitlines()
changed = []


def section_bounds(name):
    start = None
    for i, line in enumerate(lines):
        header = re.match(r"^\s*\[([^\]]+)\]\s*$", line)
        if header and start is not None:
            return start, i
        if header and header.group(1).strip() == name:
            start = i
    return (start, len(lines)) if start is not None else (None, None)


for section, keys in wanted.items():
    for key, value in keys.items():
        start, end = section_bounds(section)
        if start is None:
            if lines and lines[-1].strip():
                lines.append("")
            lines.extend([f"[{section}]", f"{key} = {value}"])
            changed.append(key)
            continue
        for i in range(start + 1, end):
            if re.match(rf"^\s*{key}\s*=", lines[i]):
                if lines[i].strip() != f"{key} = {value}":
                    lines[i] = f"{key} = {value}"
                    changed.append(key)
                break
        else:
            lines.insert(start + 1, f"{key} = {value}")
            changed.append(key)

if changed:
    with open(path, "w", encoding="utf-8") as out:
        out.write("\n".join(lines) + "\n")
print(" ".join(changed))
PY
)
if [[ -n "$changed" ]]; then done_step "set: $changed"; else done_step "skipped: already set"; fi

# --- inotify limits ---------------------------------------------------------
# Past ~27 systemd node containers further ones die with "Too many open files".
step "Kernel inotify limits"
raised=()
for pair in fs.inotify.max_user_instances=8192 fs.inotify.max_user_watches=1048576; do
  key=${pair%=*}
  want=${pair#*=}
  have=$(sysctl -n "$key")
  if ((have < want)); then
    sysctl -q -w "$key=$want"
    raised+=("$key=$want")
  fi
done
# Also after a reboot.
sysctl_file=/etc/sysctl.d/60-taco-lab.conf
if [[ ! -f $sysctl_file ]]; then
  printf '%s\n' "# taco lab: many systemd node containers (scripts/setup-machine.sh)" \
    "fs.inotify.max_user_instances = 8192" "fs.inotify.max_user_watches = 1048576" \
    >"$sysctl_file"
  raised+=("wrote $sysctl_file")
fi
if ((${#raised[@]})); then done_step "raised ${raised[*]}"; else done_step "skipped: high enough"; fi

# --- venv -------------------------------------------------------------------
step "Python venv at $repo/.venv"
if $skip_venv; then
  done_step "skipped: --skip-venv"
else
  if [[ ! -x "$repo/.venv/bin/python" ]]; then
    if ! python3 -c "import ensurepip" 2>/dev/null; then
      apt-get install -y -q python3-venv
    fi
    python3 -m venv "$repo/.venv"
    "$repo/.venv/bin/pip" install -q --upgrade pip
  fi
  # Always: pip is quick when nothing changed, and picks up new dependencies when they did.
  "$repo/.venv/bin/pip" install -q -e "$repo[test,bench]"
  done_step "taco[test] installed"
fi

# --- node image ---------------------------------------------------------------
step "Lab node image"
if $skip_image; then
  done_step "skipped: --skip-image"
elif [[ ! -x "$repo/.venv/bin/taco" ]]; then
  done_step "skipped: no venv (run without --skip-venv to build it)"
else
  image_args=(lab image)
  $rebuild_image && image_args+=(--rebuild)
  "$repo/.venv/bin/taco" "${image_args[@]}"
  done_step "done"
fi
