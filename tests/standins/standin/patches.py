"""kubeadm's patches directory (InitConfiguration/JoinConfiguration `patches.directory`).

Files are named `target[suffix][+patchtype].extension` and read in the order a directory walk
gives (alphabetical, sub-directories included), as cmd/kubeadm/app/util/patches does: unknown
targets and extensions are ignored with a warning line, an unknown type after '+' is an error.
JSON patches (RFC 6902) and merge patches (RFC 7386) are applied as kubeadm applies them.
Strategic merge patches (kubeadm's default type) need Kubernetes' per-field merge strategies;
the stand-in does not implement them and refuses such a file by name (README.md).
"""

from __future__ import annotations

import copy
import json
import os
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import yaml

from standin import host, yamlio
from standin.kubeadm_config import json_kind

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

TARGETS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler",
           "kubeletconfiguration", "corednsdeployment")
PATCH_TYPES = {"json": "application/json-patch+json", "merge": "application/merge-patch+json",
               "strategic": "application/strategic-merge-patch+json"}
EXTENSIONS = ("json", "yaml")
_EXTENSION = re.compile(r".+\.(json|yaml)$")
_NAME = re.compile(r"^(" + "|".join(TARGETS) + r")([^.+\n]*)?(\+)?(json|merge|strategic)?")


class PatchError(Exception):
    """A patch cannot be read or applied; the message is what kubeadm prints."""


def _go_list(items: tuple[str, ...] | list[str]) -> str:
    """How Go's %v prints a []string."""
    return "[" + " ".join(items) + "]"


class _PatchLoader(yamlio.StrictLoader):
    """Strict YAML without YAML 1.1 timestamps: sigs.k8s.io/yaml keeps those as strings."""


_PatchLoader.yaml_implicit_resolvers = {
    first: [(tag, pattern) for tag, pattern in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yamlio.StrictLoader.yaml_implicit_resolvers.items()}


def _json_data(value: Any) -> Any:
    """YAML data as YAMLToJSON would give it: mapping keys become strings."""
    if isinstance(value, dict):
        return {(json.dumps(key) if isinstance(key, bool) or key is None else str(key)):
                _json_data(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_data(item) for item in value]
    return value


@dataclass
class PatchFile:
    """One file of the directory: its target, its type and the patches it holds (in order)."""

    name: str
    path: str
    target: str
    kind: str
    documents: list[Any]

    @property
    def media_type(self) -> str:
        return PATCH_TYPES[self.kind]


@dataclass
class Patches:
    """The patch files of one directory; notes are the lines kubeadm prints on reading it."""

    directory: str
    files: list[PatchFile] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    announced: bool = False

    def apply(self, target: str, data: Any, out: Callable[[str], None] | None = None) -> Any:
        """The target's data with every patch for it applied, in file order.

        `out` receives kubeadm's lines (the reading notes the first time, then one line per
        applied patch); without it the patches are only tried (to fail before writing).
        """
        if target not in TARGETS:
            raise PatchError(f'unknown patch target name "{target}", must be one of '
                             f"{_go_list(TARGETS)}")
        if out is not None and not self.announced:
            self.announced = True
            for line in self.notes:
                out(line)
        result = copy.deepcopy(data)
        for patch_file in self.files:
            if patch_file.target != target:
                continue
            for document in patch_file.documents:
                try:
                    if patch_file.kind == "json":
                        result = json_patch(result, document)
                    else:
                        result = merge_patch(result, document)
                except JsonPatchError as exc:
                    text = json.dumps(document, separators=(",", ":"), ensure_ascii=False)
                    raise PatchError(
                        f'could not apply the following patch of type "{patch_file.media_type}" '
                        f'to target "{target}" (file "{patch_file.path}"):\n{text}\n: {exc}'
                    ) from None
                if out is not None:
                    out(f'[patches] Applied patch of type "{patch_file.media_type}" to target '
                        f'"{target}"')
        return result


def _parse_name(name: str) -> tuple[str, str, str] | str:
    """(target, suffix, patch type) of a patch file name, or why kubeadm ignores the file."""
    if not _EXTENSION.match(name):
        return f"the file extension must be one of {_go_list(EXTENSIONS)}"
    match = _NAME.match(name)
    if match is None:
        return f"unknown target, must be one of {_go_list(TARGETS)}"
    if match.group(3) and not match.group(4):
        raise PatchError("unknown or missing patch type after '+', must be one of "
                         f"{_go_list(list(PATCH_TYPES))}")
    return match.group(1), match.group(2) or "", match.group(4) or "strategic"


def _documents(text: str, shown: str) -> list[Any]:
    try:
        loaded = list(yaml.load_all(text, Loader=_PatchLoader))
    except yaml.YAMLError as exc:
        raise PatchError(f'could not convert patch to JSON (file "{shown}"): {exc}') from None
    return [_json_data(document) for document in loaded if document is not None]


def _walk(directory: Path) -> list[Path]:
    """Files under a directory in filepath.Walk's order (lexical, descending into dirs)."""
    found: list[Path] = []
    for name in sorted(os.listdir(directory)):
        entry = directory / name
        if entry.is_dir() and not entry.is_symlink():
            found.extend(_walk(entry))
        else:
            found.append(entry)
    return found


def read(directory: str) -> Patches:
    """Read a patches directory (a node path) the way kubeadm's patch manager reads it."""
    where = host.path(directory)
    listing = f'could not list patch files for path "{directory}"'
    patches = Patches(directory=directory)
    patches.notes.append(f'[patches] Reading patches from path "{directory}"')
    if not where.is_symlink() and not where.exists():
        raise PatchError(f"{listing}: lstat {directory}: no such file or directory")
    if where.is_symlink() or not where.is_dir():  # lstat, as kubeadm: a symlink is refused too
        raise PatchError(f"{listing}: getPatchSetsFromPath {where.name}: not a directory")
    try:
        entries = _walk(where)
    except OSError as exc:
        raise PatchError(f"{listing}: open {directory}: {exc.strerror}") from None
    found: list[str] = []
    ignored: list[str] = []
    for entry in entries:
        shown = host.display(entry)
        try:
            parsed = _parse_name(entry.name)
        except PatchError as exc:
            raise PatchError(f'{listing}: file "{shown}": {exc}') from None
        if isinstance(parsed, str):
            patches.notes.append(f'[patches] Ignoring file "{entry.name}": {parsed}')
            ignored.append(entry.name)
            continue
        target, suffix, kind = parsed
        try:
            text = entry.read_text()
        except (OSError, UnicodeDecodeError) as exc:
            raise PatchError(f'{listing}: could not read the file "{shown}": {exc}') from None
        if not text:
            patches.notes.append(f'[patches] Ignoring empty file: "{entry.name}"')
            ignored.append(entry.name)
            continue
        if kind == "strategic":
            extension = entry.name.rsplit(".", 1)[1]
            raise PatchError(
                f'{listing}: "{shown}" is a strategic merge patch (the type of a file named '
                "without +json or +merge): the STAND-IN kubeadm implements only +json (RFC 6902) "
                f"and +merge (RFC 7386) patches; write it as {target}{suffix}+merge.{extension} "
                f"or {target}{suffix}+json.{extension}")
        try:
            documents = _documents(text, shown)
        except PatchError as exc:
            raise PatchError(f"{listing}: {exc}") from None
        patches.files.append(PatchFile(name=entry.name, path=shown, target=target, kind=kind,
                                       documents=documents))
        found.append(entry.name)
    if found:
        patches.notes.append(f"[patches] Found the following patch files: {_go_list(found)}")
    if ignored:
        patches.notes.append(f"[patches] Ignored the following files: {_go_list(ignored)}")
    return patches


# -- RFC 7386 merge patch -------------------------------------------------------------------


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge key by key, null deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


# -- RFC 6902 JSON patch --------------------------------------------------------------------


class JsonPatchError(Exception):
    """One operation does not apply; worded like evanphx/json-patch (kubeadm's library)."""



def _pointer(text: Any, field_name: str, op: str) -> list[str]:
    """RFC 6901: "" is the whole document, else "/"-separated tokens with ~1 and ~0."""
    if not isinstance(text, str):
        raise JsonPatchError(f"{op} operation failed to decode {field_name}: missing value")
    if text == "":
        return []
    if not text.startswith("/"):
        raise JsonPatchError(f'{op} operation does not apply: doc is missing path: "{text}": '
                             "missing value")
    return [token.replace("~1", "/").replace("~0", "~") for token in text[1:].split("/")]


def _index(token: str, size: int, *, append: bool) -> int:
    """An array index token: digits without leading zeros (or "-" to append, for add)."""
    if append and token == "-":
        return size
    if not re.fullmatch(r"0|[1-9][0-9]*", token):
        raise JsonPatchError(f"value was not a proper array index: '{token}'")
    index = int(token)
    if index > size or (not append and index == size):
        raise JsonPatchError(f"Unable to access invalid index: {index}: invalid index "
                             "referenced")
    return index


def _parent(document: Any, tokens: list[str], op: str, shown: str) -> Any:
    """The container holding the last token of a pointer."""
    current = document
    for token in tokens[:-1]:
        if isinstance(current, dict) and token in current:
            current = current[token]
        elif isinstance(current, list) and re.fullmatch(r"0|[1-9][0-9]*", token) and \
                int(token) < len(current):
            current = current[int(token)]
        else:
            raise JsonPatchError(f'{op} operation does not apply: doc is missing path: '
                                 f'"{shown}": missing value')
    if not isinstance(current, dict | list):
        raise JsonPatchError(f'{op} operation does not apply: doc is missing path: "{shown}": '
                             "missing value")
    return current


def _get(document: Any, tokens: list[str], op: str, shown: str) -> Any:
    if not tokens:
        return document
    parent = _parent(document, tokens, op, shown)
    key = tokens[-1]
    if isinstance(parent, dict):
        if key not in parent:
            raise JsonPatchError(f'{op} operation does not apply: doc is missing key: {shown}: '
                                 "missing value")
        return parent[key]
    return parent[_index(key, len(parent), append=False)]


def _add(document: Any, tokens: list[str], value: Any, op: str, shown: str) -> Any:
    if not tokens:
        return value
    parent = _parent(document, tokens, op, shown)
    key = tokens[-1]
    if isinstance(parent, dict):
        parent[key] = value
    else:
        parent.insert(_index(key, len(parent), append=True), value)
    return document


def _remove(document: Any, tokens: list[str], op: str, shown: str) -> Any:
    if not tokens:
        raise JsonPatchError(f'{op} operation does not apply: doc is missing path: "{shown}": '
                             "missing value")
    parent = _parent(document, tokens, op, shown)
    key = tokens[-1]
    if isinstance(parent, dict):
        if key not in parent:
            raise JsonPatchError(f"error in remove for path: '{shown}': Unable to remove "
                                 f"nonexistent key: {key}: missing value")
        return parent.pop(key)
    return parent.pop(_index(key, len(parent), append=False))


def json_equal(left: Any, right: Any) -> bool:
    """JSON equality: true is not 1, and numbers compare by value."""
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool) and left == right
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(json_equal(left[k], right[k]) for k in left)
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(map(json_equal, left, right))
    if isinstance(left, int | float) and isinstance(right, int | float):
        return left == right
    return type(left) is type(right) and bool(left == right)


def json_patch(document: Any, patch: Any) -> Any:
    """Apply an RFC 6902 patch (a list of operations) to a copy of the document."""
    if not isinstance(patch, list):
        raise JsonPatchError(f"json: cannot unmarshal {json_kind(patch)} into Go value of type "
                             "jsonpatch.Patch")
    result = copy.deepcopy(document)
    for operation in patch:
        if not isinstance(operation, dict):
            raise JsonPatchError(f"json: cannot unmarshal {json_kind(operation)} into Go value "
                                 "of type jsonpatch.Operation")
        result = _operation(result, operation)
    return result


def _operation(document: Any, operation: dict[str, Any]) -> Any:
    """One operation, applied in place where it can be; returns the (new) document."""
    op = operation.get("op")
    if op not in ("add", "remove", "replace", "move", "copy", "test"):
        raise JsonPatchError(f"Unexpected kind: {op if isinstance(op, str) else 'unknown'}")
    tokens = _pointer(operation.get("path"), "path", op)
    path: str = operation["path"]
    if op in ("add", "replace", "test") and "value" not in operation:
        raise JsonPatchError(f"{op} operation, missing value field: missing value")
    value = copy.deepcopy(operation.get("value"))
    if op == "add":
        return _add(document, tokens, value, op, path)
    if op == "remove":
        _remove(document, tokens, op, path)
        return document
    if op == "replace":
        _get(document, tokens, op, path)  # the target must exist
        if not tokens:
            return value
        parent = _parent(document, tokens, op, path)
        if isinstance(parent, dict):
            parent[tokens[-1]] = value
        else:
            parent[_index(tokens[-1], len(parent), append=False)] = value
        return document
    if op == "test":
        if not json_equal(_get(document, tokens, op, path), value):
            raise JsonPatchError(f"testing value {path} failed: test failed")
        return document
    from_tokens = _pointer(operation.get("from"), "from", op)
    source: str = operation["from"]
    if op == "move" and len(tokens) > len(from_tokens) and \
            tokens[:len(from_tokens)] == from_tokens:
        raise JsonPatchError(f"move operation does not apply: {path} is inside the moved value "
                             f"{source}")
    taken = copy.deepcopy(_get(document, from_tokens, op, source))
    if op == "move":
        if tokens == from_tokens:
            return document
        _remove(document, from_tokens, op, source)
    return _add(document, tokens, taken, op, path)
