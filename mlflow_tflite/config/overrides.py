"""`--set KEY=VALUE` overrides with dotted paths, as `dvc exp run -S` takes them."""

from __future__ import annotations

import copy
from typing import Any

import yaml


def _parse_value(text: str) -> Any:
    # YAML scalars, so `3` is an int, `0.5` a float, `[2, 4]` a list and `null` None.
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Return a copy of `raw` with each `a.b.0.c=value` override applied.

    Raises:
        ValueError: an override has no `=`, or its path crosses a list index that does
            not exist or a value that is not a mapping.
    """
    result = copy.deepcopy(raw)
    for override in overrides:
        key, sep, text = override.partition("=")
        if not sep or not key:
            raise ValueError(f"override {override!r}: expected KEY=VALUE")
        parts = key.split(".")
        node: Any = result
        for depth, part in enumerate(parts):
            last = depth == len(parts) - 1
            where = ".".join(parts[: depth + 1])
            if isinstance(node, list):
                if not part.isdigit() or int(part) >= len(node):
                    raise ValueError(f"override {key}: no list item {where} (has {len(node)})")
                index = int(part)
                if last:
                    node[index] = _parse_value(text)
                else:
                    node = node[index]
            elif isinstance(node, dict):
                if last:
                    node[part] = _parse_value(text)
                else:
                    node = node.setdefault(part, {})
            else:
                raise ValueError(f"override {key}: {'.'.join(parts[:depth])} is not a section")
    return result
