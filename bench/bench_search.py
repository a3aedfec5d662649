"""The compression search against a plain TFMOT script and the default variants, one run.

    python bench/bench_search.py [--minutes M] [--params params.yaml] [--output bench/RESULTS.md]

On the default MNIST task, all four rows in one process, side by side:
- (a) a plain TFMOT script: library calls only (no Prefect, MLflow, Optuna), 10 baseline
  epochs, the seed PCQAT recipe (prune 75% / 16 clusters / QAT) and prune 80% then 8
  clusters with preserved sparsity, converted as a plain script would (dense int8);
- (b) the default variant list (`mlflow-tflite run`);
- (c) `mlflow-tflite search` as shipped (TPE, the default objective, constraints, space,
  warm start and budget: 40 trials or 15 minutes; `--minutes` replaces the budget by
  minutes alone);
- (d) the same search with the random sampler and the same budget;
(c) and (d) once per `--seeds` value (`search.seed`; one seed decides little: the rows
differ by a trial or two).
(b), (c) and (d) share one artifact store, so the baseline is trained once, as in a
project (the warm-start trials of (c) and (d) are the listed variants (b) built); the
searches start from fresh studies.

Compression is the docs' (`measure.size.compression_ratio`): the fp32 `.tflite`'s gzip
bytes over the variant's gzip bytes. For each row: the best compression at <= 1.0 pt
accuracy drop, the same among variants not slower than fp32 on the primary delegate
(`latency_vs_fp32` <= 1, what the default policy promotes), at <= 0.5 pt, and the trial
count; for the searches the bookkeeping (Optuna ask/tell, Prefect task overhead, MLflow
logging) against wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from mlflow_tflite.cli.console import set_environment  # noqa: E402

# What every command sets before TensorFlow loads: tf_keras for tfmot, quiet C++ logs,
# no telemetry (Prefect's server otherwise prints a traceback offline).
set_environment(verbose=True)

PLAIN_RECIPES: dict[str, dict[str, Any]] = {
    "pcqat (seed recipe)": {"prune": {"final_sparsity": 0.75, "epochs": 2},
                            "cluster": {"clusters": 16, "preserve_sparsity": True, "epochs": 1},
                            "qat": {"epochs": 1}},
    "prune 80% + cluster 8": {"prune": {"final_sparsity": 0.8, "epochs": 3},
                              "cluster": {"clusters": 8, "preserve_sparsity": True,
                                          "epochs": 2}},
}


def plain_script(params_path: str) -> dict[str, Any]:
    """(a): the notebook a user would write, through the library functions only."""
    from mlflow_tflite import compress, convert, train
    from mlflow_tflite.config import CompressConfig, ConvertConfig, load_params
    from mlflow_tflite.data import prepare_dataset
    from mlflow_tflite.measure import measure_variant, predict_outputs

    started = time.perf_counter()
    params = load_params(params_path, ["train.epochs=10"])
    dataset = prepare_dataset(params.data)
    trained = train.train_baseline(dataset, params.train, log=lambda *_: None)
    fp32 = convert.convert_model(trained.model, ConvertConfig(quantization="none"), dataset)
    reference = predict_outputs(fp32, dataset.x_test)

    def measured(flatbuffer: bytes) -> dict[str, float]:
        return measure_variant(flatbuffer, dataset.x_test, dataset.y_test,
                               config=params.benchmark, baseline_accuracy=trained.accuracy,
                               reference_outputs=reference, fp32_size_bytes=len(fp32),
                               fp32_model=fp32).metrics()

    rows = {"fp32": measured(fp32)}
    int8 = ConvertConfig(quantization="int8", io_type="int8")
    for name, recipe in PLAIN_RECIPES.items():
        model = compress.compress_model(trained.model, CompressConfig.model_validate(recipe),
                                        dataset, params.train, log=lambda *_: None)
        rows[name] = measured(convert.convert_model(model, int8, dataset, sparse=False))
    return {"fp32_gzip_size_bytes": rows["fp32"]["gzip_size_bytes"], "rows": rows,
            "count": len(PLAIN_RECIPES),
            "wall_s": time.perf_counter() - started}


def default_variants(params_path: str, cache_dir: str) -> dict[str, Any]:
    """(b): the shipped variant list through the flow."""
    from mlflow_tflite_flows.optimize import run_flow

    started = time.perf_counter()
    result = run_flow(params_path, ["search.enabled=false"], cache_dir=cache_dir,
                      reports_dir="reports-b")
    rows = {v["name"]: v["metrics"] for v in result["variants"] if v["status"] == "ok"}
    return {"fp32_gzip_size_bytes": rows["fp32"]["gzip_size_bytes"], "rows": rows,
            "count": len(rows),
            "wall_s": time.perf_counter() - started, "decision": result.get("decision")}


def search(params_path: str, cache_dir: str, sampler: str, minutes: float | None,
           storage: str, seed: int, extra: tuple[str, ...] = ()) -> dict[str, Any]:
    """(c)/(d): the search flow on the shipped budget, or `minutes` and no trial cap;
    `extra` overrides more keys (bench_fidelity.py: the pruner)."""
    from mlflow_tflite_flows.search import run_search

    overrides = [f"search.sampler={sampler}", f"search.storage={storage}", f"search.seed={seed}",
                 *extra]
    if minutes is not None:
        overrides.append("search.budget.trials=null")
    started = time.perf_counter()
    result = run_search(params_path, overrides, cache_dir=cache_dir, minutes=minutes,
                        reports_dir="-".join(["reports", sampler, str(seed),
                                              *(e.rsplit("=", 1)[-1] for e in extra)]))
    wall = time.perf_counter() - started
    trials = result["trials"]
    rows = {f"trial-{t['number']}": t["metrics"] for t in trials if t["metrics"]}
    states: dict[str, int] = {}
    for t in trials:
        states[t["state"]] = states.get(t["state"], 0) + 1
    overhead = result["overhead"]
    compute = sum(t["compute_s"] for t in trials)
    logging = sum(t["log_s"] for t in trials)
    bookkeeping = overhead["ask_s"] + overhead["tell_s"] + overhead["task_s"] + logging
    return {"fp32_gzip_size_bytes": result["fp32_gzip_size_bytes"], "rows": rows,
            "count": len(trials),
            "states": states, "wall_s": wall, "bookkeeping_s": bookkeeping,
            "decision": result.get("decision"), "compute_s": compute, "log_s": logging,
            "ask_tell_s": overhead["ask_s"] + overhead["tell_s"], "task_s": overhead["task_s"],
            "bookkeeping_share": bookkeeping / max(compute + bookkeeping, 1e-9),
            "loop_s": overhead["loop_s"],
            "idle_share": 1 - compute / max(overhead["loop_s"], 1e-9),
            # The size screen: trials it stopped, and its estimate against the full build
            # for the trials that went on.
            "screened_out": sum("screened before fine-tuning" in (t.get("error") or "")
                                for t in trials),
            "screen_errors": [t["screened"] / t["metrics"]["gzip_size_bytes"] - 1
                              for t in trials if t.get("screened")
                              and "gzip_size_bytes" in t["metrics"]]}


def _slower(metrics: dict[str, float], fp32_p50: float) -> bool:
    ratio = metrics.get("latency_vs_fp32")
    if ratio is None and metrics.get("latency_p50_ms"):
        ratio = metrics["latency_p50_ms"] / fp32_p50
    return ratio is None or ratio > 1.0


def best(result: dict[str, Any], fp32_p50: float) -> dict[str, Any]:
    """Best gzip compression at <= 1.0 pt (all, and not slower than fp32) and <= 0.5 pt."""
    fp32 = result["fp32_gzip_size_bytes"]
    found: dict[str, Any] = {}
    for key, limit, fast_only in (("1.0", 0.010, False), ("1.0 fast", 0.010, True),
                                  ("0.5 fast", 0.005, True)):
        within = [(fp32 / m["gzip_size_bytes"], name) for name, m in result["rows"].items()
                  if m.get("accuracy_delta", -1) >= -limit - 1e-9 and m.get("gzip_size_bytes")
                  and not (fast_only and _slower(m, fp32_p50))]
        found[key] = max(within) if within else (None, "-")
    return found


def table(results: dict[str, dict[str, Any]], fp32_p50: float) -> str:
    lines = ["| approach | best gzip x at <= 1.0 pt | ... and not slower than fp32 | "
             "... at <= 0.5 pt | trials | wall min |",
             "| --- | --- | --- | --- | --- | --- |"]
    for label, result in results.items():
        b = best(result, result.get("fp32_p50", fp32_p50))
        cells = [f"{x:.1f}x ({name})" if x else "none" for x, name in b.values()]
        count = str(result["count"])
        if "states" in result:
            states = sorted(result["states"].items())
            count += " (" + ", ".join(f"{n} {s}" for s, n in states) + ")"
        lines.append(f"| {label} | {' | '.join(cells)} | {count} | "
                     f"{result['wall_s'] / 60:.1f} |")
    return "\n".join(lines)


def bookkeeping(results: dict[str, dict[str, Any]]) -> str:
    lines = ["| search | wall s | trial compute s | MLflow logging s | Optuna ask+tell s | "
             "Prefect task overhead s | bookkeeping / wall | search loop s | "
             "loop time not building or measuring |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for label, r in results.items():
        if "bookkeeping_share" in r:
            lines.append(f"| {label} | {r['wall_s']:.0f} | {r['compute_s']:.1f} | "
                         f"{r['log_s']:.1f} | {r['ask_tell_s']:.2f} | {r['task_s']:.1f} | "
                         f"{100 * r['bookkeeping_s'] / r['wall_s']:.1f}% | {r['loop_s']:.1f} | "
                         f"{100 * r['idle_share']:.1f}% |")
    return "\n".join(lines)


def targets(results: dict[str, dict[str, Any]], fp32_p50: float) -> str:
    """The issue's targets, met or missed, read off the table (per seed, and the mean)."""
    score = {label: best(r, r.get("fp32_p50", fp32_p50))["1.0 fast"][0] or 0.0
             for label, r in results.items()}
    plain = score[next(label for label in results if label.startswith("(a)"))]
    tpe = {r["seed"]: label for label, r in results.items() if label.startswith("(c)")}
    rand = {r["seed"]: label for label, r in results.items() if label.startswith("(d)")}
    checks = []
    for seed, label in tpe.items():
        c, d = score[label], score[rand[seed]]
        share = results[label]["bookkeeping_s"] / results[label]["wall_s"]
        checks += [
            (f"seed {seed}: (c) >= 25x at <= 1.0 pt, not slower than fp32: {c:.1f}x", c >= 25),
            (f"seed {seed}: (c) beats (d): {c:.1f}x vs. {d:.1f}x", c > d),
            (f"seed {seed}: (c) beats (a): {c:.1f}x vs. {plain:.1f}x", c > plain),
            (f"seed {seed}: (c) bookkeeping <= 5% of wall time: {100 * share:.1f}%",
             share <= 0.05),
        ]
    if len(tpe) > 1:
        mean_c = sum(score[label] for label in tpe.values()) / len(tpe)
        mean_d = sum(score[label] for label in rand.values()) / len(rand)
        checks.append((f"mean over {len(tpe)} seeds: (c) beats (d): {mean_c:.1f}x vs. "
                       f"{mean_d:.1f}x", mean_c > mean_d))
    return "\n".join(f"- {'met' if ok else 'MISSED'}: {text}" for text, ok in checks)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default=str(ROOT / "params.yaml"))
    parser.add_argument("--minutes", type=float, default=None,
                        help="budget of (c) and (d) in minutes, no trial cap (default: the "
                        "shipped search.budget)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[42],
                        help="search.seed of (c) and (d); several run both once per seed")
    parser.add_argument("--workdir", default=None, help="scratch directory (default: a temp dir)")
    parser.add_argument("--output", metavar="FILE", help="append the results as markdown")
    args = parser.parse_args(argv)

    params = str(Path(args.params).resolve())
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="bench-search-"))
    workdir.mkdir(parents=True, exist_ok=True)
    os.chdir(workdir)
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{workdir / 'mlflow.db'}"
    cache = str(workdir / "cache")
    started = time.perf_counter()
    results: dict[str, dict[str, Any]] = {}
    results["(a) plain TFMOT script"] = plain_script(params)
    results["(a) plain TFMOT script"]["fp32_p50"] = results["(a) plain TFMOT script"]["rows"][
        "fp32"]["latency_p50_ms"]
    results["(b) default variants"] = default_variants(params, cache)
    fp32_p50 = results["(b) default variants"]["rows"]["fp32"]["latency_p50_ms"]
    budget = "shipped budget" if args.minutes is None else f"{args.minutes:g} min"
    for seed in args.seeds:
        for label, sampler in (("(c) search, TPE", "tpe"), ("(d) search, random", "random")):
            storage = f"sqlite:///{workdir / f'optuna-{sampler}-{seed}.db'}"
            results[f"{label}, seed {seed}, {budget}"] = search(params, cache, sampler,
                                                                args.minutes, storage, seed)
            results[f"{label}, seed {seed}, {budget}"]["seed"] = seed
    took = time.perf_counter() - started
    load = os.getloadavg()
    stamp = time.strftime("%Y-%m-%d %H:%M")
    report = (f"\n## Compression search (bench/bench_search.py), {stamp}\n\n"
              f"`python bench/bench_search.py"
              f"{'' if args.minutes is None else f' --minutes {args.minutes:g}'}"
              f"{'' if args.seeds == [42] else ' --seeds ' + ' '.join(map(str, args.seeds))}` on "
              f"{os.cpu_count()} cores "
              f"(load average at the end {load[0]:.1f}, {load[1]:.1f}, {load[2]:.1f}), "
              f"{took / 60:.1f} min in all. fp32 p50 of (b): {fp32_p50:.4f} ms.\n\n"
              f"{table(results, fp32_p50)}\n\n{bookkeeping(results)}\n\n"
              f"{targets(results, fp32_p50)}\n")
    winners = [f"{label.rsplit(', ', 1)[0]} "
               f"{(r['decision'] or {}).get('targets', [{}])[0].get('winner')}"
               for label, r in results.items() if "decision" in r]
    report += f"\nPromoted (default policy of each flow): {', '.join(winners)}.\n"
    (workdir / "results.json").write_text(json.dumps(results, indent=1, default=str))
    print(report)
    if args.output:
        with open(args.output, "a") as handle:
            handle.write(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
