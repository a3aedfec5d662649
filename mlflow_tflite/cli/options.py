"""Options several commands share, declared once."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

DEFAULT_PARAMS = "params.yaml"


def add_params_options(parser: argparse.ArgumentParser, example: str) -> None:
    """`--params FILE` and repeatable `--set KEY=VALUE` (`example`: a typical override),
    for the commands that run the params (`run`, `search`, `schedule`)."""
    parser.add_argument("--params", default=DEFAULT_PARAMS, metavar="FILE",
                        help=f"params file (default: {DEFAULT_PARAMS})")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE",
                        help=f"override a param by dotted path, e.g. {example} (repeatable)")


def add_runner_option(parser: argparse.ArgumentParser, work: str) -> None:
    """`--runner`: the task runner the `work` (variants, trials) are submitted to."""
    from mlflow_tflite.config.runner import RUNNER_TYPES

    parser.add_argument("--runner", choices=RUNNER_TYPES, default=None,
                        help=f"task runner for the {work} (default: params `runner.type`, "
                        "else threads); workers and a Dask scheduler address come from the "
                        "`runner` section or --set runner.workers=N / runner.address=URL")


def add_flow_options(parser: argparse.ArgumentParser) -> None:
    """`--cache-dir` and `--verbose`, for the commands that run a flow here."""
    parser.add_argument("--cache-dir", default=None, metavar="DIR",
                        help="incremental artifact store (default: .mlflow_tflite/cache)")
    parser.add_argument("--verbose", action="store_true",
                        help="show Prefect's tracebacks on the console too (they are always "
                        "in its logs)")


def add_model_name_option(parser: argparse.ArgumentParser) -> None:
    """`--model-name`, for the commands that move aliases (`promote`, `rollback`)."""
    parser.add_argument("--model-name", metavar="NAME",
                        help="registered model (default: mlflow.registered_model_name "
                        "from params)")


def add_settings_option(parser: argparse.ArgumentParser, sections: str) -> None:
    """`--params FILE`, for the commands that only read settings from it (`compare`,
    `promote`, `rollback`; `sections`: which ones). Read by `load_settings`."""
    parser.add_argument("--params", default=None, metavar="FILE",
                        help=f"where {sections} are read from (default: {DEFAULT_PARAMS} if it "
                        "exists, else the defaults)")


def load_settings(path: str | None) -> Any:
    """The validated params of `--params` (`add_settings_option`): the file named, else
    params.yaml if it exists, else the defaults.

    Raises:
        CommandError: the file named does not exist or does not validate (one line).
    """
    from mlflow_tflite.cli import CommandError
    from mlflow_tflite.config import Params, ParamsError, load_params

    if path is None and not Path(DEFAULT_PARAMS).is_file():
        return Params.model_construct()
    try:
        return load_params(path or DEFAULT_PARAMS)
    except ParamsError as error:
        raise CommandError(str(error)) from None
