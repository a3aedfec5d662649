"""The per-layer error of a quantized variant in MLflow: a table and a bar plot.

A run gets `layer_errors.json` (`mlflow.log_table`: columns layer, op, mse, snr_db,
cosine; MLflow writes an infinite SNR, a layer without error, as null) and
`layer_errors.png` (the SNR of the 10 worst layers). The metrics `output_snr_db` and
`min_layer_snr_db` travel with the variant's other metrics.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mlflow_tflite.measure.layers import TABLE_COLUMNS
from mlflow_tflite.tracking.pareto import save_figure

LAYER_TABLE = "layer_errors.json"
LAYER_PLOT = "layer_errors.png"
PLOT_LAYERS = 10


def layer_plot(rows: Sequence[dict[str, Any]], path: str | Path, title: str = "") -> Path:
    """Horizontal bars of the SNR (dB) of the `PLOT_LAYERS` lowest-SNR layers, worst on top.

    Layers without error (infinite SNR) are left out. Written as PNG.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    finite = [r for r in rows if r["snr_db"] is not None and math.isfinite(r["snr_db"])]
    worst = sorted(finite, key=lambda r: r["snr_db"])[:PLOT_LAYERS]
    fig, ax = plt.subplots(figsize=(9, 0.45 * max(len(worst), 2) + 1.2))
    labels = [f"{r['layer'][:48]} ({r['op']})" for r in worst]
    ax.barh(range(len(worst)), [r["snr_db"] for r in worst], color="tab:red")
    ax.set_yticks(range(len(worst)), labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("SNR against the float model (dB, higher is better)")
    ax.set_title(title or f"the {len(worst)} layers with the lowest SNR")
    ax.grid(axis="x", alpha=0.3)
    if not worst:
        ax.text(0.5, 0.5, "no layer differs from the float model", ha="center",
                transform=ax.transAxes)
    return save_figure(fig, path)


def layer_title(variant: str) -> str:
    """The plot's title for a variant's run."""
    return f"{variant}: the layers with the lowest SNR"


def log_layer_errors(run_id: str, rows: Sequence[dict[str, Any]], title: str = "",
                     plot: bool = True) -> None:
    """Log the per-layer table and (`plot`) its bar plot to the run (through the client, so
    parallel variants can log at once)."""
    import mlflow
    import pandas as pd

    client = mlflow.MlflowClient()
    frame = pd.DataFrame([{c: row[c] for c in TABLE_COLUMNS} for row in rows],
                         columns=list(TABLE_COLUMNS))
    client.log_table(run_id, data=frame, artifact_file=LAYER_TABLE)
    if plot:
        log_layer_plot(run_id, rows, title)


def log_layer_plot(run_id: str, rows: Sequence[dict[str, Any]], title: str = "") -> None:
    """Log `layer_errors.png` of `rows` to the run."""
    import mlflow

    with tempfile.TemporaryDirectory() as tmp:
        mlflow.MlflowClient().log_artifact(run_id, str(layer_plot(rows, Path(tmp) / LAYER_PLOT,
                                                                  title)))


def logged_layer_rows(run_id: str) -> list[dict[str, Any]]:
    """The rows of the run's `layer_errors.json` (MLflow's table format), [] without one."""
    import json

    import mlflow

    client = mlflow.MlflowClient()
    if LAYER_TABLE not in {f.path for f in client.list_artifacts(run_id)}:
        return []
    table = json.loads(Path(client.download_artifacts(run_id, LAYER_TABLE)).read_text())
    return [dict(zip(table["columns"], row, strict=True)) for row in table["data"]]
