"""The `variants` section: compression steps and conversion scheme per variant.

Both blocks are built from the registries, so each technique and each scheme is defined
once, in its own module: `CompressConfig` has one optional block per technique of
`mlflow_tflite.plugins.technique` (applied in the techniques' order, prune -> cluster ->
qat, the only order tfmot's collaborative optimizations support), and `ConvertConfig`
takes `quantization` from `mlflow_tflite.plugins.scheme.scheme_names()` plus the
`convert.*` keys each scheme declares in its `options`.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, ValidationError, create_model, field_validator, model_validator

from mlflow_tflite.plugins.scheme import all_schemes, get_scheme, scheme_names
from mlflow_tflite.plugins.technique import all_techniques, get_technique, technique_names
from mlflow_tflite.section import Regex, Section


class _CompressBlocks(Section):
    """Compression steps of one variant; any combination of the techniques."""

    @property
    def steps(self) -> list[str]:
        """Technique names in the order they are applied."""
        return [name for name in technique_names() if getattr(self, name) is not None]

    @property
    def technique(self) -> str:
        """The `technique` tag: steps joined by `+`, or `none`."""
        return "+".join(self.steps) or "none"


CompressConfig = create_model(
    "CompressConfig",
    __base__=_CompressBlocks,
    __doc__=_CompressBlocks.__doc__,
    __module__=__name__,
    **{t.name: (t.config | None, Field(None, description=t.summary)) for t in all_techniques()},
)


def _scheme_options() -> tuple[dict[str, Any], dict[str, tuple[str, ...]]]:
    """The `convert.*` fields the schemes declare, and which schemes read each key."""
    fields: dict[str, Any] = {}
    owners: dict[str, tuple[str, ...]] = {}
    for scheme in all_schemes():
        for key, info in scheme.options.model_fields.items() if scheme.options else ():
            fields.setdefault(key, (info.annotation, info))
            owners[key] = (*owners.get(key, ()), scheme.name)
    return fields, owners


_OPTION_FIELDS, _OPTION_OWNERS = _scheme_options()
# A key whose presence alone selects a scheme (e.g. `recipe`).
_SELECTING_KEYS = {s.selected_by: s.name for s in all_schemes() if s.selected_by}


def _first_error(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"])
    return f"{where}: {first['msg'].removeprefix('Value error, ')}"


class AutoKeepFloatConfig(Section):
    """Keep the most sensitive layers in float, one at a time, until the drop is small."""

    max_accuracy_drop: float = Field(
        0.01, ge=0.0, lt=1.0, description="Accuracy the quantized model may lose vs float."
    )
    max_layers: int = Field(4, ge=1, description="At most this many layers kept in float.")


class _ConvertSettings(Section):
    """Conversion of one variant: the quantization scheme and its settings."""

    # Narrowed to the registered names below; declared here to keep it the first key.
    quantization: str = "none"
    representative_samples: int = Field(100, ge=1, le=10_000)
    sparsity_optimization: bool = Field(
        True, description="Ask the converter to encode sparse weights (pruned variants)."
    )
    keep_float: list[Regex] = Field(
        default_factory=list,
        description="Regexes of ops (by output or weight tensor name) left in float.",
    )
    auto_keep_float: AutoKeepFloatConfig | None = None

    @model_validator(mode="before")
    @classmethod
    def _select_by_key(cls, data: Any) -> Any:
        if isinstance(data, dict) and "quantization" not in data:
            for key, scheme in _SELECTING_KEYS.items():
                if data.get(key) is not None:
                    return {**data, "quantization": scheme}
        return data

    @model_validator(mode="after")
    def _options_match_the_scheme(self) -> _ConvertSettings:
        for key, owners in _OPTION_OWNERS.items():
            value = getattr(self, key)
            if value != type(self).model_fields[key].default and self.quantization not in owners:
                raise ValueError(
                    f"{key} {value} needs quantization {' or '.join(owners)} "
                    f"(got {self.quantization})"
                )
        self._check_scheme_options()
        if self.keep_float or self.auto_keep_float:
            key = "keep_float" if self.keep_float else "auto_keep_float"
            if not get_scheme(self.quantization).keeps_float:
                able = ", ".join(s.name for s in all_schemes() if s.keeps_float)
                raise ValueError(f"{key} needs quantization {able} (got {self.quantization})")
            if getattr(self, "io_type", "float32") != "float32":
                raise ValueError(f"{key} needs io_type float32 (got {self.io_type})")
        return self

    def _check_scheme_options(self) -> None:
        """Run the chosen scheme's own validators (e.g. `recipe` reads the recipe file)."""
        scheme = get_scheme(self.quantization)
        if scheme.options is None:
            return
        try:
            scheme.options.model_validate({k: getattr(self, k) for k in scheme.config_keys})
        except ValidationError as error:
            raise ValueError(_first_error(error)) from None


ConvertConfig = create_model(
    "ConvertConfig",
    __base__=_ConvertSettings,
    __doc__=_ConvertSettings.__doc__,
    __module__=__name__,
    quantization=(
        Literal[scheme_names()],
        Field("none", description="The quantization scheme (mlflow_tflite.convert.schemes)."),
    ),
    **_OPTION_FIELDS,
)


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
    def _techniques_take_the_variant(self) -> VariantConfig:
        # Each step's own rules across the variant (`Technique.problem`): qat converts to
        # int8, cluster after prune preserves sparsity, ...
        for name in self.compress.steps:
            problem = get_technique(name).problem(getattr(self.compress, name),
                                                  self.compress, self.convert)
            if problem is not None:
                raise ValueError(problem)
        return self

    @property
    def technique(self) -> str:
        return self.compress.technique
