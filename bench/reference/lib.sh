# Functions of the reference node script (bench/reference/limit.py prepends this to each
# node's script). POSIX sh. Every function skips work already done, and counts what it
# changed: a re-run that finds everything in place reports "changed 0".
set -eu
export DEBIAN_FRONTEND=noninteractive LC_ALL=C
CHANGED=0
HANDLERS=""
# 1 when the last step changed something (steps always return 0: set -e stays meaningful).
DID=0

changed() {
    CHANGED=$((CHANGED + 1))
    DID=1
    echo "changed: $*"
}

# on_change HANDLER: queue the handler if the last step changed something.
on_change() {
    if [ "$DID" = 1 ]; then notify "$1"; fi
}

notify() {
    case " $HANDLERS " in *" $1 "*) ;; *) HANDLERS="$HANDLERS $1" ;; esac
}

phase() {
    echo "@phase $1 $(date +%s.%N)"
}

# wait_for SECONDS COMMAND...: retry until the command succeeds.
wait_for() {
    limit=$1
    shift
    end=$(($(date +%s) + limit))
    until "$@" >/dev/null 2>&1; do
        [ "$(date +%s)" -lt "$end" ] || { echo "timed out: $*" >&2; return 1; }
        sleep 0.5
    done
}

# packages RECOMMENDS NAME...: install the ones dpkg does not have.
packages() {
    recommends=$1
    shift
    DID=0
    missing=""
    for name in "$@"; do
        status=$(dpkg-query -W -f='${Status}' "$name" 2>/dev/null || true)
        [ "$status" = "install ok installed" ] || missing="$missing $name"
    done
    [ -n "$missing" ] || return 0
    # The roles' cache_valid_time: 3600.
    if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*_Packages' -mmin -60 2>/dev/null)" ]; then
        apt-get -q update >/dev/null
    fi
    flag=--no-install-recommends
    [ "$recommends" = true ] && flag=""
    # shellcheck disable=SC2086
    apt-get -q -y $flag -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
        install $missing >/dev/null
    changed "packages:$missing"
}

# put PATH MODE [validate]: content on stdin; written in place (bind-mounted files such as
# /etc/hosts cannot be replaced by rename) only when it differs.
put() {
    DID=0
    path=$1
    mode=$2
    tmp=$(mktemp)
    cat >"$tmp"
    if [ -f "$path" ] && cmp -s "$tmp" "$path" && [ "$(stat -c %a "$path")" = "${mode#0}" ]; then
        rm -f "$tmp"
        return 0
    fi
    if [ "${3:-}" = validate ] && ! visudo -cf "$tmp" >/dev/null; then
        rm -f "$tmp"
        echo "invalid: $path" >&2
        return 1
    fi
    mkdir -p "$(dirname "$path")"
    [ -f "$path" ] || : >"$path"
    chmod "$mode" "$path"
    cat "$tmp" >"$path"
    rm -f "$tmp"
    changed "$path"
}

absent() {
    DID=0
    [ -e "$1" ] || return 0
    rm -f "$1"
    changed "removed $1"
}

directory() {
    DID=0
    if [ -d "$1" ] && [ "$(stat -c %a "$1")" = "${2#0}" ]; then
        return 0
    fi
    mkdir -p "$1"
    chmod "$2" "$1"
    changed "$1/"
}

# line PATH REGEXP LINE: lineinfile.
line() {
    DID=0
    path=$1
    [ -f "$path" ] || : >"$path"
    if grep -qxF "$3" "$path"; then
        return 0
    fi
    tmp=$(mktemp)
    if grep -qE "$2" "$path"; then
        awk -v re="$2" -v new="$3" '$0 ~ re && !done { print new; done = 1; next } { print }' \
            "$path" >"$tmp"
    else
        cat "$path" >"$tmp"
        printf '%s\n' "$3" >>"$tmp"
    fi
    cat "$tmp" >"$path"
    rm -f "$tmp"
    changed "$path"
}

# service NAME ENABLE START [UNMASK...]
service() {
    name=$1
    enable=$2
    start=$3
    shift 3
    DID=0
    for unit in "$@"; do
        if [ "$(systemctl is-enabled "$unit" 2>/dev/null || true)" = masked ]; then
            systemctl unmask "$unit" >/dev/null 2>&1
            changed "unmasked $unit"
        fi
    done
    if [ "$enable" = true ] && ! systemctl is-enabled -q "$name" 2>/dev/null; then
        systemctl enable -q "$name"
        changed "enabled $name"
    fi
    if [ "$start" = true ] && ! systemctl is-active -q "$name"; then
        systemctl start "$name"
        changed "started $name"
    fi
}
