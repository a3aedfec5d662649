"""`mlflow-tflite search`: Optuna over `search.space`, then the Pareto front and promotion."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from mlflow_tflite.cli import CommandError, first_line
from mlflow_tflite.cli.options import add_flow_options, add_params_options, add_runner_option

if TYPE_CHECKING:
    from mlflow_tflite.config import Params


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_params_options(parser, "search.sampler=random")
    add_runner_option(parser, "trials")
    add_flow_options(parser)
    parser.add_argument("--trials", type=int, default=None, metavar="N",
                        help="finished trials the study may hold (default: search.budget.trials)")
    parser.add_argument("--minutes", type=float, default=None, metavar="M",
                        help="minutes of searching over the whole study "
                        "(default: search.budget.minutes)")
    parser.add_argument("--save-variants", default=None, metavar="FILE",
                        help="write the params plus the Pareto-optimal trials as named "
                        "variants to FILE, so `mlflow-tflite run --params FILE` reproduces them")
    parser.add_argument("--reports-dir", default="reports", metavar="DIR",
                        help="where search_pareto.{csv,md,png} and the Optuna plots go")


def run(args: argparse.Namespace) -> int:
    from mlflow_tflite import checks
    from mlflow_tflite.config import ParamsError
    from mlflow_tflite.pipeline import DEFAULT_CACHE_DIR

    for flag, value in (("--trials", args.trials), ("--minutes", args.minutes)):
        if value is not None and value <= 0:
            raise CommandError(f"{flag} must be > 0 (got {value:g})")
    if args.runner:
        args.overrides = [*args.overrides, f"runner.type={args.runner}"]
    try:
        # The params and the space are checked before any work and before any MLflow run.
        params = checks.load_checked_params(args.params, args.overrides)
        checks.check_search(params, args.params)
    except ParamsError as error:
        raise CommandError(str(error)) from None
    result = search(args.params, args.overrides, params=params,
                    verbose=getattr(args, "verbose", False),
                    cache_dir=args.cache_dir or DEFAULT_CACHE_DIR,
                    reports_dir=args.reports_dir, trials=args.trials, minutes=args.minutes)
    print_search_summary(result)
    if args.save_variants:
        from mlflow_tflite.search.results import study_results_from_dicts
        from mlflow_tflite.search.runs import save_variants

        front = [r for r in study_results_from_dicts(result["trials"])
                 if r.number in set(result["pareto"])]
        if not front:
            # The input params unchanged would only run what was already run.
            print(f"Nothing saved to {args.save_variants}: the Pareto front is empty (no "
                  "feasible trial); loosen search.constraints or give the search more "
                  "trials or minutes")
            return 0
        added = save_variants(args.params, args.overrides, front, args.save_variants)
        print(f"Saved {len(added)} variants ({', '.join(added) or 'none'}) to "
              f"{args.save_variants}: mlflow-tflite run --params {args.save_variants}")
    return 0


def search(
    params_path: str,
    overrides: list[str],
    *,
    params: Params,
    cache_dir: str,
    verbose: bool = False,
    **options: Any,
) -> dict[str, Any]:
    """Run the search flow inside the same fault guard as `run` (store checked first,
    Ctrl-C/kill -9 end cleanly, no server left); any failure is a one-line CommandError."""
    from mlflow_tflite import checks
    from mlflow_tflite.cli import guard
    from mlflow_tflite.cli.run import prepare_in_step_process
    from mlflow_tflite.data import DataError

    if (note := checks.search_note(params)) is not None:
        print(note)
    with guard.tracked(params):
        try:
            from mlflow_tflite_flows import server
            from mlflow_tflite_flows.search import run_search

            data = prepare_in_step_process(params, cache_dir)
            with server.embedded_prefect_server(), server.quiet_console(verbose):
                return run_search(params_path, overrides, cache_dir=cache_dir,
                                  data_prepared=not data.reused, **options)
        except DataError as error:
            raise CommandError(str(error)) from None
        except Exception as error:  # noqa: BLE001 - one line; Prefect logged the rest
            raise CommandError(first_line(error, with_type=True)) from None


def print_search_summary(result: dict[str, Any]) -> None:
    """The Pareto front, the closest trial when none is feasible, promotion, where to look."""
    from mlflow_tflite.search.results import (
        format_markdown,
        pareto_front_rows,
        study_results_from_dicts,
    )
    from mlflow_tflite.tracking import ui_hint

    found = study_results_from_dicts(result["trials"])
    states: dict[str, int] = {}
    for r in found:
        states[r.state] = states.get(r.state, 0) + 1
    print()
    print(f"Search {result['study']} (MLflow run {result['parent_run_id']}, experiment "
          f"{result['experiment']}, data version {result['data_version']}):")
    print(f"{len(found)} trials ({', '.join(f'{n} {s}' for s, n in sorted(states.items()))}); "
          f"{result['ran']} run now"
          + (f", re-asked {result['recovered']} left by a killed search"
             if result["recovered"] else ""))
    rows = pareto_front_rows(found, result["pareto"], result["fp32_gzip_size_bytes"])
    print(f"\nPareto front on {', '.join(result['objective'])}:")
    print(format_markdown(rows))
    if result.get("closest"):
        closest = result["closest"]
        print(f"\nNo trial meets the constraints; closest: trial-{closest['trial']} "
              f"({'; '.join(closest['failures'])})")
    decision = result.get("decision")
    print(f"\nPromotion: {decision['summary'] if decision else 'not run'}")
    print(f"Reports: {', '.join(result['reports'].values())}")
    print(f"Study: {result['storage']} ({result['study']})")
    print(f"MLflow UI: {ui_hint(result['tracking_uri'], result.get('experiment_id'))}")
