"""The README's `make run` samples are the committed run: its variants table, promotion
line and headline sentence agree with `reports/metrics.json` and `reports/variants.csv`
(refresh all of them with docs/readme_sample.py after a `make run`)."""

from __future__ import annotations

import csv
import importlib.util
import json
from pathlib import Path
from typing import Any

from mlflow_tflite.metrics import format_metric, shown_in

ROOT = Path(__file__).resolve().parent.parent


def _sample_module() -> Any:
    spec = importlib.util.spec_from_file_location("readme_sample",
                                                  ROOT / "docs" / "readme_sample.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SAMPLE = _sample_module()
README = (ROOT / "README.md").read_text()
METRICS: dict[str, Any] = json.loads((ROOT / "reports" / "metrics.json").read_text())
VARIANTS = {name: m for name, m in METRICS.items() if name != SAMPLE.CHAMPION}


def _table_rows() -> dict[str, str]:
    """The summary block's table lines by variant name (the header line left out)."""
    summary = SAMPLE.read_block(README, "summary")
    lines = summary.split("```")[1].splitlines()
    header = next(i for i, line in enumerate(lines) if line.split()[:2] == ["variant",
                                                                            "technique"])
    rows = {}
    for line in lines[header + 1:]:
        if not line.strip():
            break
        rows[line.split()[0]] = line
    return rows


def test_the_readme_table_holds_every_variant_of_the_committed_run_with_its_numbers():
    rows = _table_rows()
    with (ROOT / "reports" / "variants.csv").open() as handle:
        csv_names = [row["variant"] for row in csv.DictReader(handle)]
    assert list(rows) == csv_names
    assert set(VARIANTS) <= set(rows)
    for name, metrics in VARIANTS.items():
        for metric in shown_in("summary"):
            cell = format_metric(metric, metrics[metric], "table")
            assert cell in rows[name], (name, metric, cell, rows[name])


def test_the_readme_promotion_line_names_the_committed_champion():
    summary = SAMPLE.read_block(README, "summary")
    [promotion] = [line for line in summary.splitlines() if line.startswith("Promotion:")]
    champion = METRICS.get(SAMPLE.CHAMPION, {}).get("variant")
    assert champion is not None
    assert f" {champion} wins on " in promotion


def test_the_readme_headline_is_the_committed_run():
    assert SAMPLE.read_block(README, "headline") == SAMPLE.headline(METRICS)
    assert SAMPLE.read_block(README, "when").strip()


def test_the_headline_ratio_is_gzip_over_gzip():
    line = SAMPLE.headline({
        "fp32": {"size_bytes": 1000, "gzip_size_bytes": 900, "accuracy_delta": 0.0},
        "small": {"size_bytes": 250, "gzip_size_bytes": 100, "accuracy_delta": -0.01},
    })
    assert "`small` is the smallest file, 4.0x smaller" in line
    assert "after gzip the smallest is `small`, 9.0x smaller than the gzipped fp32" in line
    assert "-1.0 pt" in line
