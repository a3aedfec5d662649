"""Magnitude pruning (tfmot `prune_low_magnitude`), stripped after fine-tuning."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from mlflow_tflite._tf import import_keras
from mlflow_tflite.compress.context import CompressionError, FineTune, sparsity
from mlflow_tflite.compress.registry import Technique
from mlflow_tflite.errors import first_line
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
        return self

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
    """Prune `model` to `cfg.final_sparsity` (or the m-by-n pattern) while fine-tuning.

    Args:
        model: a fresh Sequential or functional tf_keras model.
        cfg: the `prune` block.
        ctx: data and fine-tuning settings.

    Returns:
        The stripped model: plain layers whose kernels hold the zeros.

    Raises:
        CompressionError: tfmot cannot prune a layer of the model, or no layer is prunable.
    """
    import tensorflow_model_optimization as tfmot

    keras = import_keras()
    sparsity_api = tfmot.sparsity.keras
    total = ctx.steps_per_epoch * cfg.epochs
    begin, end, frequency = schedule_steps(total)
    if cfg.schedule == "constant" or cfg.m_by_n is not None:
        schedule = sparsity_api.ConstantSparsity(
            cfg.final_sparsity, begin_step=begin, end_step=end, frequency=frequency
        )
    else:
        schedule = sparsity_api.PolynomialDecay(
            cfg.initial_sparsity,
            cfg.final_sparsity,
            begin_step=begin,
            end_step=end,
            frequency=frequency,
        )
    target = (
        f"{cfg.m_by_n[0]}:{cfg.m_by_n[1]} (keep {cfg.m_by_n[0]} of every {cfg.m_by_n[1]})"
        if cfg.m_by_n
        else f"sparsity {cfg.final_sparsity:g}"
    )
    ctx.log(
        f"prune: {cfg.schedule if not cfg.m_by_n else 'm_by_n'} schedule to {target}, "
        f"{total} steps, mask update every {frequency} until step {end}"
    )
    try:
        if cfg.m_by_n is None:
            wrapped = sparsity_api.prune_low_magnitude(model, pruning_schedule=schedule)
        else:
            wrapped = _prune_m_by_n(model, cfg.m_by_n, schedule, ctx, keras, sparsity_api)
    except CompressionError:
        raise
    except ValueError as error:
        raise CompressionError(f"prune: {first_line(error)}") from error
    ctx.fit(
        wrapped,
        step="prune",
        epochs=cfg.epochs,
        learning_rate=LEARNING_RATE,
        callbacks=[sparsity_api.UpdatePruningStep()],
        extra=lambda: f"sparsity={sparsity(wrapped):.3f}",
    )
    return sparsity_api.strip_pruning(wrapped)


def _prune_m_by_n(
    model: Any, m_by_n: tuple[int, int], schedule: Any, ctx: FineTune, keras: Any, api: Any
) -> Any:
    """Wrap the layers whose kernels can hold the pattern; the rest stay dense.

    The pattern runs along the input channels of the TFLite kernel (Dense in, Conv2D in),
    so a layer with fewer input channels than `n` (a first conv on grayscale) would only
    contain padding and is left alone. tfmot counts zeros, the config counts kept weights.
    """
    keep, block = m_by_n
    eligible = (keras.layers.Dense, keras.layers.Conv2D)
    wrapped_names: list[str] = []

    def wrap(layer: Any) -> Any:
        if (
            isinstance(layer, eligible)
            and not isinstance(layer, keras.layers.DepthwiseConv2D)
            and int(layer.kernel.shape[-2]) >= block
        ):
            wrapped_names.append(layer.name)
            return api.prune_low_magnitude(
                layer, pruning_schedule=schedule, sparsity_m_by_n=(block - keep, block)
            )
        return layer

    # Like tfmot's own model wrapping: layers are reused, so trained weights carry over.
    cloned = keras.models.clone_model(model, clone_function=wrap)
    if not wrapped_names:
        raise CompressionError(
            f"prune: no Dense/Conv2D layer has >= {block} input channels for m_by_n {list(m_by_n)}"
        )
    ctx.log(f"prune: m_by_n applies to {', '.join(wrapped_names)}")
    return cloned


TECHNIQUE = Technique(
    name="prune",
    order=10,
    summary="Magnitude pruning: zero the smallest weights while fine-tuning.",
    config=PruneConfig,
    apply=apply,
)
