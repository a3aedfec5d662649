"""The Optuna study of a search: its name, storage, sampler, budget and crash recovery.

The study is named from the data version, the baseline's store key and a hash of what
decides a trial's outcome (space, objective, constraints, benchmark settings), so the
same search on the same data and baseline always opens the same study: an interrupted
search resumes, a finished one is not run again, and a changed space starts afresh.

Budgets count over the whole study: finished trials, and the wall-clock seconds every
invocation spent (`mlflow_tflite.elapsed_s`, a study attribute updated after each tell).

A process killed with kill -9 leaves its trials RUNNING forever. On open, RUNNING trials
that this host's dead processes own are marked FAIL and their parameters enqueued again
(tagged `mlflow_tflite.abandoned`, not counted against the budget), so the search re-asks
exactly what it lost. Trials owned by live processes or other hosts are left alone: a
team may be running the same study from several machines.

A team's processes share the study's budget: each asks under the study's lock
(`mlflow_tflite.search.team`), counting every process's finished and running trials, so
the study never holds more trials than the budget, whoever asked them.
"""

from __future__ import annotations

import datetime
import hashlib
import os
import socket
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlflow_tflite.config import Params
from mlflow_tflite.errors import first_line
from mlflow_tflite.pipeline.cache import content_key
from mlflow_tflite.search import team
from mlflow_tflite.search.objective import directions
from mlflow_tflite.tracking.store import process_alive

OWNER_ATTR = "mlflow_tflite.owner"
ABANDONED_ATTR = "mlflow_tflite.abandoned"
ELAPSED_ATTR = "mlflow_tflite.elapsed_s"
PARENT_RUN_ATTR = "mlflow_tflite.parent_run_id"
# The promotion of the front, once per set of finished trials whichever process gets there
# first: {"trials": count, "parent_run_id": id, "promote_target": name or None,
# "decision": dict or None}.
PROMOTED_ATTR = "mlflow_tflite.promoted"
# Each told trial's TrialResult (as a dict): the results of every invocation, from the
# study alone. Its constraint values go to `trial.set_constraint`, which the samplers read.
RESULT_ATTR = "mlflow_tflite.result"
STUDY_FILE = "optuna.db"
# A RUNNING trial without an owner (its process died right after asking) is recovered
# once it is this old; a live process records its owner within milliseconds of asking.
ORPHAN_AFTER_S = 60.0
# TPE explores at random for this many trials first (Optuna's default is 10).
STARTUP_TRIALS = 8


def study_name(params: Params, data_version: str, baseline_key: str) -> str:
    """`mlflow-tflite-<data>-<baseline>-<search>`, each an 8-hex-digit prefix."""
    search = params.search
    decided_by = {
        "space": search.space,
        "objective": list(search.objective),
        "constraints": (search.constraints or params.promote.constraints).model_dump(mode="json"),
        "benchmark": params.benchmark.model_dump(mode="json"),
    }
    if search.pruner.multi_fidelity:
        # Rungs rank trials screened alike; a threshold study keeps its name (and resumes).
        decided_by["pruner"] = search.pruner.model_dump(mode="json")
    return f"mlflow-tflite-{data_version[:8]}-{baseline_key[:8]}-{content_key(decided_by)[:8]}"


def default_storage(tracking_uri: str) -> str:
    """`optuna.db` beside a SQLite MLflow store, else in the working directory."""
    if tracking_uri.startswith("sqlite:///"):
        directory = Path(tracking_uri.removeprefix("sqlite:///")).parent
    else:
        directory = Path.cwd()
    return f"sqlite:///{(directory / STUDY_FILE).resolve()}"


def _storage(url: str) -> Any:
    import optuna

    # SQLite serialises writers; parallel trials' tells wait rather than fail.
    sqlite = url.startswith("sqlite")
    kwargs = {"connect_args": {"timeout": 60}} if sqlite else {"pool_pre_ping": True}
    return optuna.storages.RDBStorage(url, engine_kwargs=kwargs)


def make_sampler(params: Params, seed: int | None = None) -> Any:
    """The `search.sampler`: TPE (default), NSGA-II or random, seeded (`seed`, else
    `search.seed`)."""
    import optuna

    search = params.search.model_copy(update={"seed": params.search.seed if seed is None
                                              else seed})
    if search.sampler == "random":
        return optuna.samplers.RandomSampler(seed=search.seed)
    if search.sampler == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=search.seed)
    # constant_liar: trials in flight count as (pessimistic) results, so parallel asks spread.
    # multivariate + group: one joint density per set of co-occurring parameters. The
    # independent TPE settled on no recovery epochs and mid cluster counts, blind to how
    # sparsity, recovery and clusters decide accuracy together (bench/RESULTS.md).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.samplers.TPESampler(seed=search.seed, n_startup_trials=STARTUP_TRIALS,
                                          constant_liar=True, multivariate=True, group=True)


def make_pruner(params: Params) -> Any:
    """The Optuna pruner of `search.pruner.type`: successive halving or Hyperband over the
    trial's cumulative fine-tune epochs; Optuna's no-op pruner for `threshold` (that rule is
    ours, `objective.should_prune`)."""
    import optuna

    config = params.search.pruner
    given = {key: value for key, value in (("min_resource", config.min_resource),
                                           ("reduction_factor", config.reduction_factor))
             if value is not None}
    if not config.multi_fidelity:
        return optuna.pruners.NopPruner()
    if config.type == "hyperband":
        return optuna.pruners.HyperbandPruner(**given)
    return optuna.pruners.SuccessiveHalvingPruner(**given)


def load_for_reports(params: Params, name: str, storage_url: str) -> Any:
    """The existing study `name` with the configured pruner, for a trial's worker to report
    its epochs to: Optuna's pruners rank a trial against the others' reports in the study's
    database, whichever process or machine ran them."""
    import optuna

    if storage_url not in _report_storages:
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        _report_storages[storage_url] = _storage(storage_url)
    # Loaded per trial (one query), so a study deleted and made again is found afresh.
    return optuna.load_study(study_name=name, storage=_report_storages[storage_url],
                             sampler=optuna.samplers.RandomSampler(), pruner=make_pruner(params))


# One storage (connection pool) per URL in a worker process, shared by its trials.
_report_storages: dict[str, Any] = {}


def open_study(params: Params, name: str, storage_url: str) -> Any:
    """Create or load the study (`load_if_exists`), with the configured sampler.

    Raises:
        ValueError: the storage URL cannot be opened (one line naming it).
    """
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        with team.locked(storage_url, team.OPEN_LOCK):  # both would create the tables
            storage = _storage(storage_url)
    except Exception as error:  # noqa: BLE001 - a bad URL or an unreachable database
        reason = first_line(error)
        if "no longer compatible with the table schema" in reason:
            # Optuna's message blames its version; the usual cause is a database whose
            # alembic_version table belongs to another application, such as MLflow's store.
            reason = ("the database holds another application's schema version (an MLflow "
                      "store?); give the Optuna study a database of its own")
        raise ValueError(f"search.storage {storage_url}: {reason}") from None
    with team.locked(storage_url, team.OPEN_LOCK):
        joined = name in optuna.get_all_study_names(storage)
        return optuna.create_study(study_name=name, storage=storage, load_if_exists=True,
                                   directions=directions(params.search.objective),
                                   sampler=make_sampler(params, _seed(params, joined)),
                                   pruner=make_pruner(params))


def _seed(params: Params, joined: bool) -> int:
    """`search.seed` for the process that creates the study; a seed of their own for
    processes that join it, or a team's processes would all sample the same sequence
    (a resumed search is no replay of an uninterrupted one anyway)."""
    if not joined:
        return params.search.seed
    digest = hashlib.sha256(f"{params.search.seed}:{owner()}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


def study_storage_url(study: Any) -> str:
    """The URL of the study's database (for `team.locked`)."""
    storage = getattr(study._storage, "_backend", study._storage)  # Optuna's cache wraps it
    return str(storage.url)


def locked(study: Any) -> Any:
    """The study's lock across processes: a context manager (see `team.locked`)."""
    return team.locked(study_storage_url(study), study.study_name)


def owner() -> str:
    """This process, as recorded on the trials it asks: `host:pid`."""
    return f"{socket.gethostname()}:{os.getpid()}"


def abandon(study: Any, trial: Any) -> None:
    """Fail a trial that will never finish and ask its parameters again later."""
    from optuna.trial import TrialState

    study._storage.set_trial_user_attr(trial._trial_id, ABANDONED_ATTR, True)
    study.tell(trial.number, state=TrialState.FAIL, skip_if_finished=True)
    study.enqueue_trial(dict(trial.params), user_attrs={"mlflow_tflite.retry_of": trial.number})


def recover_stale(study: Any) -> list[int]:
    """Fail and re-enqueue RUNNING trials left by dead processes on this host.

    Returns:
        The numbers of the trials recovered.
    """
    from optuna.trial import TrialState

    host = socket.gethostname()
    recovered = []
    now = datetime.datetime.now()
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        who = trial.user_attrs.get(OWNER_ATTR, "")
        name, _, pid = who.rpartition(":")
        dead = name == host and pid.isdigit() and not process_alive(int(pid))
        # Killed between ask and recording its owner: nobody can own it after a while.
        orphan = not who and trial.datetime_start is not None and (
            (now - trial.datetime_start).total_seconds() > ORPHAN_AFTER_S)
        if dead or orphan:
            abandon(study, trial)
            recovered.append(trial.number)
    return recovered


@dataclass
class Budget:
    """What is left of `search.budget` for this study, as trials and seconds."""

    trials: int | None
    seconds: float | None
    used_trials: int
    used_seconds: float
    started: float

    def elapsed(self) -> float:
        """Seconds spent on the study, this invocation included."""
        return self.used_seconds + time.monotonic() - self.started

    def allows(self, in_flight: int) -> bool:
        """Whether another trial may start with `in_flight` trials running."""
        if self.trials is not None and self.used_trials + in_flight >= self.trials:
            return False
        return self.seconds is None or self.elapsed() < self.seconds

    @property
    def exhausted(self) -> bool:
        return not self.allows(0)


def finished_trials(study: Any) -> list[Any]:
    """Trials that count against the budget: complete, pruned and failed, not abandoned."""
    from optuna.trial import TrialState

    done = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
    return [t for t in study.get_trials(deepcopy=False, states=done)
            if not t.user_attrs.get(ABANDONED_ATTR)]


def budget(study: Any, params: Params, trials: int | None = None,
           minutes: float | None = None) -> Budget:
    """The study's budget: `trials`/`minutes` (the command line) win over `search.budget`."""
    config = params.search.budget
    limit_trials = trials if trials is not None else config.trials
    limit_minutes = minutes if minutes is not None else config.minutes
    return Budget(
        trials=limit_trials,
        seconds=None if limit_minutes is None else limit_minutes * 60.0,
        used_trials=len(finished_trials(study)),
        used_seconds=float(study.user_attrs.get(ELAPSED_ATTR, 0.0)),
        started=time.monotonic(),
    )


def ask_within(study: Any, budget: Budget) -> Any | None:
    """Ask a trial owned by this process if the budget allows one more, counting every
    process's trials (finished and running); None when it does not.

    Under the study's lock, so two processes never both take the budget's last trial.
    """
    from optuna.trial import TrialState

    with locked(study):
        running = len(study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)))
        budget.used_trials = len(finished_trials(study))
        if not budget.allows(running):
            return None
        trial = study.ask()
        trial.set_user_attr(OWNER_ATTR, owner())
        return trial


def running_trials(study: Any, stale_after_s: float) -> list[int]:
    """Trials some process is running, started less than `stale_after_s` ago (an older one
    outlived any trial's timeout: its process is gone)."""
    from optuna.trial import TrialState

    now = datetime.datetime.now()
    return [t.number for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
            if t.datetime_start is not None
            and (now - t.datetime_start).total_seconds() < stale_after_s]
