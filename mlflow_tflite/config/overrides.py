"""`--set KEY=VALUE` overrides with dotted paths, as `dvc exp run -S` takes them."""

from __future__ import annotations

import copy
from typing import Any

from mlflow_tflite.config.yamlfile import Doubt, KeyPath, YamlError, load_yaml


def _parse_value(text: str, path: KeyPath, doubts: list[Doubt]) -> Any:
    # YAML scalars, so `3` is an int, `0.5` a float, `[2, 4]` a list and `null` (or
    # nothing: `KEY=`) None; read as strictly as the file, text that is no YAML is kept.
    if not text.strip():
        return None
    try:
        value, found = load_yaml(text, path)
    except YamlError as error:
        if error.path:
            raise
        return text
    doubts.extend(found)
    return value


def apply_overrides(raw: dict[str, Any], overrides: list[str],
                    doubts: list[Doubt] | None = None) -> dict[str, Any]:
    """Return a copy of `raw` with each `a.b.0.c=value` override applied.

    `doubts` (the file's yes/no/on/off booleans, see `config.yamlfile`) loses those under
    an overridden key and gains the override values' own.

    Raises:
        ValueError: an override has no `=`, its path crosses a list index that does not
            exist or a value that is not a mapping, or its value says something it does
            not look like (`1:30`, `0755`).
    """
    result = copy.deepcopy(raw)
    doubts = doubts if doubts is not None else []
    for override in overrides:
        key, sep, text = override.partition("=")
        if not sep or not key:
            raise ValueError(f"override {override!r}: expected KEY=VALUE")
        parts = key.split(".")
        path = tuple(int(p) if p.isdigit() else p for p in parts)
        doubts[:] = [d for d in doubts if d.path[: len(path)] != path]
        try:
            value = _parse_value(text, path, doubts)
        except YamlError as error:
            raise ValueError(f"override {key}: {error.message}") from None
        node: Any = result
        for depth, part in enumerate(parts):
            last = depth == len(parts) - 1
            where = ".".join(parts[: depth + 1])
            if isinstance(node, list):
                if not part.isdigit() or int(part) >= len(node):
                    raise ValueError(f"override {key}: no list item {where} (has {len(node)})")
                index = int(part)
                if last:
                    node[index] = value
                else:
                    node = node[index]
            elif isinstance(node, dict):
                if last:
                    node[part] = value
                else:
                    node = node.setdefault(part, {})
            else:
                raise ValueError(f"override {key}: {'.'.join(parts[:depth])} is not a section")
    return result
