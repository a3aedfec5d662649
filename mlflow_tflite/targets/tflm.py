"""`kind: tflm`: a microcontroller, measured with the real TFLite Micro runtime.

TFLite Micro (the `tflite-micro` package's interpreter, the same kernels a firmware
links) runs the variant in a subprocess: whether it runs at all (a missing op or an
unsupported op variant makes it incompatible, not failed: tag `<target>/compatible`
names every one, `missing ops: CONV_2D(hybrid), FULLY_CONNECTED(hybrid)`; TFLM stops
at the first, so when the model fails each distinct op is tried alone), the smallest
tensor arena it allocates in (bisection, 16-byte steps), the flash its model data takes
(the flatbuffer a firmware embeds, without TFLM's own code), its outputs against
LiteRT's on the first test samples (a kernel mismatch shows in the SNR) and its host
latency per invoke.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from mlflow_tflite.metrics import REASON_TAG_SUFFIX, Metric
from mlflow_tflite.plugins.target import (
    LATENCY_P50,
    LATENCY_P90,
    OUTPUT_SNR,
    TargetKind,
    TargetResult,
)
from mlflow_tflite.section import Section

COMPATIBLE_TAG = "compatible"
# How tag `compatible` starts when it names the ops TFLM lacks.
MISSING = "missing ops: "
ARENA = Metric(name="arena_bytes", higher_is_better=False, unit="B", label="TFLM arena",
               card="TFLM tensor arena (bytes)", objective=True)
FLASH = Metric(name="flash_bytes", higher_is_better=False, unit="B", label="TFLM flash",
               card="TFLM model flash (bytes)", objective=True)
FITS = Metric(name="compatible", higher_is_better=True, label="TFLM-compatible",
              card="runs on TFLite Micro (1 yes, 0 no)", decimals=0)


class TflmConfig(Section):
    """A microcontroller running TFLite Micro."""

    kind: Literal["tflm"] = "tflm"
    timeout_s: float = Field(300.0, gt=0.0, description="Longest a variant's measurement may take.")


def measure(job) -> TargetResult:
    from mlflow_tflite.targets.run import fidelity_and_latency, local_probe

    result = local_probe("tflm", job, job.config.timeout_s)
    # The flatbuffer a firmware embeds (TFLM reads weights in place, from flash).
    flash = {"flash_bytes": float(Path(job.model_path).stat().st_size)}
    if "missing_ops" in result:
        missing = result["missing_ops"]
        verdict = f"{MISSING}{', '.join(missing)}" if missing else "does not allocate"
        return TargetResult({**flash, "compatible": 0.0},
                            {COMPATIBLE_TAG: verdict,
                             f"{COMPATIBLE_TAG}{REASON_TAG_SUFFIX}": result["error"]})
    if "error" in result:
        return TargetResult(error=f"tflm: {result['error']}")
    metrics = {**flash, "compatible": 1.0, "arena_bytes": float(result["arena_bytes"]),
               **fidelity_and_latency(result, job.reference)}
    return TargetResult(metrics, {COMPATIBLE_TAG: "true"})


def cell(values) -> str:
    if values.get(COMPATIBLE_TAG) != "true":
        return f"no: {str(values.get(COMPATIBLE_TAG, '?')).removeprefix(MISSING)}"
    return (f"arena {values['arena_bytes'] / 1024:,.1f} KiB, "
            f"flash {values['flash_bytes'] / 1024:,.1f} KiB")


TARGET = TargetKind(
    name="tflm",
    summary="A microcontroller: TFLite Micro compatibility, arena, flash, SNR, host latency.",
    config=TflmConfig,
    metrics=(FITS, ARENA, FLASH, OUTPUT_SNR, LATENCY_P50, LATENCY_P90),
    measure=measure,
    columns=("compatible", "arena_bytes", "flash_bytes"),
    cell=cell,
    axis="arena_bytes",
)
