"""The `variants` section: compression steps and conversion recipe per variant.

Technique blocks are combinable: `prune`, `cluster` and `qat` together make PCQAT.
They are applied in the fixed order prune -> cluster -> qat, which is the only order
tfmot's collaborative optimizations support.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from mlflow_tflite.config.base import Section

QUANTIZATIONS = ("none", "dynamic", "float16", "int8", "int16x8")
TECHNIQUE_ORDER = ("prune", "cluster", "qat")


class PruneConfig(Section):
    """Magnitude pruning (tfmot `prune_low_magnitude`)."""

    schedule: Literal["constant", "polynomial"] = "polynomial"
    initial_sparsity: float = Field(0.0, ge=0.0, lt=1.0)
    final_sparsity: float = Field(0.5, ge=0.0, lt=1.0)
    m_by_n: tuple[int, int] | None = Field(
        None, description="Structured sparsity, e.g. [2, 4] keeps 2 of every 4 weights."
    )
    epochs: int = Field(1, ge=1, description="Fine-tuning epochs while pruning.")

    @model_validator(mode="after")
    def _consistent(self) -> PruneConfig:
        if self.initial_sparsity > self.final_sparsity:
            raise ValueError(
                f"initial_sparsity ({self.initial_sparsity}) must be <= "
                f"final_sparsity ({self.final_sparsity})"
            )
        if self.m_by_n is not None:
            m, n = self.m_by_n
            if not 0 < m < n:
                raise ValueError(f"m_by_n must satisfy 0 < m < n (got [{m}, {n}])")
        return self


class ClusterConfig(Section):
    """Weight clustering (tfmot `cluster_weights`)."""

    clusters: int = Field(16, ge=2, le=256)
    init: Literal["linear", "kmeans++", "density", "random"] = "kmeans++"
    preserve_sparsity: bool = Field(
        False, description="Keep zeros of an earlier prune step (sparsity-preserving clustering)."
    )
    epochs: int = Field(1, ge=1)
    learning_rate: float = Field(1e-4, gt=0.0)


class QatConfig(Section):
    """Quantization-aware training (tfmot `quantize_model`, preserving schemes if combined)."""

    epochs: int = Field(1, ge=1)
    learning_rate: float = Field(1e-4, gt=0.0)


class CompressConfig(Section):
    """Compression steps of one variant; any combination of the three."""

    prune: PruneConfig | None = None
    cluster: ClusterConfig | None = None
    qat: QatConfig | None = None

    @property
    def steps(self) -> list[str]:
        """Technique names in the order they are applied."""
        return [name for name in TECHNIQUE_ORDER if getattr(self, name) is not None]

    @property
    def technique(self) -> str:
        """The `technique` tag: steps joined by `+`, or `none`."""
        return "+".join(self.steps) or "none"


class ConvertConfig(Section):
    """TFLiteConverter recipe."""

    quantization: Literal["none", "dynamic", "float16", "int8", "int16x8"] = "none"
    io_type: Literal["float32", "int8", "uint8"] = Field(
        "float32", description="Input/output type of an int8 model."
    )
    representative_samples: int = Field(100, ge=1, le=10_000)
    sparsity_optimization: bool = Field(
        True, description="Ask the converter to encode sparse weights (pruned variants)."
    )

    @model_validator(mode="after")
    def _io_type_needs_int8(self) -> ConvertConfig:
        if self.io_type != "float32" and self.quantization != "int8":
            raise ValueError(
                f"io_type {self.io_type} needs quantization int8 (got {self.quantization})"
            )
        return self


_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class VariantConfig(Section):
    """One compressed and converted variant of the baseline."""

    name: str
    compress: CompressConfig = CompressConfig()
    convert: ConvertConfig = ConvertConfig()

    @field_validator("name")
    @classmethod
    def _name_is_a_slug(cls, name: str) -> str:
        if not _NAME.match(name):
            raise ValueError(f"name must be letters, digits, '.', '_' or '-' (got {name!r})")
        return name

    @model_validator(mode="after")
    def _qat_converts_to_int8(self) -> VariantConfig:
        # The converter turns QAT's fake-quant ranges into int8 kernels whatever the recipe
        # (dynamic/float16 would be mislabelled, none bloats the model, int16x8 fails).
        if self.compress.qat is not None and self.convert.quantization != "int8":
            raise ValueError(
                f"compress.qat needs convert.quantization int8 (got {self.convert.quantization})"
            )
        return self

    @property
    def technique(self) -> str:
        return self.compress.technique
