"""Preflight: read-only checks that run before any change (reach over SSH, then the role)."""

from __future__ import annotations

from taco.preflight.checks import HostCheck, Status, ensure_passed, failures, from_results
from taco.preflight.reach import check_reach
from taco.preflight.render import checks_table, render_text, summary

__all__ = [
    "HostCheck",
    "Status",
    "check_reach",
    "checks_table",
    "ensure_passed",
    "failures",
    "from_results",
    "render_text",
    "summary",
]
