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
                       accuracy_delta=accuracy - 0.98, latency_p50_ms=p50,
                       accuracy_ci_low=accuracy - 0.01, accuracy_ci_high=accuracy + 0.005,
                       accuracy_delta_ci_low=accuracy - 0.99,
                       accuracy_delta_ci_high=accuracy - 0.975)
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


def test_table_shows_sizes_accuracy_latency_fidelity_delegate_and_verdict():
    records = _records()
    records[1].verdict = "champion"
    text = format_table(variant_rows(records), "table")
    header = text.splitlines()[0].split()
    assert header == ["variant", "technique", "quantization", "size_bytes", "gzip_size_bytes",
                      "accuracy", "accuracy_delta", "latency_p50_ms", "latency_vs_fp32",
                      "output_snr_db", "delegate", "verdict"]
    assert "97.7 KiB" in text and "0.200 ms" in text
    # The intervals logged beside accuracy and its change, in brackets.
    assert "-1.0 pt [-2.0, -0.5]" in text and "0.9700 " in text
    assert "0.9600, 0.9750" not in text  # accuracy's interval is its change's, shown once
    assert "1.00" in text and "1.0 dB" in text
    assert "failed: compress: ValueError: no" in text
    assert "champion" in text.splitlines()[2] and text.splitlines()[1].endswith(" ok")


def test_any_metric_with_logged_bounds_shows_them_and_the_rows_keep_them_beside_it():
    """A user's `evaluate` metric and a latency ratio whose bounds are logged: the table
    shows their intervals, the CSV and `variants.json` rows carry the bounds next to them."""
    from mlflow_tflite.metrics import Metric, register_metric

    register_metric(Metric(name="report_mae", higher_is_better=False, group="user",
                           objective=True))
    records = _records()[:2]
    records[1].metrics.update(report_mae=0.25, report_mae_ci_low=0.2, report_mae_ci_high=0.3,
                              latency_vs_fp32=0.5, latency_vs_fp32_ci_low=0.45,
                              latency_vs_fp32_ci_high=0.56)
    rows = variant_rows(records)
    keys = list(rows[1])
    for name in ("accuracy", "accuracy_delta", "report_mae", "latency_vs_fp32"):
        at = keys.index(name)
        assert keys[at + 1:at + 3] == [f"{name}_ci_low", f"{name}_ci_high"], name
    text = format_table(rows, "table")
    assert "0.2500 [0.2000, 0.3000]" in text and "0.50 [0.45, 0.56]" in text
    widest = max(len(line) for line in text.splitlines())
    assert widest < 200, text  # readable beside the verdict column


def test_without_accuracy_the_table_shows_fidelity_once_in_its_place():
    records = _records()[:2]
    for record in records:
        del record.metrics["accuracy"], record.metrics["accuracy_delta"]
    header = format_table(variant_rows(records), "table").splitlines()[0].split()
    assert header[3:] == ["size_bytes", "gzip_size_bytes", "output_snr_db", "output_cosine",
                          "latency_p50_ms", "latency_vs_fp32", "delegate", "verdict"]


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
    assert row["verdict"] == f"skipped: {skipped.error}"
    assert "skipped: pruning needs" in format_table([row], "table")


# A real run's crowded corner (the shipped variants on MNIST): name, gzip bytes, accuracy,
# p50 ms, verdict.
CROWDED = (("fp32", 452_904, 0.964, 0.0325, "passed"),
           ("dynamic", 120_837, 0.964, 0.0134, "passed"),
           ("float16", 225_587, 0.964, 0.0294, "passed"),
           ("int8", 119_091, 0.964, 0.0131, "passed"),
           ("int16x8", 120_730, 0.964, 1.353, "refused: latency_vs_fp32 40.58 > 1"),
           ("pruned-int8", 56_730, 0.970, 0.050, "refused: latency_vs_fp32 1.71 > 1"),
           ("clustered-int8", 74_342, 0.966, 0.018, "passed"),
           ("qat-int8", 110_285, 0.967, 0.017, "passed"),
           ("pruned-clustered-int8", 29_491, 0.971, 0.018, "passed"),
           ("pcqat-int8", 28_774, 0.971, 0.019, "champion"),
           ("pruned-int4", 28_160, 0.968, 0.137, "refused: latency_vs_fp32 4.66 > 1"))


@pytest.mark.parametrize("intervals", [False, True])
def test_the_pareto_plot_plots_the_objective_marks_the_champion_and_no_label_overlaps(
        intervals: bool):
    """With 95% intervals logged (the real run's width, about +-0.6 pt on 1,000 images;
    a latency interval on p50), each is an error bar inside the axes, labels still clear."""
    from matplotlib.collections import PathCollection
    from matplotlib.container import ErrorbarContainer

    from mlflow_tflite.tracking.pareto import pareto_figure

    records = [VariantRecord(name, "none", "int8", verdict=verdict,
                             metrics={"size_bytes": gzip * 1.2, "gzip_size_bytes": gzip,
                                      "accuracy": accuracy, "latency_p50_ms": p50})
               for name, gzip, accuracy, p50, verdict in CROWDED]
    if intervals:
        for record in records:
            accuracy, p50 = record.metrics["accuracy"], record.metrics["latency_p50_ms"]
            record.metrics.update(accuracy_ci_low=accuracy - 0.006,
                                  accuracy_ci_high=accuracy + 0.005,
                                  latency_p50_ms_ci_low=p50 * 0.9,
                                  latency_p50_ms_ci_high=p50 * 1.15)
    fig = pareto_figure(records, objective=["gzip_size_bytes"])
    bars = [[c for c in ax.containers if isinstance(c, ErrorbarContainer)] for ax in fig.axes]
    # Accuracy's bars on both panels; latency's across on the second.
    assert [len(b) for b in bars] == ([11, 22] if intervals else [0, 0])
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert ("95% interval" in labels) == intervals
    if intervals:
        low, high = fig.axes[0].get_ylim()
        assert low < 0.964 - 0.006 and high > 0.971 + 0.005  # no bar clipped
    renderer = fig.canvas.get_renderer()
    assert [ax.get_xlabel() for ax in fig.axes] == ["gzip size (KiB), log scale",
                                                    "p50 latency (ms), log scale"]
    for ax in fig.axes:
        frame = ax.get_window_extent(renderer)
        boxes = [text.get_window_extent(renderer) for text in ax.texts]
        assert sorted(text.get_text() for text in ax.texts) == sorted(n for n, *_ in CROWDED)
        for i, box in enumerate(boxes):
            assert frame.x0 <= box.x0 and box.x1 <= frame.x1, ax.texts[i].get_text()
            assert frame.y0 <= box.y0 and box.y1 <= frame.y1, ax.texts[i].get_text()
            for other in boxes[i + 1:]:
                assert not box.overlaps(other), (ax.texts[i].get_text(), box, other)
        stars = [c for c in ax.collections if isinstance(c, PathCollection)
                 and len(c.get_offsets()) == 1 and c.get_sizes()[0] == 240]
        assert len(stars) == 1  # the champion
        assert tuple(stars[0].get_offsets()[0])[1] == 0.971


def test_the_verdicts_judge_the_first_targets_gates_with_a_targets_reason():
    from mlflow_tflite.config.promote import PromoteConfig
    from mlflow_tflite.registry.verdicts import judge_records

    records = _records()
    records[2].measurement = {"targets": {"tags": {"accuracy_delta_reason": "why"}}}
    policy = PromoteConfig.model_validate({"constraints": {"max_accuracy_drop": 0.015}})
    judge_records(records, policy, {"targets": [{"outcome": "promoted", "winner": "int8"}]})
    assert [r.verdict_line() for r in records] == [
        "passed", "champion", "refused: accuracy drop 0.02 > max_accuracy_drop 0.015 (why)",
        "failed: compress: ValueError: no"]
