"""The `train` section: the Keras baseline."""

from __future__ import annotations

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
    seed: int = Field(42, ge=0)
