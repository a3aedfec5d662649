"""The whole params.yaml: one typed section per concern, validated before any work."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, field_validator, model_validator

from mlflow_tflite.config.benchmark import BenchmarkConfig
from mlflow_tflite.config.data import DataConfig
from mlflow_tflite.config.overrides import apply_overrides
from mlflow_tflite.config.promote import PromoteConfig
from mlflow_tflite.config.runner import RunnerConfig
from mlflow_tflite.config.search import SearchConfig
from mlflow_tflite.config.targets import (
    TargetEntry,
    check_targets,
    register_target_metrics,
    target_gates,
)
from mlflow_tflite.config.tracking import MlflowConfig
from mlflow_tflite.config.train import TrainConfig
from mlflow_tflite.config.variants import VariantConfig
from mlflow_tflite.config.yamlfile import Doubt, YamlError, boolean_doubts, key_path, load_yaml
from mlflow_tflite.section import Section


class ParamsError(ValueError):
    """A params file or override that does not validate; the message is one line."""


class Params(Section):
    """Everything `mlflow-tflite run` needs, from params.yaml."""

    data: DataConfig = DataConfig()
    train: TrainConfig = TrainConfig()
    variants: list[VariantConfig] = Field(default_factory=list, min_length=1)
    # Loaded before the params are validated (`parse_params`: `load_user_metrics`), so
    # `promote` and `search` may name the metrics the functions declare.
    evaluate: list[str] = Field(
        default_factory=list,
        description="Your own metrics per variant: built-ins (mae, rmse, top5_accuracy) or "
        "module:function (see mlflow_tflite.evaluate).",
    )
    benchmark: BenchmarkConfig = BenchmarkConfig()
    # Registered before the params are validated (`parse_params`:
    # `register_target_metrics`), so `promote` and `search` may name `<target>/<metric>`.
    targets: dict[str, TargetEntry] = Field(
        default_factory=dict,
        description="Where the model must run: {name: {kind: tflm | runtime | ssh, ...}}; "
        "each target's metrics are logged as <name>/<metric>.",
    )
    mlflow: MlflowConfig = MlflowConfig()
    promote: PromoteConfig = PromoteConfig()
    runner: RunnerConfig = RunnerConfig()
    search: SearchConfig = SearchConfig()

    @field_validator("evaluate", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("targets")
    @classmethod
    def _targets(cls, targets: dict[str, Any]) -> dict[str, Any]:
        return check_targets(targets)

    @model_validator(mode="after")
    def _target_gates(self) -> Params:
        # A target's own limits (`targets.app.max_min_runtime`) gate every promotion and
        # the search, as if each constraints block set `max_app/min_runtime`.
        gates = target_gates(self.targets)
        if gates:
            for section in ("promote", "search"):
                object.__setattr__(self, section, _with_gates(getattr(self, section), gates))
        return self

    @model_validator(mode="after")
    def _unique_variant_names(self) -> Params:
        seen: set[str] = set()
        for variant in self.variants:
            if variant.name in seen:
                raise ValueError(f"duplicate variant name {variant.name!r}")
            seen.add(variant.name)
        return self

    def variant(self, name: str) -> VariantConfig:
        """The variant called `name`."""
        for variant in self.variants:
            if variant.name == name:
                return variant
        raise KeyError(f"no variant named {name!r}")


def _with_gates(section: Any, gates: dict[str, float]) -> Any:
    """`section` (promote or search) with `gates` added to every constraints block."""

    def add(constraints: Any) -> Any:  # None: the block inherits one that has them
        if constraints is None:
            return None
        return constraints.model_copy(
            update={"metric_gates": {**constraints.metric_gates, **gates}})

    update: dict[str, Any] = {"constraints": add(section.constraints)}
    if getattr(section, "targets", None):
        update["targets"] = {
            name: target.model_copy(update={"constraints": add(target.constraints)})
            for name, target in section.targets.items()}
    return section.model_copy(update=update)


def format_validation_error(error: ValidationError, source: str = "params") -> str:
    """One line naming the first failing key path and what was expected."""
    first = error.errors()[0]
    # Pydantic puts the failing union/literal branch in loc; user paths are strings and indices.
    loc = tuple(p for p in first["loc"] if isinstance(p, int) or not str(p).startswith("function-"))
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        message = "unknown key"
    elif first["type"] == "literal_error":
        message = message.replace("Input should be", "expected")
    where = key_path(loc) or "(top level)"
    got = first.get("input")
    quiet = first["type"] in ("extra_forbidden", "missing") or isinstance(got, dict)
    suffix = "" if quiet else f" (got {got!r})"
    extra = f" (+{len(error.errors()) - 1} more)" if len(error.errors()) > 1 else ""
    return f"{source}: {where}: {message}{suffix}{extra}"


def load_user_metrics(raw: dict[str, Any], source: str = "params") -> None:
    """Load the `evaluate` functions a params mapping names, importing the user's modules,
    and register the metrics they declare in the catalogue (`evaluate.load_evaluators`),
    so the `promote` and `search` sections may rank and gate on them. The one step of
    reading params with a side effect, explicit and before validation; an entry that is
    not a string is left to the validation to report.

    Raises:
        ParamsError: an entry that names no built-in or cannot be imported, one line.
    """
    from mlflow_tflite.evaluate import EvaluateError, load_evaluators

    value = raw.get("evaluate")
    specs = [value] if isinstance(value, str) else value
    if not specs or not isinstance(specs, list) or not all(isinstance(s, str) for s in specs):
        return
    try:
        load_evaluators(specs)
    except EvaluateError as error:
        raise ParamsError(f"{source}: evaluate: {error} (got {value!r})") from None


def parse_params(raw: dict[str, Any], source: str = "params") -> Params:
    """Load the user's metrics (`load_user_metrics`), then validate a params mapping;
    raises ParamsError with a one-line message."""
    if isinstance(raw, dict):
        load_user_metrics(raw, source)
        register_target_metrics(raw)
    try:
        return Params.model_validate(raw)
    except ValidationError as error:
        raise ParamsError(format_validation_error(error, source)) from None


def read_params_file(path: str | Path) -> tuple[dict[str, Any], list[Doubt]]:
    """The mapping a params file holds, read strictly (`config.yamlfile`), and the booleans
    it spelled yes/no/on/off (for `boolean_doubts`).

    Raises:
        ParamsError: the file is missing, not YAML, not a mapping, or says something it
            does not look like; the message names the file and the key path or line.
    """
    path = Path(path)
    if not path.is_file():
        raise ParamsError(f"{path}: params file not found")
    try:
        raw, doubts = load_yaml(path.read_text())
    except YamlError as error:
        raise ParamsError(f"{path}: {error}") from None
    if raw is None:
        return {}, []
    if not isinstance(raw, dict):
        raise ParamsError(f"{path}: expected a mapping of sections at the top level")
    return raw, doubts


def load_params(path: str | Path = "params.yaml", overrides: list[str] | None = None) -> Params:
    """Read, override (`KEY=VALUE` dotted paths) and validate a params file.

    Raises:
        ParamsError: the file is missing or not YAML, says something it does not look
            like (`config.yamlfile`), an override is malformed, or a value is invalid;
            the message names the file and key path.
    """
    raw, doubts = read_params_file(path)
    try:
        raw = apply_overrides(raw, overrides or [], doubts)
    except ValueError as error:
        raise ParamsError(f"{path}: {error}") from None
    if (doubt := boolean_doubts(Params, doubts)) is not None:
        raise ParamsError(f"{path}: {doubt}")
    return parse_params(raw, source=str(path))
