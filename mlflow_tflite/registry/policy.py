"""The promotion policy as pure functions: gates, ranking, champion comparison.

Nothing here talks to MLflow; `promote.py` feeds it metrics read from runs and model
versions. Objectives compare lexicographically: the first objective decides unless the
two values tie (within `tie_tolerance`, relative), then the next one does.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from mlflow_tflite.config.promote import ConstraintsConfig, Target
from mlflow_tflite.metrics import (
    REASON_TAG_SUFFIX,
    SELECTION_PREFIX,
    decision_value,
    format_metric,
    gated_value,
    higher_is_better,
)
from mlflow_tflite.registry import noise


@dataclass(frozen=True)
class Candidate:
    """One finished variant run of a flow run."""

    variant: str
    run_id: str
    metrics: Mapping[str, float]
    tags: Mapping[str, str] = field(default_factory=dict)
    model_uri: str = ""
    data_version: str | None = None


@dataclass(frozen=True)
class ConstraintFailure:
    """One gate a variant did not pass; `message` reads as a sentence fragment."""

    constraint: str
    message: str


@dataclass(frozen=True)
class Evaluation:
    """One target's verdict on the candidates of a flow run."""

    target: Target
    ranking: list[Candidate]  # passing candidates, best first
    failures: dict[str, list[ConstraintFailure]]  # variant -> failed gates (passing: [])
    closest: Candidate | None  # best failing candidate when none passes

    @property
    def winner(self) -> Candidate | None:
        return self.ranking[0] if self.ranking else None

    @property
    def chosen(self) -> Candidate | None:
        """What gets registered: the winner, else the closest variant."""
        return self.winner or self.closest


def constraint_failures(
    metrics: Mapping[str, float], constraints: ConstraintsConfig, *, missing_fails: bool = True,
    tags: Mapping[str, str] | None = None,
) -> list[ConstraintFailure]:
    """The gates `metrics` fail, in the order of the constraints block.

    A gate whose metric is missing fails (the variant cannot show it passes) unless
    `missing_fails` is False, which is how a champion with partial metrics is judged. A
    failure quotes the run's `<metric>_reason` tag where `tags` has one (a target's
    `app/min_runtime_reason`: the op and its version).
    """
    failures: list[ConstraintFailure] = []
    for gate in constraints.gates():
        judged_on = constraints.judged_on(gate)
        key, value = gate.gate.key, gated_value(metrics, gate.metric, judged_on)
        reason = (tags or {}).get(f"{gate.metric}{REASON_TAG_SUFFIX}")
        because = f" ({reason})" if reason else ""
        if value is not None and value != decision_value(metrics, gate.metric):
            because += f" ({judged_on}: the end of its 95% interval)"
        if value is None or math.isnan(value):
            if missing_fails:
                failures.append(ConstraintFailure(key, f"{key}: no {gate.metric} metric{because}"))
        elif gate.excess(value) > 0:
            failures.append(ConstraintFailure(key, gate.message(value) + because))
    return failures


def _ties(a: float, b: float, tolerance: float) -> bool:
    return a == b or abs(a - b) <= tolerance * max(abs(a), abs(b))


def compare(
    a: Mapping[str, float], b: Mapping[str, float], objective: Sequence[str], tolerance: float = 0.0
) -> tuple[int, str | None]:
    """Compare two metric sets on the objective list.

    Returns:
        (-1, metric) when `a` is better, (1, metric) when `b` is better, with the metric
        that decided; (0, None) when they tie on every objective. A missing value loses
        to a present one.
    """
    for name in objective:
        # The selection split's figures when both sides have them (a champion registered
        # before there were any is compared on the test split's).
        both = all(f"{SELECTION_PREFIX}{name}" in m for m in (a, b))
        x, y = (a.get(f"{SELECTION_PREFIX}{name}"), b.get(f"{SELECTION_PREFIX}{name}")) if both \
            else (a.get(name), b.get(name))
        x = None if x is None or math.isnan(x) else x
        y = None if y is None or math.isnan(y) else y
        if x is None and y is None:
            continue
        if x is None or y is None:
            return (1 if x is None else -1), name
        if _ties(x, y, tolerance):
            continue
        a_better = (x > y) if higher_is_better(name) else (x < y)
        return (-1 if a_better else 1), name
    return 0, None


def rank(candidates: Sequence[Candidate], target: Target) -> list[Candidate]:
    """Candidates best first; full ties keep variant-name order, so the result is stable."""

    def order(a: Candidate, b: Candidate) -> int:
        return compare(a.metrics, b.metrics, target.objective, target.tie_tolerance)[0]

    return sorted(sorted(candidates, key=lambda c: c.variant), key=functools.cmp_to_key(order))


def evaluate(candidates: Sequence[Candidate], target: Target) -> Evaluation:
    """Gate and rank candidates for one target.

    The closest variant, chosen only when none passes, has the fewest failed
    constraints; ties between those go to the objective.
    """
    failures = {c.variant: constraint_failures(c.metrics, target.constraints, tags=c.tags)
                for c in candidates}
    passing = [c for c in candidates if not failures[c.variant]]
    closest = None
    if not passing and candidates:
        fewest = min(len(failures[c.variant]) for c in candidates)
        closest = rank([c for c in candidates if len(failures[c.variant]) == fewest], target)[0]
    return Evaluation(target, rank(passing, target), failures, closest)


@dataclass(frozen=True)
class Verdict:
    """Whether a winner replaces the champion, and why in one clause."""

    replace: bool
    reason: str


def against_champion(
    winner: Mapping[str, float], champion: Mapping[str, float], target: Target
) -> Verdict:
    """The winner replaces the champion when it is better on the objective beyond noise.

    Objectives compare in order as `compare` does, except that a difference whose 95%
    interval (`noise.difference`: accuracy and latency objectives; sizes are exact)
    holds zero counts as a tie and the next objective decides. A winner that is better
    only within noise leaves the champion in place; exact ties on every objective replace
    it (a fresher run of the same model). Both metric sets must come from the same data
    version. A champion that fails the target's current constraints (on the metrics it
    has) is replaced by any winner.
    """
    broken = constraint_failures(champion, target.constraints, missing_fails=False)
    if broken:
        return Verdict(True, f"the champion fails {broken[0].message}")
    noisy: list[str] = []
    for name in target.objective:
        sign, metric = compare(winner, champion, [name], target.tie_tolerance)
        if metric is None:
            continue
        selection = all(f"{SELECTION_PREFIX}{metric}" in m for m in (winner, champion))
        if selection:
            metric = f"{SELECTION_PREFIX}{metric}"  # what compare judged by
        found = noise.difference(winner, champion, name, selection)
        if found is not None and found.within_noise:
            noisy.append(f"{metric} {found.text()} against the champion's is within noise")
            continue
        ours, theirs = (format_metric(metric, winner.get(metric)),
                        format_metric(metric, champion.get(metric)))
        beyond = f"; {found.text()}, beyond noise" if found is not None else ""
        also = f" ({'; '.join(noisy)})" if noisy else ""
        if sign < 0:
            return Verdict(True, f"it beats the champion on {metric} ({ours} vs. {theirs}"
                                 f"{beyond}){also}")
        return Verdict(False, f"the champion is better on {metric} ({theirs} vs. {ours}"
                              f"{beyond}){also}")
    if noisy:
        return Verdict(False, f"its {'; its '.join(noisy)}")
    return Verdict(True, f"it ties the champion on {', '.join(target.objective)}")
