"""The `make run` samples of the README and of the docs' home page are the committed run:
their variants table, promotion line and headline sentence agree with `reports/metrics.json`
and `reports/variants.csv` as committed (refresh all of them with docs/readme_sample.py
after a `make run`, and commit them together).

The reports are read from git's HEAD, not from the working tree: a newcomer's `make run`
rewrites `reports/` with the latencies of their machine, and `make test` right after it must
still pass. Without git (an unpacked archive) the working tree's files are the committed ones.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from mlflow_tflite.metrics import format_metric, shown_in

ROOT = Path(__file__).resolve().parent.parent


def _sample_module() -> Any:
    spec = importlib.util.spec_from_file_location("readme_sample",
                                                  ROOT / "docs" / "readme_sample.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def committed(path: str, root: Path = ROOT) -> str:
    """The file at `path` (relative to the repository `root`) as committed at HEAD; the
    working tree's copy when there is no git, no repository or no such file at HEAD."""
    try:
        done = subprocess.run(["git", "-C", str(root), "show", f"HEAD:./{path}"],
                              capture_output=True, text=True, timeout=60)
    except OSError:
        done = None
    if done is not None and done.returncode == 0:
        return done.stdout
    return (root / path).read_text()


SAMPLE = _sample_module()
PAGES = {page.relative_to(ROOT).as_posix(): page.read_text() for page in SAMPLE.PAGES}
METRICS: dict[str, Any] = json.loads(committed("reports/metrics.json"))
VARIANTS_CSV = list(csv.DictReader(io.StringIO(committed("reports/variants.csv"))))
VARIANTS = {name: m for name, m in METRICS.items() if name != SAMPLE.CHAMPION}
STALE = ("disagrees with reports/ as committed: after docs/readme_sample.py, commit "
         "README.md, docs/index.md and reports/ together")


def _table_rows(text: str) -> dict[str, str]:
    """The summary block's table lines by variant name (the header line left out)."""
    summary = SAMPLE.read_block(text, "summary")
    lines = summary.split("```")[1].splitlines()
    header = next(i for i, line in enumerate(lines) if line.split()[:2] == ["variant",
                                                                            "technique"])
    rows = {}
    for line in lines[header + 1:]:
        if not line.strip():
            break
        rows[line.split()[0]] = line
    return rows


@pytest.mark.parametrize("page", PAGES)
def test_the_readme_table_holds_every_variant_of_the_committed_run_with_its_numbers(page):
    rows = _table_rows(PAGES[page])
    assert list(rows) == [row["variant"] for row in VARIANTS_CSV], f"{page} {STALE}"
    assert set(VARIANTS) <= set(rows)
    for row in VARIANTS_CSV:
        name = row["variant"]
        for metric in shown_in("summary"):
            cell = format_metric(metric, float(row[metric]), "table")
            assert cell in rows[name], (f"{page} {STALE}", name, metric, cell, rows[name])
            if metric in shown_in("headline"):
                assert float(row[metric]) == VARIANTS[name][metric], f"{page} {STALE}"


@pytest.mark.parametrize("page", PAGES)
def test_the_readme_promotion_line_names_the_committed_champion(page):
    summary = SAMPLE.read_block(PAGES[page], "summary")
    [promotion] = [line for line in summary.splitlines() if line.startswith("Promotion:")]
    champion = METRICS.get(SAMPLE.CHAMPION, {}).get("variant")
    assert champion is not None
    assert f" {champion} wins on " in promotion, f"{page} {STALE}"


@pytest.mark.parametrize("page", PAGES)
def test_the_readme_headline_is_the_committed_run(page):
    assert SAMPLE.read_block(PAGES[page], "headline") == SAMPLE.headline(METRICS), \
        f"{page} {STALE}"
    assert SAMPLE.read_block(PAGES[page], "when").strip()


def test_the_readme_and_the_docs_home_show_the_same_run():
    blocks = {page: [SAMPLE.read_block(text, name) for name in ("when", "summary", "headline")]
              for page, text in PAGES.items()}
    assert blocks["README.md"] == blocks["docs/index.md"]


def test_the_readme_champion_numbers_are_the_committed_run():
    """The README's sentence on the champion: gzip ratio, latency and accuracy."""
    from mlflow_tflite.measure.size import compression_ratio

    champion = METRICS[SAMPLE.CHAMPION]
    fp32 = METRICS["fp32"]
    [row] = [row for row in VARIANTS_CSV if row["variant"] == champion["variant"]]
    ratio = compression_ratio(fp32["gzip_size_bytes"], champion["gzip_size_bytes"])
    sentence = (f"`{champion['variant']}` is, {ratio:.1f}x smaller than the gzipped fp32 "
                f"`.tflite` at {float(row['latency_vs_fp32']):.2f}x its latency and\n"
                f"{100 * champion['accuracy_delta']:+.1f} pt accuracy")
    assert sentence in PAGES["README.md"], STALE


def test_a_make_run_after_the_commit_does_not_change_what_the_readme_is_checked_against(
        tmp_path):
    (tmp_path / "reports").mkdir()
    metrics = tmp_path / "reports" / "metrics.json"
    metrics.write_text('{"fp32": {"latency_p50_ms": 0.032}}')
    assert committed("reports/metrics.json", tmp_path) == metrics.read_text()  # no repository
    git = ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "run"], check=True)
    metrics.write_text('{"fp32": {"latency_p50_ms": 0.058}}')  # a newcomer's make run
    assert "0.032" in committed("reports/metrics.json", tmp_path)
    (tmp_path / "reports" / "variants.csv").write_text("variant\nfp32\n")  # not committed
    assert committed("reports/variants.csv", tmp_path) == "variant\nfp32\n"


def test_refreshing_from_the_committed_run_log_gives_the_pages_back(tmp_path):
    """docs/readme_sample.py, as the docs tell to run it, on a log holding the summary."""
    summary = SAMPLE.read_block(PAGES["README.md"], "summary").split("```")[1].strip("\n")
    log = tmp_path / "run.log"
    log.write_text(f"12:00:01 | INFO | Flow run 'x' - Finished in state Completed()\n{summary}\n"
                   "12:00:02 | INFO | more log lines after the summary\n")
    metrics = tmp_path / "metrics.json"
    metrics.write_text(json.dumps(METRICS))
    copies = []
    for name, text in PAGES.items():
        copies.append(tmp_path / name.replace("/", "_"))
        copies[-1].write_text(text)
    when = SAMPLE.read_block(PAGES["README.md"], "when")
    SAMPLE.refresh(str(log), when, pages=tuple(copies), metrics=metrics)
    assert [c.read_text() for c in copies] == list(PAGES.values())


def test_the_headline_ratio_is_gzip_over_gzip():
    line = SAMPLE.headline({
        "fp32": {"size_bytes": 1000, "gzip_size_bytes": 900, "accuracy_delta": 0.0},
        "small": {"size_bytes": 250, "gzip_size_bytes": 100, "accuracy_delta": -0.01},
    })
    assert "`small` is the smallest file, 4.0x smaller" in line
    assert "after gzip the smallest is `small`, 9.0x smaller than the gzipped fp32" in line
    assert "-1.0 pt" in line
