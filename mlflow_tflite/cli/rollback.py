"""`mlflow-tflite rollback`: move a champion alias back to the previous champion."""

from __future__ import annotations

import argparse

from mlflow_tflite.cli import CommandError
from mlflow_tflite.cli.options import add_model_name_option, add_settings_option, load_settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_name_option(parser)
    parser.add_argument(
        "--target", metavar="T", help="promotion target (default: the single-target `champion`)"
    )
    parser.add_argument("--reason", default="", metavar="TEXT", help="recorded on the version")
    add_settings_option(parser, "the promotion targets (`promote`) and tracking (`mlflow`) "
                        "settings")


def run(args: argparse.Namespace) -> int:
    from mlflow.exceptions import MlflowException

    from mlflow_tflite.cli import first_line
    from mlflow_tflite.cli.promote import connect
    from mlflow_tflite.config import MlflowConfig, PromoteConfig
    from mlflow_tflite.registry import LockTimeout, RollbackError, rollback

    params = load_settings(args.params)
    settings = getattr(params, "mlflow", None) or MlflowConfig()
    policy = getattr(params, "promote", None) or PromoteConfig()
    alias = None
    if policy.targets or args.target is None:
        try:
            alias = policy.target(args.target).alias
        except KeyError as error:
            raise CommandError(f"{error.args[0]} in the params file") from None
    client = connect(settings.tracking_uri)
    model_name = args.model_name or settings.registered_model_name
    try:
        done = rollback(model_name, args.target, client=client, reason=args.reason, alias=alias)
    except (RollbackError, LockTimeout, MlflowException) as error:
        raise CommandError(first_line(error)) from None
    print(done.summary)
    return 0
