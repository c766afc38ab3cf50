"""kubectl's JSONPath templates: {.a.b}, [n], [*], [a:b], ['key'], ..name, [?(@.x=="y")],
{range ...}{end}, quoted literals like {"\\n"}, and plain text between expressions.
"""

from __future__ import annotations

import json
import re
from typing import Any

_MISSING = object()


class JsonPathError(ValueError):
    pass


def _split_template(template: str) -> list[tuple[str, str]]:
    """[("text", ...), ("expr", ...)] honouring quotes inside braces."""
    parts: list[tuple[str, str]] = []
    index = 0
    text = ""
    while index < len(template):
        char = template[index]
        if char == "{":
            if text:
                parts.append(("text", text))
                text = ""
            depth, quote, start = 1, "", index + 1
            index += 1
            while index < len(template) and depth:
                current = template[index]
                if quote:
                    if current == "\\":
                        index += 1
                    elif current == quote:
                        quote = ""
                elif current in "\"'":
                    quote = current
                elif current == "{":
                    depth += 1
                elif current == "}":
                    depth -= 1
                index += 1
            if depth:
                raise JsonPathError(f"unclosed action in template {template!r}")
            parts.append(("expr", template[start:index - 1].strip()))
            continue
        text += char
        index += 1
    if text:
        parts.append(("text", text))
    return parts


def _tokens(expression: str) -> list[tuple[str, Any]]:
    """Steps of one path: ("field", name) ("index", i) ("slice", (a, b)) ("all", None)
    ("recurse", name) ("filter", (path, op, value))."""
    steps: list[tuple[str, Any]] = []
    index = 0
    if expression.startswith("$"):
        index = 1
    if expression.startswith("@"):
        index = 1
    while index < len(expression):
        char = expression[index]
        if expression.startswith("..", index):
            match = re.match(r"\.\.([A-Za-z0-9_\-]+|\*)", expression[index:])
            if not match:
                raise JsonPathError(f"invalid recursive descent in {expression!r}")
            steps.append(("recurse", match.group(1)))
            index += match.end()
        elif char == ".":
            name = ""
            index += 1
            while index < len(expression) and expression[index] not in ".[":
                if expression[index] == "\\" and index + 1 < len(expression):
                    index += 1
                name += expression[index]
                index += 1
            if name == "*":
                steps.append(("all", None))
            elif name:
                steps.append(("field", name))
        elif char == "[":
            end = _closing(expression, index)
            inner = expression[index + 1:end].strip()
            index = end + 1
            if inner == "*":
                steps.append(("all", None))
            elif inner.startswith("?(") and inner.endswith(")"):
                steps.append(("filter", _filter(inner[2:-1].strip())))
            elif inner[:1] in "'\"":
                steps.append(("field", inner[1:-1]))
            elif ":" in inner:
                low, _, high = inner.partition(":")
                steps.append(("slice", (int(low) if low else None, int(high) if high else None)))
            else:
                try:
                    steps.append(("index", int(inner)))
                except ValueError:
                    raise JsonPathError(f"invalid array index {inner!r}") from None
        else:
            raise JsonPathError(f"unrecognized character in action: {char!r} in {expression!r}")
    return steps


def _closing(expression: str, start: int) -> int:
    quote = ""
    for index in range(start + 1, len(expression)):
        char = expression[index]
        if quote:
            if char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif char == "]":
            return index
    raise JsonPathError(f"unterminated array in {expression!r}")


def _filter(text: str) -> tuple[str, str, Any]:
    match = re.match(r"^(@[^\s!=<>]*)\s*(==|!=|<=|>=|<|>)\s*(.+)$", text)
    if not match:
        return text, "exists", None
    raw = match.group(3).strip()
    value: Any
    if raw[:1] in "'\"":
        value = raw[1:-1]
    else:
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
    return match.group(1), match.group(2), value


def _walk(values: list[Any], steps: list[tuple[str, Any]]) -> list[Any]:
    for kind, argument in steps:
        found: list[Any] = []
        for value in values:
            if kind == "field":
                if isinstance(value, dict) and argument in value:
                    found.append(value[argument])
            elif kind == "index":
                if isinstance(value, list) and -len(value) <= argument < len(value):
                    found.append(value[argument])
            elif kind == "slice":
                if isinstance(value, list):
                    found.extend(value[argument[0]:argument[1]])
            elif kind == "all":
                if isinstance(value, list):
                    found.extend(value)
                elif isinstance(value, dict):
                    found.extend(value.values())
            elif kind == "recurse":
                found.extend(_recurse(value, argument))
            elif kind == "filter" and isinstance(value, list):
                found.extend(item for item in value if _keep(item, argument))
        values = found
    return values


def _recurse(value: Any, name: str) -> list[Any]:
    found = []
    if isinstance(value, dict):
        for key, item in value.items():
            if name in ("*", key):
                found.append(item)
            found.extend(_recurse(item, name))
    elif isinstance(value, list):
        for item in value:
            found.extend(_recurse(item, name))
    return found


def _keep(item: Any, condition: tuple[str, str, Any]) -> bool:
    path, operator, expected = condition
    results = _walk([item], _tokens(path))
    if operator == "exists":
        return bool(results)
    if not results:
        return False
    actual = results[0]
    if operator == "==":
        return bool(actual == expected or str(actual) == str(expected))
    if operator == "!=":
        return bool(actual != expected and str(actual) != str(expected))
    try:
        left, right = float(actual), float(expected)
    except (TypeError, ValueError):
        return False
    return {"<": left < right, ">": left > right, "<=": left <= right,
            ">=": left >= right}[operator]


def _show(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


def evaluate(template: str, data: Any, *, allow_missing: bool = True) -> str:
    """Render a kubectl JSONPath template against decoded JSON.

    Missing keys print nothing, as with kubectl's default --allow-missing-template-keys.
    """
    parts = _split_template(template)
    output, _ = _render(parts, 0, data, allow_missing)
    return output


def _render(parts: list[tuple[str, str]], start: int, current: Any,
            allow_missing: bool) -> tuple[str, int]:
    output = ""
    index = start
    while index < len(parts):
        kind, body = parts[index]
        if kind == "text":
            output += body
            index += 1
            continue
        if body == "end":
            return output, index
        if body.startswith("range "):
            items = _walk([current], _tokens(body[len("range "):].strip()))
            end = index + 1
            depth = 1
            while end < len(parts) and depth:
                if parts[end] == ("expr", "end"):
                    depth -= 1
                elif parts[end][0] == "expr" and parts[end][1].startswith("range "):
                    depth += 1
                end += 1
            if depth:
                raise JsonPathError("not in range, nothing to end")
            inner = parts[index + 1:end - 1]
            for item in items:
                rendered, _ = _render(inner, 0, item, allow_missing)
                output += rendered
            index = end
            continue
        if body[:1] in "\"'":
            output += json.loads(body, strict=False) if body[0] == "\"" else body[1:-1]
            index += 1
            continue
        results = _walk([current], _tokens(body))
        if not results and not allow_missing and body not in ("", "@", "$"):
            raise JsonPathError(f"{_last_name(body)} is not found")
        output += " ".join(_show(value) for value in results)
        index += 1
    return output, index


def _last_name(body: str) -> str:
    return body.rsplit(".", 1)[-1] if "." in body else body
