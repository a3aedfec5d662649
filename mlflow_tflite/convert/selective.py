"""Selective quantization: which ops `convert.keep_float` leaves in float.

A regex selects an op when it matches (`re.search`) the op's scope (its output tensor
names, what ai-edge-quantizer matches) or one of its input tensor names (so `logits` finds
the last Dense layer, whose output is named `StatefulPartitionedCall:0` but whose weights
are `sequential/logits/MatMul`). The selected ops are then named exactly: an escaped,
anchored scope for ai-edge-quantizer, output names for the converter's denylist.
"""

from __future__ import annotations

import re

from mlflow_tflite.convert.facts import ModelOp

# Ops that hold weights: what quantization changes and keeping float is about.
WEIGHTED_OPS = frozenset(
    {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "TRANSPOSE_CONV", "CONV_3D",
     "BATCH_MATMUL", "EMBEDDING_LOOKUP"}
)


class KeepFloatError(ValueError):
    """A `keep_float` regex that is invalid or selects no op; the message is one line."""


def selects(regex: str, op: ModelOp) -> bool:
    pattern = re.compile(regex)
    return any(pattern.search(name) for name in (op.scope, *op.weights))


def resolve(regexes: list[str], ops: list[ModelOp]) -> list[ModelOp]:
    """The weighted ops the regexes select, in model order.

    Raises:
        KeepFloatError: a regex selects no weighted op (the message lists the ops).
    """
    candidates = [op for op in ops if op.op in WEIGHTED_OPS]
    chosen: list[ModelOp] = []
    for regex in regexes:
        hits = [op for op in candidates if selects(regex, op)]
        if not hits:
            # The first weight name is the readable one: it carries the Keras layer name.
            listed = ", ".join(op.weights[0] if op.weights else op.scope for op in candidates[:8])
            raise KeepFloatError(
                f"convert.keep_float: {regex!r} matches no op of the float model "
                f"(its weighted ops: {listed})"
            )
        chosen += [op for op in hits if op not in chosen]
    return [op for op in candidates if op in chosen]


def recipe_regex(op: ModelOp) -> str:
    """An ai-edge-quantizer regex matching exactly this op's scope."""
    return "^" + re.escape(op.scope) + "$"


def float_nodes(ops: list[ModelOp]) -> list[str]:
    """The converter's `denylisted_nodes` for these ops."""
    return [name for op in ops for name in op.outputs]
