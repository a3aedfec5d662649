"""The search's pruners side by side: the shipped search, one run per arm.

    python bench/bench_fidelity.py [--minutes 10] [--arms threshold successive_halving]
                                   [--params params.yaml] [--output FILE]

On the default MNIST task: the default variants first (their builds are the warm-start
trials' starting points in every search), then the shipped search (TPE, space,
constraints, warm start) for `--minutes` with no trial cap, once per `--arms` entry:
`threshold` (shipped), `threshold with the size screen`
(`search.pruner.screen: true`) and `successive_halving` (Optuna's defaults, the threshold
as a floor), each on a fresh study and its own copy of that artifact store. Rows: trials
run, their states, how many the size screen stopped, trials per 10 minutes, and the best
gzip compression at <= 1 pt (and not slower than fp32, what the default policy promotes).
One run each: a difference of a trial or two is noise.
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
# Each arm: the overrides of the shipped search it runs with.
ARMS: dict[str, tuple[str, ...]] = {
    "threshold": ("search.pruner.type=threshold",),
    "threshold with the size screen": ("search.pruner.type=threshold",
                                       "search.pruner.screen=true"),
    "successive_halving": ("search.pruner.type=successive_halving",),
}


def rows(results: dict[str, dict[str, Any]], fp32_p50: float) -> str:
    lines = ["| pruner | trials (states) | screened out | trials / 10 min | best gzip x at "
             "<= 1.0 pt | ... and not slower than fp32 | wall min |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for label, r in results.items():
        found = best(r, fp32_p50)
        cells = [f"{x:.1f}x ({name})" if x else "none" for x, name in
                 (found["1.0"], found["1.0 fast"])]
        states = ", ".join(f"{n} {s}" for s, n in sorted(r["states"].items()))
        per10 = r["count"] / (r["loop_s"] / 600.0)
        lines.append(f"| {label} | {r['count']} ({states}) | {r.get('screened_out', 0)} | "
                     f"{per10:.1f} | {' | '.join(cells)} "
                     f"| {r['wall_s'] / 60:.1f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default=str(ROOT / "params.yaml"))
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--arms", nargs="+", default=["threshold", "successive_halving"],
                        choices=list(ARMS), help="searches to run, one after the other")
    parser.add_argument("--search-set", action="append", default=[], metavar="KEY=VALUE",
                        help="an override for every arm (e.g. a constraint this CPU cannot "
                        "meet: search.constraints.max_latency_vs_fp32=100)")
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
    for index, arm in enumerate(args.arms):
        storage = f"sqlite:///{workdir / f'optuna-{index}.db'}"
        # A store of its own: neither search reuses the other's trials' steps.
        own = shutil.copytree(cache, f"{cache}-{index}")
        results[f"`{arm}`"] = search(params, str(own), "tpe", args.minutes, storage, 42,
                                     extra=(*ARMS[arm], *args.search_set))
    load = os.getloadavg()
    report = (f"\n## Multi-fidelity pruning (bench/bench_fidelity.py), "
              f"{time.strftime('%Y-%m-%d %H:%M')}\n\n"
              f"`python bench/bench_fidelity.py --minutes {args.minutes:g} --arms "
              f"{' '.join(repr(arm) for arm in args.arms)}"
              f"{''.join(f' --search-set {o}' for o in args.search_set)}` on "
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
