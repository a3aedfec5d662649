"""Warm start: the listed variants that lie in the search space, enqueued as a new study's
first trials (with a cached build of the same variant such a trial costs no fine-tuning)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mlflow_tflite.config.variants import VariantConfig
from mlflow_tflite.plugins.technique import technique_names
from mlflow_tflite.search.space import CONVERT, USE, Dimension, Space, option_schemes

# The user attribute of a warm-start trial: the name of the variant it was enqueued from.
WARM_START_ATTR = "mlflow_tflite.warm_start"


def warm_start(space: Space, variants: Sequence[VariantConfig]) -> dict[str, dict[str, Any]]:
    """The listed variants that lie in `space`, as Optuna parameters to enqueue (variant
    name -> {parameter: value}), so a new study starts from them instead of from scratch.

    A variant lies in the space when every technique it applies may be used there, it
    applies every technique the space always uses, and its conversion scheme is one of the
    space's. Its other values are enqueued where the space allows them and sampled where it
    does not (a fixed key keeps the space's value); with a cached build of the same
    variant the trial costs no fine-tuning.
    """
    found: dict[str, dict[str, Any]] = {}
    for variant in variants:
        params = _parameters(space, variant)
        if params is not None and params not in found.values():
            found[variant.name] = params
    return found


def _parameters(space: Space, variant: VariantConfig) -> dict[str, Any] | None:
    params: dict[str, Any] = {}

    def take(dim: Dimension, value: Any) -> None:
        if dim.kind != "fixed" and dim.allows(value):
            params[dim.name] = dim.enqueued(value)

    for technique in technique_names():
        dims = space.blocks.get(technique, {})
        config = getattr(variant.compress, technique, None)
        use = dims.get(USE)
        if technique not in space.blocks or (use is None and config is None):
            if config is not None or technique in space.blocks:
                return None
            continue
        if use is not None:
            if not use.allows(config is not None):
                return None
            take(use, config is not None)
        if config is None:
            continue
        for key, dim in dims.items():
            if key != USE:
                take(dim, getattr(config, key))
    convert = space.blocks.get(CONVERT, {})
    scheme = convert.get("quantization")
    if scheme is None or not scheme.allows(variant.convert.quantization):
        return None
    owners = option_schemes()
    for key, dim in convert.items():
        if key not in owners or variant.convert.quantization in owners[key]:
            take(dim, getattr(variant.convert, key, None))
    return params
