"""Several processes on one study (real SQLite and PostgreSQL, real processes started
together): they create the schema and the study once, take the budget's trials between
them without overshooting it, and see one parent-run attribute."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import optuna
import pytest

from mlflow_tflite.config import parse_params
from mlflow_tflite.search import study as studies
from mlflow_tflite.search import team

PROCESSES = 3
BUDGET = 10


def _params():
    return parse_params({"variants": [{"name": "fp32"}],
                         "search": {"space": {"prune": {"final_sparsity": 0.5}},
                                    "budget": {"trials": BUDGET, "minutes": None}}})


def _member(storage: str, start: multiprocessing.synchronize.Event,
            out: multiprocessing.Queue) -> None:
    """One team-mate: open the study, claim the parent attribute once, ask until the
    budget says no (telling each trial at once, as a fast search would)."""
    start.wait()
    study = studies.open_study(_params(), "team", storage)
    with studies.locked(study):
        if studies.PARENT_RUN_ATTR not in study.user_attrs:
            study.set_user_attr(studies.PARENT_RUN_ATTR, studies.owner())
    asked = []
    budget = studies.budget(study, _params())
    while (trial := studies.ask_within(study, budget)) is not None:
        asked.append(trial.number)
        study.tell(trial, [1.0, 1.0])
    out.put(asked)


def _run_team(storage: str) -> list[list[int]]:
    context = multiprocessing.get_context("spawn")
    start, out = context.Event(), context.Queue()
    members = [context.Process(target=_member, args=(storage, start, out))
               for _ in range(PROCESSES)]
    for member in members:
        member.start()
    start.set()  # all at once, on a database nobody has opened yet
    asked = [out.get(timeout=120) for _ in members]
    for member in members:
        member.join(timeout=60)
        assert member.exitcode == 0
    return asked


@pytest.mark.slow
def test_processes_started_together_share_one_study_and_spend_the_budget_once(
    storage: str,
) -> None:
    asked = _run_team(storage)
    numbers = sorted(n for member in asked for n in member)
    assert numbers == list(range(BUDGET))  # each number once, the budget not overshot
    (summary,) = optuna.get_all_study_summaries(storage)
    study = optuna.load_study(study_name=summary.study_name, storage=storage)
    assert len(study.trials) == BUDGET
    assert study.user_attrs[studies.PARENT_RUN_ATTR]  # set once, by whoever came first


def test_the_lock_keys_are_stable_and_sqlite_locks_beside_the_file(tmp_path: Path) -> None:
    assert team.lock_key("study") == team.lock_key("study") != team.lock_key("other")
    with team.locked(f"sqlite:///{tmp_path / 'optuna.db'}", "study"):
        # In one hidden folder beside the database, not loose in the working directory.
        assert [p.name for p in tmp_path.iterdir()] == [".optuna.db.locks"]
        assert [p.suffix for p in (tmp_path / ".optuna.db.locks").iterdir()] == [".lock"]
    with team.locked("sqlite://", "in-memory"):  # nothing to share: no lock
        pass


def test_a_process_that_joins_a_study_samples_a_sequence_of_its_own(tmp_path: Path) -> None:
    params = parse_params({"variants": [{"name": "fp32"}],
                           "search": {"space": {"prune": {"final_sparsity": 0.5}},
                                      "sampler": "random", "seed": 7}})

    def first(study: optuna.Study) -> float:
        return study.ask().suggest_float("x", 0.0, 1.0)

    created = first(studies.open_study(params, "seeded", f"sqlite:///{tmp_path / 'a.db'}"))
    joined = first(studies.open_study(params, "seeded", f"sqlite:///{tmp_path / 'a.db'}"))
    again = first(studies.open_study(params, "seeded", f"sqlite:///{tmp_path / 'b.db'}"))
    assert created == again != joined  # the creator keeps search.seed: reproducible
