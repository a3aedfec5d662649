"""The `train` section: the Keras baseline."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from mlflow_tflite.section import Section


class TrainConfig(Section):
    """Baseline model and its training."""

    model: str = Field(
        "builtin",
        description="`builtin` (a CNN sized from the data), a `.keras`/SavedModel path, "
        "or a `module:function` builder taking (input_shape, num_classes).",
        min_length=1,
    )
    epochs: int = Field(3, ge=0)
    batch_size: int = Field(64, ge=1)
    learning_rate: float = Field(1e-3, gt=0.0)
    lr_schedule: Literal["constant", "cosine"] = Field(
        "constant",
        description="`cosine` decays the learning rate to zero over the epochs: a model "
        "that overfits a small dataset then ends on a settled epoch, not a noisy one, "
        "which is what its compressed variants are compared with.",
    )
    seed: int = Field(42, ge=0)
    trust_model_code: bool = Field(
        False,
        description="Load model files in Keras safe mode unless true: a Lambda layer's "
        "Python code runs on loading, so set it only for a model you wrote or trust.",
    )
