"""The `optimize` Prefect flow: data -> baseline -> variants (build, measure, log) ->
report -> promote.

Orchestration only; every step is a library function (`mlflow_tflite.pipeline.steps`,
`mlflow_tflite.tracking`) wrapped in a task of `flows/tasks.py`. Tasks pass small handles
(keys, paths, the tracking URI), never Keras models, so the same flow runs on threads,
processes or a Dask cluster (the params `runner` section, see flows/runner.py). `build`
compresses and converts in one task: the compressed Keras model never leaves the process
that made it.

Fan-out: every variant's build -> measure chain is submitted at once. The baseline is
trained once, in the flow's process, and reaches the variant tasks as a path in the
artifact store. Under threads the TensorFlow and timing steps serialise on `COMPUTE_LOCK`,
logging to MLflow in parallel as soon as a variant is done; under processes or Dask each
worker runs one task at a time and logs its child run straight to the tracking server.
A failing variant fails only itself: the flow reads each chain's states, logs the failure
as a FAILED child run and moves on. A variant the baseline's kind cannot take (pruning a
`.tflite`) is skipped before any work: no child run, a row with status `skipped` and its
reason in the tables and a line in the parent's `mlflow_tflite.skipped` tag, so promotion
(which reads child runs) never sees it. The flow fails only when the baseline fails or no
variant succeeds.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from prefect import flow
from prefect.artifacts import create_markdown_artifact

from mlflow_tflite import checks, tracking
from mlflow_tflite.config import Params, VariantConfig
from mlflow_tflite.errors import INTERRUPTED, first_line, is_interrupt
from mlflow_tflite.pipeline import (
    DEFAULT_CACHE_DIR,
    ArtifactStore,
    handles,
    keys,
    measuring,
    steps,
)
from mlflow_tflite.registry import verdicts
from mlflow_tflite.tracking import SKIPPED, layout
from mlflow_tflite.train.support import skipped_variants, twin_skips
from mlflow_tflite_flows import outcomes
from mlflow_tflite_flows import runner as runners
from mlflow_tflite_flows.runner import make_task_runner
from mlflow_tflite_flows.tasks import (
    build,
    log_parent,
    log_variant,
    measure,
    prepare_data,
    probe_techniques,
    promote,
    report,
    start_tracking,
    train_baseline,
)


@flow(name="optimize", log_prints=True, task_runner=make_task_runner())
def optimize(
    params_path: str = "params.yaml",
    overrides: list[str] | None = None,
    cache_dir: str = DEFAULT_CACHE_DIR,
    use_cache: bool = True,
    reports_dir: str = "reports",
    data_prepared: bool = False,
) -> dict[str, Any]:
    """Train the baseline, build, measure and log every variant, report and promote.

    Args:
        params_path: the params.yaml to run.
        overrides: `KEY=VALUE` dotted-path overrides (`train.epochs=3`).
        cache_dir: the incremental artifact store.
        use_cache: False rebuilds everything (the store is still refreshed).
        reports_dir: where `variants.csv`, `variants.md`, `metrics.json` and `pareto.png` go.
        data_prepared: the caller prepared the data just before (counted as prepared here).

    Returns:
        `parent_run_id`, `tracking_uri`, `experiment`, `experiment_id`, `data_version`,
        `variants` (records as dicts), `decision` (or None), `reports` (paths) and `ran`
        (what was computed rather than reused: `prepare`, `baseline` flags and `compress`,
        `convert`, `measure` variant-name lists).

    Raises:
        ParamsError: the params do not validate (before any work or MLflow run).
        RuntimeError: the baseline failed or no variant succeeded.
    """
    from prefect.runtime import flow_run

    params = checks.load_checked_params(params_path, overrides or [])
    uri = tracking.resolve_tracking_uri(params.mlflow.tracking_uri)
    tracking.configure_tracking(uri)
    # Absolute paths: worker processes may start in another directory.
    store = ArtifactStore(Path(cache_dir).resolve(), enabled=use_cache)
    commit = tracking.git_commit()

    reasons = skipped_variants(params)
    skipped = {v.name: outcomes.record(v, status=SKIPPED, error=reasons[v.name])
               for v in params.variants if v.name in reasons}
    variants = [v for v in params.variants if v.name not in skipped]
    for record in skipped.values():
        print(f"variant {record.name}: skipped ({record.error})")

    data = prepare_data(params, store, data_prepared)
    data = dataclasses.replace(data, directory=str(Path(data.directory).resolve()))
    # The owner (host, pid) on every run, so a run whose process died is found and ended.
    tags = {layout.DATA_VERSION_TAG: data.version, layout.GIT_COMMIT_TAG: commit,
            **tracking.store.owner_tags()}
    parent_tags = {**tags, layout.PREFECT_FLOW_RUN_TAG: str(flow_run.id or "")}
    if skipped:
        parent_tags[layout.SKIPPED_TAG] = tracking.skipped_tag(list(skipped.values()))
    parent_run_id = start_tracking(uri, params.mlflow.experiment,
                                   f"optimize-{flow_run.name or 'local'}", parent_tags)
    ran: dict[str, Any] = {"prepare": not data.reused, "baseline": False,
                           "compress": [], "convert": [], "measure": []}
    try:
        experiment_id = tracking.experiment_id_of(parent_run_id)
        baseline = train_baseline(params, data, store)
        ran["baseline"] = not baseline.reused
        tags[layout.BASELINE_QUANTIZATION_TAG] = baseline.quantization
        # A Keras 3 (epochs 0) or .tflite baseline is used as is: not "trained".
        ran["baseline_trained"] = bool(baseline.history)
        checks.check_keep_float(params, baseline, params_path)
        late_tags: dict[str, str] = {}
        if baseline.twin:
            late_tags[layout.KERAS3_TWIN_TAG] = baseline.twin
        # A Keras 3 baseline without an exact tf_keras twin: its TFMOT variants are
        # skipped; then each technique left is tried on the baseline (or the twin) once.
        unfit = twin_skips(variants, baseline.kind, baseline.twin_problem)
        unfit.update(probe_techniques([v for v in variants if v.name not in unfit], params,
                                      baseline, data))
        for name, reason in unfit.items():
            skipped[name] = outcomes.record(params.variant(name), status=SKIPPED, error=reason)
            print(f"variant {name}: skipped ({reason})")
        variants = [v for v in variants if v.name not in unfit]
        parent_logged = log_parent.submit(
            uri, parent_run_id, params, data, baseline,
            tracking.skipped_tag(list(skipped.values())) if unfit else None, late_tags)
        example = _input_example(data)

        chains = [_submit_variant(v, params, baseline, data, store) for v in variants]
        logged = [
            log_variant.submit(uri, parent_run_id, outcomes.collect(variant, chain, ran), tags,
                               example)
            for variant, chain in zip(variants, chains, strict=True)
        ]
        built = {variant.name: outcomes.logged_record(future, variant) for future, variant in
                 zip(logged, variants, strict=True)}
        records = [built.get(v.name) or skipped[v.name] for v in params.variants]
        runners.wait(parent_logged)
        warning = parent_logged.result()

        succeeded = [r for r in records if r.ok]
        decision = None
        try:
            if succeeded:
                decision = promote(uri, parent_run_id, params, baseline, data, example)
        finally:
            # Written even when promotion failed (its verdicts then name no champion); the
            # DVC metrics name the variant the policy picked.
            verdicts.judge_records(records, params.promote, decision)
            reports = report(uri, parent_run_id, records, reports_dir,
                             tracking.champion_variant(decision),
                             list(params.promote.resolved_targets()[0].objective))
        create_markdown_artifact(
            key="mlflow-tflite-variants",
            markdown=outcomes.summary_markdown(records, decision, parent_run_id,
                               tracking.ui_hint(uri, experiment_id)),
            description="Variants of this flow run and the promotion decision",
        )
        if not succeeded:
            failures = "; ".join(f"{r.name}: {r.error}" for r in built.values())
            raise RuntimeError(f"no variant succeeded ({failures})")
    except BaseException as error:
        # Whatever stopped the flow (baseline, no variant, tracking or registry after their
        # retries, Ctrl-C), the parent run and its children must not stay RUNNING.
        # Ctrl-C is a KeyboardInterrupt, a SIGTERM may come as Prefect's TerminationSignal.
        reason = (INTERRUPTED if is_interrupt(error)
                  else first_line(error, with_type=True))
        tracking.store.fail_run(parent_run_id, reason)
        raise
    tracking.runs.end_run(parent_run_id, ok=True, inputs_key=keys.inputs_key(params, store))
    return {
        "parent_run_id": parent_run_id,
        "tracking_uri": uri,
        "experiment": params.mlflow.experiment,
        "experiment_id": experiment_id,
        "data_version": data.version,
        "variants": [r.to_dict() for r in records],
        "decision": decision,
        "reports": reports,
        "ran": ran,
        "warnings": [warning] if warning else [],
    }


def _input_example(data: handles.PreparedData) -> Any:
    from mlflow_tflite.data.dataset import by_input_name

    return by_input_name(handles.prepared_arrays(data, "x_test")["x_test"][:2])


def _submit_variant(
    variant: VariantConfig,
    params: Params,
    baseline: handles.Baseline,
    data: handles.PreparedData,
    store: ArtifactStore,
) -> dict[str, Any]:
    """Submit the steps of one variant that the store cannot answer; returns the chain."""
    key = keys.build_key(baseline.key, variant)
    mkey = keys.measure_key(key, baseline.key, params)
    chain: dict[str, Any] = {"build": steps.stored_build(store, key),
                             "measurement": measuring.stored_measurement(store, mkey)}
    if chain["build"] is None:
        chain["build"] = build.submit(variant, params, baseline, data, store, key)
        chain["built"] = chain["build"]
    if chain["measurement"] is None:
        chain["measurement"] = measure.submit(variant, params, chain["build"], baseline, data,
                                              store, mkey)
        chain["measure"] = chain["measurement"]
    return chain


def run_flow(params_path: str | Path = "params.yaml", overrides: list[str] | None = None,
             runner: str | None = None, **options: Any) -> dict[str, Any]:
    """Run the flow in-process (embedded Prefect unless PREFECT_API_URL is set) on the task
    runner of the params' `runner` section; `runner` (a type name) wins over it.

    Raises:
        ParamsError: the params do not validate (before any work or MLflow run).
    """
    overrides = [*(overrides or []), *([f"runner.type={runner}"] if runner else [])]
    params = checks.load_checked_params(params_path, overrides)
    uri = tracking.resolve_tracking_uri(params.mlflow.tracking_uri)
    task_runner = make_task_runner(params.runner, tracking_uri=uri)
    return optimize.with_options(task_runner=task_runner)(
        params_path=str(params_path), overrides=overrides, **options
    )
