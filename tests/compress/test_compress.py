"""compress_model: fresh copies, the registry, errors."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from mlflow_tflite.compress import CompressionError, compress_model, technique, technique_names
from mlflow_tflite.config.variants import CompressConfig
from tests.variant_helpers import TRAIN, weights_of


def test_every_configurable_technique_is_registered() -> None:
    assert technique_names() == ("prune", "cluster", "qat")
    assert tuple(CompressConfig.model_fields) == technique_names()
    for name in technique_names():
        assert callable(technique(name))


def test_an_unknown_technique_names_the_known_ones() -> None:
    with pytest.raises(
        CompressionError, match="unknown technique 'distill'; expected one of prune"
    ):
        technique("distill")


def test_compressing_twice_leaves_the_baseline_untouched(baseline: Any, dataset: Any) -> None:
    before = weights_of(baseline)
    cfg = CompressConfig(prune={"final_sparsity": 0.5})
    first = compress_model(baseline, cfg, dataset, TRAIN, log=lambda line: None)
    second = compress_model(baseline, cfg, dataset, TRAIN, log=lambda line: None)
    for old, new in zip(before, baseline.get_weights(), strict=True):
        np.testing.assert_array_equal(old, new)
    assert first is not baseline and second is not first
    # Seeded: the same config on the same baseline gives the same weights.
    for a, b in zip(first.get_weights(), second.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6)


def test_no_steps_gives_a_plain_copy(baseline: Any, dataset: Any) -> None:
    copy = compress_model(baseline, CompressConfig(), dataset, TRAIN, log=lambda line: None)
    assert copy is not baseline
    for a, b in zip(copy.get_weights(), baseline.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_subclassed_model_is_refused_with_the_reason(dataset: Any) -> None:
    from mlflow_tflite._tf import import_keras

    keras = import_keras()

    class Net(keras.Model):
        def __init__(self) -> None:
            super().__init__()
            self.flat = keras.layers.Flatten()
            self.out = keras.layers.Dense(10)

        def call(self, x: Any) -> Any:
            return self.out(self.flat(x))

    model = Net()
    model(dataset.x_train[:1])
    with pytest.raises((CompressionError, ValueError)):
        compress_model(model, CompressConfig(prune={}), dataset, TRAIN, log=lambda line: None)


def _architecture_example() -> Any:
    """The technique `docs/architecture.md` shows, as the module a user would write."""
    import re
    import types
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "docs" / "architecture.md").read_text()
    [code] = [block for block in re.findall(r"```python\n(.*?)```", text, re.S)
              if "TECHNIQUE = Technique(" in block]
    module = types.ModuleType("weight_clip")
    exec(compile(code, "docs/architecture.md", "exec"), module.__dict__)
    return module.TECHNIQUE


def _keras_model(kind: str) -> Any:
    from mlflow_tflite._tf import import_keras
    from mlflow_tflite.train.keras3 import import_keras3
    from mlflow_tflite.train.kinds import KERAS3, TF_KERAS

    keras = {TF_KERAS: import_keras, KERAS3: import_keras3}[kind]()
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), keras.layers.Dense(2)])
    model.set_weights([np.full(w.shape, 2.0, dtype="float32") for w in model.get_weights()])
    return model


def test_the_architecture_example_runs_on_every_baseline_kind_it_claims() -> None:
    from mlflow_tflite.train.kinds import KINDS, NEEDS_KINDS, TF_KERAS

    example = _architecture_example()
    assert example.needs == "keras" and example.noun == "weight_clip"
    claimed = NEEDS_KINDS[example.needs]
    assert TF_KERAS in claimed and set(claimed) <= set(KINDS)
    for kind in claimed:
        model = example.apply(_keras_model(kind), example.config(limit=0.5), None)
        assert all(np.max(np.abs(w)) == 0.5 for w in model.get_weights()), kind


def test_the_kind_check_reads_what_each_technique_needs() -> None:
    from mlflow_tflite.plugins.technique import all_techniques
    from mlflow_tflite.train.kinds import KINDS, NEEDS_DESCRIPTIONS, NEEDS_KINDS, technique_refusal

    for declared in all_techniques():
        assert declared.needs == "tf_keras", declared.name  # TFMOT's
        for kind in KINDS:
            refusal = technique_refusal(kind, declared.name)
            assert (refusal is None) == (kind in NEEDS_KINDS[declared.needs])
            if refusal is not None:
                assert refusal.startswith(f"{declared.noun} needs "
                                          f"{NEEDS_DESCRIPTIONS[declared.needs]};")


@pytest.mark.parametrize(("variant", "problem"), [
    ({"compress": {"qat": {}}, "convert": {"quantization": "dynamic"}},
     "compress.qat needs convert.quantization int8 (got dynamic)"),
    ({"compress": {"prune": {}, "cluster": {"preserve_sparsity": False}}},
     "cluster.preserve_sparsity is false after a prune step; clustering would undo the "
     "pruning (remove the key or set it to true)"),
])
def test_a_variant_is_validated_by_the_rules_its_techniques_declare(variant: dict,
                                                                    problem: str) -> None:
    from pydantic import ValidationError

    from mlflow_tflite.config.variants import VariantConfig

    with pytest.raises(ValidationError) as raised:
        VariantConfig(name="v", **variant)
    assert problem in str(raised.value)
