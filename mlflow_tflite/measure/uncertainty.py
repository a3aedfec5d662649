"""How far a compared number can be trusted: paired bootstrap intervals and McNemar's test.

Both models predicted the same images, so the intervals resample images, not models: a
resample draws image indices with replacement and recomputes the difference on them
(`scipy.stats.bootstrap`, `paired=True`). McNemar's exact test asks whether the images
only one of the two gets right split evenly (`scipy.stats.binomtest`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from mlflow_tflite.intervals import bound_names

CONFIDENCE = 0.95
RESAMPLES = 2000
SEED = 0


@dataclass(frozen=True)
class Interval:
    low: float
    high: float


def paired_interval(ours: np.ndarray, theirs: np.ndarray, shift: float = 0.0) -> Interval:
    """The 95% percentile-bootstrap interval of mean(ours) - mean(theirs) (+ `shift`), the
    two arrays paired by example; seeded, so the same inputs give the same interval."""
    from scipy.stats import bootstrap

    ours, theirs = np.asarray(ours, dtype=np.float64), np.asarray(theirs, dtype=np.float64)
    difference = ours - theirs
    if np.all(difference == difference[0]):  # no spread to resample (identical models)
        return Interval(float(difference[0]) + shift, float(difference[0]) + shift)
    found = bootstrap((difference,), np.mean, vectorized=True, n_resamples=RESAMPLES,
                      confidence_level=CONFIDENCE, method="percentile",
                      random_state=np.random.default_rng(SEED))
    low, high = found.confidence_interval
    return Interval(float(low) + shift, float(high) + shift)


def mean_interval(values: np.ndarray) -> Interval:
    """The 95% percentile-bootstrap interval of a per-example mean (agreement)."""
    values = np.asarray(values, dtype=np.float64)
    return paired_interval(values, np.zeros_like(values))


def mcnemar_p(ours: np.ndarray, theirs: np.ndarray) -> float:
    """McNemar's exact two-sided p for paired right/wrong arrays: 1.0 when no image is
    right for only one of the two."""
    from scipy.stats import binomtest

    ours, theirs = np.asarray(ours, dtype=bool), np.asarray(theirs, dtype=bool)
    only_ours = int(np.sum(ours & ~theirs))
    only_theirs = int(np.sum(~ours & theirs))
    if only_ours + only_theirs == 0:
        return 1.0
    return float(binomtest(only_ours, only_ours + only_theirs, 0.5).pvalue)


def means_with_intervals(ours: Mapping[str, float | np.ndarray],
                         theirs: Mapping[str, float | np.ndarray]) -> dict[str, float]:
    """Metrics to log from a model's `evaluate` values (`ours`) and the fp32 model's on
    the same examples (`theirs`): a number as is; per-example values as their mean with
    `<name>_ci_low/high`, the 95% paired interval of the change against fp32, placed at
    fp32's mean (so the fp32 model's own interval has no width). Without fp32's
    per-example values for a name, its mean has no interval.

    Raises:
        ValueError: fp32's values for a name are of another length (one line, naming it).
    """
    found: dict[str, float] = {}
    for name, value in ours.items():
        if not isinstance(value, np.ndarray):
            found[name] = float(value)
            continue
        found[name] = float(np.mean(value))
        reference = theirs.get(name)
        if not isinstance(reference, np.ndarray):
            continue
        if len(reference) != len(value):
            raise ValueError(f"{name}: {len(value)} per-example values, but the fp32 "
                             f"model's has {len(reference)}")
        interval = paired_interval(value, reference, shift=float(np.mean(reference)))
        low, high = bound_names(name)
        found[low], found[high] = interval.low, interval.high
    return found
