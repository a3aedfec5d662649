"""Magnitude pruning (tfmot `prune_low_magnitude`), stripped after fine-tuning."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field, model_validator

from mlflow_tflite._tf import import_keras
from mlflow_tflite.compress.context import CompressionError, FineTune, sparsity
from mlflow_tflite.compress.prune_layers import (
    AutoLayers,
    LayerPolicy,
    choose_layers,
    describe,
    rank_layers,
)
from mlflow_tflite.errors import first_line
from mlflow_tflite.plugins.technique import Technique
from mlflow_tflite.section import Section


class PruneConfig(Section):
    """Magnitude pruning (tfmot `prune_low_magnitude`)."""

    schedule: Literal["constant", "polynomial"] = "polynomial"
    initial_sparsity: float = Field(0.0, ge=0.0, lt=1.0)
    final_sparsity: float = Field(0.5, ge=0.0, lt=1.0)
    m_by_n: tuple[int, int] | None = Field(
        None, description="Structured sparsity, e.g. [2, 4] keeps 2 of every 4 weights."
    )
    epochs: int = Field(1, ge=1, description="Fine-tuning epochs while pruning.")
    recover_epochs: int = Field(
        0, ge=0, description="Fine-tuning epochs after the last mask update, the mask held: "
        "the polynomial schedule reaches its final sparsity at the end of `epochs`."
    )
    block_size: tuple[int, int] | None = Field(
        None, description="Block sparsity of 2-D kernels (Dense), [height, width] of the Keras "
        "kernel [inputs, units]: [4, 1] zeroes 4 consecutive inputs of a unit, contiguous "
        "bytes in the TFLite file, which gzip better; convolutions stay element-wise."
    )
    layers: LayerPolicy = Field(
        default_factory=LayerPolicy,
        description="Which layers to prune; by default not the first convolution nor "
        "layers under 1,024 weights (depthwise kernels never).",
    )
    auto_layers: AutoLayers | None = Field(
        None, description="Keep only the layers whose pruning alone costs little accuracy."
    )

    @model_validator(mode="after")
    def _consistent(self) -> PruneConfig:
        if self.initial_sparsity > self.final_sparsity:
            raise ValueError(
                f"initial_sparsity ({self.initial_sparsity}) must be <= "
                f"final_sparsity ({self.final_sparsity})"
            )
        if self.m_by_n is not None:
            m, n = self.m_by_n
            if not 0 < m < n:
                raise ValueError(f"m_by_n must satisfy 0 < m < n (got [{m}, {n}])")
        if self.block_size is not None:
            if min(self.block_size) < 1:
                raise ValueError(f"block_size must be >= 1 each (got {list(self.block_size)})")
            if self.m_by_n is not None:
                raise ValueError("block_size and m_by_n exclude each other")
        return self

    @property
    def fine_tune_epochs(self) -> int:
        """Every epoch of the prune step: the mask updates, then the recovery."""
        return self.epochs + self.recover_epochs

    @property
    def target_sparsity(self) -> float:
        """The sparsity the pruned kernels end with (m_by_n: the pattern's zeros)."""
        if self.m_by_n is None:
            return self.final_sparsity
        return 1 - self.m_by_n[0] / self.m_by_n[1]


# PruneConfig has no learning rate: tfmot's pruning guides fine-tune with Adam's default.
LEARNING_RATE = 1e-3
# Mask updates per fine-tune; tfmot's default (every 100 steps) leaves short fine-tunes dense.
UPDATES = 10


def schedule_steps(total_steps: int) -> tuple[int, int, int]:
    """(begin_step, end_step, frequency) so that the last mask update reaches the target.

    The pruning step seen by the mask update runs from 1 to `total_steps`, so the end step
    is the last multiple of the frequency that fits; pruning begins at once (the baseline
    is already trained).

    Raises:
        CompressionError: `total_steps` < 1.
    """
    if total_steps < 1:
        raise CompressionError(f"pruning needs >= 1 fine-tuning step (got {total_steps})")
    frequency = max(1, total_steps // UPDATES)
    end_step = frequency * (total_steps // frequency)
    return 0, end_step, frequency


def apply(model: Any, cfg: PruneConfig, ctx: FineTune) -> Any:
    """Prune the layers `cfg.layers` (and `cfg.auto_layers`) choose while fine-tuning.

    Args:
        model: a fresh Sequential or functional tf_keras model.
        cfg: the `prune` block.
        ctx: data and fine-tuning settings; `ctx.facts["prune_layers"]` receives every
            layer holding a kernel with its verdict (`LayerChoice.to_dict`).

    Returns:
        The stripped model: plain layers whose kernels hold the zeros.

    Raises:
        CompressionError: tfmot cannot prune a layer of the model, or no layer is left to
            prune.
    """
    import tensorflow_model_optimization as tfmot

    keras = import_keras()
    sparsity_api = tfmot.sparsity.keras
    choices = choose_layers(model, cfg.layers, min_inputs=cfg.m_by_n[1] if cfg.m_by_n else 0)
    if cfg.auto_layers is not None:
        choices = rank_layers(model, choices, cfg.target_sparsity, cfg.auto_layers, ctx.data,
                              ctx.log)
    chosen = {c.name for c in choices if c.pruned}
    if not chosen:
        reasons = "; ".join(f"{c.name}: {c.reason}" for c in choices) or "no layer has weights"
        raise CompressionError(f"prune: no layer left to prune ({reasons})")
    ctx.log(describe(choices))
    ctx.facts["prune_layers"] = [c.to_dict() for c in choices]
    total = ctx.steps_per_epoch * cfg.epochs
    schedule, frequency, end = _schedule(cfg, total, sparsity_api)
    blocked = _blocked(model, chosen, cfg.block_size)
    target = (
        f"{cfg.m_by_n[0]}:{cfg.m_by_n[1]} (keep {cfg.m_by_n[0]} of every {cfg.m_by_n[1]})"
        if cfg.m_by_n
        else f"sparsity {cfg.final_sparsity:g}"
    )
    ctx.log(
        f"prune: {cfg.schedule if not cfg.m_by_n else 'm_by_n'} schedule to {target}, "
        f"{total} steps, mask update every {frequency} until step {end}"
        + (f", then {cfg.recover_epochs} epochs with the mask held" if cfg.recover_epochs else "")
        + (f"; blocks {cfg.block_size[0]}x{cfg.block_size[1]} in {', '.join(sorted(blocked))}"
           if blocked else "")
    )
    try:
        wrapped = _wrap(model, chosen, schedule, cfg.m_by_n, keras, sparsity_api,
                        blocked, cfg.block_size)
    except ValueError as error:
        raise CompressionError(f"prune: {first_line(error)}") from error
    ctx.fit(
        wrapped,
        step="prune",
        epochs=cfg.fine_tune_epochs,
        learning_rate=LEARNING_RATE,
        callbacks=[sparsity_api.UpdatePruningStep()],
        extra=lambda: f"sparsity={sparsity(wrapped, chosen):.3f}",
    )
    return sparsity_api.strip_pruning(wrapped)


def _schedule(cfg: PruneConfig, total: int, api: Any) -> tuple[Any, int, int]:
    """The tfmot schedule, its mask-update frequency and end step."""
    begin, end, frequency = schedule_steps(total)
    if cfg.schedule == "constant" or cfg.m_by_n is not None:
        schedule = api.ConstantSparsity(
            cfg.final_sparsity, begin_step=begin, end_step=end, frequency=frequency
        )
    else:
        schedule = api.PolynomialDecay(
            cfg.initial_sparsity, cfg.final_sparsity, begin_step=begin, end_step=end,
            frequency=frequency,
        )
    return schedule, frequency, end


def _blocked(model: Any, chosen: set[str], block_size: tuple[int, int] | None) -> set[str]:
    """The chosen layers that take block sparsity: tfmot blocks 2-D kernels only."""
    if block_size is None or tuple(block_size) == (1, 1):
        return set()
    return {layer.name for layer in model.layers
            if layer.name in chosen and getattr(layer, "kernel", None) is not None
            and len(layer.kernel.shape) == 2}


def _wrap(model: Any, chosen: set[str], schedule: Any, m_by_n: tuple[int, int] | None,
          keras: Any, api: Any, blocked: set[str] = frozenset(),
          block_size: tuple[int, int] | None = None) -> Any:
    """Wrap the chosen layers for pruning; the others stay as they are.

    The m-by-n pattern runs along the input channels of the TFLite kernel; tfmot counts
    zeros, the config counts kept weights.
    """
    options = {} if m_by_n is None else {"sparsity_m_by_n": (m_by_n[1] - m_by_n[0], m_by_n[1])}

    def wrap(layer: Any) -> Any:
        if layer.name in chosen:
            extra = {"block_size": tuple(block_size)} if layer.name in blocked else {}
            return api.prune_low_magnitude(layer, pruning_schedule=schedule, **options, **extra)
        return layer

    # Like tfmot's own model wrapping: layers are reused, so trained weights carry over.
    return keras.models.clone_model(model, clone_function=wrap)


def judged(cfg: PruneConfig, epoch: int) -> bool:
    """Whether the search's pruner may judge a trial after `epoch` of the prune step: not
    while the masks still move (each mask update drops accuracy that the next epochs
    recover) nor during the recovery epochs that follow, so after its last epoch."""
    return epoch >= cfg.fine_tune_epochs


def card_lines(facts: Mapping[str, Any]) -> list[str]:
    """The model card's lines on the layer choice (`facts["prune_layers"]`, written by
    `apply`): what was pruned, and why the rest stayed dense."""
    layers = facts.get("prune_layers")
    if not layers:
        return []
    pruned = [layer for layer in layers if layer["pruned"]]
    total = sum(layer["weights"] for layer in layers)
    share = sum(layer["weights"] for layer in pruned) / total if total else 0.0
    lines = [f"- pruned layers: {len(pruned)} of {len(layers)} ({share:.0%} of their weights): "
             f"{', '.join(layer['name'] for layer in pruned)}"]
    lines += [f"- kept dense: {layer['name']} ({layer['reason']})"
              for layer in layers if not layer["pruned"]]
    return lines


def probe(model: Any) -> None:
    """Wrap the layers the default `prune.layers` choose, as `apply` would (no training)."""
    import tensorflow_model_optimization as tfmot

    api = tfmot.sparsity.keras
    chosen = {c.name for c in choose_layers(model, PruneConfig().layers) if c.pruned}
    _wrap(model, chosen, api.ConstantSparsity(0.5, 0), None, import_keras(), api)


TECHNIQUE = Technique(
    name="prune",
    order=10,
    summary="Magnitude pruning: zero the smallest weights while fine-tuning.",
    config=PruneConfig,
    apply=apply,
    needs="tf_keras",
    noun="pruning",
    judged=judged,
    card=card_lines,
    probe=probe,
    sparse=True,
)
