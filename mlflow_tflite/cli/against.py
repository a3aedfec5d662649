"""`mlflow-tflite benchmark MODEL --against FLOAT.tflite`: the per-layer error table.

The inputs are `--inputs FILE` (a `.npy` array, or a `.npz` with `x_test`, `x` or a single
array) or, without it, seeded uniform samples in [0, 1) shaped as the float model's
inputs. At most `DEFAULT_MAX_SAMPLES` of them are run.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from mlflow_tflite.cli import CommandError, first_line

if TYPE_CHECKING:
    from mlflow_tflite.measure.layers import LayerError

SEED = 0
NPZ_KEYS = ("x_test", "x")


def load_inputs(path: str | None, float_model: Path, count: int) -> list[np.ndarray]:
    """The samples from `path`, or `count` seeded random samples for the float model.

    Raises:
        CommandError: missing or unreadable file, or a `.npz` without a known array.
    """
    if path is None:
        from mlflow_tflite.litert import TFLiteRunner

        rng = np.random.default_rng(SEED)
        specs = TFLiteRunner(float_model.read_bytes(), delegate="builtin").inputs
        return [
            rng.random((count, *s.shape[1:]), dtype=np.float32)
            if np.issubdtype(np.dtype(s.dtype), np.floating)
            else np.zeros((count, *s.shape[1:]), dtype=s.dtype)
            for s in specs
        ]
    file = Path(path)
    if not file.is_file():
        raise CommandError(f"--inputs {path}: no such file")
    try:
        loaded = np.load(file, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise CommandError(f"--inputs {path}: not a .npy or .npz file ({error})") from None
    if isinstance(loaded, np.ndarray):
        return [loaded]
    keys = [k for k in NPZ_KEYS if k in loaded.files] or (
        loaded.files if len(loaded.files) == 1 else []
    )
    if not keys:
        raise CommandError(
            f"--inputs {path}: expected an array named {' or '.join(NPZ_KEYS)} "
            f"(found {', '.join(loaded.files) or 'none'})"
        )
    return [loaded[keys[0]]]


def compare(model: Path, against: str, inputs: str | None) -> list[LayerError]:
    """Per-layer errors of `model` against the float model `against`.

    Raises:
        CommandError: a missing file or models / inputs that do not match, in one line.
    """
    from mlflow_tflite.measure.layers import DEFAULT_MAX_SAMPLES, layer_errors

    float_model = Path(against)
    if not float_model.is_file():
        raise CommandError(f"--against {against}: no such file")
    try:
        arrays = load_inputs(inputs, float_model, DEFAULT_MAX_SAMPLES)
        return layer_errors(float_model, model, arrays)
    except (ValueError, RuntimeError) as error:
        raise CommandError(f"--against {against}: {first_line(error)}") from None


def format_layers(errors: list[LayerError]) -> str:
    """The table (TABLE_COLUMNS, float model op order) and the summary lines."""
    from tabulate import tabulate

    from mlflow_tflite.measure.layers import TABLE_COLUMNS, most_sensitive, summary_metrics
    from mlflow_tflite.measure.quality import SNR_CEILING_DB

    def snr(value: float) -> str:
        return "identical" if value >= SNR_CEILING_DB else f"{value:.2f}"

    rows = [[e.layer, e.op, f"{e.mse:.3g}", snr(e.snr_db), f"{e.cosine:.5f}"] for e in errors]
    table = tabulate(rows, headers=list(TABLE_COLUMNS), tablefmt="github", disable_numparse=True)
    summary = "  ".join(f"{k}={snr(v)}" for k, v in summary_metrics(errors).items())
    ranked = ", ".join(e.layer for e in most_sensitive(errors, 3) if e.added_snr_db < np.inf)
    return f"{table}\n{summary}\nmost sensitive (error added by the layer itself): {ranked or '-'}"
