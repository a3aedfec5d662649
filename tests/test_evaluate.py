"""`evaluate`: built-in and user metrics of a real `.tflite`, and what is refused up front."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from mlflow_tflite.config import ParamsError, parse_params
from mlflow_tflite.evaluate import EvaluateError, evaluate_model, load_evaluators
from mlflow_tflite.flavor.loader.model import TFLiteModel
from mlflow_tflite.metrics import find_metric
from tests.helpers import digits

VARIANTS = [{"name": "fp32"}]


def predict(content: bytes) -> Any:
    """The flavor's predict on a `.tflite`, as the pipeline hands it to the evaluators."""
    return TFLiteModel(content, delegate="builtin").predict


def test_built_ins_match_numpy_on_the_flavor_predictions(int8_model: bytes) -> None:
    x, y = digits()
    x, y = x[:200], y[:200]
    scores = TFLiteModel(int8_model, delegate="builtin").predict(x)
    top5 = np.argsort(-scores, axis=1)[:, :5]
    expected = np.mean([label in row for label, row in zip(y, top5, strict=True)])
    found = evaluate_model(load_evaluators(["top5_accuracy"]), predict(int8_model), x, y)
    assert found == {"top5_accuracy": pytest.approx(expected)}


def test_mae_and_rmse_of_a_regression_model() -> None:
    from mlflow_tflite._tf import import_keras
    from tests.helpers import to_tflite

    keras = import_keras()
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.layers.Input((8, 8, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(1)])
    flatbuffer = to_tflite(model)
    x, _ = digits()
    target = np.linspace(-1, 1, len(x))
    errors = TFLiteModel(flatbuffer, delegate="builtin").predict(x)[:, 0] - target
    found = evaluate_model(load_evaluators(["mae", "rmse"]), predict(flatbuffer), x, target)
    assert found == {"mae": pytest.approx(np.mean(np.abs(errors)), rel=1e-5),
                     "rmse": pytest.approx(np.sqrt(np.mean(errors**2)), rel=1e-5)}
    with pytest.raises(EvaluateError, match="^evaluate mae: ValueError: needs labelled data"):
        evaluate_model(load_evaluators(["mae"]), predict(flatbuffer), x, None)


@pytest.mark.parametrize(
    ("evaluate", "error"),
    [
        ("median", "evaluate: 'median': expected a built-in (mae, rmse, top5_accuracy)"),
        ("no_such_module:f", "evaluate: no_such_module:f: cannot import module no_such_module"),
        ("tests.test_evaluate:missing", "has no function missing"),
        ("tests.test_evaluate:undeclared", "declare the metrics it returns and their direction"),
        ("tests.test_evaluate:shadows", "metric 'accuracy' is already one of the tool's"),
        ("tests.test_evaluate:bad_name", "metric name 'Bad Name': use lower-case letters"),
    ],
)
def test_a_bad_evaluate_entry_fails_when_the_params_load(evaluate: str, error: str) -> None:
    with pytest.raises(ParamsError, match="^params: evaluate") as caught:
        parse_params({"variants": VARIANTS, "evaluate": evaluate})
    assert error in str(caught.value)


def test_a_declared_metric_is_a_promotion_and_search_key_with_its_direction() -> None:
    params = parse_params({
        "variants": VARIANTS, "evaluate": ["tests.test_evaluate:tail_error"],
        "promote": {"objective": ["p95_error"], "constraints": {"max_p95_error": 0.3}},
        "search": {"objective": ["gzip_size_bytes", "p95_error"]},
    })
    assert find_metric("p95_error").higher_is_better is False
    gates = params.promote.constraints.gates()
    assert [(g.metric, g.gate.comparison, g.limit) for g in gates][-1] == ("p95_error", "max", 0.3)
    with pytest.raises(ParamsError, match=r"promote.constraints.max_undeclared: unknown key"):
        parse_params({"variants": VARIANTS, "promote": {"constraints": {"max_undeclared": 1}}})


@pytest.mark.parametrize(
    ("function", "error"),
    [
        (lambda p, x, y: 1 / 0, "evaluate t:f: ZeroDivisionError: division by zero"),
        (lambda p, x, y: {"other": 1.0}, "evaluate t:f: returned ['other'], expected a dict with"),
        (lambda p, x, y: {"m": "high"}, "evaluate t:f: m is 'high', not a number"),
        (lambda p, x, y: {"m": float("nan")}, "evaluate t:f: m is nan"),
        # Per-example values: one finite number per example.
        (lambda p, x, y: {"m": np.ones(3)}, "evaluate t:f: m has 3 values for 10 examples"),
        (lambda p, x, y: {"m": np.ones((10, 2))},
         "evaluate t:f: m has shape (10, 2): expected a number or one number per example"),
        (lambda p, x, y: {"m": np.full(10, np.inf)}, "evaluate t:f: m has values that are "
         "not finite"),
        (lambda p, x, y: {"m": ["a"] * 10}, "evaluate t:f: m holds values that are not numbers"),
    ],
)
def test_a_failing_function_is_one_line_naming_it(float_model: bytes, function: Any,
                                                  error: str) -> None:
    from mlflow_tflite.evaluate import Evaluator

    x, y = digits()
    with pytest.raises(EvaluateError) as caught:
        evaluate_model([Evaluator("t:f", function, {"m": True})], predict(float_model),
                       x[:10], y[:10])
    assert str(caught.value).startswith(error)


def test_per_example_values_are_kept_for_the_interval_and_logged_as_their_mean(
        int8_model: bytes) -> None:
    from mlflow_tflite.evaluate import evaluate_examples

    x, y = digits()
    x, y = x[:50], y[:50]
    evaluators = load_evaluators(["top5_accuracy", "tests.test_evaluate:tail_error"])
    found = evaluate_examples(evaluators, predict(int8_model), x, y)
    assert found["top5_accuracy"].shape == (50,) and set(found["top5_accuracy"]) <= {0.0, 1.0}
    assert found["p95_error"] == 0.0  # a number stays one
    assert evaluate_model(evaluators, predict(int8_model), x, y) == {
        "top5_accuracy": pytest.approx(found["top5_accuracy"].mean()), "p95_error": 0.0}


def tail_error(predict: Any, x: np.ndarray, y: np.ndarray | None) -> dict[str, float]:
    return {"p95_error": 0.0}


def undeclared(predict: Any, x: np.ndarray, y: np.ndarray | None) -> dict[str, float]:
    return {}


def shadows(predict: Any, x: np.ndarray, y: np.ndarray | None) -> dict[str, float]:
    return {}


def bad_name(predict: Any, x: np.ndarray, y: np.ndarray | None) -> dict[str, float]:
    return {}


tail_error.greater_is_better = {"p95_error": False}  # type: ignore[attr-defined]
shadows.greater_is_better = {"accuracy": True}  # type: ignore[attr-defined]
bad_name.greater_is_better = {"Bad Name": True}  # type: ignore[attr-defined]


def quiet_error(predict: Any, x: np.ndarray, y: np.ndarray | None) -> dict[str, float]:
    return {"p99_quiet_error": 0.0}


quiet_error.greater_is_better = {"p99_quiet_error": False}  # type: ignore[attr-defined]


def test_validating_params_loads_no_evaluator_and_loading_them_is_explicit() -> None:
    from mlflow_tflite.config import Params
    from mlflow_tflite.config.params import load_user_metrics

    raw = {"variants": VARIANTS, "evaluate": "tests.test_evaluate:quiet_error"}
    # The model alone validates the entries' shape and registers nothing...
    assert Params.model_validate(raw).evaluate == ["tests.test_evaluate:quiet_error"]
    assert find_metric("p99_quiet_error") is None
    # ...so a section naming the metric needs the explicit step first, whatever the order
    # of the keys; parse_params (and load_params) take it.
    ranked = {"promote": {"objective": ["p99_quiet_error"]}, **raw}
    with pytest.raises(ValidationError, match="p99_quiet_error"):
        Params.model_validate(ranked)
    load_user_metrics(ranked)
    assert Params.model_validate(ranked).promote.objective == ["p99_quiet_error"]
    assert parse_params(ranked).promote.objective == ["p99_quiet_error"]
