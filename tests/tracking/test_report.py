"""The variants table (text, CSV, markdown), metrics.json and the Pareto plot."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from mlflow_tflite.tracking import (
    METRICS,
    VariantRecord,
    champion_variant,
    format_table,
    pareto_front,
    variant_rows,
    write_reports,
)


def _records() -> list[VariantRecord]:
    def ok(name: str, size: int, accuracy: float, p50: float) -> VariantRecord:
        metrics = {m: 1.0 for m in METRICS}
        metrics.update(size_bytes=size, gzip_size_bytes=size * 0.8, accuracy=accuracy,
                       accuracy_delta=accuracy - 0.98, latency_p50_ms=p50)
        metrics["xnnpack/latency_p50_ms"] = p50
        return VariantRecord(name, "none", "int8", metrics=metrics, delegate="xnnpack")

    return [
        ok("fp32", 400_000, 0.98, 0.50),
        ok("int8", 100_000, 0.97, 0.20),
        ok("float16", 200_000, 0.96, 0.60),  # dominated by int8 on both axes
        VariantRecord("qat-int8", "qat", "int8", status="failed", error="ValueError: no",
                      failed_step="compress"),
    ]


@pytest.mark.parametrize(
    ("points", "front"),
    [
        ([(1, 0.9), (2, 0.95), (3, 0.94)], [0, 1]),
        ([(1, 0.9), (1, 0.9)], [0, 1]),  # equal points do not dominate each other
        ([(1, 0.99), (2, 0.5), (3, 0.4)], [0]),
        ([], []),
    ],
)
def test_pareto_front_keeps_the_points_nothing_beats(points, front):
    assert pareto_front(points) == front


def test_rows_carry_every_metric_delegate_latency_and_failure():
    rows = variant_rows(_records())
    assert [r["variant"] for r in rows] == ["fp32", "int8", "float16", "qat-int8"]
    assert set(METRICS) <= set(rows[0])
    assert rows[0]["xnnpack/latency_p50_ms"] == 0.5
    assert rows[3]["status"] == "FAILED (compress)"
    assert rows[3]["error"] == "ValueError: no"


def test_table_shows_sizes_accuracy_latency_delegate_and_status():
    text = format_table(variant_rows(_records()), "table")
    header = text.splitlines()[0].split()
    assert header == ["variant", "technique", "quantization", "size_bytes", "gzip_size_bytes",
                      "accuracy", "accuracy_delta", "latency_p50_ms", "delegate", "status"]
    assert "97.7 KiB" in text and "-0.0100" in text and "0.200 ms" in text
    assert "FAILED (compress)" in text


def test_markdown_is_a_pipe_table_and_unknown_formats_are_rejected():
    assert format_table(variant_rows(_records()), "markdown").startswith("| variant")
    with pytest.raises(ValueError, match="unknown format 'xml'"):
        format_table([], "xml")


def test_write_reports_writes_csv_markdown_metrics_and_png(tmp_path: Path):
    paths = write_reports(_records(), tmp_path / "reports")
    with paths["csv"].open() as handle:
        rows = list(csv.DictReader(handle))
    assert [r["variant"] for r in rows] == ["fp32", "int8", "float16", "qat-int8"]
    assert float(rows[1]["size_bytes"]) == 100_000
    metrics = json.loads(paths["metrics"].read_text())
    assert set(metrics) == {"fp32", "int8", "float16"}  # failed variants have no metrics
    assert metrics["int8"]["accuracy"] == 0.97
    assert paths["plot"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "| int8" in paths["markdown"].read_text()


def test_metrics_json_holds_headline_metrics_and_the_champion_under_a_fixed_key(
    tmp_path: Path,
):
    decision = {"targets": [{"target": "default", "winner": "int8", "outcome": "promoted"}]}
    paths = write_reports(_records(), tmp_path / "reports", champion_variant(decision))
    metrics = json.loads(paths["metrics"].read_text())
    assert set(metrics) == {"fp32", "int8", "float16", "champion"}
    assert list(metrics["fp32"]) == ["size_bytes", "gzip_size_bytes", "accuracy",
                                     "accuracy_delta", "agreement", "latency_p50_ms"]
    assert metrics["champion"] == {"variant": "int8", **metrics["int8"]}
    assert champion_variant(None) is None
    assert champion_variant({"targets": [{"winner": None}]}) is None


def test_a_skipped_variant_is_a_row_with_its_reason_and_survives_the_parent_tag():
    from mlflow_tflite.tracking import SKIPPED, skipped_records, skipped_tag

    skipped = VariantRecord("pruned-int8", "prune", "int8", status=SKIPPED,
                            error="pruning needs a tf_keras model; train.model is a .tflite file")
    tag = skipped_tag([VariantRecord("fp32", "none", "none"), skipped])
    assert tag == ("pruned-int8 (prune, int8): pruning needs a tf_keras model; train.model is "
                   "a .tflite file")
    [back] = skipped_records(tag)
    assert back == skipped and back.skipped and not back.ok
    [row] = variant_rows([back])
    assert (row["status"], row["error"]) == ("skipped", skipped.error)
    assert "skipped" in format_table([row], "table")
