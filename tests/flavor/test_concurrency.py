"""One loaded model predicted from many threads at once, as the scoring server does."""

from __future__ import annotations

import threading

import mlflow
import numpy as np
import pytest
from mlflow.exceptions import MlflowException

import mlflow_tflite
from tests.flavor.conftest import images
from tests.flavor.raw import raw_predict

THREADS = 8
ROUNDS = 24


def hammer(model, good: list[np.ndarray], expected: list[np.ndarray]) -> list[str]:
    """THREADS threads x ROUNDS predicts mixing each thread's own good input (thread t has
    t + 1 values to clip), a wrong shape and a NaN; what any thread saw go wrong."""
    bad_shape = good[0][:, :7]
    nan = good[0].copy()
    nan[0, 0, 0, 0] = np.nan
    raw = model.get_raw_model() if hasattr(model, "get_raw_model") else model
    start = threading.Barrier(THREADS)
    problems: list[str] = []

    def client(t: int) -> None:
        start.wait()
        for i in range(ROUNDS):
            kind = (t + i) % 3
            try:
                result = model.predict([good[t], bad_shape, nan][kind])
            except MlflowException as error:
                if kind == 0 or error.error_code != "INVALID_PARAMETER_VALUE":
                    problems.append(f"thread {t} round {i}: {error.error_code} {error.message}")
                continue
            if kind != 0:
                problems.append(f"thread {t} round {i}: bad input {kind} was answered")
            elif not np.allclose(result, expected[t]):
                problems.append(f"thread {t} round {i}: wrong answer")
            elif raw.clipped != {"image": t + 1}:
                problems.append(f"thread {t} round {i}: clipped {raw.clipped}, not {t + 1}")

    threads = [threading.Thread(target=client, args=(t,)) for t in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    return problems


@pytest.fixture(scope="module")
def inputs(int8_model) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per thread t: a batch of 3 images with t + 1 values far outside the int8 range, and
    what a bare interpreter answers for it."""
    good = []
    for t in range(THREADS):
        x = images(3, seed=t)
        x.reshape(-1)[: t + 1] = 1000.0
        good.append(x)
    return good, [raw_predict(int8_model, {"image": x})["logits"] for x in good]


@pytest.mark.parametrize("loader", ["native", "pyfunc"])
def test_concurrent_predicts_answer_right_refuse_bad_input_and_count_clipping_per_thread(
    int8_model, inputs, tmp_path, loader
):
    mlflow_tflite.save_model(int8_model, tmp_path / "model")
    load = mlflow_tflite.load_model if loader == "native" else mlflow.pyfunc.load_model
    model = load(str(tmp_path / "model"))
    good, expected = inputs

    problems = hammer(model, good, expected)

    assert problems == []
    raw = model.get_raw_model() if loader == "pyfunc" else model
    good_rounds = [sum((t + i) % 3 == 0 for i in range(ROUNDS)) for t in range(THREADS)]
    assert raw.clipped_total == {"image": sum((t + 1) * n for t, n in enumerate(good_rounds))}
    assert raw.clipped == {}  # this thread predicted nothing
