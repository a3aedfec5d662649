"""A search's results, rebuilt from the study: trials, the Pareto front, tables and plots.

Each told trial carries its TrialResult as the user attribute `mlflow_tflite.result`, so
the results of every invocation of a resumed search come from the study alone.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mlflow_tflite.config.promote import ConstraintsConfig
from mlflow_tflite.measure.size import compression_ratio
from mlflow_tflite.metrics import find_metric, higher_is_better, shown_in
from mlflow_tflite.plugins.technique import technique_names
from mlflow_tflite.search import objective
from mlflow_tflite.search import study as studies
from mlflow_tflite.search.trial import TrialResult, trial_name
from mlflow_tflite.tracking import VariantRecord, pareto_plot

RESULT_ATTR = studies.RESULT_ATTR
# The search's size is gzipped (its default objective): `gzip_compression` is the fp32
# .tflite's gzip bytes over the trial's, a column after the gzip size metric.
GZIP_COMPRESSION = "gzip_compression"


def _metric_columns() -> tuple[str, ...]:
    """The catalogue's `trials` metrics, `gzip_compression` after the gzip size."""
    columns: list[str] = []
    for name in shown_in("trials"):
        columns.append(name)
        if name == _gzip_size():
            columns.append(GZIP_COMPRESSION)
    return tuple(columns)


def _gzip_size() -> str:
    """The gzip size metric: the search's default objective (`gzip_size_bytes`)."""
    (name,) = [m for m in shown_in("trials") if find_metric(m).unit == "B"
               and find_metric(m).default_objective]
    return name


COLUMNS = ("trial", "state", "technique", "quantization", "sampled", *_metric_columns(),
           "pareto", "run_id")


def study_results(study: Any) -> list[TrialResult]:
    """Every told trial of the study with a recorded result, by trial number."""
    found = [TrialResult(**t.user_attrs[RESULT_ATTR])
             for t in study.get_trials(deepcopy=False) if RESULT_ATTR in t.user_attrs]
    return sorted(found, key=lambda r: r.number)


def tell(study: Any, trial: Any, result: TrialResult, budget: studies.Budget) -> None:
    """Tell Optuna how `trial` ended (its constraints with a value), record `result` on
    it for `study_results`, and count it against the budget."""
    from optuna.trial import TrialState

    trial.set_user_attr(RESULT_ATTR, as_dict(result))
    if result.state in (objective.COMPLETE, objective.INFEASIBLE):
        objective.set_constraints(trial, result.constraints)
        study.tell(trial, result.values)
    elif result.state == objective.PRUNED:
        study.tell(trial, state=TrialState.PRUNED)
    else:
        study.tell(trial, state=TrialState.FAIL)
    budget.used_trials += 1
    study.set_user_attr(studies.ELAPSED_ATTR, budget.elapsed())


def dominates(a: Sequence[float], b: Sequence[float], maximize: Sequence[bool]) -> bool:
    """Whether `a` is at least as good as `b` everywhere and better somewhere."""
    better = False
    for x, y, up in zip(a, b, maximize, strict=True):
        if (x < y) if up else (x > y):
            return False
        better = better or ((x > y) if up else (x < y))
    return better


def pareto_front(results: Sequence[TrialResult], names: Sequence[str]) -> list[TrialResult]:
    """The complete (feasible) trials no other complete trial dominates on `names`."""
    maximize = [higher_is_better(n) for n in names]
    pool = [r for r in results if r.state == objective.COMPLETE and r.values is not None]
    return [r for r in pool
            if not any(dominates(o.values, r.values, maximize) for o in pool if o is not r)]


def closest(results: Sequence[TrialResult], constraints: ConstraintsConfig,
            names: Sequence[str]) -> tuple[TrialResult, list[str]] | None:
    """When no trial is feasible: the measured trial failing the fewest constraints (ties
    to the first objective), with its failures, as the promotion policy words them."""
    measured = [r for r in results if r.state == objective.INFEASIBLE and r.values]
    if not measured:
        return None
    sign = -1.0 if higher_is_better(names[0]) else 1.0
    best = min(measured, key=lambda r: (
        len(objective.failure_messages(r.metrics, constraints)), sign * r.values[0]))
    return best, objective.failure_messages(best.metrics, constraints)


def _compact(sampled: dict[str, Any]) -> str:
    return " ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
                    for k, v in sampled.items())


def trial_rows(results: Sequence[TrialResult], front: Sequence[TrialResult],
               fp32_gzip_bytes: int) -> list[dict[str, Any]]:
    """One row per trial (COLUMNS); `gzip_compression` is the fp32 .tflite's gzip bytes
    over the trial's (`measure.size.compression_ratio`, gzip over gzip)."""
    on_front = {r.number for r in front}
    rows = []
    for r in results:
        compress = r.variant.get("compress") or {}
        steps = [name for name in technique_names() if compress.get(name) is not None]
        gzip = r.metrics.get(_gzip_size())
        rows.append({
            "trial": r.number,
            "state": r.state,
            "technique": "+".join(steps) or "none",
            "quantization": (r.variant.get("convert") or {}).get("quantization", "none"),
            "sampled": _compact(r.sampled),
            **{m: r.metrics.get(m) for m in shown_in("trials")},
            GZIP_COMPRESSION: (round(compression_ratio(fp32_gzip_bytes, gzip), 2)
                               if gzip else None),
            "pareto": r.number in on_front,
            "run_id": r.run_id or "",
        })
    return rows


def _frame(rows: Sequence[dict[str, Any]]) -> Any:
    import pandas as pd

    return pd.DataFrame(list(rows), columns=list(COLUMNS))


def records(results: Sequence[TrialResult]) -> list[VariantRecord]:
    """Measured trials as variant records (what the Pareto plot draws)."""
    return [VariantRecord(name=trial_name(r.number), technique="", quantization="",
                          metrics=r.metrics, run_id=r.run_id)
            for r in results if r.metrics]


def write_results(study: Any, results: Sequence[TrialResult], front: Sequence[TrialResult],
                  fp32_gzip_bytes: int, names: Sequence[str], directory: str | Path
                  ) -> dict[str, Path]:
    """Write the trials and the Pareto front (CSV, markdown), the Pareto plot and Optuna's
    history and parameter-importance plots into `directory`; returns the paths by kind."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    rows = trial_rows(results, front, fp32_gzip_bytes)
    pareto_rows = [row for row in rows if row["pareto"]]
    paths = {
        "trials": directory / "search_trials.csv",
        "pareto_csv": directory / "search_pareto.csv",
        "pareto_markdown": directory / "search_pareto.md",
        "plot": directory / "search_pareto.png",
    }
    _frame(rows).to_csv(paths["trials"], index=False)
    _frame(pareto_rows).to_csv(paths["pareto_csv"], index=False)
    paths["pareto_markdown"].write_text(format_markdown(pareto_rows) + "\n")
    feasible = [r for r in results if r.state == objective.COMPLETE]
    pareto_plot(records(feasible), paths["plot"], size_metric=_gzip_size())
    paths.update(optuna_plots(study, names, directory))
    return paths


def format_markdown(rows: Sequence[dict[str, Any]]) -> str:
    """Rows as a markdown table (the Pareto table of the parent run and the Prefect UI)."""
    frame = _frame(rows).drop(columns=["run_id"])
    return frame.to_markdown(index=False) if len(frame) else "(no feasible trial)"


def optuna_plots(study: Any, names: Sequence[str], directory: Path) -> dict[str, Path]:
    """Optuna's optimization history and parameter importances for the first objective
    (PNG); skipped while the study has too few complete trials to draw them."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from optuna.trial import TrialState
    from optuna.visualization import matplotlib as optuna_plt

    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    paths: dict[str, Path] = {}
    plots = (("history", optuna_plt.plot_optimization_history, 1),
             ("importance", optuna_plt.plot_param_importances, 2))
    for kind, plot, needed in plots:
        if len(complete) < needed:
            continue
        path = directory / f"search_{kind}.png"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Optuna marks its matplotlib plots experimental
            try:
                axes = plot(study, target=lambda t: t.values[0], target_name=names[0])
            except (ValueError, RuntimeError):  # e.g. importance of a single-valued space
                continue
        figure = axes.figure if hasattr(axes, "figure") else axes[0].figure
        figure.set_size_inches(8, 5)
        figure.tight_layout()
        figure.savefig(path, dpi=100)
        plt.close(figure)
        paths[kind] = path
    return paths


def log_results(run_id: str, paths: dict[str, Path], pareto_rows: list[dict[str, Any]]) -> None:
    """Attach the tables and plots to the search's parent run, the Pareto table also as an
    MLflow table (`search/pareto.json`, shown in the run's artifact view)."""
    import mlflow

    client = mlflow.MlflowClient()
    for path in paths.values():
        client.log_artifact(run_id, str(path), artifact_path="search")
    table = {column: [row[column] for row in pareto_rows] for column in COLUMNS}
    client.log_table(run_id, data=table, artifact_file="search/pareto.json")


def as_dict(result: TrialResult) -> dict[str, Any]:
    """A result as the JSON the study keeps."""
    return dataclasses.asdict(result)


def study_results_from_dicts(items: Sequence[dict[str, Any]]) -> list[TrialResult]:
    """Results as the flow returns them (dicts) back into TrialResults."""
    return [TrialResult(**item) for item in items]


def pareto_front_rows(found: Sequence[TrialResult], pareto: Sequence[int],
                      fp32_gzip_bytes: int) -> list[dict[str, Any]]:
    """The table rows of the front's trials (trial numbers in `pareto`)."""
    front = [r for r in found if r.number in set(pareto)]
    return trial_rows(front, front, fp32_gzip_bytes)
