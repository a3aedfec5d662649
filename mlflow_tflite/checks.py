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
    from mlflow_tflite.train.model_code import check_model_code
    from mlflow_tflite.train.support import support_problem

    params = load_params(path, overrides)
    if (unsafe := check_model_code(params.train.model, params.train.trust_model_code)):
        raise ParamsError(f"{path}: train.model: {unsafe}")
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
    if params.search.enabled:
        check_search(params, path)
    elif params.search.space:
        # Not searched by this run: only its syntax counts, whatever the baseline's kind.
        _parse_space(params, path)
    return params


def check_search(params: Params, path: str | Path = "params") -> Any:
    """Parse `search.space`, narrow it to what the baseline's kind can take and check
    that `search.promote_target` names a promotion target; returns the
    `mlflow_tflite.search.space.Space` (`search_note` says what was dropped).

    Raises:
        ParamsError: one line naming the file and key path (`search.space.prune...`), or
            a space with nothing the baseline can take.
    """
    from mlflow_tflite.search.space import SpaceError, narrow_to_baseline

    target = params.search.promote_target
    if target is not None and target not in params.promote.targets:
        known = ", ".join(params.promote.targets) or "none are defined"
        raise ParamsError(f"{path}: search.promote_target: no promote.targets entry {target!r} "
                          f"({known})")
    try:
        return narrow_to_baseline(_parse_space(params, path), params.train.model)[0]
    except SpaceError as error:
        raise ParamsError(f"{path}: {error}") from None


def search_note(params: Params) -> str | None:
    """One line on what `search.space` loses to the baseline's kind (None: nothing)."""
    from mlflow_tflite.search.space import narrow_to_baseline, parse_space

    return narrow_to_baseline(parse_space(params.search.space), params.train.model)[1]


def _parse_space(params: Params, path: str | Path) -> Any:
    from mlflow_tflite.search.space import SpaceError, parse_space

    try:
        return parse_space(params.search.space)
    except SpaceError as error:
        raise ParamsError(f"{path}: {error}") from None


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
