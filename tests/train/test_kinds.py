"""Baseline kinds told apart from the file, and what each supports, before any work."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlflow_tflite.config import parse_params
from mlflow_tflite.train.kinds import KERAS3, SAVED_MODEL, TF_KERAS, TFLITE, baseline_kind
from mlflow_tflite.train.support import applicable_variants, skipped_variants, support_problem
from tests.helpers import keras3_classifier, landmark_tflite, tiny_cnn, two_head_saved_model


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("kinds")
    model = tiny_cnn()
    model.save(root / "tf_keras.keras")
    model.save(root / "tf_keras_saved_model")  # a SavedModel with keras_metadata.pb
    (root / "fake.tflite").write_bytes(b"not a flatbuffer at all")
    return {
        TF_KERAS: str(root / "tf_keras.keras"),
        "tf_keras_saved_model": str(root / "tf_keras_saved_model"),
        SAVED_MODEL: str(two_head_saved_model(root / "two_heads")),
        KERAS3: str(keras3_classifier(root / "keras3.keras")),
        TFLITE: str(landmark_tflite(root / "landmarks.tflite")),
        "fake": str(root / "fake.tflite"),
    }


def test_the_saved_keras_version_tells_a_keras3_file_from_a_tf_keras_one(files):
    assert baseline_kind(files[TF_KERAS]) == TF_KERAS
    assert baseline_kind(files[KERAS3]) == KERAS3
    assert baseline_kind(files[TFLITE]) == TFLITE
    assert baseline_kind("builtin") == TF_KERAS
    assert baseline_kind("tests.train.builders:small_model") == TF_KERAS


def test_a_saved_model_tf_keras_did_not_write_is_told_apart_without_tensorflow(files):
    import subprocess
    import sys

    assert baseline_kind(files["tf_keras_saved_model"]) == TF_KERAS
    script = ("import sys; from mlflow_tflite.train.kinds import baseline_kind; "
              f"print(baseline_kind({files[SAVED_MODEL]!r}), 'tensorflow' in sys.modules)")
    found = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                           check=True)
    assert found.stdout.split() == [SAVED_MODEL, "False"]


def test_a_tflite_path_that_is_no_flatbuffer_is_refused(files):
    with pytest.raises(ValueError, match="not a TFLite flatbuffer"):
        baseline_kind(files["fake"])


def _params(model: str, *variants: dict, **sections: dict):
    return parse_params({"train": {"model": model, "epochs": 0}, **sections,
                         "variants": list(variants)})


@pytest.mark.parametrize(
    ("kind", "variant", "expected"),
    [
        (TFLITE, {"name": "p", "compress": {"prune": {}}},
         "pruning needs a tf_keras model; train.model is a .tflite file"),
        # A Keras 3 model takes them through its tf_keras twin (checked once trained).
        (KERAS3, {"name": "q", "compress": {"qat": {}}, "convert": {"quantization": "int8"}},
         None),
        (KERAS3, {"name": "c", "compress": {"cluster": {}}}, None),
        (TFLITE, {"name": "i8", "convert": {"quantization": "int8"}},
         "int8 needs a Keras model (the TFLite converter); train.model is a .tflite file"),
        (TFLITE, {"name": "f16", "convert": {"quantization": "float16"}},
         "float16 needs a Keras model"),
        (KERAS3, {"name": "i8", "convert": {"quantization": "int8"}}, None),
        (KERAS3, {"name": "f16", "convert": {"quantization": "int16x8"}}, None),
        (TFLITE, {"name": "same", "convert": {"quantization": "none"}}, None),
        (TF_KERAS, {"name": "pq", "compress": {"prune": {}, "qat": {}},
                    "convert": {"quantization": "int8"}}, None),
        (SAVED_MODEL, {"name": "c", "compress": {"cluster": {}}},
         "clustering needs a tf_keras model; train.model is a TensorFlow SavedModel"),
        (SAVED_MODEL, {"name": "i16", "convert": {"quantization": "int16x8"}}, None),
        (SAVED_MODEL, {"name": "i4", "convert": {"quantization": "int4_weight_only"}}, None),
    ],
)
def test_a_variant_the_baseline_kind_cannot_take_is_skipped_with_its_reason(
    files, kind: str, variant: dict, expected: str | None
):
    params = _params(files[kind], {"name": "fp32"}, variant)
    assert support_problem(params) is None  # fp32 applies: the run goes ahead
    skipped = skipped_variants(params)
    if expected is None:
        assert skipped == {}
        assert [v.name for v in applicable_variants(params)] == ["fp32", variant["name"]]
    else:
        assert list(skipped) == [variant["name"]]
        assert skipped[variant["name"]].startswith(expected)
        assert [v.name for v in applicable_variants(params)] == ["fp32"]


def test_only_a_run_where_no_variant_applies_is_refused(files):
    params = _params(files[TFLITE], {"name": "pruned", "compress": {"prune": {}}},
                     {"name": "i8", "convert": {"quantization": "int8"}})
    assert support_problem(params) == (
        "variants: none applies to train.model (a .tflite file), nothing to build (pruned: "
        "pruning needs a tf_keras model; train.model is a .tflite file; i8: int8 needs a "
        "Keras model (the TFLite converter); train.model is a .tflite file: use none or an "
        "ai-edge-quantizer scheme)")


@pytest.mark.parametrize(
    ("kind", "train", "expected"),
    [
        (TF_KERAS, {"epochs": 0}, None),  # a tf_keras file used as is: shaped from its input
        (TF_KERAS, {"epochs": 1}, "train.epochs: 1 trains a tf_keras model on labelled data; "
                                  "data.source is synthetic (set train.epochs: 0)"),
        ("builtin", {"epochs": 0}, "train.model: data.source: synthetic shapes its inputs as "
                                   "a model file's"),
        (KERAS3, {"epochs": 2}, "train.epochs: 2 trains a Keras 3 .keras file on labelled "
                                "data; data.source is synthetic (set train.epochs: 0)"),
        (KERAS3, {"epochs": 0}, None),
        (TFLITE, {"epochs": 3}, None),  # nothing trains a .tflite: epochs does not apply
        (SAVED_MODEL, {"epochs": 3}, None),  # nor a generic SavedModel
    ],
)
def test_synthetic_data_is_for_baselines_that_need_no_labels(
    files, kind: str, train: dict, expected: str | None
):
    params = parse_params({"data": {"source": "synthetic"},
                           "train": {"model": files.get(kind, kind), **train},
                           "variants": [{"name": "fp32"}]})
    problem = support_problem(params)
    assert (problem is None) if expected is None else problem.startswith(expected)


def test_a_refusal_stops_the_run_command_before_any_data_or_mlflow_run(
    files, tracking_uri: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    import mlflow
    import yaml

    from mlflow_tflite.cli import main

    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({
        "data": {"source": "digits"}, "train": {"model": files[TFLITE]},
        "variants": [{"name": "pruned", "compress": {"prune": {}}}],
    }))
    assert main(["run", "--params", str(params)]) == 1
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line == (f"mlflow-tflite run: error: {params}: variants: none applies to "
                    "train.model (a .tflite file), nothing to build (pruned: pruning needs a "
                    "tf_keras model; train.model is a .tflite file)")
    assert mlflow.search_runs(search_all_experiments=True, output_format="list") == []
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize(
    ("kind", "accuracy", "reused", "trained", "line"),
    [
        (TF_KERAS, 0.961, False, True, "Keras test accuracy 0.9610 (trained)"),
        (TF_KERAS, None, False, False, "tf_keras model, no accuracy (outputs are not class "
                                       "scores of labelled data): variants are judged by "
                                       "fidelity to the float model (used as is)"),
        (KERAS3, 0.9583, False, False, "Keras 3 model, test accuracy 0.9583 (used as is)"),
        (TFLITE, None, True, False, ".tflite file, no accuracy (outputs are not class scores "
                                    "of labelled data): variants are judged by fidelity to "
                                    "the float model (reused)"),
    ],
)
def test_the_flow_log_says_what_the_baseline_is_and_how_it_is_judged(
    kind, accuracy, reused, trained, line
):
    from mlflow_tflite.train.kinds import describe_baseline

    assert describe_baseline(kind, accuracy, reused, trained) == line
