"""`kind: runtime`: the LiteRT / TensorFlow Lite version an app bundles.

Each variant's minimum runtime version is read from the model: the converter writes it
as the `min_runtime_version` metadata (the newest release whose kernels cover every op
version the model uses). It is logged as tag `<target>/min_runtime` and as the metric
of the same name (a release as a number, shown as `2.14.0`), so
`targets.<name>.max_min_runtime: "2.10"` (or the constraint
`max_<name>/min_runtime`) keeps a variant an older app cannot load from being promoted.
Tag `<target>/min_runtime_reason` names the model's newest op version (`FULLY_CONNECTED
v12`), which a failed gate quotes. A model without the metadata (another converter's)
has no metric: a gate on it fails rather than promote what cannot be shown to load.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from mlflow_tflite.metrics import REASON_TAG_SUFFIX, Metric, version_number
from mlflow_tflite.plugins.target import TargetKind, TargetResult
from mlflow_tflite.section import Section

MIN_RUNTIME = Metric(name="min_runtime", higher_is_better=False, unit="version",
                     label="min runtime", card="minimum LiteRT/TFLite runtime", decimals=0)
METADATA_KEY = "min_runtime_version"


class RuntimeConfig(Section):
    """The LiteRT / TFLite runtime an app ships with."""

    kind: Literal["runtime"] = "runtime"
    max_min_runtime: str | None = Field(
        None, description="The app's runtime version (\"2.10\"): a variant that needs a "
        "newer one is never promoted.")

    @field_validator("max_min_runtime", mode="before")
    @classmethod
    def _version(cls, value: object) -> object:
        if value is None:
            return value
        version_number(str(value))
        return str(value)


def model_runtime(content: bytes) -> tuple[str | None, str]:
    """The model's `min_runtime_version` metadata (None without one) and its newest op
    version (`FULLY_CONNECTED v12`, the first of the highest)."""
    import numpy as np
    from ai_edge_litert import schema_py_generated as schema

    from mlflow_tflite.convert.facts import enum_names

    model = schema.ModelT.InitFromPackedBuf(content, 0)
    version = None
    for entry in model.metadata or []:
        name = entry.name.decode() if isinstance(entry.name, bytes) else entry.name
        if name == METADATA_KEY:
            data = model.buffers[entry.buffer].data
            data = b"" if data is None else np.asarray(data, dtype=np.uint8).tobytes()
            version = data.split(b"\0", 1)[0].decode() or None
    builtins = enum_names("BuiltinOperator")
    ops = [(int(code.version or 1),
            builtins.get(max(int(code.builtinCode), int(code.deprecatedBuiltinCode)), "CUSTOM"))
           for code in model.operatorCodes or []]
    newest = max(ops, key=lambda op: op[0], default=None)
    return version, (f"{newest[1]} v{newest[0]}" if newest else "no ops")


def measure(job) -> TargetResult:
    with open(job.model_path, "rb") as handle:
        version, op = model_runtime(handle.read())
    reason = f"min_runtime{REASON_TAG_SUFFIX}"
    if version is None:
        return TargetResult({}, {"min_runtime": "unknown (no min_runtime_version metadata)",
                                 reason: f"newest op version {op}"})
    return TargetResult({"min_runtime": version_number(version)},
                        {"min_runtime": version, reason: f"newest op version {op}"})


def gates(config: RuntimeConfig) -> dict[str, tuple[str, float]]:
    if config.max_min_runtime is None:
        return {}
    return {"min_runtime": ("max", version_number(config.max_min_runtime))}


TARGET = TargetKind(
    name="runtime",
    summary="The runtime an app bundles: each variant's minimum LiteRT/TFLite version.",
    config=RuntimeConfig,
    metrics=(MIN_RUNTIME,),
    measure=measure,
    columns=("min_runtime",),
    gates=gates,
    cell=lambda values: str(values.get("min_runtime", "-")),
)
