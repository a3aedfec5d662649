"""Screening a trial on its size before it fine-tunes (`search.pruner.screen`).

What a trial samples (sparsity, clusters, quantization) fixes the size of its `.tflite`;
how well the fine-tunes train barely moves it. The same steps run on two batches (each
fine-tune epoch two steps long, the pruning schedule reaching its final sparsity; QAT,
which leaves the weights' count and width to the conversion, skipped) give a model within
a few percent of the full build's size (bench/RESULTS.md). So when the
objective is that size alone, a trial whose screened model is larger than the smallest
feasible trial so far, by more than `screen_margin`, cannot win whatever its accuracy: it
stops there (pruned) at a small part of its cost. The trials that go on are judged by the
accuracy floor (`max_val_drop`, on the selection split) as before.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

from mlflow_tflite.config import Params, VariantConfig
from mlflow_tflite.measure import size
from mlflow_tflite.pipeline import handles, steps
from mlflow_tflite.search import objective
from mlflow_tflite.search import study as studies

# The objectives a flatbuffer alone gives, without running it.
SIZE_METRICS: dict[str, Callable[[bytes], int]] = {
    "size_bytes": size.size_bytes,
    "gzip_size_bytes": size.gzip_size_bytes,
}
# Training batches of the screened build: two, so that each fine-tune epoch has a step
# after its first (a schedule's last mask update lands on a later step than its first).
BATCHES = 2


def screened_metric(params: Params) -> str | None:
    """The objective the screen judges, or None when the search does not screen (pruner
    or screen off, several objectives, or one a flatbuffer alone does not give)."""
    pruner, names = params.search.pruner, params.search.objective
    if not (pruner.enabled and pruner.screen) or len(names) != 1:
        return None
    return names[0] if names[0] in SIZE_METRICS else None


def incumbent(found: Sequence[dict[str, Any]], metric: str) -> tuple[float, int] | None:
    """The smallest `metric` of the feasible (complete) trials and its trial number, or
    None before the first; `found` holds the results the study records on its trials."""
    feasible = [(r["metrics"][metric], r["number"]) for r in found
                if r.get("state") == objective.COMPLETE and metric in r.get("metrics", {})]
    return min(feasible, default=None)


def best_so_far(params: Params, study_name: str | None, storage: str | None,
                metric: str) -> tuple[float, int] | None:
    """The incumbent as the study's database holds it now (a team's trials included);
    None without a study to read."""
    if not study_name or not storage:
        return None
    study = studies.load_for_reports(params, study_name, storage)
    return incumbent([t.user_attrs[studies.RESULT_ATTR] for t in study.get_trials(deepcopy=False)
                      if studies.RESULT_ATTR in t.user_attrs], metric)


def screened_size(variant: VariantConfig, params: Params, baseline: handles.Baseline,
                  data: handles.PreparedData, metric: str) -> int:
    """`metric` of the variant built on `BATCHES` training batches (a step process's work:
    nothing is stored, so no later build reuses this half-trained model).

    Only what decides the size runs: the steps that change the weights' values
    (`Technique.sizes`; QAT's int8 weights are the conversion's), with no validation pass
    unless a step ranks layers on it (`prune.auto_layers`). On a MobileNet-class model a
    step's cost here is its graph tracing, not its two batches.
    """
    from mlflow_tflite import compress as techniques
    from mlflow_tflite import convert as recipes
    from mlflow_tflite.config import CompressConfig
    from mlflow_tflite.plugins.technique import get_technique

    dataset = handles.load_prepared(data.directory, data.version)
    compress = CompressConfig(**{name: getattr(variant.compress, name)
                                 for name in variant.compress.steps
                                 if get_technique(name).sizes})
    ranks = compress.prune is not None and compress.prune.auto_layers is not None
    few, val = params.train.batch_size * BATCHES, len(dataset.x_val) if ranks else 0
    small = dataclasses.replace(dataset, x_train=dataset.x_train[:few],
                                y_train=dataset.y_train[:few], x_val=dataset.x_val[:val],
                                y_val=dataset.y_val[:val])
    model = techniques.compress_model(steps.load_baseline_model(baseline, params, data),
                                      compress, small, params.train, log=lambda line: None)
    conversion = recipes.convert_variant(model, variant.convert, dataset,
                                         sparse=steps.sparse_format(variant))
    return SIZE_METRICS[metric](conversion.flatbuffer)


def verdict(estimate: float, best: tuple[float, int] | None, metric: str,
            margin: float) -> str | None:
    """Why a trial whose screened model has `metric` `estimate` stops, or None to go on."""
    if best is None or estimate <= best[0] * (1 + margin):
        return None
    value, number = best
    return (f"screened before fine-tuning: its {metric} would be about {estimate:,.0f}, "
            f"over {margin:.0%} above trial-{number}'s {value:,.0f} (the smallest feasible "
            "so far)")
