"""OVSDB helpers the openvswitch role's modules share (role module_utils: Ansible bundles
this file into each module it is imported by).

Reading: ovs-vsctl --format=json --data=json output as plain Python. Writing: quoted
literals and one ovs-vsctl transaction of commands.
"""

from __future__ import annotations

import json
from typing import Any


def decode_datum(value: Any) -> Any:
    """An OVSDB JSON datum as plain Python: sets become lists, maps dicts, uuids strings."""
    if isinstance(value, list) and len(value) == 2 and isinstance(value[0], str):
        kind, body = value
        if kind == "set":
            return [decode_datum(item) for item in body]
        if kind == "map":
            return {decode_datum(k): decode_datum(v) for k, v in body}
        if kind in ("uuid", "named-uuid"):
            return body
    return value


def parse_tables(stdout: str) -> list[list[dict[str, Any]]]:
    """Each `list` command's table (ovs-vsctl prints one JSON document per command)."""
    decoder = json.JSONDecoder()
    tables: list[list[dict[str, Any]]] = []
    text = stdout.strip()
    position = 0
    while position < len(text):
        document, end = decoder.raw_decode(text, position)
        headings = document["headings"]
        tables.append([
            {heading: decode_datum(cell) for heading, cell in zip(headings, row, strict=True)}
            for row in document["data"]
        ])
        position = end
        while position < len(text) and text[position].isspace():
            position += 1
    return tables


def optional(value: Any) -> Any:
    """An optional scalar column: a set of zero or one element, usually written bare."""
    if isinstance(value, list):
        return value[0] if value else None
    return value


def as_list(value: Any) -> list[Any]:
    """A set column: OVSDB writes a one-element set as the bare element."""
    return value if isinstance(value, list) else [value]


def quote(value: object) -> str:
    """An OVSDB string literal for ovs-vsctl (quoted, so ':', ',' and '=' are safe)."""
    text = str(value)
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def map_commands(
    table: str, record: str, column: str, current: dict[str, str], desired: dict[str, Any] | None
) -> list[list[str]]:
    """Set the keys that differ and remove the keys asked to be null; others stay."""
    if not desired:
        return []
    commands: list[list[str]] = []
    for key, value in sorted(desired.items()):
        if value is None:
            if key in current:
                commands.append(["remove", table, record, column, quote(key)])
        elif current.get(key) != str(value):
            commands.append(["set", table, record, f"{column}:{quote(key)}={quote(value)}"])
    return commands


def transaction(commands: list[list[str]]) -> list[str]:
    """Commands joined into one ovs-vsctl transaction: all apply or none."""
    argv: list[str] = []
    for command in commands:
        argv += ["--", *command] if argv else command
    return argv


# --- Ansible ----------------------------------------------------------------------------
