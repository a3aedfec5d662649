"""What a flow's variant chains came to: their futures turned into VariantRecords.

A chain's first failed step makes a FAILED record (the step, the error's first line and
its traceback); a variant whose steps the store answered is a reused record.
"""

from __future__ import annotations

import traceback
from typing import Any

from prefect.futures import PrefectFuture

from mlflow_tflite import tracking
from mlflow_tflite.config import VariantConfig
from mlflow_tflite.errors import first_line
from mlflow_tflite.pipeline import steps
from mlflow_tflite.tracking import FAILED, VariantRecord
from mlflow_tflite_flows import runner as runners


def failure(future: PrefectFuture) -> BaseException | None:
    runners.wait(future)
    if future.state.is_completed():
        return None
    try:
        future.result()
    except BaseException as error:  # noqa: BLE001 - the variant's error, recorded not raised
        return error
    return RuntimeError(f"{future.state.name}: {future.state.message}")


def record(variant: VariantConfig, **fields: Any) -> VariantRecord:
    fields.setdefault("quantization", variant.convert.quantization)
    return VariantRecord(
        name=variant.name,
        technique=variant.technique,
        params=tracking.variant_params(variant),
        **fields,
    )


def failed_record(variant: VariantConfig, step: str, error: BaseException) -> VariantRecord:
    detail = "".join(traceback.format_exception(error))
    return record(variant, status=FAILED, error=first_line(error, with_type=True),
                   traceback=detail,
                   failed_step=step)


def summary_markdown(records: list[VariantRecord], decision: dict[str, Any] | None, run_id: str,
              ui: str) -> str:
    table = tracking.format_table(tracking.variant_rows(records), "markdown")
    skipped = "".join(f"- `{r.name}`: {r.error}\n" for r in records if r.skipped)
    skipped = f"## Skipped\n\n{skipped}\n" if skipped else ""
    outcome = decision["summary"] if decision else "no promotion"
    return (f"# Variants (MLflow run `{run_id}`)\n\n{table}\n\n{skipped}## Promotion\n\n"
            f"{outcome}\n\n## In the MLflow UI\n\n{ui}\n")


def collect(variant: VariantConfig, chain: dict[str, Any], ran: dict[str, Any]) -> VariantRecord:
    """Wait for a variant's chain and turn it into a record (failed at the first bad step)."""
    for step in ("built", "measure"):
        if step not in chain:
            continue
        error = failure(chain[step])
        if error is not None:
            return failed_record(variant, steps.failed_step(error, step), error)
        for name in ("compress", "convert") if step == "built" else (step,):
            ran[name].append(variant.name)
    build = chain["build"].result() if isinstance(chain["build"], PrefectFuture) else chain["build"]
    measurement = chain["measurement"]
    if isinstance(measurement, PrefectFuture):
        measurement = measurement.result()
    reused = "built" not in chain and "measure" not in chain
    # `none` on a quantized `.tflite` baseline is that file: named by what it is.
    quantization = measurement.get("conversion", {}).get("quantization")
    return record(
        variant,
        **({"quantization": quantization} if quantization else {}),
        metrics=dict(measurement["metrics"]),
        delegate=measurement.get("delegate", ""),
        measurement=measurement,
        tflite_path=build.tflite_path,
        reused=reused,
    )


def logged_record(future: PrefectFuture, variant: VariantConfig) -> VariantRecord:
    """The logged record; a variant whose logging failed after retries becomes FAILED."""
    error = failure(future)
    if error is None:
        return future.result()
    return failed_record(variant, "log", error)
