"""`mlflow-tflite compare`: the variants of one flow run as a table, CSV or markdown."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mlflow_tflite.cli import CommandError
from mlflow_tflite.cli.options import add_settings_option, load_settings
from mlflow_tflite.errors import first_line


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--run-id", metavar="PARENT",
                        help="the flow's parent run (default: the latest flow run)")
    parser.add_argument("--format", choices=["table", "csv", "markdown"], default="table")
    parser.add_argument("--output", metavar="FILE", help="write there instead of printing")
    add_settings_option(parser, "the tracking settings (`mlflow`: tracking URI, experiment)")
    parser.add_argument("--experiment", help="experiment to search (default: from params)")


def run(args: argparse.Namespace) -> int:
    from mlflow_tflite.config import MlflowConfig
    from mlflow_tflite.tracking import (
        configure_tracking,
        experiment_id_of,
        format_table,
        latest_flow_run,
        load_records,
        resolve_tracking_uri,
        ui_hint,
        variant_rows,
    )

    settings = getattr(load_settings(args.params), "mlflow", None) or MlflowConfig()
    uri = resolve_tracking_uri(settings.tracking_uri)
    configure_tracking(uri)
    experiment = args.experiment or settings.experiment
    try:
        run_id = args.run_id or latest_flow_run(experiment)
    except LookupError as error:
        raise CommandError(f"{first_line(error)}; run `mlflow-tflite run` first") from None
    try:
        records = load_records(run_id)
    except Exception as error:  # noqa: BLE001 - MLflow's not-found is one line for the user
        raise CommandError(f"run {run_id}: {first_line(error)}") from None
    if not records:
        raise CommandError(f"run {run_id} has no variant runs (is it a flow's parent run?)")
    text = format_table(variant_rows(records), args.format)
    link = f"MLflow UI: {ui_hint(uri, experiment_id_of(run_id))}"
    if args.output:
        Path(args.output).write_text(text if text.endswith("\n") else text + "\n")
        print(f"wrote {len(records)} variants of run {run_id} to {args.output}")
        print(link)
    else:
        print(text)
        # CSV and markdown on stdout stay machine-readable: the link goes to stderr.
        print(link, file=sys.stdout if args.format == "table" else sys.stderr)
    return 0
