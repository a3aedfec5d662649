"""Applicability before work: each technique a run needs is tried on the baseline once,
wrapping only, before any variant spends minutes fine-tuning earlier steps.

A technique declares how to try itself (`Technique.probe`: tfmot's `quantize_model` for
QAT, the prune and cluster wrappers for the others); what fails here fails every variant
with that step (tfmot's `quantize_model` on a model whose residual shapes it cannot
handle, a layer prune or cluster cannot wrap), so those variants and search dimensions
are skipped with the reason instead.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from mlflow_tflite.compress.context import CompressionError, fresh_copy, quiet_logs
from mlflow_tflite.errors import first_line
from mlflow_tflite.plugins.technique import get_technique


def unwrappable(baseline: Any, names: Iterable[str]) -> dict[str, str]:
    """The techniques of `names` that cannot wrap `baseline`, with the reason.

    Args:
        baseline: the trained tf_keras baseline (each probe gets a fresh copy).
        names: technique names (`prune`, `cluster`, `qat`); one without a probe passes.

    Returns:
        name -> "<noun> cannot wrap the baseline: <the wrapper's first line>".
    """
    reasons: dict[str, str] = {}
    for name in names:
        technique = get_technique(name)
        if technique.probe is None:
            continue
        try:
            with quiet_logs():
                technique.probe(fresh_copy(baseline))
        # Any error while wrapping is why the technique cannot apply to this baseline.
        except (CompressionError, ValueError, RuntimeError, TypeError, KeyError) as error:
            reasons[name] = f"{technique.noun} cannot wrap the baseline: {first_line(error)}"
    return reasons
