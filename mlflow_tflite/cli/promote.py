"""`mlflow-tflite promote`: apply the `promote` policy of params.yaml to a finished flow run."""

from __future__ import annotations

import argparse
import json

from mlflow_tflite.cli import CommandError, first_line
from mlflow_tflite.cli.options import add_model_name_option, add_settings_option, load_settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_name_option(parser)
    parser.add_argument(
        "--run-id", metavar="PARENT", help="the flow's parent run (default: the latest one)"
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="print the decision, change nothing"
    )
    add_settings_option(parser, "the policy (`promote`) and tracking (`mlflow`) settings")
    parser.add_argument("--json", action="store_true", help="print the decision as JSON")


def connect(tracking_uri: str | None):
    """An MlflowClient for the configured store (`tracking.resolve_tracking_uri`)."""
    import mlflow

    from mlflow_tflite.tracking import configure_tracking, resolve_tracking_uri

    configure_tracking(resolve_tracking_uri(tracking_uri))
    return mlflow.MlflowClient()


def run(args: argparse.Namespace) -> int:
    from mlflow.exceptions import MlflowException

    from mlflow_tflite.config import MlflowConfig, PromoteConfig
    from mlflow_tflite.registry import LockTimeout, PromotionError, promote_flow_run
    from mlflow_tflite.registry.runs import read_flow_run
    from mlflow_tflite.search.objective import promotion
    from mlflow_tflite.tracking import latest_flow_run
    from mlflow_tflite.tracking.layout import STUDY_TAG

    params = load_settings(args.params)
    settings = getattr(params, "mlflow", None) or MlflowConfig()
    policy = getattr(params, "promote", None) or PromoteConfig()
    client = connect(settings.tracking_uri)
    model_name = args.model_name or settings.registered_model_name
    try:
        run_id = args.run_id or latest_flow_run(settings.experiment, client)
        flow = read_flow_run(client, run_id)
        if not flow.candidates and not flow.ignored:
            raise CommandError(f"run {run_id} has no variant runs (is it a flow's parent run?)")
        if STUDY_TAG in client.get_run(run_id).data.tags:
            # A search's parent run: its front is promoted as the search promotes it.
            policy = promotion(params.model_copy(update={"promote": policy}))
        decision = promote_flow_run(run_id, model_name, policy, client=client, dry_run=args.dry_run)
    except LookupError as error:
        raise CommandError(f"{first_line(error)}; run `mlflow-tflite run` first") from None
    except (PromotionError, LockTimeout, MlflowException) as error:
        raise CommandError(first_line(error)) from None
    print(json.dumps(decision.to_dict(), indent=2) if args.json else decision.summary)
    return 0
