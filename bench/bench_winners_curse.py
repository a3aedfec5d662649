"""The winner's curse, measured: a search that keeps the best trial judged on one split
reports an optimistic number when it reports that same split.

    python bench/bench_winners_curse.py [--minutes M] [--workdir DIR] [--output bench/RESULTS.md]

One `mlflow-tflite search` of the shipped space (shipped params, budget and constraints),
then, over its measured trials (each has `selection/accuracy_delta` on the validation split
and `accuracy_delta` on the test split, the same images for every trial):
- the selection split: the winner is the smallest gzip size among the trials that pass the
  constraints judged on the selection split's estimates; its test-split delta is what the
  reports show;
- the old single-split way: the same rule judged on the test split, which it then reports;
  the selection split is its held-out check.
For each: the winner's delta on the split that chose it, on the other split, and the gap.
A resampling of the trials (a search of the same size run again, drawn with replacement,
2,000 times) gives the expected gap of each way, which one search cannot show.

A second table judges the accuracy gate two ways on the selection split, `gate_on` point
(the estimate) and conservative (its 95% interval's low end: non-inferiority), and shows
each way's winner on the test split, and over resampled searches how often the winner is
beyond the drop there (the shipped search judges the second way). `--reuse` tabulates the
`trials.json` (a list of trial metrics) and `search.json` (fp32's gzip bytes, the
promoted trial) this script left in `--workdir`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from mlflow_tflite.cli.console import set_environment  # noqa: E402

# What every command sets before TensorFlow loads: tf_keras for tfmot, quiet C++ logs,
# no telemetry (Prefect's server otherwise prints a traceback offline).
set_environment(verbose=True)

SELECTION = "selection/accuracy_delta"
SELECTION_LOW = "selection/accuracy_delta_ci_low"
TEST = "accuracy_delta"
RESAMPLES = 2000
# The two ways of judging the accuracy gate on the selection split (`gate_on`).
GATE_ON = {"point": SELECTION, "conservative (non-inferiority)": SELECTION_LOW}


def trials_of_search(params: str, workdir: Path, minutes: float | None) -> list[dict[str, float]]:
    """The measured trials' metrics of one shipped search in `workdir`."""
    from bench_search import search

    result = search(params, str(workdir / "cache"), "tpe", minutes,
                    f"sqlite:///{workdir / 'optuna.db'}", 42)
    rows = [{**m, "trial": name} for name, m in result["rows"].items()
            if SELECTION in m and TEST in m]
    (workdir / "trials.json").write_text(json.dumps(rows, indent=1))
    promoted = (result["decision"] or {}).get("targets", [{}])[0].get("winner")
    (workdir / "search.json").write_text(json.dumps(
        {"fp32_gzip_size_bytes": result["fp32_gzip_size_bytes"], "promoted": promoted}))
    return rows


def winner(rows: list[dict[str, float]], judged_on: str, max_drop: float,
           max_latency: float) -> dict[str, float] | None:
    """The smallest gzip size among the rows that pass the gates judged on `judged_on`."""
    passing = [r for r in rows if r[judged_on] >= -max_drop
               and r.get("latency_vs_fp32", 0.0) <= max_latency]
    return min(passing, key=lambda r: r["gzip_size_bytes"]) if passing else None


def resampled_winners(rows: list[dict[str, float]], judged_on: str, max_drop: float,
                      max_latency: float, seed: int = 0) -> list[dict[str, float]]:
    """The winner of each of `RESAMPLES` searches of the same size drawn with replacement
    from the rows that have `judged_on` (draws without a winner left out); the same seed
    draws the same searches for every way of judging."""
    usable = [r for r in rows if judged_on in r]
    if not usable:
        return []
    rng = np.random.default_rng(seed)
    winners = []
    for _ in range(RESAMPLES):
        drawn = [usable[i] for i in rng.integers(0, len(usable), len(usable))]
        best = winner(drawn, judged_on, max_drop, max_latency)
        if best is not None:
            winners.append(best)
    return winners


def expected_gaps(rows: list[dict[str, float]], max_drop: float, max_latency: float
                  ) -> dict[str, tuple[float, float, int]]:
    """Per way: the mean gap (delta on the deciding split minus on the other) of the winner
    over resampled searches of the same size, its standard error and the draws that
    had a winner."""
    found = {}
    for judged_on, other in ((SELECTION, TEST), (TEST, SELECTION)):
        g = [w[judged_on] - w[other]
             for w in resampled_winners(rows, judged_on, max_drop, max_latency)]
        found[judged_on] = (float(np.mean(g)) if g else float("nan"),
                            float(np.std(g) / np.sqrt(len(g))) if g else float("nan"), len(g))
    return found


def held_out(rows: list[dict[str, float]], max_drop: float, max_latency: float,
             fp32_gzip: float | None = None) -> str:
    """The champion on images no decision saw, per `gate_on` of the accuracy gate: this
    search's winner, and over resampled searches how often the winner is beyond the
    drop on the test split."""
    lines = ["| accuracy gate judged on | winner, gzip B (x fp32) | its selection delta (pt) | "
             "its test delta (pt) | resampled searches with a winner | ... whose winner is "
             f"beyond -{max_drop * 100:g} pt on test | mean test delta of the winner (pt) | "
             "median winner gzip B |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for way, judged_on in GATE_ON.items():
        winners = resampled_winners(rows, judged_on, max_drop, max_latency)
        beyond = sum(w[TEST] < -max_drop - 1e-9 for w in winners)
        mine = winner([r for r in rows if judged_on in r], judged_on, max_drop, max_latency)
        times = (f" ({fp32_gzip / mine['gzip_size_bytes']:.1f}x)"
                 if mine is not None and fp32_gzip else "")
        cells = (["none passes", "", ""] if mine is None else
                 [f"{mine.get('trial', '')} {mine['gzip_size_bytes']:,.0f}{times}",
                  f"{mine[SELECTION] * 100:+.2f}", f"{mine[TEST] * 100:+.2f}"])
        share = f"{100 * beyond / len(winners):.1f}%" if winners else "-"
        mean = f"{np.mean([w[TEST] for w in winners]) * 100:+.2f}" if winners else "-"
        size = f"{np.median([w['gzip_size_bytes'] for w in winners]):,.0f}" if winners else "-"
        lines.append(f"| {way} (`{judged_on}`) | {' | '.join(cells)} | "
                     f"{len(winners)} of {RESAMPLES} | {share} | {mean} | {size} |")
    return "\n".join(lines)


def table(rows: list[dict[str, float]], max_drop: float, max_latency: float) -> str:
    lines = ["| way | judged on | winner gzip B | delta on the deciding split (pt) | "
             "delta on the other split (pt) | optimism of the decision (pt) | "
             "expected optimism over 2,000 resampled searches (pt) |",
             "|---|---|---:|---:|---:|---:|---:|"]
    expected = expected_gaps(rows, max_drop, max_latency)
    for way, judged_on, other in (("selection split", SELECTION, TEST),
                                  ("old single split", TEST, SELECTION)):
        best = winner(rows, judged_on, max_drop, max_latency)
        mean, se, drawn = expected[judged_on]
        if best is None:
            lines.append(f"| {way} | {judged_on} | none passes | | | | {mean * 100:+.2f} |")
            continue
        decided, held = best[judged_on] * 100, best[other] * 100
        lines.append(f"| {way} | `{judged_on}` | {best['gzip_size_bytes']:,.0f} | "
                     f"{decided:+.2f} | {held:+.2f} | {decided - held:+.2f} | "
                     f"{mean * 100:+.2f} ± {se * 100:.2f} ({drawn} draws with a winner) |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default=str(ROOT / "params.yaml"))
    parser.add_argument("--minutes", type=float, default=None,
                        help="search budget in minutes, no trial cap (default: the shipped "
                        "search.budget)")
    parser.add_argument("--workdir", default=None, help="scratch directory (default: temp)")
    parser.add_argument("--reuse", action="store_true",
                        help="tabulate the trials.json already in --workdir")
    parser.add_argument("--output", metavar="FILE", help="append the results as markdown")
    args = parser.parse_args(argv)

    from mlflow_tflite.config import load_params

    params_path = str(Path(args.params).resolve())
    constraints = load_params(params_path).search.constraints
    max_drop = float(getattr(constraints, "max_accuracy_drop", None) or 0.01)
    max_latency = float(getattr(constraints, "max_latency_vs_fp32", None) or float("inf"))
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="bench-curse-"))
    workdir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    if args.reuse:
        rows = json.loads((workdir / "trials.json").read_text())
    else:
        os.chdir(workdir)
        os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{workdir / 'mlflow.db'}"
        rows = trials_of_search(params_path, workdir, args.minutes)
    saved = workdir / "search.json"
    search = json.loads(saved.read_text()) if saved.is_file() else {}
    load = os.getloadavg()
    gaps = [abs(r[SELECTION] - r[TEST]) * 100 for r in rows]
    signed = np.array([r[SELECTION] - r[TEST] for r in rows]) * 100
    report = (f"\n## The winner's curse (bench/bench_winners_curse.py), "
              f"{time.strftime('%Y-%m-%d %H:%M')} UTC\n\n"
              f"`python bench/bench_winners_curse.py"
              f"{'' if args.minutes is None else f' --minutes {args.minutes:g}'}` on "
              f"{os.cpu_count()} cores, shared (load average at the end {load[0]:.1f}), "
              f"{(time.perf_counter() - started) / 60:.1f} min. One shipped search: "
              f"{len(rows)} measured trials; gates `max_accuracy_drop` {max_drop:g}, "
              f"`max_latency_vs_fp32` {max_latency:g}. Per trial, the two splits' deltas "
              f"differ by {np.median(gaps):.2f} pt (median), {max(gaps):.2f} pt at most; "
              f"selection minus test is {signed.mean():+.2f} pt on average (sd "
              f"{signed.std():.2f}).\n\n"
              f"{table(rows, max_drop, max_latency)}\n\n"
              f"{held_out(rows, max_drop, max_latency, search.get('fp32_gzip_size_bytes'))}\n"
              + (f"\nThe search promoted {search['promoted']}.\n" if search.get("promoted")
                 else ""))
    print(report)
    if args.output:
        with open(args.output, "a") as handle:
            handle.write(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
