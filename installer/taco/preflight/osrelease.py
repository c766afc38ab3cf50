"""Which operating systems taco supports, judged from /etc/os-release.

Kept in step with `preflight_supported_os` in roles/preflight/defaults/main.yml,
which makes the same judgement from Ansible facts.
"""

from __future__ import annotations

import shlex

from taco.preflight.checks import Status

# os-release ID -> supported VERSION_ID values.
SUPPORTED_OS: dict[str, tuple[str, ...]] = {
    "debian": ("12", "13"),
    "ubuntu": ("22.04", "24.04"),
}
# Only Debian boots in the lab (Ubuntu's archive is out of reach), so Ubuntu is
# supported in code but not proven on a node.
LAB_TESTED = frozenset({"debian"})


def supported_list() -> str:
    return ", ".join(
        f"{os_id.capitalize()} {version}"
        for os_id, versions in SUPPORTED_OS.items()
        for version in versions
    )


def parse_os_release(text: str) -> dict[str, str]:
    """KEY=value lines, shell-quoted values unquoted; comments and junk lines ignored."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.strip().partition("=")
        if not sep or not key or key.startswith("#"):
            continue
        try:
            parts = shlex.split(value)
        except ValueError:
            parts = [value]
        fields[key] = " ".join(parts)
    return fields


def os_support(text: str) -> tuple[Status, str]:
    """Judge an os-release file: pass for a supported release, fail naming what is supported."""
    fields = parse_os_release(text)
    os_id = fields.get("ID", "").lower()
    version = fields.get("VERSION_ID", "")
    fallback = f"{fields.get('NAME', os_id or 'unknown')} {version}".strip()
    name = fields.get("PRETTY_NAME") or fallback
    if version in SUPPORTED_OS.get(os_id, ()):
        note = "" if os_id in LAB_TESTED else " (supported; not proven in the lab)"
        return Status.PASS, f"{name}{note}"
    if not os_id:
        return Status.FAIL, f"/etc/os-release names no ID; supported: {supported_list()}"
    return Status.FAIL, f"{name} is not supported; install one of: {supported_list()}"
