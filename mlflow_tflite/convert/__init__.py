"""Keras model (or float `.tflite`) -> `.tflite` with one of the quantization schemes.

The schemes live in `mlflow_tflite.convert.schemes`, one module each. A `converter`
scheme sets up TFLiteConverter on the Keras model; an `ai_edge_quantizer` scheme converts
the model to float first and applies its recipe to that `.tflite`. `convert.keep_float`
is resolved against the float model's ops before any quantization work. Nothing here
imports `mlflow_tflite.config` at module level: the config validator reads the scheme
registry, which is a sub-package of this one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mlflow_tflite.convert.converter import ConversionError, run_converter
from mlflow_tflite.convert.quantizer import Recipe
from mlflow_tflite.convert.representative import representative_dataset
from mlflow_tflite.convert.sources import ModelSource, is_flatbuffer
from mlflow_tflite.errors import first_line
from mlflow_tflite.plugins.scheme import AI_EDGE_QUANTIZER, get_scheme, scheme_names

if TYPE_CHECKING:
    from mlflow_tflite.config.variants import ConvertConfig
    from mlflow_tflite.convert.facts import ModelOp

__all__ = ["Conversion", "ConversionError", "convert_model", "convert_variant", "scheme_names"]


@dataclass(frozen=True)
class Conversion:
    """A converted variant and how it was made.

    Attributes:
        flatbuffer: the `.tflite` bytes.
        quantization: the scheme name.
        recipe: the ai-edge-quantizer recipe applied (None for converter schemes).
        keep_float: the `convert.keep_float` regexes as configured.
        float_ops: scopes of the ops left in float (configured and auto-chosen).
        auto_kept: scopes `convert.auto_keep_float` chose, most sensitive first.
        keep_float_size_bytes: bytes the float ops cost over quantizing them too.
        quantized_weights: ai-edge-quantizer schemes: (weight tensors quantized, float
            weight tensors of the float model).
        normalised: what `flatbuffer.normalise` changed in the float model before
            quantizing (`opcodes`, `float16_weights`), when it changed anything.
    """

    flatbuffer: bytes
    quantization: str
    recipe: Recipe | None = None
    keep_float: list[str] = field(default_factory=list)
    float_ops: list[str] = field(default_factory=list)
    auto_kept: list[str] = field(default_factory=list)
    keep_float_size_bytes: int = 0
    quantized_weights: tuple[int, int] | None = None
    normalised: dict[str, int] = field(default_factory=dict)

    def metadata(self) -> dict[str, Any]:
        """What the MLmodel `tflite` section and the build store record (JSON)."""
        data: dict[str, Any] = {"quantization": self.quantization}
        if self.recipe is not None:
            data["recipe"] = self.recipe
        if self.quantized_weights is not None:
            data["quantized_weights"] = list(self.quantized_weights)
        if self.normalised:
            data["normalised"] = self.normalised
        if self.float_ops:
            data["keep_float"] = {
                "regexes": self.keep_float,
                "ops": self.float_ops,
                "auto": self.auto_kept,
                "size_bytes": self.keep_float_size_bytes,
            }
        return data


def _float(model: Any, cfg: ConvertConfig) -> bytes:
    """The float `.tflite` the quantizer starts from and `keep_float` is resolved on."""
    return run_converter(model, get_scheme("none"), cfg, None)


def convert_model(
    model: Any,
    cfg: ConvertConfig,
    representative: Any,
    *,
    sparse: bool = False,
) -> bytes:
    """Convert a model to a TFLite flatbuffer; `convert_variant(...).flatbuffer`.

    Example:
        >>> flatbuffer = convert_model(model, ConvertConfig(quantization="int8"), x_train)
    """
    return convert_variant(model, cfg, representative, sparse=sparse).flatbuffer


def convert_variant(
    model: ModelSource,
    cfg: ConvertConfig,
    representative: Any = None,
    *,
    sparse: bool = False,
) -> Conversion:
    """Convert and quantize one variant.

    Args:
        model: a tf_keras model (plain, stripped, or quantize-wrapped after QAT), the path
            of a SavedModel directory (a Keras 3 baseline's export), or a float `.tflite`
            as bytes (`none`, which is those bytes, and the ai-edge-quantizer schemes).
        cfg: the variant's `convert` block.
        representative: sample inputs: a `Dataset` (its training split calibrates; its
            validation split scores `auto_keep_float`), one array of inputs, or one array
            per model input; up to `cfg.representative_samples` evenly spaced samples
            calibrate activations (int8, int16x8, and user recipes with static ranges).
        sparse: add `tf.lite.Optimize.EXPERIMENTAL_SPARSITY` so pruned weights are stored
            in a sparse format (converter schemes; pruned variants).

    Returns:
        The flatbuffer and how it was made.

    An ai-edge-quantizer scheme starts from the float model as `flatbuffer.normalise`
    leaves it (op codes in `builtin_code`, float16-stored weights as float32), and must
    quantize at least one of its weight tensors.

    Raises:
        ConversionError: missing samples, a `keep_float` regex that selects no op (raised
            after the float conversion, before any quantization), a failing engine, or an
            ai-edge-quantizer scheme that quantized no weight tensor.
    """
    from mlflow_tflite.convert import flatbuffer, quantizer, selective

    scheme = get_scheme(cfg.quantization)
    is_tflite = is_flatbuffer(model)
    if is_tflite and scheme.name == "none":
        return Conversion(flatbuffer=bytes(model), quantization=scheme.name)
    if is_tflite and scheme.needs_keras_model:
        raise ConversionError(
            f"quantization {scheme.name} needs a Keras model; a .tflite baseline takes none "
            "(the file itself) or the ai_edge_quantizer schemes"
        )
    samples = getattr(representative, "x_train", representative)
    if scheme.needs_representative and samples is None:
        raise ConversionError(f"quantization {scheme.name} needs representative samples (got none)")
    data = None
    if samples is not None:
        try:
            data = representative_dataset(samples, cfg.representative_samples)
        except ValueError as error:
            raise ConversionError(str(error)) from error
    selecting = bool(cfg.keep_float or cfg.auto_keep_float)
    float_model = None
    normalised = flatbuffer.Normalised(b"")
    if scheme.engine == AI_EDGE_QUANTIZER or selecting:
        normalised = flatbuffer.normalise(bytes(model) if is_tflite else _float(model, cfg))
        float_model = normalised.flatbuffer
    kept: list[ModelOp] = []
    if cfg.keep_float:
        from mlflow_tflite.convert.facts import model_ops

        try:
            kept = selective.resolve(list(cfg.keep_float), model_ops(float_model))
        except selective.KeepFloatError as error:
            raise ConversionError(str(error)) from None

    def quantize(float_ops: list[ModelOp]) -> tuple[bytes, Recipe | None]:
        if scheme.engine != AI_EDGE_QUANTIZER:
            nodes = selective.float_nodes(float_ops)
            return run_converter(model, scheme, cfg, data, sparse=sparse, float_nodes=nodes), None
        recipe = scheme.recipe(cfg) + quantizer.keep_float_entries(
            [selective.recipe_regex(op) for op in float_ops]
        )
        try:
            return quantizer.quantize(float_model, recipe, data), recipe
        except Exception as error:
            raise ConversionError(
                f"{scheme.name} quantization failed: {first_line(error)}"
            ) from error

    quantized, recipe = quantize(kept)
    counted = None
    if scheme.engine == AI_EDGE_QUANTIZER:
        counted = _check_quantized(scheme.name, float_model, quantized, bool(kept))
    auto: list[ModelOp] = []
    if cfg.auto_keep_float is not None:
        from mlflow_tflite.convert.auto_keep import auto_keep_float

        quantized, recipe, auto = auto_keep_float(
            quantize, float_model, quantized, recipe, kept, cfg.auto_keep_float, representative
        )
        if counted is not None:
            counted = flatbuffer.quantized_weights(float_model, quantized)
    size_cost = 0
    if kept or auto:
        size_cost = len(quantized) - len(quantize([])[0])
    return Conversion(
        flatbuffer=quantized,
        quantization=scheme.name,
        recipe=recipe,
        keep_float=list(cfg.keep_float),
        float_ops=[op.scope for op in kept + auto],
        auto_kept=[op.scope for op in auto],
        keep_float_size_bytes=size_cost,
        quantized_weights=counted,
        normalised={k: v for k, v in (("opcodes", normalised.opcodes),
                                      ("float16_weights", normalised.expanded)) if v},
    )


def _check_quantized(
    name: str, float_model: bytes, quantized: bytes, kept: bool
) -> tuple[int, int]:
    """(weights quantized, float weights): a scheme that quantized none is an error, so a
    model the quantizer returned unchanged is never reported as a variant."""
    from mlflow_tflite.convert.flatbuffer import describe_weights, quantized_weights

    done, total = quantized_weights(float_model, quantized)
    if done:
        return done, total
    why = ("the float model has no float32 weight tensor (of 2 or more dimensions)"
           if not total else "ai-edge-quantizer left every one in float"
           + (" (with convert.keep_float)" if kept else "")
           + f"; the model holds {describe_weights(float_model)}")
    raise ConversionError(f"{name} quantized 0 of {total} weight tensors: {why}")
