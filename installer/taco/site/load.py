"""Read a site file: YAML with line numbers, shape check, semantic check, all issues at once.

The YAML is composed into nodes first so every mapping key and sequence item keeps
its line; pydantic errors and the rules of `taco.site.validate` are both turned
into `SiteIssue`s that point at that line. Entries that fail the shape check are
left out of a copy of the document so the semantic rules can still run on the rest.
"""

from __future__ import annotations

import copy
import difflib
import types
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError

from taco.errors import SiteInvalid, SiteIssue
from taco.site.model import Charts, Site
from taco.site.validate import FieldPath, LineMap, check_site, format_path

if TYPE_CHECKING:
    from collections.abc import Mapping

    from pydantic_core import ErrorDetails

_NAME_RULE = (
    "lowercase letters, digits and '-', at most 63, starting and ending with a letter or digit"
)
_PATTERN_HINTS = {
    r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$": f"use {_NAME_RULE}",
    r"^[A-Za-z0-9_.:-]{1,15}$": (
        "interface names are 1 to 15 characters: letters, digits, '_', '.', ':' or '-'"
    ),
    r"^1\.\d+\.\d+$": "write a full version such as 1.35.4",
    r"^(\d+h)?(\d+m)?(\d+s)?$": "write a duration such as 10m, 90s or 1h30m",
}
# Prune passes are bounded: each removes at least one entry, documents are small.
_MAX_PRUNE_PASSES = 50


def load_site(path: Path) -> Site:
    """Read and validate a site file; raise SiteInvalid with every problem found."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SiteInvalid([_file_issue(path, "the site file does not exist",
                                       "check the path, e.g. inventories/aio/site.yml")]) from None
    except IsADirectoryError:
        raise SiteInvalid([_file_issue(path, "this is a directory, not a site file",
                                       "give the path of the site YAML file")]) from None
    except UnicodeDecodeError as error:
        raise SiteInvalid([_file_issue(path, f"the file is not UTF-8 text ({error.reason})",
                                       "save the site file as UTF-8")]) from None
    except OSError as error:
        raise SiteInvalid([_file_issue(path, f"cannot read the site file: {error.strerror}",
                                       "check the file's permissions")]) from None
    return load_site_text(text, str(path), base_dir=path.parent)


def load_site_text(text: str, filename: str, *, base_dir: Path | None = None) -> Site:
    """Validate site YAML given as text; `filename` is what issues name.

    Files the site names (the artifact manifest and lock, the registry CA) are relative
    to `base_dir`, the site file's directory; the returned site holds them as absolute paths.
    """
    data, lines, issues = parse_yaml(text, filename)
    if data is None:
        raise SiteInvalid(issues)
    if not isinstance(data, dict):
        issues.append(SiteIssue(filename, format_path(()), "the site file must be a mapping "
                                f"of keys, not a {_kind(data)}",
                                "start with keys such as name:, networks: and nodes:", 1))
        raise SiteInvalid(issues)
    try:
        site = with_site_paths(Site.model_validate(data), base_dir)
    except ValidationError as error:
        issues.extend(_shape_issue(detail, data, filename, lines) for detail in error.errors())
        issues.extend(_check_remainder(data, filename, lines, base_dir))
        raise SiteInvalid(_in_file_order(issues)) from None
    issues.extend(check_site(site, filename, lines))
    if issues:
        raise SiteInvalid(_in_file_order(issues))
    return site


# -- YAML with lines ---------------------------------------------------------------

# LibYAML's parser gives the same nodes and marks ten times faster (a 5,000-node site).
_SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def parse_yaml(text: str, filename: str) -> tuple[Any, LineMap, list[SiteIssue]]:
    """The document's data, the line of every key and item, and duplicate-key issues.

    Data is None when the text is not YAML or is empty; the issues then say why.
    """
    loader = _SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, LineMap(), [SiteIssue(
                filename, format_path(()), "the site file is empty",
                "start from inventories/aio/site.yml or inventories/multinode/site.yml")]
        # Lines first: constructing flattens merge keys (<<) into the nodes in place.
        lines = LineMap()
        issues: list[SiteIssue] = []
        _record_lines(node, (), lines.lines, issues, filename)
        data = _construct(node, loader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark else None
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown place"
        problem = error.problem or "invalid YAML"
        hint = f"fix the YAML syntax at {where}"
        if "tab" in problem or "\t" in text:
            hint += " (indent with spaces, never tabs)"
        context = f" {error.context}" if error.context else ""
        return None, LineMap(), [SiteIssue(filename, format_path(()),
                                           f"not valid YAML: {problem}{context}", hint, line)]
    except yaml.YAMLError as error:
        return None, LineMap(), [SiteIssue(filename, format_path(()), f"not valid YAML: {error}",
                                           "fix the YAML syntax")]
    finally:
        loader.dispose()
    return data, lines, issues


_STR_TAG = "tag:yaml.org,2002:str"
_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"


def _construct(root: yaml.Node, loader: yaml.SafeLoader) -> Any:
    """The document's data, as the safe loader would build it.

    Plain strings, mappings and sequences (nearly all of a site file) are built here, ten
    times faster than PyYAML's generic constructor (1 s of a 5,000-node plan); any other
    node goes to the loader's own constructor for its tag. Merge keys and unhashable keys
    take the loader's whole path, which flattens the one and reports the other.
    """
    built: dict[int, Any] = {}  # aliases share a node: they share the value too

    def build(node: yaml.Node) -> Any:
        if isinstance(node, yaml.ScalarNode):
            return node.value if node.tag == _STR_TAG else loader.construct_object(node, deep=True)
        if id(node) in built:
            return built[id(node)]
        if isinstance(node, yaml.SequenceNode) and node.tag == _SEQ_TAG:
            items: list[Any] = []
            built[id(node)] = items
            items.extend(build(item) for item in node.value)
            return items
        if isinstance(node, yaml.MappingNode) and node.tag == _MAP_TAG:
            mapping: dict[Any, Any] = {}
            built[id(node)] = mapping
            for key_node, value_node in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    raise _SlowPath
                mapping[build(key_node)] = build(value_node)
            return mapping
        return loader.construct_object(node, deep=True)

    try:
        return build(root)
    except (_SlowPath, TypeError):
        return loader.construct_document(root)


class _SlowPath(Exception):
    """A node only the loader's own constructor handles as the safe loader would."""


def _record_lines(
    node: yaml.Node,
    path: FieldPath,
    lines: dict[FieldPath, int],
    issues: list[SiteIssue],
    filename: str,
) -> None:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node.value)
            if key == "<<":  # merge key: its entries land in this mapping
                continue
            child = (*path, key)
            if key in seen:
                issues.append(SiteIssue(filename, format_path(child),
                                        f"duplicate key '{key}': the later one would silently "
                                        "replace the earlier", "keep one of them",
                                        key_node.start_mark.line + 1))
                continue
            seen.add(key)
            lines[child] = key_node.start_mark.line + 1
            _record_lines(value_node, child, lines, issues, filename)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            child = (*path, index)
            lines[child] = item.start_mark.line + 1
            _record_lines(item, child, lines, issues, filename)


# -- shape errors ------------------------------------------------------------------


def shape_issues(
    error: ValidationError, data: Any, filename: str, lines: LineMap,
    root: type[BaseModel] = Site, pattern_hints: Mapping[str, str] | None = None,
) -> list[SiteIssue]:
    """Every pydantic error of a document checked against `root`, as operator issues.

    Shared with other YAML files taco reads (the artifact manifest and its lock file);
    `pattern_hints` maps their regex patterns to the fix an operator should read.
    """
    hints = {**_PATTERN_HINTS, **(pattern_hints or {})}
    return [_shape_issue(detail, data, filename, lines, root, hints)
            for detail in error.errors()]


def _field_info(model: type[BaseModel], key: str) -> Any:
    """The field a document key names: by alias first (`schema`), then by name."""
    for name, info in model.model_fields.items():
        if (info.alias or name) == key:
            return info
    return None


def _keys(model: type[BaseModel]) -> list[str]:
    """The keys a document may use for the model's fields (aliases where set)."""
    return sorted(info.alias or name for name, info in model.model_fields.items())


def _annotation_at(loc: FieldPath, root: type[BaseModel] = Site) -> Any:
    """The declared type at a location of the root model, or None if it leaves the model."""
    current: Any = root
    for part in loc:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            info = _field_info(current, part) if isinstance(part, str) else None
            if info is None:
                return None
            current = info.annotation
        elif get_origin(current) is list and isinstance(part, int):
            current = get_args(current)[0]
        elif get_origin(current) is dict:
            current = get_args(current)[1]
        else:
            return None
    return _unwrap(current)


def _unwrap(annotation: Any) -> Any:
    """Strip Annotated[...] and Optional[...] down to the underlying type."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            args = [a for a in get_args(annotation) if a is not type(None)]
            if len(args) != 1:
                return annotation
            annotation = args[0]
        else:
            return annotation


def _model_at(loc: FieldPath, root: type[BaseModel] = Site) -> type[BaseModel] | None:
    found = _annotation_at(loc, root)
    if isinstance(found, type) and issubclass(found, BaseModel):
        return found
    return None


def _choices_at(loc: FieldPath, root: type[BaseModel] = Site) -> list[str]:
    found = _annotation_at(loc, root)
    if isinstance(found, type) and issubclass(found, Enum):
        return [str(member.value) for member in found]
    if get_origin(found) is Literal:
        return [str(arg) for arg in get_args(found)]
    return []


def _kind(value: object) -> str:
    if isinstance(value, dict):
        return "mapping"
    if isinstance(value, list):
        return "list"
    if value is None:
        return "empty value"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    return "text" if isinstance(value, str) else type(value).__name__


def _shape_issue(
    detail: ErrorDetails, data: Any, filename: str, lines: LineMap,
    root: type[BaseModel] = Site, pattern_hints: Mapping[str, str] = _PATTERN_HINTS,
) -> SiteIssue:
    """One pydantic error as an issue: operator wording plus a hint that fixes it."""
    # YAML keys may be numbers (an unquoted 1.35:); name them as written.
    loc: FieldPath = tuple(part if isinstance(part, (str, int)) and not isinstance(part, bool)
                           else str(part) for part in detail["loc"])
    kind = detail["type"]
    value = detail.get("input")
    ctx = detail.get("ctx") or {}
    message, hint = detail["msg"], ""
    if loc and loc[-1] == "[key]":
        loc = loc[:-1]
        message = f"'{loc[-1]}' is not a valid name here"
        hint = pattern_hints.get(str(ctx.get("pattern")), "")
        if kind == "string_type":
            message = f"the key {loc[-1]} must be text, YAML read a {_kind(value)}"
            hint = f"quote it: \"{loc[-1]}\""
        elif kind in ("enum", "literal_error"):
            message = f"'{loc[-1]}' is not allowed as a key here"
            hint = f"allowed: {ctx.get('expected', '')}"
    elif kind == "extra_forbidden":
        key = str(loc[-1])
        model = _model_at(loc[:-1], root)
        allowed = _keys(model) if model else []
        message = f"unknown key '{key}'"
        close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
        if close:
            hint = f"did you mean '{close[0]}'?"
        elif allowed:
            hint = f"allowed keys here: {', '.join(allowed)}"
    elif kind == "missing":
        message = f"required key '{loc[-1]}' is missing"
        hint = f"add {loc[-1]}: to {format_path(loc[:-1])}" if loc[:-1] else f"add {loc[-1]}:"
        present = _mapping_at(data, loc[:-1])
        close = difflib.get_close_matches(str(loc[-1]), [str(k) for k in present], n=1)
        if close:
            hint = f"rename '{close[0]}' to '{loc[-1]}'"
    elif kind in ("enum", "literal_error"):
        choices = _choices_at(loc, root)
        message = f"'{value}' is not allowed here"
        close = difflib.get_close_matches(str(value), choices, n=1, cutoff=0.6)
        hint = f"did you mean '{close[0]}'? " if close else ""
        hint += f"allowed: {', '.join(choices) or ctx.get('expected', '')}"
    elif kind == "string_pattern_mismatch":
        message = f"'{value}' is not valid here"
        hint = pattern_hints.get(str(ctx.get("pattern")), f"match {ctx.get('pattern')}")
    elif kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        message = f"{value} is out of range"
        field = _model_field(loc, root)
        low, high = _bounds(field)
        hint = f"use a value from {low} to {high}" if low is not None and high is not None \
            else detail["msg"].replace("Input should be", "use a value")
    elif kind == "too_short":
        message = f"{format_path(loc)} must not be empty"
        hint = f"list at least {ctx.get('min_length', 1)} item(s)"
    elif kind in ("string_type", "int_type", "int_parsing", "int_from_float", "bool_type",
                  "bool_parsing", "list_type", "dict_type", "model_type", "model_attributes_type"):
        expected = _EXPECTED.get(kind, "a mapping")
        message = f"expected {expected}, got {_kind(value)}"
        if value is None:
            field = _model_field(loc, root)
            hint = "give a value after the colon"
            if field is not None and not field.is_required():
                hint += f", or remove {loc[-1]} to use the default"
        elif kind == "string_type" and isinstance(value, (int, float, bool)):
            hint = "quote it so YAML reads it as text, e.g. \"1.35.4\""
        elif kind in ("bool_type", "bool_parsing"):
            hint = "use true or false"
        elif kind == "list_type":
            hint = "write a YAML list, e.g. [a, b] or one '- item' per line"
        else:
            hint = f"write {expected} here"
    return SiteIssue(filename, format_path(loc), message, hint, lines.line(loc))


_EXPECTED = {
    "string_type": "text",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "list_type": "a list",
    "dict_type": "a mapping",
}


def _mapping_at(data: Any, loc: FieldPath) -> dict[Any, Any]:
    """The mapping at `loc` in the raw document, or an empty one."""
    for part in loc:
        if isinstance(data, dict):
            data = data.get(part)
        elif isinstance(data, list) and isinstance(part, int) and part < len(data):
            data = data[part]
        else:
            return {}
    return data if isinstance(data, dict) else {}


def _model_field(loc: FieldPath, root: type[BaseModel] = Site) -> Any:
    model = _model_at(loc[:-1], root)
    return _field_info(model, str(loc[-1])) if model and loc else None


def _bounds(field: Any) -> tuple[int | None, int | None]:
    low = high = None
    for item in getattr(field, "metadata", []):
        low = getattr(item, "ge", None) if getattr(item, "ge", None) is not None else low
        high = getattr(item, "le", None) if getattr(item, "le", None) is not None else high
    return low, high


def _in_file_order(issues: list[SiteIssue]) -> list[SiteIssue]:
    """Without repeats, sorted by line so the report reads like the file."""
    unique = list(dict.fromkeys(issues))
    return sorted(unique, key=lambda issue: issue.line or 0)


# -- semantic check of what passed the shape check ---------------------------------


def with_site_paths(site: Site, base_dir: Path | None) -> Site:
    """The site with the files it names made absolute, relative to the site file."""
    mirrors = site.mirrors
    named = {key: getattr(mirrors, key)
             for key in ("artifact_manifest", "artifact_lock", "registry_ca")}
    absolute = {key: str(((base_dir or Path()) / Path(value).expanduser()).absolute())
                for key, value in named.items() if value}
    if site.prow.secrets_file:
        secrets = str(((base_dir or Path()) / Path(site.prow.secrets_file).expanduser())
                      .absolute())
        site = site.model_copy(update={"prow": site.prow.model_copy(
            update={"secrets_file": secrets})})
    if site.charts.groups:
        site = site.model_copy(update={"charts": _chart_paths(site.charts, base_dir)})
    if not absolute:
        return site
    return site.model_copy(update={"mirrors": mirrors.model_copy(update=absolute)})


def _chart_paths(charts: Charts, base_dir: Path | None) -> Charts:
    """The chart manifest with values files and chart directories made absolute."""
    def resolve(value: str) -> str:
        return str(((base_dir or Path()) / Path(value).expanduser()).absolute())

    groups = [group.model_copy(update={"charts": [
        chart.model_copy(update={
            "values": [resolve(v) for v in chart.values],
            "chart": resolve(chart.chart) if chart.chart.startswith(("./", "../", "/"))
            else chart.chart,
        }) for chart in group.charts]}) for group in charts.groups]
    environments = {name: env.model_copy(update={"values": {
        chart: [resolve(v) for v in files] for chart, files in env.values.items()}})
        for name, env in charts.environments.items()}
    return charts.model_copy(update={"groups": groups, "environments": environments})


def _check_remainder(
    data: dict[str, Any], filename: str, lines: LineMap, base_dir: Path | None = None
) -> list[SiteIssue]:
    """Run the semantic rules on the document minus the entries that failed the shape check.

    Entries are removed at the smallest place that makes them valid: an unknown key,
    an optional field, a list item or a mapping entry. If the top level itself is
    broken (e.g. networks missing) nothing more can be checked.
    """
    pruned: set[FieldPath] = set()
    lossy: set[FieldPath] = set()
    for _ in range(_MAX_PRUNE_PASSES):
        document, kept = _without(data, pruned)
        view = LineMap(lines.lines, kept, frozenset(lossy))
        try:
            site = Site.model_validate(document)
        except ValidationError as error:
            added = False
            for detail in error.errors():
                target = _prune_target(view.original(tuple(detail["loc"])))
                if target is None:
                    return []
                if target not in pruned:
                    pruned.add(target)
                    added = True
                if detail["type"] != "extra_forbidden":
                    lossy.add(target)
            if not added:
                return []
            continue
        return check_site(with_site_paths(site, base_dir), filename, view)
    return []


def _prune_target(loc: FieldPath) -> FieldPath | None:
    """The smallest removable entry containing `loc`; None when only the root remains."""
    if loc and loc[-1] == "[key]":
        loc = loc[:-1]
    while loc:
        parent, last = loc[:-1], loc[-1]
        model = _model_at(parent)
        if isinstance(last, int) or model is None:
            return loc  # a list item or a free mapping entry (networks, labels)
        info = model.model_fields.get(str(last))
        if info is None or not info.is_required():
            return loc  # an unknown key, or an optional field that falls back to its default
        loc = parent
    return None


def _without(data: Any, pruned: set[FieldPath]) -> tuple[Any, dict[FieldPath, list[int]]]:
    """A copy of `data` without the pruned paths, and which list items each list kept."""
    kept: dict[FieldPath, list[int]] = {}

    def walk(value: Any, path: FieldPath) -> Any:
        if isinstance(value, dict):
            return {k: walk(v, (*path, k)) for k, v in value.items() if (*path, k) not in pruned}
        if isinstance(value, list):
            indices = [i for i in range(len(value)) if (*path, i) not in pruned]
            if len(indices) != len(value):
                kept[path] = indices
            return [walk(value[i], (*path, i)) for i in indices]
        return copy.copy(value)

    return walk(data, ()), kept


def _file_issue(path: Path, message: str, hint: str) -> SiteIssue:
    return SiteIssue(str(path), format_path(()), message, hint)
