"""`convert.auto_keep_float`: keep the most sensitive layers in float until the drop is small.

Loop: measure the quantized model's accuracy on the validation split against the float
model's; while the drop exceeds `max_accuracy_drop` and fewer than `max_layers` layers
were kept, rank the layers by the error each adds (`measure.layers.most_sensitive`, run
again after every step since keeping one layer changes what the next ones receive), keep
the worst weighted op still quantized in float and quantize again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mlflow_tflite.convert.converter import ConversionError
from mlflow_tflite.convert.facts import ModelOp, model_ops
from mlflow_tflite.convert.quantizer import Recipe
from mlflow_tflite.convert.selective import WEIGHTED_OPS

Quantize = Callable[[list[ModelOp]], tuple[bytes, Recipe | None]]


def auto_keep_float(
    quantize: Quantize,
    float_model: bytes,
    flatbuffer: bytes,
    recipe: Recipe | None,
    kept: list[ModelOp],
    cfg: Any,
    data: Any,
    *,
    log: Callable[[str], None] = print,
) -> tuple[bytes, Recipe | None, list[ModelOp]]:
    """Keep layers in float, one at a time by measured sensitivity.

    Args:
        quantize: quantizes the variant with the given ops left in float.
        float_model: the float `.tflite` the variant is quantized from.
        flatbuffer, recipe: the variant quantized with only `kept` in float.
        kept: ops `convert.keep_float` already leaves in float.
        cfg: the `auto_keep_float` block (`max_accuracy_drop`, `max_layers`).
        data: a `Dataset`; its validation split (`x_val`, `y_val`) scores accuracy.
        log: receives one line per decision.

    Returns:
        The final flatbuffer and recipe, and the ops chosen, most sensitive first.

    Raises:
        ConversionError: `data` has no labelled validation split.
    """
    from mlflow_tflite.measure import predict_outputs
    from mlflow_tflite.measure.layers import layer_errors, most_sensitive
    from mlflow_tflite.measure.quality import accuracy

    x, y = getattr(data, "x_val", None), getattr(data, "y_val", None)
    if x is None or y is None or len(x) == 0:
        raise ConversionError("auto_keep_float needs a dataset with a labelled validation split")
    candidates = [op for op in model_ops(float_model) if op.op in WEIGHTED_OPS]
    # Scored on XNNPACK, LiteRT's default and the flow's primary delegate: LiteRT 2.3's
    # builtin kernels compute blockwise int4 fully-connected ops wrongly.
    float_accuracy = accuracy(predict_outputs(float_model, x), y)
    chosen: list[ModelOp] = []
    while True:
        drop = float_accuracy - accuracy(predict_outputs(flatbuffer, x), y)
        if drop <= cfg.max_accuracy_drop:
            log(f"auto_keep_float: accuracy drop {drop:.4f} <= {cfg.max_accuracy_drop}")
            break
        if len(chosen) >= cfg.max_layers:
            log(f"auto_keep_float: accuracy drop {drop:.4f} still above the limit after "
                f"{len(chosen)} layers (max_layers)")
            break
        by_tensor = {name: op for op in candidates if op not in kept + chosen
                     for name in op.outputs}
        ranked = [by_tensor[e.tensor] for e in most_sensitive(layer_errors(float_model,
                  flatbuffer, x)) if e.tensor in by_tensor]
        if not ranked:
            break
        chosen.append(ranked[0])
        log(f"auto_keep_float: drop {drop:.4f}; keeping {ranked[0].scope} in float")
        flatbuffer, recipe = quantize(kept + chosen)
    return flatbuffer, recipe, chosen
