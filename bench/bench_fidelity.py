"""Multi-fidelity pruning against the threshold pruner: the shipped search, one run each.

    python bench/bench_fidelity.py [--minutes 10] [--params params.yaml] [--output FILE]

On the default MNIST task: the default variants first (their builds are the warm-start
trials' starting points in both searches), then the shipped search (TPE, space,
constraints, warm start) for `--minutes` with no trial cap, once with `search.pruner.type:
threshold` (shipped) and once with `successive_halving` (Optuna's defaults, the threshold
as a floor), each on a fresh study and its own copy of that artifact store. Rows: trials run,
their states, trials per 10 minutes, and the best gzip compression at <= 1 pt (and not
slower than fp32, what the default policy promotes). One run each: a difference of a
trial or two is noise.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_search import best, default_variants, search  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TYPES = ("threshold", "successive_halving")


def rows(results: dict[str, dict[str, Any]], fp32_p50: float) -> str:
    lines = ["| pruner | trials (states) | trials / 10 min | best gzip x at <= 1.0 pt | "
             "... and not slower than fp32 | wall min |", "| --- | --- | --- | --- | --- | --- |"]
    for label, r in results.items():
        found = best(r, fp32_p50)
        cells = [f"{x:.1f}x ({name})" if x else "none" for x, name in
                 (found["1.0"], found["1.0 fast"])]
        states = ", ".join(f"{n} {s}" for s, n in sorted(r["states"].items()))
        per10 = r["count"] / (r["loop_s"] / 600.0)
        lines.append(f"| {label} | {r['count']} ({states}) | {per10:.1f} | {' | '.join(cells)} "
                     f"| {r['wall_s'] / 60:.1f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default=str(ROOT / "params.yaml"))
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--types", nargs="+", default=list(TYPES), choices=TYPES)
    parser.add_argument("--workdir", default=None, help="scratch directory (default: a temp dir)")
    parser.add_argument("--output", metavar="FILE", help="append the results as markdown")
    args = parser.parse_args(argv)

    params = str(Path(args.params).resolve())
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="bench-fidelity-"))
    workdir.mkdir(parents=True, exist_ok=True)
    os.chdir(workdir)
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{workdir / 'mlflow.db'}"
    cache = str(workdir / "cache")
    started = time.perf_counter()
    fp32_p50 = default_variants(params, cache)["rows"]["fp32"]["latency_p50_ms"]
    results: dict[str, dict[str, Any]] = {}
    for kind in args.types:
        storage = f"sqlite:///{workdir / f'optuna-{kind}.db'}"
        # A store of its own: neither search reuses the other's trials' steps.
        own = shutil.copytree(cache, f"{cache}-{kind}")
        results[f"`{kind}`"] = search(params, str(own), "tpe", args.minutes, storage, 42,
                                      extra=(f"search.pruner.type={kind}",))
    load = os.getloadavg()
    report = (f"\n## Multi-fidelity pruning (bench/bench_fidelity.py), "
              f"{time.strftime('%Y-%m-%d %H:%M')}\n\n"
              f"`python bench/bench_fidelity.py --minutes {args.minutes:g}` on "
              f"{os.cpu_count()} cores (load average at the end {load[0]:.1f}, {load[1]:.1f}, "
              f"{load[2]:.1f}), {(time.perf_counter() - started) / 60:.1f} min in all; "
              f"trials / 10 min counts over the search loop's wall time.\n\n"
              f"{rows(results, fp32_p50)}\n")
    (workdir / "results.json").write_text(json.dumps(results, indent=1, default=str))
    print(report)
    if args.output:
        with open(args.output, "a") as handle:
            handle.write(report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
