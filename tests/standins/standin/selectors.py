"""Label and field selectors (?labelSelector=, ?fieldSelector=, kubectl -l)."""

from __future__ import annotations

import re
from typing import Any


def parse_label_selector(text: str) -> list[tuple[str, str, list[str]]]:
    """a=b, a==b, a!=b, a, !a, a in (x,y), a notin (x)  ->  (key, operator, values)."""
    requirements = []
    for part in re.split(r",(?![^()]*\))", text):
        part = part.strip()
        if not part:
            continue
        if match := re.match(r"^([^\s!=]+)\s+(in|notin)\s+\((.*)\)$", part):
            values = [v.strip() for v in match.group(3).split(",") if v.strip()]
            requirements.append((match.group(1), match.group(2), values))
        elif "!=" in part:
            key, value = part.split("!=", 1)
            requirements.append((key.strip(), "!=", [value.strip()]))
        elif "=" in part:
            key, value = part.replace("==", "=").split("=", 1)
            requirements.append((key.strip(), "=", [value.strip()]))
        elif part.startswith("!"):
            requirements.append((part[1:], "!", []))
        else:
            requirements.append((part, "exists", []))
    return requirements


def labels_match(requirements: list[tuple[str, str, list[str]]], labels: dict[str, str]) -> bool:
    for key, operator, values in requirements:
        present = key in labels
        value = labels.get(key)
        if (operator in ("=", "in") and value not in values) or \
           (operator in ("!=", "notin") and present and value in values) or \
           (operator == "exists" and not present) or (operator == "!" and present):
            return False
    return True


def _field_value(obj: dict[str, Any], path: str) -> str:
    current: Any = obj
    for part in path.split("."):
        current = current.get(part) if isinstance(current, dict) else None
    return "" if current is None else str(current)


def fields_match(selector: str, obj: dict[str, Any]) -> bool:
    for part in selector.split(","):
        if not part:
            continue
        negate = "!=" in part
        key, value = re.split(r"!=|==|=", part, maxsplit=1)
        if (_field_value(obj, key.strip()) == value.strip()) == negate:
            return False
    return True
