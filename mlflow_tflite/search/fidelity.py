"""Multi-fidelity pruning of a trial (`search.pruner.type: successive_halving | hyperband`):
its fine-tune epochs are reported to the Optuna study, whose pruner decides at each rung
whether the trial is among the best of those that reached it.

The resource (Optuna's `step`) is the trial's cumulative fine-tune epoch across its compress
steps: a prune step of 4 epochs then a cluster step's first epoch is step 5. Only the
epochs the pruner may judge are reported (`objective.judged`: a prune step's last, since
its masks move before), so the rungs compare accuracies a trial can still stand by. The
value is the validation (selection split) accuracy, turned to the study's direction:
validation error for a minimised objective (the shipped gzip size), accuracy for a
maximised one, since Optuna's pruners rank by the study's direction.
"""

from __future__ import annotations

from typing import Any

from mlflow_tflite.config import Params, VariantConfig
from mlflow_tflite.search import study as studies


class EpochCounter:
    """The trial's cumulative fine-tune epoch from (step, epoch within the step).

    A step's last epoch is always seen (run, or replayed when the step was reused from the
    store), so the earlier steps' last epoch numbers add up to the epochs before a step.
    """

    def __init__(self) -> None:
        self._last: dict[str, int] = {}

    def __call__(self, step: str, epoch: int) -> int:
        before = sum(last for name, last in self._last.items() if name != step)
        self._last[step] = max(epoch, self._last.get(step, 0))
        return before + epoch


def total_epochs(variant: VariantConfig) -> int:
    """Every fine-tune epoch of the variant's compress steps (a prune step's recovery
    epochs included)."""
    total = 0
    for step in variant.compress.steps:
        cfg = getattr(variant.compress, step)
        total += getattr(cfg, "fine_tune_epochs", getattr(cfg, "epochs", 0))
    return total


def oriented(val_accuracy: float, maximize: bool) -> float:
    """The value reported to a study whose (one) objective is maximised or minimised."""
    return val_accuracy if maximize else 1.0 - val_accuracy


class Reporter:
    """Reports one trial's judged epochs to its study and asks the configured pruner.

    Opened in the trial's worker at the first judged epoch (a trial built from the store
    opens nothing), so the worker must reach `search.storage`; nothing is reported when the
    pruner is not multi-fidelity.
    """

    def __init__(self, params: Params, study_name: str | None, storage_url: str | None,
                 number: int) -> None:
        self.params, self.number = params, number
        self.config = params.search.pruner
        self.where = (study_name, storage_url) if study_name and storage_url else None
        self.trial: Any = None

    def _open(self) -> Any:
        import optuna

        study = studies.load_for_reports(self.params, *self.where)
        trial_id = study._storage.get_trial_id_from_study_id_trial_number(study._study_id,
                                                                           self.number)
        return optuna.trial.Trial(study, trial_id)

    def prune(self, resource: int, val_accuracy: float, last: bool = False) -> str | None:
        """Report `val_accuracy` at `resource` epochs; the reason to stop, or None.

        After the trial's `last` epoch the value is reported (the others rank against it)
        but the rung is not asked: its training is spent, and a trial less accurate than the
        others may still be the smallest that passes the constraints."""
        from optuna.study import StudyDirection

        if not self.config.multi_fidelity or self.where is None:
            return None
        if self.trial is None:
            self.trial = self._open()
        maximize = self.trial.study.direction == StudyDirection.MAXIMIZE
        self.trial.report(oriented(val_accuracy, maximize), resource)
        if last or not self.trial.should_prune():
            return None
        rungs = sum(key.startswith("completed_rung_")
                    for key in self.trial.study._storage.get_trial_system_attrs(
                        self.trial._trial_id))
        return (f"{self.config.type} at epoch {resource} (rung {max(rungs - 1, 0)}): "
                f"val_accuracy {val_accuracy:.4f} is not among the best of the trials "
                "that reached this rung")
