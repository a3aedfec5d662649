"""Refresh the `make run` samples of the README and the docs' home page from one real run,
so they cannot drift.

    make run 2>&1 | tee /tmp/run.log
    .venv/bin/python docs/readme_sample.py /tmp/run.log "on 2026-12-03, 2 cores, busy"

Rewrites, between their markers, in README.md and docs/index.md, the blocks
`make-run:summary` (the run's printed summary), `make-run:headline` (the sentence on the
winner, the smallest files and the ratio, built from `reports/metrics.json`) and
`make-run:when`. Commit them with `reports/`: `tests/test_readme.py` checks the blocks
against `reports/metrics.json` and `reports/variants.csv` as committed (git's HEAD), since
any `make run` rewrites the working tree's.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
# Every page that shows the run: the front door and the docs site's home page.
PAGES = (README, ROOT / "docs" / "index.md")
METRICS = ROOT / "reports" / "metrics.json"
CHAMPION = "champion"


def block(name: str) -> re.Pattern[str]:
    """The page's block `name`: `<!-- make-run:NAME -->` ... `<!-- /make-run:NAME -->`."""
    return re.compile(rf"(<!-- make-run:{name} -->\n)(.*?)(<!-- /make-run:{name} -->)", re.S)


def read_block(text: str, name: str) -> str:
    found = block(name).search(text)
    if found is None:
        raise ValueError(f"no make-run:{name} block")
    return found.group(2)


def summary_from_log(log: str) -> str:
    """The summary `mlflow-tflite run` printed: from its `Variants of MLflow run` line to
    its `MLflow UI:` line."""
    lines = log.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Variants of MLflow run"))
    end = next(i for i in range(start, len(lines)) if lines[i].startswith("MLflow UI:"))
    return "\n".join(lines[start:end + 1])


def headline(metrics: dict[str, Any]) -> str:
    """The README's sentence on the run, from its `metrics.json`."""
    from mlflow_tflite.measure.size import compression_ratio

    variants = {name: m for name, m in metrics.items() if name != CHAMPION}
    fp32 = variants["fp32"]
    smallest = min(variants, key=lambda n: variants[n]["size_bytes"])
    gzip_smallest = min(variants, key=lambda n: variants[n]["gzip_size_bytes"])
    g = variants[gzip_smallest]
    ratio = compression_ratio(fp32["gzip_size_bytes"], g["gzip_size_bytes"])
    raw = compression_ratio(fp32["size_bytes"], variants[smallest]["size_bytes"])
    champion = metrics.get(CHAMPION, {}).get("variant")
    picked = (f"The promotion policy picked `{champion}`." if champion
              else "No variant was promoted.")
    return (
        f"`{smallest}` is the smallest file, {raw:.1f}x smaller than the fp32 `.tflite` "
        f"({variants[smallest]['size_bytes']:,.0f} against {fp32['size_bytes']:,.0f} bytes); "
        f"after gzip the smallest is `{gzip_smallest}`, {ratio:.1f}x smaller than the gzipped fp32 "
        f"`.tflite` ({g['gzip_size_bytes']:,.0f} against {fp32['gzip_size_bytes']:,.0f} "
        f"bytes), at {100 * g['accuracy_delta']:+.1f} pt accuracy. {picked}\n"
    )


def _replace(text: str, name: str, body: str) -> str:
    if block(name).search(text) is None:
        raise ValueError(f"no make-run:{name} block")
    return block(name).sub(lambda m: m.group(1) + body + m.group(3), text)


def refresh(log_path: str, when: str, pages: tuple[Path, ...] = PAGES,
            metrics: Path = METRICS) -> None:
    summary = summary_from_log(Path(log_path).read_text())
    sentence = headline(json.loads(metrics.read_text()))
    for page in pages:
        try:
            text = _replace(page.read_text(), "summary", f"```\n{summary}\n```\n")
            text = _replace(text, "headline", sentence)
            text = _replace(text, "when", when.strip() + "\n")
        except ValueError as error:
            raise ValueError(f"{page.name}: {error}") from None
        page.write_text(text)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    refresh(sys.argv[1], sys.argv[2])
