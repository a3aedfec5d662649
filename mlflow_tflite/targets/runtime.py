"""`kind: runtime`: the LiteRT / TensorFlow Lite version an app bundles.

Each variant's minimum runtime version is read from the model: the converter writes it
as the `min_runtime_version` metadata (the newest release whose kernels cover every op
version the model uses). Without the metadata (another converter's model, or one whose
metadata was stripped) it is derived the same way from the (builtin op, version) pairs
the model uses, with TensorFlow's own table (`op_versions.RELEASES`). It is logged as tag
`<target>/min_runtime` and as the metric of the same name (a release as a number, shown
as `2.14.0`), so `targets.<name>.max_min_runtime: "2.10"` (or the constraint
`max_<name>/min_runtime`) keeps a variant an older app cannot load from being promoted.
Where both are known the newer wins (int16x8 quantization raises op versions after the
converter wrote the metadata, so the metadata understates). Tag
`<target>/min_runtime_reason` names the op version that sets it and the source
(`FULLY_CONNECTED v12 needs 2.17.0 (min_runtime_version metadata)`), which a failed
gate quotes. An op version the table lacks makes the version unknown: no metric, so a
gate on it fails rather than promote what cannot be shown to load.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from mlflow_tflite.metrics import REASON_TAG_SUFFIX, Metric, version_number
from mlflow_tflite.plugins.target import TargetKind, TargetResult
from mlflow_tflite.section import Section
from mlflow_tflite.targets.op_versions import RELEASES

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


def used_ops(content: bytes) -> tuple[str | None, list[tuple[str, int]]]:
    """The model's `min_runtime_version` metadata (None without one) and the distinct
    (builtin op, version) pairs its operators use, every subgraph, in order of use."""
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
    codes = model.operatorCodes or []
    ops: dict[tuple[str, int], None] = {}
    for subgraph in model.subgraphs or []:
        for operator in subgraph.operators or []:
            code = codes[operator.opcodeIndex]
            builtin = max(int(code.builtinCode), int(code.deprecatedBuiltinCode))
            ops[(builtins.get(builtin, "CUSTOM"), int(code.version or 1))] = None
    return version, list(ops)


def op_table_runtime(ops: list[tuple[str, int]]) -> tuple[str | None, str]:
    """The oldest release that runs every (op, version) in `ops`, by TensorFlow's op
    table, and the op that sets it (`FULLY_CONNECTED v12 needs 2.17.0`).

    An op or version the table lacks (a custom op, an op newer than the table) makes the
    answer None, naming them: skipping them, as the converter does, could claim a
    release too old to load the model.
    """
    unknown = [f"{op} v{version}" for op, version in ops
               if not _release(op, version)]
    if unknown:
        return None, f"op table lacks {', '.join(unknown)}"
    if not ops:
        return None, "no ops"
    op, version = max(ops, key=lambda pair: version_number(_release(*pair)))
    return _release(op, version), f"{op} v{version} needs {_release(op, version)}"


def _release(op: str, version: int) -> str | None:
    releases = RELEASES.get(op, ())
    return releases[version - 1] if 0 < version <= len(releases) else None


def model_runtime(content: bytes) -> tuple[str | None, str]:
    """The model's minimum runtime release (None: unknown) and why, naming the op version
    that sets it and the source: the converter's `min_runtime_version` metadata, the op
    table, or both (the newer wins: the model needs both)."""
    metadata, ops = used_ops(content)
    table, why = op_table_runtime(ops)
    if metadata is None:
        return table, f"{why} (op table; no {METADATA_KEY} metadata)"
    if table == metadata:
        return metadata, f"{why} ({METADATA_KEY} metadata)"
    if table is not None and version_number(table) > version_number(metadata):
        # Metadata written before a later pass raised op versions (int16x8 quantization).
        return table, f"{why} (op table; the {METADATA_KEY} metadata says {metadata})"
    return metadata, f"{metadata} from the {METADATA_KEY} metadata (op table: {why})"


def measure(job) -> TargetResult:
    with open(job.model_path, "rb") as handle:
        version, why = model_runtime(handle.read())
    reason = f"min_runtime{REASON_TAG_SUFFIX}"
    if version is None:
        return TargetResult({}, {"min_runtime": "unknown", reason: why})
    return TargetResult({"min_runtime": version_number(version)},
                        {"min_runtime": version, reason: why})


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
