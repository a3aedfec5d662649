"""Start a variant's compression from a stored result of its first steps (a prefix).

A prefix is the stripped model after some first steps of a variant (its weights, which fit
a fresh copy of the baseline: every technique but the last in the order strips its
wrappers), with what the steps put in `facts` and each step's last fine-tune epoch. Where
prefixes live and under which keys is the caller's business (`Prefixes`, implemented over
the artifact store by `pipeline.prefixes`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from mlflow_tflite.compress.context import CompressionError, FineTune
from mlflow_tflite.plugins.technique import technique_names

# The facts entry naming the steps a variant took from the store (tag
# `mlflow_tflite.reused_steps`).
REUSED_FACT = "reused_steps"


@dataclass
class Prefix:
    """The result of a variant's first steps.

    Attributes:
        weights: the stripped model's `get_weights()`, in the baseline's layer order.
        facts: what the steps recorded (`FineTune.facts`) up to this step.
        last_epochs: step -> (its last fine-tune epoch, that epoch's Keras logs), replayed
            to the epoch hook on reuse so the search's pruner still judges the trial.
        key: the store key it was read from, for the log line (None while unsaved).
    """

    weights: list[np.ndarray]
    facts: dict[str, Any] = field(default_factory=dict)
    last_epochs: dict[str, tuple[int, dict[str, float]]] = field(default_factory=dict)
    key: str | None = None


class Prefixes(Protocol):
    """Where prefixes are found and kept; `steps` are the first steps' names, in order."""

    def find(self, steps: list[str]) -> Prefix | None:
        """The stored prefix of these steps, or None (missing, unreadable, disabled)."""

    def save(self, steps: list[str], prefix: Prefix) -> None:
        """Keep `prefix` as the result of `steps`; a failure to keep it is not an error."""


def storable(step: str) -> bool:
    """Whether `step`'s output is a plain model a later variant may start from: every
    technique but the last in the order strips its wrappers (QAT leaves quantize wrappers,
    and nothing follows it)."""
    return step != technique_names()[-1]


def resume(model: Any, steps: list[str], prefixes: Prefixes, ctx: FineTune) -> int:
    """Load the longest stored prefix of `steps` into `model` (a fresh baseline copy) and
    replay it into `ctx` (applied steps, facts, each step's last epoch to the hook).

    Returns:
        How many steps were taken from the store (0: none; `model` is untouched).
    """
    for count in range(len(steps), 0, -1):
        if not storable(steps[count - 1]) or (prefix := prefixes.find(steps[:count])) is None:
            continue
        try:
            _set_weights(model, prefix.weights)
        except CompressionError as error:  # stored from another architecture: train again
            ctx.log(f"{'+'.join(steps[:count])}: the stored result does not fit ({error}); "
                    "not reused")
            continue
        reused = steps[:count]
        ctx.log(f"{'+'.join(reused)}: reused from the store (key {prefix.key})")
        ctx.facts.update(prefix.facts)
        ctx.facts[REUSED_FACT] = list(reused)
        ctx.applied.extend(reused)
        for step in reused:
            if ctx.on_epoch is not None and step in prefix.last_epochs:
                epoch, logs = prefix.last_epochs[step]
                ctx.on_epoch(step, epoch, dict(logs))
        return count
    return 0


def prefix_of(model: Any, ctx: FineTune, last_epochs: dict[str, Any]) -> Prefix:
    """The prefix to keep after a step: the model's weights, the facts and last epochs so far
    (without the note of which steps were reused: that is this variant's story)."""
    facts = {k: v for k, v in ctx.facts.items() if k != REUSED_FACT}
    epochs = {step: (epoch, {k: float(v) for k, v in logs.items()})
              for step, (epoch, logs) in last_epochs.items() if step in ctx.applied}
    return Prefix(model.get_weights(), facts, epochs)


def _set_weights(model: Any, weights: list[np.ndarray]) -> None:
    """Set every weight, after checking all of them fit (a mismatch leaves `model` as is).

    Raises:
        CompressionError: another count of weights or another shape.
    """
    current = model.get_weights()
    if len(current) != len(weights):
        raise CompressionError(f"{len(weights)} weights stored, the model has {len(current)}")
    for index, (have, stored) in enumerate(zip(current, weights, strict=True)):
        if have.shape != stored.shape:
            raise CompressionError(f"weight {index} is {stored.shape}, the model's {have.shape}")
    model.set_weights(weights)
