"""A model's latency against the fp32 model's, timed interleaved, with a 95% interval.

Both interpreters are loaded and warmed up with the same threads, delegate and input
source, then timed in alternating blocks of `BLOCK` invokes (fp32 first in even blocks,
the model first in odd ones), `timed_runs` invokes each, as many as timing them one after
the other would take. Whatever load the machine is under at a moment falls on a block of
each, so it cancels out of their ratio; timing one model's 50 runs and then the other's
lets a neighbour's burst land on one side only.

Blocks, not single alternating invokes: an app invokes one model again and again, and a
block keeps each interpreter's weights and code warm in the caches as they are there.

The ratio is the model's p50 over fp32's p50 (the medians of all their timed invokes, as
`latency_p50_ms` is). Its interval is a bootstrap over the *pairs* of adjacent blocks: a
resample draws block pairs with replacement and recomputes the ratio of medians on their
invokes. Resampling pairs keeps what two neighbouring blocks shared (the machine's load
then), and resampling blocks rather than invokes respects that invokes within a block are
not independent of each other; a percentile interval needs no assumption about the
shape of the latency distribution (skewed, with a long tail).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mlflow_tflite.measure.latency import LatencyResult, Prepared, prepare, time_invokes
from mlflow_tflite.measure.uncertainty import CONFIDENCE, RESAMPLES, SEED, Interval

# Invokes per block: 50 timed runs make 10 block pairs to resample.
BLOCK = 5


@dataclass(frozen=True)
class Paired:
    """The model's and the fp32 model's timings from one interleaved measurement.

    `reference` is None when the model is unsupported on the delegate (fp32 was not
    timed); unsupported itself when fp32 cannot run there (the model was timed alone).
    `ratio` and `interval` are None unless both sides were timed.
    """

    model: LatencyResult
    reference: LatencyResult | None
    ratio: float | None = None
    interval: Interval | None = None


def measure_interleaved(
    model: bytes,
    reference: bytes,
    delegate: str,
    reference_delegate: str,
    *,
    threads: int | None,
    warmup_runs: int,
    timed_runs: int,
    x: np.ndarray | list[np.ndarray] | None = None,
) -> Paired:
    """Time `model` on `delegate` interleaved with `reference` (fp32) on
    `reference_delegate`; an unsupported side is reported as `measure_latency` does.

    Raises:
        ValueError: run counts out of range, or `x` does not match the model inputs.
    """
    theirs = prepare(reference, reference_delegate, threads, warmup_runs, timed_runs, x)
    ours = prepare(model, delegate, threads, warmup_runs, timed_runs, x)
    if isinstance(ours, LatencyResult):
        return Paired(ours, None)
    if isinstance(theirs, LatencyResult):  # no fp32 to pair with: the model alone
        alone = np.empty(timed_runs, dtype=np.int64)
        time_invokes(ours.invoke, alone)
        return Paired(ours.result(alone), theirs)
    our_ns, their_ns = _interleave(ours, theirs, timed_runs)
    mine, fp32 = ours.result(our_ns), theirs.result(their_ns)
    ratio = mine.p50_ms / fp32.p50_ms if fp32.p50_ms else None
    interval = ratio_interval(our_ns, their_ns) if ratio is not None else None
    return Paired(mine, fp32, ratio, interval)


def _interleave(ours: Prepared, theirs: Prepared, runs: int) -> tuple[np.ndarray, np.ndarray]:
    """`runs` timed invokes of each, alternating blocks of BLOCK (the last maybe shorter)."""
    our_ns = np.empty(runs, dtype=np.int64)
    their_ns = np.empty(runs, dtype=np.int64)
    for number, start in enumerate(range(0, runs, BLOCK)):
        count = min(BLOCK, runs - start)
        # Alternate who goes first, so neither always follows the other's cache traffic.
        order = ((theirs, their_ns), (ours, our_ns))
        for side, samples in order if number % 2 == 0 else order[::-1]:
            time_invokes(side.invoke, samples, start, count)
    return our_ns, their_ns


def ratio_interval(ours: np.ndarray, theirs: np.ndarray, block: int = BLOCK) -> Interval:
    """The 95% percentile-bootstrap interval of median(ours) / median(theirs), resampling
    the pairs of blocks (`block` invokes each, aligned) the two were timed in; seeded, so
    the same timings give the same interval."""
    ours, theirs = np.asarray(ours, dtype=np.float64), np.asarray(theirs, dtype=np.float64)
    blocks = -(-len(ours) // block)
    if blocks < 2:  # one block: nothing to resample
        ratio = float(np.median(ours) / np.median(theirs))
        return Interval(ratio, ratio)
    # Pad the last block with NaN so every block has `block` slots; nanmedian skips them.
    padded = blocks * block
    ours_b = np.pad(ours, (0, padded - len(ours)), constant_values=np.nan).reshape(blocks, -1)
    theirs_b = np.pad(theirs, (0, padded - len(theirs)),
                      constant_values=np.nan).reshape(blocks, -1)
    picks = np.random.default_rng(SEED).integers(0, blocks, size=(RESAMPLES, blocks))
    ratios = (np.nanmedian(ours_b[picks].reshape(RESAMPLES, -1), axis=1)
              / np.nanmedian(theirs_b[picks].reshape(RESAMPLES, -1), axis=1))
    tail = (1 - CONFIDENCE) / 2 * 100
    low, high = np.percentile(ratios, [tail, 100 - tail])
    return Interval(float(low), float(high))
