#!/usr/bin/env bash
# The test command: linters, then pytest (unit tests, molecule scenarios of every role,
# lab integration tests). `--unit` runs only the fast suite (no containers).
# Run scripts/setup-machine.sh first on a fresh machine (it makes the venv and the image).
set -uo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
export PATH="$repo/.venv/bin:$PATH"
unit_only=false
[[ "${1:-}" == "--unit" ]] && unit_only=true

failed=()
timings=()
part() {
  local name=$1; shift
  local started=$SECONDS
  echo "==> $name: $*"
  if "$@"; then status=ok; else status=FAILED; failed+=("$name"); fi
  timings+=("$(printf '%-16s %-6s %5d s' "$name" "$status" $((SECONDS - started)))")
}

syntax_check() {
  local playbook rc=0
  for playbook in playbooks/*.yml; do
    ansible-playbook --syntax-check -i localhost, "$playbook" >/dev/null || { echo "syntax: $playbook"; rc=1; }
  done
  return $rc
}

part ruff ruff check installer tests roles bench
part mypy mypy
part ansible-lint ansible-lint --offline -q
part syntax-check syntax_check
# Two workers: containers spend most of their time waiting on apt and systemd, so two
# streams finish well before one even on two cores. Modules that share a lab stay on one
# worker (xdist_group). TACO_TEST_WORKERS=0 runs everything in this process. The 30
# slowest tests are listed: where CI time goes.
workers=(-n "${TACO_TEST_WORKERS:-2}" --dist loadgroup --durations=30)
if $unit_only; then
  part pytest pytest "${workers[@]}" -m "not lab and not molecule" tests
else
  part pytest pytest "${workers[@]}" tests
fi

echo
echo "Time per part:"
printf '  %s\n' "${timings[@]}"
if ((${#failed[@]})); then
  echo "FAILED: ${failed[*]}"
  exit 1
fi
echo "all parts passed"
