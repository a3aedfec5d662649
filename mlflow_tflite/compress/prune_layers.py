"""Which layers pruning touches: `compress.prune.layers` and `compress.prune.auto_layers`.

TFMOT's pruning guide: prune the later, larger layers; leave the first layer and the
small ones dense (they hold few weights and much of the accuracy). tfmot 0.8 registers
depthwise convolutions with no prunable weight, so their kernels always stay dense. The
defaults of `LayerPolicy` follow that guide; `auto_layers` then ranks the remaining layers
by the validation accuracy each one loses when magnitude-pruned alone (no fine-tuning) and
keeps only those within the budget.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
from pydantic import Field

from mlflow_tflite.compress.context import CompressionError, Log, TrainingData
from mlflow_tflite.section import Regex, Section

# Under this many weights a layer saves little when pruned and costs accuracy.
MIN_WEIGHTS = 1024
DEPTHWISE = "depthwise kernel: tfmot prunes none"
FIRST_CONV = "first convolution (layers.first_conv: false)"


class LayerPolicy(Section):
    """Which prunable layers (Conv, Dense, ...) pruning wraps; regexes search layer names."""

    include: list[Regex] = Field(
        default_factory=list,
        description="Regexes of layer names to prune; empty: every prunable layer.",
    )
    exclude: list[Regex] = Field(
        default_factory=list, description="Regexes of layer names left dense."
    )
    min_weights: int = Field(
        MIN_WEIGHTS, ge=0, description="Layers with fewer prunable weights stay dense."
    )
    first_conv: bool = Field(False, description="Also prune the first convolution.")


class AutoLayers(Section):
    """Prune only the layers that lose at most this much validation accuracy alone."""

    max_accuracy_drop: float = Field(
        0.02, ge=0.0, lt=1.0,
        description="Validation accuracy a layer may lose when pruned alone, untrained.",
    )


@dataclass(frozen=True)
class LayerChoice:
    """One layer with weights: pruned, or why not; `drop` is its auto_layers ranking."""

    name: str
    kind: str
    weights: int
    pruned: bool
    reason: str = ""
    drop: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def prunable_weights(layer: Any) -> list[Any]:
    """The weights tfmot would prune in `layer` (empty: it prunes none there)."""
    from tensorflow_model_optimization.python.core.sparsity.keras import (
        prunable_layer,
        prune_registry,
    )

    if isinstance(layer, prunable_layer.PrunableLayer):
        return list(layer.get_prunable_weights())
    registry = prune_registry.PruneRegistry
    if not registry.supports(layer):
        return []
    # make_prunable only attaches `get_prunable_weights`, as tfmot's own wrapper does.
    return list(registry.make_prunable(layer).get_prunable_weights())


def _is_conv(layer: Any) -> bool:
    return any(c.__name__ == "Conv" and c.__module__.endswith("base_conv")
               for c in type(layer).__mro__)


def choose_layers(model: Any, policy: LayerPolicy, *, min_inputs: int = 0) -> list[LayerChoice]:
    """Every layer of `model` holding a kernel, with the policy's verdict.

    `min_inputs` (m_by_n's block size) leaves dense a layer whose kernel has fewer input
    channels than that: the pattern would only cover padding.
    """
    choices = []
    first_conv = next((layer.name for layer in model.layers if _is_conv(layer)), None)
    for layer in model.layers:
        weights = prunable_weights(layer)
        kind = type(layer).__name__
        if not weights:
            if hasattr(layer, "depthwise_kernel"):
                size = int(np.prod(layer.depthwise_kernel.shape))
                choices.append(LayerChoice(layer.name, kind, size, False, DEPTHWISE))
            continue
        size = sum(int(np.prod(w.shape)) for w in weights)
        reason = _skip_reason(layer, size, policy, first_conv, min_inputs)
        choices.append(LayerChoice(layer.name, kind, size, not reason, reason))
    return choices


def _skip_reason(layer: Any, size: int, policy: LayerPolicy, first_conv: str | None,
                 min_inputs: int) -> str:
    name = layer.name
    if name == first_conv and not policy.first_conv:
        return FIRST_CONV
    if policy.include and not any(re.search(r, name) for r in policy.include):
        return "not matched by layers.include"
    if excluded := next((r for r in policy.exclude if re.search(r, name)), None):
        return f"matched by layers.exclude {excluded!r}"
    if size < policy.min_weights:
        return f"{size} weights < layers.min_weights {policy.min_weights}"
    kernel = getattr(layer, "kernel", None)
    if min_inputs and (kernel is None or int(kernel.shape[-2]) < min_inputs):
        return f"fewer than {min_inputs} input channels for m_by_n"
    return ""


def rank_layers(
    model: Any,
    choices: list[LayerChoice],
    sparsity: float,
    auto: AutoLayers,
    data: TrainingData,
    log: Log,
) -> list[LayerChoice]:
    """Magnitude-prune each chosen layer alone to `sparsity`, measure the validation drop,
    and keep only the layers within `auto.max_accuracy_drop` (the model is restored).

    Raises:
        CompressionError: no validation split, or no layer fits the budget.
    """
    if len(data.x_val) == 0:
        raise CompressionError("prune: auto_layers needs a validation split (data is empty)")
    layers = {layer.name: layer for layer in model.layers}
    reference = _val_accuracy(model, data)
    ranked = []
    for choice in choices:
        if not choice.pruned:
            ranked.append(choice)
            continue
        weights = prunable_weights(layers[choice.name])
        kept = [w.numpy() for w in weights]
        for weight, values in zip(weights, kept, strict=True):
            weight.assign(magnitude_prune(values, sparsity))
        drop = reference - _val_accuracy(model, data)
        for weight, values in zip(weights, kept, strict=True):
            weight.assign(values)
        fits = drop <= auto.max_accuracy_drop
        reason = "" if fits else (f"drops validation accuracy {drop:.4f} > auto_layers."
                                  f"max_accuracy_drop {auto.max_accuracy_drop:g} alone")
        ranked.append(replace(choice, pruned=fits, reason=reason, drop=float(drop)))
    scored = sorted((c for c in ranked if c.drop is not None), key=lambda c: c.drop)
    log(f"prune: auto_layers at sparsity {sparsity:g} (validation accuracy {reference:.4f}), "
        f"drop per layer pruned alone: "
        + ", ".join(f"{c.name} {c.drop:+.4f}" for c in scored))
    if scored and not any(c.pruned for c in scored):
        raise CompressionError(
            f"prune: auto_layers: every layer loses more than {auto.max_accuracy_drop:g} "
            f"validation accuracy when pruned alone (least: {scored[0].name} "
            f"{scored[0].drop:.4f})"
        )
    return ranked


def magnitude_prune(values: np.ndarray, sparsity: float) -> np.ndarray:
    """`values` with its smallest-magnitude `sparsity` fraction set to zero."""
    count = int(round(sparsity * values.size))
    if count == 0:
        return values
    flat = np.abs(values).ravel()
    threshold = np.partition(flat, count - 1)[count - 1]
    return np.where(np.abs(values) <= threshold, 0, values).astype(values.dtype)


def _val_accuracy(model: Any, data: TrainingData) -> float:
    from mlflow_tflite.compress.context import quiet_logs
    from mlflow_tflite.train.fit import eval_batch

    with quiet_logs():
        scores = model.predict(data.x_val, verbose=0, batch_size=eval_batch(data.x_val))
    labels = np.asarray(data.y_val)
    if labels.ndim > 1 and labels.shape[-1] > 1:
        labels = labels.argmax(-1)
    return float(np.mean(np.asarray(scores).argmax(-1) == labels.reshape(-1)))


def describe(choices: list[LayerChoice]) -> str:
    """One line: the layers pruned, then the skipped ones with their reasons."""
    pruned = [c.name for c in choices if c.pruned]
    skipped = [f"{c.name} ({c.reason})" for c in choices if not c.pruned]
    total = sum(c.weights for c in choices)
    share = sum(c.weights for c in choices if c.pruned) / total if total else 0.0
    line = (f"prune: {len(pruned)} of {len(choices)} layers ({share:.0%} of their weights): "
            f"{', '.join(pruned) or '-'}")
    return line + (f"; kept dense: {'; '.join(skipped)}" if skipped else "")
