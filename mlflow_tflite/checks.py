"""The parameter checks that need no data and no trained model, run before any work.

`load_checked_params` is what every command and flow loads params through: the schema of
`mlflow_tflite.config`, plus the checks across sections (techniques against the baseline's
kind, the search space, the kept-float ops once the baseline's ops are known). It sits
above `search` and the pipeline and below the command and the flows.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlflow_tflite.config import Params, ParamsError, load_params
from mlflow_tflite.pipeline.handles import Baseline


def load_checked_params(path: str | Path, overrides: list[str] | None = None) -> Params:
    """`load_params` plus the cross-step checks that need no model or data, so every
    mistake surfaces before any work (and before any MLflow run).

    Raises:
        ParamsError: one line naming the file and key path.
    """
    from mlflow_tflite.compress import CompressionError, check_compress_config
    from mlflow_tflite.train.support import support_problem

    params = load_params(path, overrides)
    for index, variant in enumerate(params.variants):
        try:
            check_compress_config(variant.compress)
        except CompressionError as error:
            raise ParamsError(f"{path}: variants[{index}].compress: {error}") from None
    try:
        problem = support_problem(params)
    except ValueError as error:
        raise ParamsError(f"{path}: train.model: {error}") from None
    if problem is not None:
        raise ParamsError(f"{path}: {problem}")
    if params.search.enabled or params.search.space:
        check_search(params, path)
    return params


def check_search(params: Params, path: str | Path = "params") -> Any:
    """Parse `search.space`, check the baseline can take its techniques and that
    `search.promote_target` names a promotion target; returns the parsed
    `mlflow_tflite.search.space.Space`.

    Raises:
        ParamsError: one line naming the file and key path (`search.space.prune...`).
    """
    from mlflow_tflite.search.space import SpaceError, check_baseline, parse_space

    target = params.search.promote_target
    if target is not None and target not in params.promote.targets:
        known = ", ".join(params.promote.targets) or "none are defined"
        raise ParamsError(f"{path}: search.promote_target: no promote.targets entry {target!r} "
                          f"({known})")
    try:
        space = parse_space(params.search.space)
        check_baseline(space, params.train.model)
    except SpaceError as error:
        raise ParamsError(f"{path}: {error}") from None
    return space


def check_keep_float(params: Params, baseline: Baseline, source: str = "params") -> None:
    """Every `convert.keep_float` regex selects an op of the fp32 baseline.

    The earliest point op names exist: right after the baseline step, before any variant
    is compressed or converted (the convert step checks the variant's own model again).

    Raises:
        ParamsError: one line naming the variant, the regex and the model's ops.
    """
    from mlflow_tflite.convert.facts import ModelOp
    from mlflow_tflite.convert.selective import KeepFloatError, resolve

    if not baseline.float_ops:
        return
    ops = [ModelOp(d["op"], tuple(d["outputs"]), tuple(d["weights"])) for d in baseline.float_ops]
    for index, variant in enumerate(params.variants):
        try:
            resolve(list(variant.convert.keep_float), ops)
        except KeepFloatError as error:
            raise ParamsError(f"{source}: variants[{index}].{error}") from None
