"""`mlflow-tflite schedule`: serve the flow as a Prefect deployment on a cron schedule."""

from __future__ import annotations

import argparse

from mlflow_tflite.cli import CommandError
from mlflow_tflite.cli.options import add_params_options


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cron", required=True, metavar="EXPR",
                        help="cron schedule, e.g. '0 3 * * *' (quote it)")
    parser.add_argument("--name", default=None, help="deployment name "
                        "(default: mlflow-tflite-optimize)")
    add_params_options(parser, "train.epochs=3, for every scheduled run")


def run(args: argparse.Namespace) -> int:
    from mlflow_tflite.checks import load_checked_params
    from mlflow_tflite.config import ParamsError

    try:
        # Fail now, not at 3 a.m. in the first scheduled run.
        params = load_checked_params(args.params, args.overrides)
    except ParamsError as error:
        raise CommandError(str(error)) from None

    from mlflow_tflite_flows.schedule import DEFAULT_NAME, build_deployment, serve

    try:
        deployment = build_deployment(args.cron, args.name or DEFAULT_NAME, args.params,
                                      args.overrides, runner=params.runner)
    except ValueError as error:
        raise CommandError(str(error)) from None
    from mlflow_tflite.cli import guard
    from mlflow_tflite_flows import server

    # The guard of `run`: store checked first, SIGTERM as Ctrl-C, runs left RUNNING by an
    # interrupted scheduled run ended FAILED, no Prefect server left behind.
    with guard.tracked(params), server.embedded_prefect_server(), server.quiet_console():
        print(f"serving deployment optimize/{deployment.name} on cron '{args.cron}' "
              f"with {args.params}; Ctrl-C stops")
        serve(deployment)
        # Prefect's serve returns only when interrupted: it catches the KeyboardInterrupt.
        raise KeyboardInterrupt

