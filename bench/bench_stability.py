"""Decision stability: the shipped flow re-measured N times (issue 29, item 5b).

    python bench/bench_stability.py --repo DIR [--reps 5]

DIR is a copy of the repository that has run the shipped flow once (`mlflow-tflite run
--params params.yaml`), so every build is in its `.mlflow_tflite/cache`. Each repetition
deletes the stored measurements only (`cache/measure`) and runs `mlflow-tflite run --force`
there: builds reused, every variant measured again, one new flow run promoted into DIR's
own `mlflow.db`. Nothing outside DIR is touched.

Then every repetition's variants are judged, in order, under four policies (the shipped
`promote` section; the champion carried from one repetition to the next as the registry
does, a byte-identical winner keeping it):

- `before`: point gates, champion moved on point estimates (the metrics' intervals removed:
  the policy before issue 29);
- `point`: point gates, champion moved only beyond noise;
- `lenient`: `gate_on: lenient`, champion moved only beyond noise;
- `conservative`: `gate_on: conservative`, champion moved only beyond noise.

`--cost ROUNDS` instead times only what issue 29 changed in the measurement, per build in
DIR's cache: fp32 then the variant timed back to back (before) against the two timed
interleaved with the bootstrap (after), at the params' benchmark settings.

Printed: the champion after each repetition and how often it changed, each gate verdict
that differs between repetitions (per variant, one letter per repetition: P passed, F
failed), and every repetition's `latency_vs_fp32 [low, high]` of the variants whose
latency verdict is not the same in every repetition under some policy.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def repeat(repo: Path, reps: int) -> list[float]:
    """Run the flow `reps` times in `repo`, measurements deleted before each; seconds each."""
    env = {**os.environ, "TF_USE_LEGACY_KERAS": "1", "PYTHONPATH": str(repo)}
    command = [str(Path(sys.executable).parent / "mlflow-tflite"), "run", "--params",
               "params.yaml", "--force"]
    seconds = []
    for number in range(reps):
        shutil.rmtree(repo / ".mlflow_tflite" / "cache" / "measure", ignore_errors=True)
        started = time.time()
        done = subprocess.run(command, cwd=repo, env=env, capture_output=True, text=True)
        seconds.append(time.time() - started)
        (repo / f"stability_{number + 1}.log").write_text(done.stdout + done.stderr)
        if done.returncode:
            raise SystemExit(f"repetition {number + 1} failed: see {repo}/stability_"
                             f"{number + 1}.log")
    return seconds


def flow_runs(repo: Path, last: int) -> list:
    """The `last` flow runs in `repo`'s store, oldest first, as registry FlowRuns."""
    from mlflow import MlflowClient

    from mlflow_tflite.registry.runs import read_flow_run

    client = MlflowClient(tracking_uri=f"sqlite:///{repo / 'mlflow.db'}")
    runs = client.search_runs(
        [e.experiment_id for e in client.search_experiments()],
        "tags.`mlflow_tflite.role` = 'flow' and attributes.status = 'FINISHED'",
        order_by=["attributes.start_time DESC"], max_results=last)
    return [read_flow_run(client, r.info.run_id) for r in reversed(runs)]


def _without_intervals(candidate):
    from dataclasses import replace

    return replace(candidate, metrics={k: v for k, v in candidate.metrics.items()
                                       if "_ci_" not in k})


def judge(flows: list, target) -> tuple[list[str], dict[tuple[str, str], str]]:
    """Champion after each repetition, and (variant, gate) -> one verdict letter per rep."""
    from mlflow_tflite.registry.policy import against_champion, constraint_failures, evaluate

    champion = None
    champions: list[str] = []
    verdicts: dict[tuple[str, str], str] = {}
    for flow in flows:
        evaluation = evaluate(flow.candidates, target)
        winner = evaluation.winner
        if winner is not None and (champion is None or (
                winner.variant != champion.variant  # same build: byte-identical, kept
                and against_champion(winner.metrics, champion.metrics, target).replace)):
            champion = winner
        champions.append(champion.variant if champion else "-")
        for candidate in flow.candidates:
            failed = {f.constraint for f in constraint_failures(
                candidate.metrics, target.constraints, tags=candidate.tags)}
            for gate in target.constraints.gates():
                key = (candidate.variant, gate.gate.key)
                verdicts[key] = verdicts.get(key, "") + ("F" if gate.gate.key in failed else "P")
    return champions, verdicts


def policies(repo: Path):
    from mlflow_tflite.config import load_params

    target = load_params(repo / "params.yaml").promote.resolved_targets()[0]
    from dataclasses import replace

    def gated(mode: str):
        return replace(target, constraints=target.constraints.model_copy(
            update={"gate_on": mode}))

    return {"before": (target, True), "point": (target, False),
            "lenient": (gated("lenient"), False), "conservative": (gated("conservative"), False)}


def report(flows: list, repo: Path) -> str:
    from tabulate import tabulate

    lines, flips, champion_rows = [], [], []
    flipping: set[str] = set()
    for name, (target, strip) in policies(repo).items():
        judged = [type(f)(f.run_id, f.experiment_id, f.data_version,
                          [_without_intervals(c) if strip else c for c in f.candidates],
                          f.ignored) for f in flows]
        champions, verdicts = judge(judged, target)
        changes = sum(a != b for a, b in zip(champions, champions[1:], strict=False))
        champion_rows.append([name, " ".join(champions), changes])
        for (variant, gate), letters in sorted(verdicts.items()):
            if len(set(letters)) > 1:
                flips.append([name, variant, gate, letters])
                flipping.add(variant)
    lines.append(tabulate(champion_rows, headers=["policy", "champion after each rep",
                                                  "changes"], tablefmt="github"))
    lines.append("")
    lines.append(tabulate(flips or [["-", "-", "-", "no verdict changed"]],
                          headers=["policy", "variant", "gate", "verdict per rep"],
                          tablefmt="github"))
    ratios = []
    for variant in sorted(flipping):
        cells = []
        for flow in flows:
            metrics = next((c.metrics for c in flow.candidates if c.variant == variant), {})
            cells.append(f"{metrics.get('latency_vs_fp32', float('nan')):.3f} "
                         f"[{metrics.get('latency_vs_fp32_ci_low', float('nan')):.3f}, "
                         f"{metrics.get('latency_vs_fp32_ci_high', float('nan')):.3f}]")
        ratios.append([variant, *cells])
    if ratios:
        lines.append("")
        lines.append(tabulate(ratios, headers=["variant", *(f"rep {i + 1}" for i in
                                                            range(len(flows)))],
                              tablefmt="github"))
    return "\n".join(lines)


def _label(build: Path) -> str:
    import json

    recipe = json.loads((build / "meta.json").read_text())["recipe"]
    steps = [name for name, block in recipe["compress"].items() if block]
    return "+".join([*steps, recipe["convert"]["quantization"]])


def cost(repo: Path, rounds: int) -> str:
    """Wall time of the latency_vs_fp32 timing per shipped build, the old way (fp32's 5+50
    invokes, then the variant's) against the interleaved one (5+5 warm-up, 50+50 in
    blocks, and the bootstrap), alternated over `rounds` rounds; medians in ms."""
    import statistics

    from tabulate import tabulate

    from mlflow_tflite.config import load_params
    from mlflow_tflite.measure.interleaved import measure_interleaved
    from mlflow_tflite.measure.latency import measure_latency

    config = load_params(repo / "params.yaml").benchmark
    cache = repo / ".mlflow_tflite" / "cache"
    fp32 = next(cache.glob("baseline/*/fp32.tflite")).read_bytes()
    settings = {"threads": config.threads, "warmup_runs": config.warmup_runs,
                "timed_runs": config.timed_runs}
    table, total_old, total_new = [], 0.0, 0.0
    for build in sorted(cache.glob("build/*/model.tflite")):
        model = build.read_bytes()
        if model == fp32:
            continue
        old, new = [], []
        for _ in range(rounds):
            started = time.perf_counter()
            measure_latency(fp32, config.primary_delegate, **settings)
            measure_latency(model, config.primary_delegate, **settings)
            old.append(time.perf_counter() - started)
            started = time.perf_counter()
            measure_interleaved(model, fp32, config.primary_delegate, config.primary_delegate,
                                **settings)
            new.append(time.perf_counter() - started)
        o, n = statistics.median(old) * 1e3, statistics.median(new) * 1e3
        total_old, total_new = total_old + o, total_new + n
        table.append([_label(build.parent), len(model), f"{o:.1f}", f"{n:.1f}", f"{n - o:+.1f}"])
    table.append(["total", "", f"{total_old:.1f}", f"{total_new:.1f}",
                  f"{total_new - total_old:+.1f}"])
    return tabulate(table, headers=["build", "bytes", "back to back ms", "interleaved ms",
                                    "added ms"], tablefmt="github")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", type=Path, required=True)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--report-only", action="store_true",
                        help="judge the last --reps flow runs already in the store")
    parser.add_argument("--cost", type=int, metavar="ROUNDS",
                        help="only time the latency_vs_fp32 measurement, old way and new")
    args = parser.parse_args(argv)
    repo = args.repo.resolve()
    if args.cost:
        print(cost(repo, args.cost))
        return 0
    if not args.report_only:
        seconds = repeat(repo, args.reps)
        print(f"repetitions: {', '.join(f'{s:.0f}' for s in seconds)} s; load average "
              f"{', '.join(f'{v:.2f}' for v in os.getloadavg())}")
    print(report(flow_runs(repo, args.reps), repo))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
