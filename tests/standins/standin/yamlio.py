"""YAML in and out, strict like Kubernetes' decoders: a key defined twice is an error."""

from __future__ import annotations

from typing import Any

import yaml


class DuplicateKeyError(yaml.YAMLError):
    pass


class StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate mapping keys (sigs.k8s.io/yaml does too)."""


def _mapping(loader: StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in seen:
            line = key_node.start_mark.line + 1
            raise DuplicateKeyError(f'line {line}: mapping key "{key}" already defined')
        seen.add(key)
    return loader.construct_mapping(node, deep=True)


StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def load_all(text: str, source: str) -> list[dict[str, Any]]:
    """Every non-empty document; ValueError naming the source when one is not a mapping."""
    try:
        documents = list(yaml.load_all(text, Loader=StrictLoader))
    except yaml.YAMLError as exc:
        raise ValueError(f"error parsing {source}: {exc}") from None
    result = []
    for index, document in enumerate(documents):
        if document is None:
            continue
        if not isinstance(document, dict):
            raise ValueError(f"error parsing {source}: document {index + 1} is a "
                             f"{type(document).__name__}, not a mapping")
        result.append(document)
    return result


def load_one(text: str, source: str) -> Any:
    try:
        return yaml.load(text, Loader=StrictLoader)
    except yaml.YAMLError as exc:
        raise ValueError(f"error parsing {source}: {exc}") from None


def dump(value: Any) -> str:
    return yaml.safe_dump(value, sort_keys=False, default_flow_style=False)


def dump_all(values: list[Any]) -> str:
    return yaml.safe_dump_all(values, sort_keys=False, default_flow_style=False)
