"""Build flow-like MLflow runs (parent + variant children, the tracking module's layout)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping

import mlflow
from mlflow import MlflowClient

import mlflow_tflite

# Metrics that pass the default policy; tests override what they exercise.
GOOD = {
    "size_bytes": 10_000.0,
    "gzip_size_bytes": 8_000.0,
    "accuracy": 0.95,
    "accuracy_delta": -0.005,
    "agreement": 0.99,
    "latency_p50_ms": 1.0,
    "latency_p90_ms": 1.5,
    "xnnpack/latency_p50_ms": 1.0,
    "xnnpack/latency_p90_ms": 1.5,
    "latency_vs_fp32": 0.5,
    "integer_only": 1.0,
    "gpu_compatible": 0.0,
}


def metrics(**overrides: float) -> dict[str, float]:
    """GOOD with overrides; `xnnpack__latency_p50_ms=` stands for `xnnpack/latency_p50_ms`."""
    return {**GOOD, **{k.replace("__", "/"): v for k, v in overrides.items()}}


def distinct(tflite: bytes, label: str) -> bytes:
    """The same model with `label` as its flatbuffer description: other bytes, same graph."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    model = schema.ModelT.InitFromPackedBuf(tflite, 0)
    model.description = label
    builder = flatbuffers.Builder(len(tflite) + 1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def make_flow_run(
    tflite: bytes,
    variants: Mapping[str, Mapping[str, float]],
    *,
    data_version: str = "data-v1",
    failed: Iterable[str] = (),
    experiment: str = "promote-tests",
    model_uri_tag: bool = True,
    same_bytes: bool = False,
) -> str:
    """A finished parent run with one child per variant, each with a logged tflite model.

    Variants named in `failed` end FAILED with `mlflow_tflite.error`, like the flow writes.
    Without `model_uri_tag`, children lack `mlflow_tflite.model_uri` (older flow runs).
    Each child's model differs from every other's in its description (so promotion sees
    distinct models, as distinct variants are) unless `same_bytes`.
    """
    client = MlflowClient()
    experiment_id = mlflow.set_experiment(experiment).experiment_id
    parent = client.create_run(
        experiment_id,
        run_name=f"flow-{uuid.uuid4().hex[:6]}",
        tags={"mlflow_tflite.role": "flow", "data_version": data_version, "git_commit": "abc"},
    ).info.run_id
    failed = set(failed)
    for name, values in variants.items():
        tags = {
            "mlflow.parentRunId": parent,
            "mlflow_tflite.role": "variant",
            "mlflow_tflite.variant": name,
            "technique": "none",
            "quantization": "int8",
            "delegate": "xnnpack",
            "data_version": data_version,
            "git_commit": "abc",
        }
        if name in failed:
            tags["mlflow_tflite.error"] = "conversion failed"
        child = client.create_run(experiment_id, run_name=name, tags=tags).info.run_id
        if name in failed:
            client.set_terminated(child, "FAILED")
            continue
        with mlflow.start_run(run_id=child):
            mlflow.log_metrics(dict(values))
            model = tflite if same_bytes else distinct(tflite, child)
            info = mlflow_tflite.log_model(model, name="model")
            if model_uri_tag:
                mlflow.set_tag("mlflow_tflite.model_uri", info.model_uri)
    client.set_terminated(parent, "FINISHED")
    return parent
