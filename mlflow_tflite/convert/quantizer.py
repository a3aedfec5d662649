"""ai-edge-quantizer: recipes (plain JSON) and applying one to a float `.tflite`.

Recipes are built here as the JSON ai-edge-quantizer reads (`Quantizer.load_quantization_
recipe`), without importing it, so a variant's recipe is known, recorded and validated
before any work; the quantizer itself is imported only to quantize.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mlflow_tflite.convert.representative import Representative
from mlflow_tflite.errors import first_line
from mlflow_tflite.plugins.scheme import Recipe

# An ai-edge-quantizer recipe: a list of JSON objects (regex, operation, algorithm_key, ...).
NO_QUANTIZE = "no_quantize"
MIN_MAX = "min_max_uniform_quantize"
# Block sizes ai-edge-quantizer supports (qtyping.QuantGranularity.BLOCKWISE_<n>).
BLOCK_SIZES = (32, 64, 128, 256)


class RecipeError(ValueError):
    """A recipe file that is not an ai-edge-quantizer recipe; the message is one line."""


def weight_recipe(bits: int, *, dynamic: bool, granularity: str = "CHANNELWISE") -> Recipe:
    """Every supported op with `bits`-bit symmetric integer weights.

    Args:
        bits: 4 or 8.
        dynamic: activations are quantized on the fly and the op computes in integers;
            else the weights are dequantized before a float op (weight-only).
        granularity: `CHANNELWISE` or `BLOCKWISE_<n>`.

    Returns:
        A one-entry recipe, as `ai_edge_quantizer.recipe.weight_only_wi4_afp32()` and
        friends build it.
    """
    return [
        {
            "regex": ".*",
            "operation": "*",
            "algorithm_key": MIN_MAX,
            "op_config": {
                "weight_tensor_config": {
                    "num_bits": bits,
                    "symmetric": True,
                    "granularity": granularity,
                    "dtype": "INT",
                },
                "compute_precision": "INTEGER" if dynamic else "FLOAT",
                "explicit_dequantize": not dynamic,
                "skip_checks": False,
                "min_weight_elements": 0,
            },
        }
    ]


def keep_float_entries(regexes: list[str]) -> Recipe:
    """Entries leaving the ops whose scope matches a regex in float (later entries win)."""
    return [{"regex": r, "operation": "*", "algorithm_key": NO_QUANTIZE} for r in regexes]


def read_recipe(path: str | Path) -> Recipe:
    """A user's recipe file, checked by ai-edge-quantizer's own recipe loader.

    Raises:
        RecipeError: missing file, not JSON, not a list of recipe entries, or an entry
            ai-edge-quantizer refuses (the message names the file and the entry).
    """
    path = Path(path)
    if not path.is_file():
        raise RecipeError(f"{path}: recipe file not found")
    try:
        recipe = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise RecipeError(f"{path}: not JSON ({error})") from None
    if not isinstance(recipe, list) or not recipe:
        raise RecipeError(f"{path}: expected a non-empty JSON list of recipe entries")
    for index, entry in enumerate(recipe):
        required = ("regex", "operation", "algorithm_key")
        if entry.get("algorithm_key") != NO_QUANTIZE:
            required += ("op_config",)
        missing = [k for k in required if not isinstance(entry, dict) or k not in entry]
        if missing:
            raise RecipeError(f"{path}: entry {index}: missing {', '.join(missing)}")
    from ai_edge_quantizer import recipe_manager

    try:
        recipe_manager.RecipeManager().load_quantization_recipe(recipe)
    except (KeyError, ValueError, TypeError, AttributeError) as error:
        raise RecipeError(
            f"{path}: ai-edge-quantizer refuses the recipe: {first_line(error)}"
        ) from None
    return recipe


def quantize(float_model: bytes, recipe: Recipe, samples: Representative | None = None) -> bytes:
    """Apply `recipe` to a float `.tflite` with ai-edge-quantizer.

    Args:
        float_model: the float flatbuffer.
        recipe: the recipe entries.
        samples: representative batches (`representative_dataset`) for recipes that
            calibrate activations (static int8/int16); unused otherwise.

    Returns:
        The quantized flatbuffer.

    Raises:
        ValueError: the recipe needs calibration and there are no samples.
    """
    from ai_edge_quantizer import quantizer

    from mlflow_tflite.convert.quiet import quiet

    with quiet():
        engine = quantizer.Quantizer(bytearray(float_model), recipe)
        calibration = None
        if engine.need_calibration:
            if samples is None:
                raise ValueError("the recipe calibrates activations and needs sample inputs")
            calibration = engine.calibrate(_calibration_data(float_model, samples))
        result = engine.quantize(calibration, enable_progress_bar=False,
                                 enable_progress_report=False)
    return bytes(result.quantized_model)


def _calibration_data(
    float_model: bytes, samples: Representative
) -> dict[str, list[dict[str, Any]]]:
    """Per signature, one dict of named inputs per representative batch."""
    from mlflow_tflite.litert import make_interpreter

    interpreter = make_interpreter(float_model, delegate="builtin")
    batches = list(samples())
    position = {d["index"]: i for i, d in enumerate(interpreter.get_input_details())}
    data = {}
    for key in interpreter.get_signature_list():
        details = interpreter.get_signature_runner(key).get_input_details()
        # Samples come in the model's input order; signatures list inputs by name.
        names = sorted(details, key=lambda n: position[details[n]["index"]])
        data[key] = [dict(zip(names, batch, strict=True)) for batch in batches]
    return data
