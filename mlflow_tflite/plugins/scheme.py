"""The quantization schemes: one module per scheme, found by walking
`mlflow_tflite.convert.schemes`.

Each module in that package defines `SCHEME`, a `Scheme` holding the scheme's name, the
engine that applies it, the `convert.*` keys only it reads (`options`), how it is applied
and how a converted model is recognised as its output. The config validator
(`ConvertConfig.quantization`), the flavor (`infer_quantization`, the MLmodel section)
and the search space all read `scheme_names()` / `get_scheme()`, so a new scheme is one
new file there and nothing else. Modules are imported on the first lookup and must not
import TensorFlow or ai-edge-quantizer at module level (`mlflow-tflite --help` stays fast).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from mlflow_tflite._discovery import Registry

if TYPE_CHECKING:
    from mlflow_tflite.section import Section

# An ai-edge-quantizer recipe: the JSON `Quantizer.load_quantization_recipe` reads.
Recipe = list[dict[str, Any]]

Engine = Literal["converter", "ai_edge_quantizer"]
CONVERTER: Engine = "converter"
AI_EDGE_QUANTIZER: Engine = "ai_edge_quantizer"


class UnknownSchemeError(ValueError):
    """A quantization name no scheme module defines; the message lists the known ones."""


@dataclass(frozen=True)
class Scheme:
    """One quantization scheme.

    Attributes:
        name: the `convert.quantization` value and the run's `quantization` tag.
        engine: `converter` (TFLiteConverter settings on the Keras model) or
            `ai_edge_quantizer` (a recipe applied to the float `.tflite`).
        summary: one line for docs and listings.
        recognise: whether a converted model's facts (`convert.facts.ModelFacts`) are
            this scheme's output; the schemes' rules are mutually exclusive (see
            `infer_quantization`).
        configure: converter engine: `(converter, tf, cfg, representative) -> None` sets
            the converter up.
        recipe: ai-edge-quantizer engine: `cfg -> Recipe`, plain JSON, no import of the
            quantizer (so it is recorded and validated before any work).
        options: a `Section` of the `convert.*` keys only this scheme reads (e.g.
            `block_size`); each is an error on another scheme unless left at its default.
        needs_representative: calibrates activation ranges, so needs sample inputs.
        denylist: converter engine: ops can be left in float through the
            QuantizationDebugger's `denylisted_nodes` (`convert.keep_float`); the
            quantizer engine always can (a `no_quantize` recipe entry).
        selected_by: a `convert.*` key whose presence alone selects this scheme.
    """

    name: str
    engine: Engine
    summary: str
    recognise: Callable[[Any], bool]
    configure: Callable[[Any, Any, Any, Any], None] | None = None
    recipe: Callable[[Any], Recipe] | None = None
    options: type[Section] | None = None
    needs_representative: bool = False
    denylist: bool = False
    selected_by: str | None = None

    @property
    def needs_keras_model(self) -> bool:
        """The converter engine starts from a Keras model; the quantizer from a `.tflite`."""
        return self.engine == CONVERTER

    @property
    def keeps_float(self) -> bool:
        """Whether `convert.keep_float` / `auto_keep_float` work with this scheme."""
        return self.engine == AI_EDGE_QUANTIZER or self.denylist

    @property
    def config_keys(self) -> tuple[str, ...]:
        """The `convert.*` keys only this scheme reads."""
        return tuple(self.options.model_fields) if self.options else ()


def _sort_key(scheme: Scheme) -> tuple[bool, bool, str]:
    # `none` (the default) first, then the converter's, then the quantizer's, by name.
    return (scheme.name != "none", scheme.engine != CONVERTER, scheme.name)


_SCHEMES = Registry(
    "mlflow_tflite.convert.schemes", "SCHEME", Scheme, order=_sort_key, noun="quantization",
    error=UnknownSchemeError,
)


# Every scheme and every `convert.quantization` value, `none` first, then the converter's,
# then the quantizer's; one by name (UnknownSchemeError listing the known ones).
all_schemes = _SCHEMES.all
scheme_names = _SCHEMES.names
get_scheme = _SCHEMES.get
