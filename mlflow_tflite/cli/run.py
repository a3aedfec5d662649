"""`mlflow-tflite run`: the whole optimization flow, then the variants table."""

from __future__ import annotations

import argparse
from typing import Any

from mlflow_tflite.cli import CommandError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--params", default="params.yaml", metavar="FILE",
                        help="params file (default: params.yaml)")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE",
                        help="override a param by dotted path, e.g. train.epochs=3 (repeatable)")
    parser.add_argument("--runner", choices=["threads", "processes", "dask"], default=None,
                        help="task runner for the variants (default: params `runner.type`, "
                        "else threads); workers and a Dask scheduler address come from the "
                        "`runner` section or --set runner.workers=N / runner.address=URL")
    parser.add_argument("--only", choices=["prepare"],
                        help="run one step only: `prepare` writes data.output_dir "
                        "(the DVC prepare stage)")
    parser.add_argument("--cache-dir", default=None, metavar="DIR",
                        help="incremental artifact store (default: .mlflow_tflite/cache)")
    parser.add_argument("--no-cache", action="store_true",
                        help="rebuild the baseline and every variant")
    parser.add_argument("--reports-dir", default="reports", metavar="DIR",
                        help="where variants.csv, variants.md, metrics.json, pareto.png go")


def run(args: argparse.Namespace) -> int:
    from mlflow_tflite.config import ParamsError
    from mlflow_tflite.pipeline import DEFAULT_CACHE_DIR, ArtifactStore, steps

    if args.runner:
        # The same override the flow applies, so the parent run records what actually ran.
        args.overrides = [*args.overrides, f"runner.type={args.runner}"]
    try:
        # Every key is validated before any work and before any MLflow run exists.
        params = steps.load_checked_params(args.params, args.overrides)
    except ParamsError as error:
        raise CommandError(str(error)) from None
    cache_dir = args.cache_dir or DEFAULT_CACHE_DIR

    try:
        if args.only == "prepare":
            data = steps.prepare(params, ArtifactStore(cache_dir, enabled=not args.no_cache))
            print(f"prepared {data.source} into {data.directory} (data version {data.version})")
            return 0

        from flows.optimize import run_flow

        result = run_flow(args.params, args.overrides, cache_dir=cache_dir,
                          use_cache=not args.no_cache, reports_dir=args.reports_dir)
    except Exception as error:  # noqa: BLE001 - any failure is one line; Prefect logged the rest
        raise CommandError(_one_line(error)) from None
    print_summary(result)
    return 0


def _one_line(error: BaseException) -> str:
    text = str(error).strip()
    return f"{type(error).__name__}: {text.splitlines()[0] if text else 'failed'}"


def print_summary(result: dict[str, Any]) -> None:
    """The variants table, the promotion decision and how to open the MLflow UI."""
    from mlflow_tflite.tracking import VariantRecord, format_table, ui_command, variant_rows

    records = [VariantRecord.from_dict(r) for r in result["variants"]]
    ran = result["ran"]
    print()
    print(f"Variants of MLflow run {result['parent_run_id']} "
          f"(experiment {result['experiment']}, data version {result['data_version']}):")
    print(format_table(variant_rows(records), "table"))
    rebuilt = sorted(set(ran["compress"]) | set(ran["convert"]))
    print(f"\nbaseline {'trained' if ran['baseline'] else 'reused'}; "
          f"built {len(rebuilt)}, measured {len(ran['measure'])}, "
          f"reused {sum(r.reused for r in records)} of {len(records)} variants")
    failed = [r for r in records if not r.ok]
    for record in failed:
        print(f"FAILED {record.name} at {record.failed_step}: {record.error}")
    decision = result.get("decision")
    print(f"\nPromotion: {decision['summary'] if decision else 'not run'}")
    print(f"Reports: {result['reports']['markdown']}, {result['reports']['plot']}")
    print(f"MLflow UI: {ui_command(result['tracking_uri'])}")
