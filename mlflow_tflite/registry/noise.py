"""Whether a challenger is better than the champion on an objective beyond noise.

Each side's 95% interval of the objective's decision value comes from what its run logged:
- `<name>_ci_low/high` when the metric has its own (a user's `evaluate` metric);
- `accuracy` from `accuracy_delta_ci_low/high`: the accuracy is the delta plus the
  baseline's accuracy, one constant, so its interval is the delta's shifted by it
  (`selection/` figures when the decision judges on the selection split);
- `latency_p50_ms` (the primary delegate's) from `latency_vs_fp32_ci_low/high`: the p50
  scaled by how far the ratio's interval reaches relative to the ratio (fp32 and the
  variant timed interleaved, `measure.interleaved`);
- sizes, and any metric without an interval, are exact.

The difference challenger - champion then gets an interval whose half-widths are the two
sides' combined in quadrature. That treats the two as independent; they were judged on the
same images (accuracy), so this overstates the noise a little, which errs on the side of
leaving the champion in place: a move needs clear evidence.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from mlflow_tflite.metrics import CI_HIGH, CI_LOW, SELECTION_PREFIX, find_metric

# The metrics an objective's interval is derived from, when it has none of its own:
# objective -> (interval metric, its point estimate).
_DERIVED = {
    "accuracy": ("accuracy_delta", "accuracy_delta"),
    "latency_p50_ms": ("latency_vs_fp32", "latency_vs_fp32"),
}


@dataclass(frozen=True)
class Difference:
    """challenger - champion on one objective, with its 95% interval."""

    metric: str
    value: float
    low: float
    high: float

    @property
    def within_noise(self) -> bool:
        return self.low <= 0.0 <= self.high

    def text(self) -> str:
        """`+0.2 pt [-0.4, +0.8]` (accuracy-like), `-0.012 ms [-0.020, -0.004]`."""
        metric = find_metric(self.metric)
        unit = metric.unit if metric else ""
        if unit == "" and self.metric.rpartition("/")[2] in ("accuracy", "agreement"):
            scale, digits, suffix = 100.0, 1, " pt"
        else:
            scale, digits, suffix = 1.0, (3 if unit == "ms" else 4), f" {unit}" if unit else ""
        low, value, high = (f"{v * scale:+.{digits}f}" for v in (self.low, self.value, self.high))
        return f"{value}{suffix} [{low}, {high}]"


def _value(metrics: Mapping[str, float], name: str, selection: bool) -> float | None:
    value = metrics.get(f"{SELECTION_PREFIX}{name}" if selection else name)
    return None if value is None or math.isnan(value) else value


def interval(metrics: Mapping[str, float], name: str, selection: bool
             ) -> tuple[float, float] | None:
    """The 95% interval of objective `name` in `metrics` (on the selection split's figures
    when `selection`), or None when it is exact or no interval was logged."""
    point = _value(metrics, name, selection)
    if point is None:
        return None
    low, high = _value(metrics, f"{name}{CI_LOW}", selection), \
        _value(metrics, f"{name}{CI_HIGH}", selection)
    if low is not None and high is not None:
        return low, high
    if name not in _DERIVED:
        return None
    base, estimate = _DERIVED[name]
    # Latency has no selection-split figure: its interval is the test run's timing.
    on_selection = selection and name == "accuracy"
    low, high, centre = (_value(metrics, f"{base}{CI_LOW}", on_selection),
                         _value(metrics, f"{base}{CI_HIGH}", on_selection),
                         _value(metrics, estimate, on_selection))
    if low is None or high is None or centre is None:
        return None
    if name == "accuracy":
        return point + (low - centre), point + (high - centre)
    if centre <= 0:
        return None
    return point * low / centre, point * high / centre


def difference(challenger: Mapping[str, float], champion: Mapping[str, float], name: str,
               selection: bool) -> Difference | None:
    """challenger - champion on objective `name` with a 95% interval, or None when neither
    side has an interval (the comparison is exact: sizes)."""
    ours, theirs = _value(challenger, name, selection), _value(champion, name, selection)
    if ours is None or theirs is None:
        return None
    mine, their_interval = interval(challenger, name, selection), \
        interval(champion, name, selection)
    if mine is None and their_interval is None:
        return None
    our_low, our_high = mine or (ours, ours)
    their_low, their_high = their_interval or (theirs, theirs)
    value = ours - theirs
    below = math.hypot(ours - our_low, their_high - theirs)
    above = math.hypot(our_high - ours, theirs - their_low)
    shown = f"{SELECTION_PREFIX}{name}" if selection else name
    return Difference(shown, value, value - below, value + above)
