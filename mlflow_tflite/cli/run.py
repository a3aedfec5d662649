"""`mlflow-tflite run`: the whole optimization flow, then the variants table."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlflow_tflite.cli import CommandError
from mlflow_tflite.cli.options import add_flow_options, add_params_options, add_runner_option
from mlflow_tflite.errors import first_line

if TYPE_CHECKING:
    from mlflow_tflite.config import Params
    from mlflow_tflite.pipeline import ArtifactStore
    from mlflow_tflite.pipeline.handles import PreparedData


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_params_options(parser, "train.epochs=3")
    add_runner_option(parser, "variants")
    add_flow_options(parser)
    parser.add_argument("--only", choices=["prepare"],
                        help="run one step only: `prepare` writes data.output_dir "
                        "(the DVC prepare stage)")
    parser.add_argument("--no-cache", action="store_true",
                        help="rebuild the baseline and every variant")
    parser.add_argument("--force", action="store_true",
                        help="run the flow (and log a new MLflow run) even when nothing "
                        "changed since the last finished run")
    parser.add_argument("--reports-dir", default="reports", metavar="DIR",
                        help="where variants.csv, variants.md, metrics.json, pareto.png go")


def run(args: argparse.Namespace) -> int:
    from mlflow_tflite import checks
    from mlflow_tflite.cli import guard
    from mlflow_tflite.config import ParamsError
    from mlflow_tflite.data import DataError
    from mlflow_tflite.pipeline import DEFAULT_CACHE_DIR, ArtifactStore, steps
    from mlflow_tflite.pipeline.handles import data_line

    if args.runner:
        # The same override the flow applies, so the parent run records what actually ran.
        args.overrides = [*args.overrides, f"runner.type={args.runner}"]
    try:
        # Every key is validated before any work and before any MLflow run exists.
        params = checks.load_checked_params(args.params, args.overrides)
    except ParamsError as error:
        raise CommandError(str(error)) from None
    cache_dir = args.cache_dir or DEFAULT_CACHE_DIR

    if args.only == "prepare":
        try:
            data = steps.prepare(params, ArtifactStore(cache_dir, enabled=not args.no_cache))
        except DataError as error:
            raise CommandError(str(error)) from None
        print(f"prepared {data.source} into {data.directory} (data version {data.version}); "
              f"{data_line(data)}")
        return 0

    with guard.tracked(params):
        try:
            if not (args.force or args.no_cache) and (result := unchanged_result(
                    params, ArtifactStore(cache_dir), args.reports_dir)) is not None:
                print(f"Nothing changed since MLflow run {result['parent_run_id']}: same "
                      "data, params and code, and every step's result is stored; showing "
                      "that run (--force runs the flow again).")
                print_summary(result)
                return _search(args, params, cache_dir)
            # The data is checked (and prepared) as the params are, before the flow starts:
            # a bad source is one line, not Prefect's tracebacks.
            data = prepare_in_step_process(params, cache_dir)

            from mlflow_tflite_flows import server
            from mlflow_tflite_flows.optimize import run_flow

            with server.embedded_prefect_server(), server.quiet_console(args.verbose):
                result = run_flow(args.params, args.overrides, cache_dir=cache_dir,
                                  use_cache=not args.no_cache, reports_dir=args.reports_dir,
                                  data_prepared=not data.reused)
        except DataError as error:
            raise CommandError(str(error)) from None
        except Exception as error:  # noqa: BLE001 - any failure is one line; Prefect logged it
            raise CommandError(first_line(error, with_type=True)) from None
    print_summary(result)
    return _search(args, params, cache_dir)


def prepare_in_step_process(params: Params, cache_dir: str) -> PreparedData:
    """`steps.prepare` before a command's flow, in a step process: reading a model's
    preprocessing and resizing images import TensorFlow, which the command would then hold
    for the whole run (0.8 GB at 224x224, beside every step). The step process is kept
    only when the flow's steps run in it next.

    Raises:
        DataError: the data source is unusable (one line).
    """
    from mlflow_tflite.pipeline import ArtifactStore, isolate, steps

    return isolate.call("prepare", steps.prepare, params, ArtifactStore(cache_dir),
                        keep=params.runner.steps_in_this_process)


def _search(args: argparse.Namespace, params: Params, cache_dir: str) -> int:
    """With `search.enabled`, search after the variants (`mlflow-tflite search`)."""
    if not params.search.enabled:
        return 0
    from mlflow_tflite.cli.search import print_search_summary, search

    print_search_summary(search(args.params, args.overrides, params=params,
                                verbose=args.verbose, cache_dir=cache_dir,
                                reports_dir=args.reports_dir))
    return 0


def unchanged_result(
    params: Params, store: ArtifactStore, reports_dir: str
) -> dict[str, Any] | None:
    """The last finished flow run made from the same data, params and code, shaped like
    `run_flow`'s result, when the store still holds every step's result; else None.

    Answers in about the time of importing MLflow: no Prefect, no TensorFlow. Reports
    missing from `reports_dir` (a DVC output removed, say) are written again from the run.
    """
    import dataclasses

    from mlflow_tflite import tracking
    from mlflow_tflite.pipeline import keys
    from mlflow_tflite.tracking.layout import WARNING_TAG

    key = keys.inputs_key(params, store)
    if key is None:
        return None
    uri = tracking.resolve_tracking_uri(params.mlflow.tracking_uri)
    tracking.configure_tracking(uri)
    run = tracking.finished_flow_run(params.mlflow.experiment, key)
    if run is None:
        return None
    run_id = run.info.run_id
    records = [dataclasses.replace(r, reused=True) for r in tracking.load_records(run_id)]
    decision = _stored_decision(run_id)
    models = Path(reports_dir) / tracking.report.MODELS_DIR
    reports = tracking.report_paths(reports_dir)
    if not all(path.is_file() for path in reports.values()):
        reports = tracking.write_reports(records, reports_dir,
                                         tracking.champion_variant(decision),
                                         params.promote.resolved_targets()[0].objective)
    return {
        "parent_run_id": run_id,
        "tracking_uri": uri,
        "experiment": params.mlflow.experiment,
        "experiment_id": run.info.experiment_id,
        "data_version": run.data.tags.get(tracking.layout.DATA_VERSION_TAG, ""),
        "variants": [r.to_dict() for r in records],
        "decision": decision,
        "reports": {kind: str(path) for kind, path in reports.items()}
        | ({"models": str(models)} if models.is_dir() else {}),
        "ran": {"prepare": False, "baseline": False, "compress": [], "convert": [],
                "measure": []},
        "warnings": [w for w in [run.data.tags.get(WARNING_TAG)] if w],
    }


def _stored_decision(run_id: str) -> dict[str, Any] | None:
    """The promotion decision a flow run logged, or None (promotion was disabled)."""
    import mlflow

    from mlflow_tflite.registry.promote import DECISION_ARTIFACT

    try:
        return mlflow.artifacts.load_dict(f"runs:/{run_id}/{DECISION_ARTIFACT}")
    except Exception:  # noqa: BLE001 - no decision logged: promotion was off
        return None


def _int8_note(records: list[Any]) -> str | None:
    """Why every int8 variant is slower than fp32, when the measuring CPU is the reason."""
    from mlflow_tflite.measure.cpu import int8_slower_note

    finished = [r for r in records if r.ok]
    recorded = (r.measurement.get("runtime", {}).get("cpu_int8") for r in finished)
    features = next(filter(None, recorded), "unknown")
    return int8_slower_note(
        ((r.quantization, r.metrics.get("latency_vs_fp32")) for r in finished), features)


def print_summary(result: dict[str, Any]) -> None:
    """The variants table, the promotion decision and how to open the MLflow UI."""
    from mlflow_tflite.tracking import VariantRecord, format_table, ui_hint, variant_rows

    records = [VariantRecord.from_dict(r) for r in result["variants"]]
    ran = result["ran"]
    print()
    print(f"Variants of MLflow run {result['parent_run_id']} "
          f"(experiment {result['experiment']}, data version {result['data_version']}):")
    print(format_table(variant_rows(records), "table"))
    rebuilt = sorted(set(ran["compress"]) | set(ran["convert"]))
    built = [r for r in records if not r.skipped]
    skipped = len(records) - len(built)
    baseline = ("reused" if not ran["baseline"]
                else "trained" if ran.get("baseline_trained", True) else "used as is")
    print(f"\nbaseline {baseline}; "
          f"built {len(rebuilt)}, measured {len(ran['measure'])}, "
          f"reused {sum(r.reused for r in built)} of {len(built)} variants"
          + (f"; skipped {skipped} the baseline cannot take" if skipped else ""))
    if note := _int8_note(built):
        print(f"Note: {note}")
    for record in records:
        if record.skipped:
            print(f"skipped {record.name}: {record.error}")
        elif not record.ok:
            print(f"FAILED {record.name} at {record.failed_step}: {record.error}")
    for warning in result.get("warnings", []):
        print(f"\nWARNING: {warning}")
    decision = result.get("decision")
    print(f"\nPromotion: {decision['summary'] if decision else 'not run'}")
    print(f"Reports: {result['reports']['markdown']}, {result['reports']['plot']}")
    if models := result["reports"].get("models"):
        print(f"Models: {models}/<variant>.tflite (the .tflite of each finished variant)")
    print(f"MLflow UI: {ui_hint(result['tracking_uri'], result.get('experiment_id'))}")
