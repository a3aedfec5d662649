"""Training is repeatable, reports each epoch, rejects bad models first; clones are fresh."""

from __future__ import annotations

import re

import numpy as np
import pytest

from mlflow_tflite.config import TrainConfig
from mlflow_tflite.data import Dataset
from mlflow_tflite.train import ModelError, TrainedBaseline, clone_baseline, train_baseline


@pytest.fixture(scope="module")
def trained(digits: Dataset) -> TrainedBaseline:
    return train_baseline(digits, TrainConfig(epochs=1, seed=11), log=None)


def test_training_logs_one_line_per_epoch(digits: Dataset) -> None:
    lines: list[str] = []

    result = train_baseline(digits, TrainConfig(epochs=2), log=lines.append)

    assert len(lines) == 2
    pattern = (
        r"epoch {}/2 loss=\d\.\d{{4}} acc=\d\.\d{{4}} val_loss=\d\.\d{{4}} val_acc=\d\.\d{{4}}"
    )
    assert re.match(pattern.format(1), lines[0])
    assert re.match(pattern.format(2), lines[1])
    assert result.history["val_accuracy"][-1] == pytest.approx(
        float(lines[1].split("val_acc=")[1][:6]), abs=1e-4
    )


def test_trained_baseline_reports_test_accuracy_and_history(
    trained: TrainedBaseline, digits: Dataset
) -> None:
    predictions = trained.model.predict(digits.x_test, verbose=0).argmax(axis=1)

    assert trained.accuracy == pytest.approx(np.mean(predictions == digits.y_test))
    assert trained.accuracy > 0.3
    assert set(trained.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert len(trained.history["loss"]) == 1


def test_the_same_seed_trains_the_same_model(trained: TrainedBaseline, digits: Dataset) -> None:
    again = train_baseline(digits, TrainConfig(epochs=1, seed=11), log=None)

    assert again.history == trained.history
    for mine, theirs in zip(again.model.get_weights(), trained.model.get_weights(), strict=True):
        np.testing.assert_array_equal(mine, theirs)


def test_another_seed_trains_another_model(trained: TrainedBaseline, digits: Dataset) -> None:
    other = train_baseline(digits, TrainConfig(epochs=1, seed=12), log=None)

    assert not np.array_equal(other.model.get_weights()[0], trained.model.get_weights()[0])


def test_zero_epochs_leaves_the_model_untrained(digits: Dataset) -> None:
    result = train_baseline(digits, TrainConfig(epochs=0), log=None)

    assert result.history == {}
    assert 0.0 <= result.accuracy <= 1.0


def test_a_logits_model_from_a_builder_trains(digits: Dataset) -> None:
    result = train_baseline(
        digits, TrainConfig(model="tests.train.builders:small_model", epochs=1), log=None
    )

    assert result.model.loss.get_config()["from_logits"] is True
    assert result.accuracy > 0.3  # chance is 0.1


def test_an_unwrappable_model_is_rejected_before_any_training(digits: Dataset) -> None:
    lines: list[str] = []

    with pytest.raises(ModelError, match="subclassed"):
        train_baseline(
            digits,
            TrainConfig(model="tests.train.builders:subclassed_model", epochs=3),
            log=lines.append,
        )

    assert lines == []


def test_a_clone_has_the_same_weights_and_predictions(
    trained: TrainedBaseline, digits: Dataset
) -> None:
    clone = clone_baseline(trained.model)

    assert clone is not trained.model
    np.testing.assert_allclose(
        clone.predict(digits.x_test, verbose=0), trained.model.predict(digits.x_test, verbose=0)
    )
    assert clone.optimizer is not None and clone.optimizer is not trained.model.optimizer
    assert clone.loss.get_config()["from_logits"] is False


def test_training_a_clone_leaves_the_baseline_untouched(
    trained: TrainedBaseline, digits: Dataset
) -> None:
    before = [w.copy() for w in trained.model.get_weights()]
    clone = clone_baseline(trained.model, learning_rate=1e-2)

    clone.fit(digits.x_train[:256], digits.y_train[:256], epochs=1, verbose=0)

    for mine, kept in zip(trained.model.get_weights(), before, strict=True):
        np.testing.assert_array_equal(mine, kept)
    assert not np.array_equal(clone.get_weights()[0], before[0])


def test_a_cosine_schedule_ends_training_at_rate_zero(digits: Dataset) -> None:
    config = TrainConfig(epochs=2, batch_size=128, lr_schedule="cosine", seed=11)

    result = train_baseline(digits, config, log=None)

    optimizer = result.model.optimizer
    steps = int(optimizer.iterations.numpy())
    assert steps == 2 * -(-len(digits.x_train) // 128)
    # The rate of the last step: under 1% of the configured 1e-3 (zero one step later).
    assert 0.0 <= float(optimizer.learning_rate) < 1e-5
    assert result.history["loss"][1] < result.history["loss"][0]


def test_a_constant_rate_stays_the_configured_rate(trained: TrainedBaseline) -> None:
    assert float(trained.model.optimizer.learning_rate) == pytest.approx(1e-3)


def test_an_inference_batch_is_bounded_by_its_input_bytes():
    """Digits keep the batch of 256; a 224x224 RGB image, 602 KB of float32, gets 13 a
    batch (MobileNetV2's activations for 100 of them at once took 0.7 GB more)."""
    from mlflow_tflite.train.fit import EVAL_BATCH, EVAL_INPUT_BYTES, eval_batch

    assert eval_batch(np.zeros((300, 28, 28, 1), np.float32)) == EVAL_BATCH == 256
    assert eval_batch(np.zeros((100, 224, 224, 3), np.float32)) == 13
    assert eval_batch(np.zeros((4, 160, 160, 3), np.uint8)) == 109  # 76.8 KB an image
    two_inputs = {"image": np.zeros((4, 224, 224, 3), np.float32), "meta": np.zeros((4, 8))}
    assert eval_batch(two_inputs) == EVAL_INPUT_BYTES // (224 * 224 * 3 * 4 + 8 * 8)
