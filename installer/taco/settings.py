"""Run settings resolved in one order: defaults, site file, environment, command line.

Each resolved value remembers where it came from, so `taco plan` can show why a
run will use, say, 20 forks.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from taco.errors import UsageError
from taco.paths import state_dir

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from taco.site.model import Site


@dataclass(frozen=True)
class Setting:
    name: str
    value: Any
    source: str  # "default", "site file", "env TACO_…", "--flag"


@dataclass(frozen=True)
class SettingSpec:
    name: str
    env: str
    flag: str
    parse: Callable[[str], Any]
    default: Callable[[Site | None], Any]
    # Key under the site's extra_vars that may set it (site-level default).
    site_key: str | None = None


def _forks_default(site: Site | None) -> int:
    # One fork per node up to 50: Ansible's default of 5 serialises real sites.
    return min(max(len(site.nodes), 5), 50) if site else 5


def _output_mode(value: str) -> str:
    if value not in {"auto", "live", "plain", "quiet"}:
        raise UsageError(f"output mode '{value}' unknown; use auto, live, plain or quiet")
    return value


SPECS: tuple[SettingSpec, ...] = (
    SettingSpec("forks", "TACO_FORKS", "--forks", int, _forks_default, "taco_forks"),
    SettingSpec(
        "record_dir", "TACO_RECORD_DIR", "--record-dir", Path, lambda _: state_dir() / "runs"
    ),
    SettingSpec("output", "TACO_OUTPUT", "--output", _output_mode, lambda _: "auto"),
)


def resolve(
    site: Site | None,
    cli: Mapping[str, Any],
    env: Mapping[str, str] | None = None,
) -> dict[str, Setting]:
    """Resolve every setting; `cli` holds values given on the command line (None = unset)."""
    env = os.environ if env is None else env
    resolved: dict[str, Setting] = {}
    for spec in SPECS:
        setting = Setting(spec.name, spec.default(site), "default")
        if site and spec.site_key and spec.site_key in site.extra_vars:
            setting = Setting(spec.name, site.extra_vars[spec.site_key], "site file")
        if env.get(spec.env):
            try:
                setting = Setting(spec.name, spec.parse(env[spec.env]), f"env {spec.env}")
            except ValueError as exc:
                raise UsageError(f"{spec.env}={env[spec.env]!r} is not valid: {exc}") from exc
        if cli.get(spec.name) is not None:
            setting = Setting(spec.name, spec.parse(str(cli[spec.name])), spec.flag)
        resolved[spec.name] = setting
    return resolved
