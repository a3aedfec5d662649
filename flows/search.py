"""The `search` Prefect flow: Optuna over `search.space`, one task per trial.

data -> baseline (trained once, or reused from the artifact store) -> open the study
(named from data, baseline and space; resumes) -> ask/tell loop: up to `parallel` trials in
flight on the flow's task runner, each a `trial-<n>` task that builds, measures and logs
its child run -> Pareto front -> results on the parent run -> promotion of the front.

The flow's process owns the study: it asks, samples the variant and tells, so workers
(threads, processes, Dask) touch the study only to report epochs to a multi-fidelity
pruner. The budget is checked before each ask; trials in flight when it runs out finish
and are told. A trial that fails fails only itself. Ctrl-C fails the trials in flight and
enqueues their parameters again, so the next call re-asks them; kill -9 is recovered the
same way when the study is opened next (see `mlflow_tflite.search.study`).

Several such processes (a team, on one machine or many) share a study in one database:
they take its lock (`mlflow_tflite.search.team`) to find or create the one parent run, to
ask within the shared budget and to finish; a process whose share is spent waits for the
others' trials, so every process ends with the same front, promoted once.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import mlflow
from prefect import flow, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.futures import PrefectFuture, wait

from mlflow_tflite import checks, tracking
from mlflow_tflite.config import Params, VariantConfig
from mlflow_tflite.errors import INTERRUPTED, first_line, is_interrupt, raise_if_signalled
from mlflow_tflite.measure.size import gzip_size_bytes
from mlflow_tflite.pipeline import DEFAULT_CACHE_DIR, ArtifactStore, isolate, steps
from mlflow_tflite.search import objective, results
from mlflow_tflite.search import study as studies
from mlflow_tflite.search.runs import (
    log_models,
    mark_candidates,
    reopen_parent,
    trial_runs,
    without_model,
)
from mlflow_tflite.search.space import CONVERT, Space, drop_techniques, sample_variant
from mlflow_tflite.search.trial import (
    TrialContext,
    TrialResult,
    failed_result,
    run_trial,
    trial_name,
)
from mlflow_tflite.search.warm_start import WARM_START_ATTR, warm_start
from mlflow_tflite.tracking.layout import (
    DATA_VERSION_TAG,
    ERROR_TAG,
    GIT_COMMIT_TAG,
    STUDY_STORAGE_TAG,
    STUDY_TAG,
)
from mlflow_tflite.train.kinds import twin_refusal
from mlflow_tflite_flows import optimize, outcomes, tasks
from mlflow_tflite_flows import runner as runners
from mlflow_tflite_flows.runner import make_task_runner

TRIAL_TIMEOUT = tasks.TIMEOUTS["build"] + tasks.TIMEOUTS["measure"]
ARTIFACT_KEY = "mlflow-tflite-search"
# Prefect's wait() returns when every future is done or at the timeout: this is how late the
# loop may notice a finished trial (it counts as the trial's task overhead).
POLL_S = 0.05
# How often a process whose share of the budget is spent looks at its team's trials.
TEAM_POLL_S = 2.0
# How long a finished process waits for its team-mates to log the models of the front's
# trials they built, before it promotes without them.
TEAM_WAIT_S = 180.0


@task(task_run_name="trial-{number}", timeout_seconds=TRIAL_TIMEOUT, cache_policy=NO_CACHE)
def trial_task(
    number: int, variant: VariantConfig, sampled: dict[str, Any], context: TrialContext
) -> TrialResult:
    tracking.configure_tracking(context.tracking_uri)
    result = run_trial(number, variant, sampled, context, lock=runners.COMPUTE_LOCK)
    values = dict(zip(context.params.search.objective, result.values or [], strict=False))
    print(f"trial {number}: {result.state} ({result.error or values})")
    return result


def _others_running(study: Any) -> bool:
    """Whether another process still runs trials of this study; a dead process's trials on
    this host are failed and asked again (by whoever gets to them first)."""
    with studies.locked(study):
        studies.recover_stale(study)
    # A trial older than a task's timeout is gone (its process died on another host).
    return bool(studies.running_trials(study, TRIAL_TIMEOUT + 60.0))


def _search_loop(study: Any, space: Space, params: Params, kernel_sizes: list[int],
                 budget: studies.Budget, submit: Any) -> dict[str, float]:
    """Ask, submit and tell until the budget is spent; returns bookkeeping seconds and the
    loop's wall time (`loop_s`), against which the trials' compute time shows what the
    search spent on anything but building and measuring."""
    parallel = params.search.parallel or params.runner.workers
    in_flight: dict[PrefectFuture, tuple[Any, VariantConfig, float]] = {}
    overhead = {"ask_s": 0.0, "tell_s": 0.0, "task_s": 0.0, "trials": 0, "loop_s": 0.0}
    began = time.perf_counter()
    try:
        while True:
            while len(in_flight) < parallel:
                started = time.perf_counter()
                trial = studies.ask_within(study, budget)
                if trial is None:
                    break
                try:
                    variant, sampled = sample_variant(trial, space, trial_name(trial.number),
                                                      kernel_sizes)
                except ValueError as error:  # fixed values that make no valid variant
                    print(f"trial {trial.number}: failed (no valid variant: {error})")
                    results.tell(study, trial, TrialResult(trial.number, {}, objective.FAILED,
                                                          error=str(error).splitlines()[0]), budget)
                    continue
                overhead["ask_s"] += time.perf_counter() - started
                in_flight[submit(trial.number, variant, sampled)] = (
                    trial, variant, time.perf_counter())
            if not in_flight:
                # The budget is spent, but another process's trials may still fail and
                # free some of it; the front is only complete when they are told.
                if not _others_running(study):
                    overhead["loop_s"] = time.perf_counter() - began
                    return overhead
                raise_if_signalled()
                time.sleep(TEAM_POLL_S)
                continue
            done: set[PrefectFuture] = set()
            while not done:  # the first to finish: Prefect's wait() has no FIRST_COMPLETED
                raise_if_signalled()
                done = wait(list(in_flight), timeout=POLL_S).done
            for future in done:
                trial, variant, submitted = in_flight.pop(future)
                error = outcomes.failure(future)
                result = (failed_result(trial.number, variant, error) if error
                          else future.result())
                took = time.perf_counter() - submitted
                started = time.perf_counter()
                results.tell(study, trial, result, budget)
                overhead["tell_s"] += time.perf_counter() - started
                overhead["task_s"] += max(0.0, took - result.compute_s - result.log_s
                                          - result.wait_s)
                overhead["trials"] += 1
    except BaseException:
        # Ctrl-C or a lost tracking store: what is in flight is lost; ask it again next time.
        for trial, _, _ in in_flight.values():
            studies.abandon(study, trial)
        study.set_user_attr(studies.ELAPSED_ATTR, budget.elapsed())
        raise


@flow(name="search", log_prints=True, task_runner=make_task_runner())
def search(
    params_path: str = "params.yaml",
    overrides: list[str] | None = None,
    cache_dir: str = DEFAULT_CACHE_DIR,
    reports_dir: str = "reports",
    trials: int | None = None,
    minutes: float | None = None,
    data_prepared: bool = False,
) -> dict[str, Any]:
    """Search `search.space` for the Pareto front under the constraints, then promote it.

    Args:
        params_path: the params.yaml to run.
        overrides: `KEY=VALUE` dotted-path overrides.
        cache_dir: the incremental artifact store (shared with `run`).
        reports_dir: where the search tables and plots go.
        trials, minutes: the budget (whole study), overriding `search.budget`.
        data_prepared: the command prepared the data just before (in a step process), so
            this search did prepare it.

    Returns:
        `parent_run_id`, `tracking_uri`, `experiment`, `study`, `storage`, `data_version`,
        `fp32_size_bytes`, `fp32_gzip_size_bytes`, `objective`, `trials` (every result as a
        dict), `pareto` (trial numbers), `closest` (trial number and failures, when nothing
        is feasible), `ran` (trials run now), `recovered`, `overhead` (bookkeeping seconds),
        `decision`, `reports`.

    Raises:
        ParamsError: the params or the space do not validate (before any work).
    """
    from prefect.runtime import flow_run

    params = checks.load_checked_params(params_path, overrides or [])
    space = checks.check_search(params, params_path)
    uri = tracking.resolve_tracking_uri(params.mlflow.tracking_uri)
    tracking.configure_tracking(uri)
    store = ArtifactStore(Path(cache_dir).resolve())
    storage = params.search.storage or studies.default_storage(uri)

    data = tasks.prepare_data(params, store, prepared_now=data_prepared)
    data = dataclasses.replace(data, directory=str(Path(data.directory).resolve()))
    baseline = tasks.train_baseline(params, data, store)
    # A technique that cannot wrap the baseline (or that a Keras 3 model without a
    # tf_keras twin cannot take) is dropped before any trial samples it.
    names = [name for name in space.blocks if name != CONVERT]
    kernel_sizes: list[int] = []
    if baseline.twin_problem:
        unfit = {name: twin_refusal(name, baseline.twin_problem) for name in names}
    else:
        with runners.COMPUTE_LOCK:
            unfit, kernel_sizes = isolate.call("probe", steps.search_probe, names, params,
                                               baseline, data)
    space, dropped = drop_techniques(space, unfit)
    if dropped:
        print(dropped)
    name = studies.study_name(params, data.version, baseline.key)
    study = studies.open_study(params, name, storage)
    tags = {DATA_VERSION_TAG: data.version, GIT_COMMIT_TAG: tracking.git_commit()}
    # Read, then created and set: under the study's lock, so a team gets one parent run.
    with studies.locked(study):
        recovered = studies.recover_stale(study)
        if recovered:
            print(f"study {name}: re-asking trials {recovered} left RUNNING by a killed search")
        if params.search.warm_start and not study.get_trials(deepcopy=False):
            starts = warm_start(space, params.variants)
            for variant_name, values in starts.items():
                study.enqueue_trial(values, user_attrs={WARM_START_ATTR: variant_name})
            if starts:
                print(f"study {name}: first trials are the variants {', '.join(starts)}")
        parent_run_id = study.user_attrs.get(studies.PARENT_RUN_ATTR)
        if not reopen_parent(parent_run_id):
            parent_tags = {**tags, tracking.layout.PREFECT_FLOW_RUN_TAG: str(flow_run.id or ""),
                           STUDY_TAG: name, STUDY_STORAGE_TAG: storage}
            parent_run_id = tasks.start_tracking(uri, params.mlflow.experiment,
                                                    f"search-{name}", parent_tags)
            study.set_user_attr(studies.PARENT_RUN_ATTR, parent_run_id)
            tasks.log_parent(uri, parent_run_id, params, data, baseline)
    context = TrialContext(params, baseline, data, store, uri, parent_run_id, tags,
                           optimize._input_example(data), study_name=name, storage=storage)
    budget = studies.budget(study, params, trials, minutes)
    print(f"study {name} in {storage}: {budget.used_trials} trials done, "
          f"{budget.used_seconds / 60:.1f} min spent; budget {budget.trials} trials, "
          f"{'no' if budget.seconds is None else f'{budget.seconds / 60:g}'} min")

    def submit(number: int, variant: VariantConfig, sampled: dict[str, Any]) -> PrefectFuture:
        return trial_task.submit(number, variant, sampled, context)

    try:
        overhead = _search_loop(study, space, params, kernel_sizes, budget, submit)
        outcome = _finish_with_team(study, context, reports_dir)
    except BaseException as error:
        # The parent may be a team's: only its reason here; the guard ends this process's
        # own RUNNING trials (Ctrl-C is a KeyboardInterrupt, SIGTERM Prefect's signal).
        reason = (INTERRUPTED if is_interrupt(error)
                  else first_line(error, with_type=True))
        mlflow.MlflowClient().set_tag(parent_run_id, ERROR_TAG, reason)
        tracking.runs.end_run(parent_run_id, ok=False)
        raise
    tracking.runs.end_run(parent_run_id, ok=True)
    return {"parent_run_id": parent_run_id, "tracking_uri": uri,
            "experiment": params.mlflow.experiment,
            "experiment_id": tracking.ensure_experiment(params.mlflow.experiment),
            "study": name, "storage": storage,
            "data_version": data.version, "fp32_size_bytes": baseline.fp32_size_bytes,
            "objective": list(params.search.objective), "ran": overhead["trials"],
            "recovered": recovered, "overhead": overhead, **outcome}


def _candidates(study: Any, params: Params) -> tuple[list[TrialResult], list[TrialResult],
                                                    tuple[TrialResult, list[str]] | None]:
    """The finished trials, the Pareto front, and the closest trial when it is empty."""
    names = list(params.search.objective)
    constraints = objective.search_constraints(params)
    found = results.study_results(study)
    front = results.pareto_front(found, names)
    return found, front, results.closest(found, constraints, names) if not front else None


def _finish_with_team(study: Any, context: TrialContext, reports_dir: str) -> dict[str, Any]:
    """Log the models of the candidates this process built, wait (lock released) until the
    team's other processes have logged theirs (each machine has its own artifact store),
    then finish. One process at a time, under the study's lock; the first to find every
    model logged promotes, the others reuse its decision."""
    deadline = time.monotonic() + TEAM_WAIT_S
    while True:
        with studies.locked(study):
            found, front, near = _candidates(study, context.params)
            candidates = front or ([near[0]] if near else [])
            _ensure_logged(study, candidates, context)
            found = results.study_results(study)
            chosen = [c for c in found if c.number in {n.number for n in candidates}]
            log_models(context.parent_run_id, chosen, context.baseline, context.store,
                       context.input_example)
            missing = without_model(context.parent_run_id, [c.number for c in chosen])
            if not missing or time.monotonic() > deadline:
                if missing:
                    print(f"no model for trials {missing} (built on a machine whose search "
                          "has ended): they are not promoted")
                return _finish(study, context, found, front, near, set(missing), reports_dir)
        raise_if_signalled()
        time.sleep(TEAM_POLL_S)


def _finish(study: Any, context: TrialContext, found: list[TrialResult],
            front: list[TrialResult], near: tuple[TrialResult, list[str]] | None,
            unlogged: set[int], reports_dir: str) -> dict[str, Any]:
    """Results on the parent run, candidates for promotion, promotion, artifact."""
    params, parent_run_id = context.params, context.parent_run_id
    names = list(params.search.objective)
    front = [r for r in found if r.number in {c.number for c in front}]
    candidates = {c.number for c in front or ([near[0]] if near else [])} - unlogged
    mark_candidates(parent_run_id, candidates)
    fp32_gzip = gzip_size_bytes(context.baseline.fp32_path.read_bytes())
    paths = results.write_results(study, found, front, fp32_gzip, names, reports_dir)
    rows = results.trial_rows(found, front, fp32_gzip)
    results.log_results(parent_run_id, paths, [row for row in rows if row["pareto"]])
    # The front is promoted by the search's own objective and constraints (or the target
    # search.promote_target names); with no feasible trial, the closest one becomes
    # challenger, never champion, as a closest variant does.
    policy = params.model_copy(update={"promote": objective.promotion(params)})
    decision = _promote_once(study, len(found), context, policy) if candidates else None
    closest = None
    if near:
        closest = {"trial": near[0].number, "failures": near[1]}
        print(f"no trial meets the constraints; closest: {trial_name(near[0].number)} "
              f"({'; '.join(near[1])})")
    markdown = (f"# Search (MLflow run `{parent_run_id}`)\n\n## Pareto front\n\n"
                f"{results.format_markdown([row for row in rows if row['pareto']])}\n\n"
                f"## Promotion\n\n{decision['summary'] if decision else 'no promotion'}\n")
    create_markdown_artifact(key=ARTIFACT_KEY, markdown=markdown,
                             description="Pareto front of this search and the promotion")
    return {"trials": [results.as_dict(r) for r in found], "pareto": [r.number for r in front],
            "closest": closest, "decision": decision, "fp32_gzip_size_bytes": fp32_gzip,
            "reports": {kind: str(path) for kind, path in paths.items()}}


def _promote_once(study: Any, finished: int, context: TrialContext,
                  params: Params) -> dict[str, Any] | None:
    """Promote the front by `params` (the search's policy) unless a process of the team
    already promoted these trials (then its decision is this one's): a second promotion
    would register the same winner twice."""
    parent_run_id = context.parent_run_id
    done = study.user_attrs.get(studies.PROMOTED_ATTR) or {}
    target = params.search.promote_target
    if (done.get("trials") == finished and done.get("parent_run_id") == parent_run_id
            and done.get("promote_target") == target):
        print(f"promotion: {done['decision']['summary'] if done['decision'] else 'none'} "
              "(by another process of this search)")
        return done["decision"]
    decision = tasks.promote(context.tracking_uri, parent_run_id, params, context.baseline,
                                context.data, context.input_example)
    study.set_user_attr(studies.PROMOTED_ATTR, {"trials": finished,
                                                "parent_run_id": parent_run_id,
                                                "promote_target": target,
                                                "decision": decision})
    return decision


def _ensure_logged(study: Any, candidates: list[TrialResult], context: TrialContext) -> None:
    """Log again, from the artifact store, candidates whose child run is not under this
    parent (the study outlived its MLflow parent run, e.g. a new tracking store)."""
    logged = trial_runs(context.parent_run_id)
    trials = {t.number: t for t in study.get_trials(deepcopy=False)}
    for result in candidates:
        if result.number not in logged:
            variant = VariantConfig.model_validate(result.variant)
            again = trial_task.fn(result.number, variant, result.sampled, context)
            study._storage.set_trial_user_attr(trials[result.number]._trial_id,
                                               results.RESULT_ATTR, results.as_dict(again))


def run_search(params_path: str | Path = "params.yaml", overrides: list[str] | None = None,
               runner: str | None = None, **options: Any) -> dict[str, Any]:
    """Run the search flow in-process on the params' `runner` (or `runner`, a type name).

    Raises:
        ParamsError: the params or the space do not validate (before any work).
    """
    overrides = [*(overrides or []), *([f"runner.type={runner}"] if runner else [])]
    params = checks.load_checked_params(params_path, overrides)
    checks.check_search(params, params_path)
    uri = tracking.resolve_tracking_uri(params.mlflow.tracking_uri)
    task_runner = make_task_runner(params.runner, tracking_uri=uri)
    return search.with_options(task_runner=task_runner)(
        params_path=str(params_path), overrides=overrides, **options)
