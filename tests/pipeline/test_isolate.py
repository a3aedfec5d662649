"""A step's limit counts its own time in its process, and a step past it ends that process;
a child that holds too much memory after a step is replaced."""

from __future__ import annotations

import math
import os
import time

import pytest

from mlflow_tflite.pipeline import isolate


def test_a_step_past_its_limit_is_ended_in_one_line_and_the_next_step_runs() -> None:
    assert isolate.call("warm-up", math.sqrt, 9.0) == 3.0  # the child started, not timed
    started = time.monotonic()

    with pytest.raises(isolate.StepTimedOut) as raised:
        isolate.call("build-slow", time.sleep, 60, limit_s=1.0)

    assert time.monotonic() - started < 10
    assert str(raised.value) == ("build-slow: still running after 1 s, the step's limit; "
                                 "its process was ended")
    assert isolate.call("build-next", math.sqrt, 4.0, limit_s=30) == 2.0


def test_a_step_within_its_limit_returns_its_result() -> None:
    assert isolate.call("measure-quick", sum, [1, 2, 3], limit_s=30) == 6


_HELD: list[bytes] = []


def _hold(megabytes: int) -> int:
    """Keep `megabytes` resident in the child (a step whose memory stays taken)."""
    _HELD.append(b"\x01" * (megabytes * 2**20))
    return len(_HELD)


def test_a_child_holding_more_than_the_limit_after_a_step_is_replaced(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first = isolate.call("small", os.getpid)
    assert isolate.call("small-again", os.getpid) == first  # a small step keeps its child
    [worker] = [w for w in isolate._ALL if w.process.pid == first]
    monkeypatch.setattr(isolate, "RECYCLE_RSS_BYTES", worker.resident_bytes() + 200 * 2**20)

    assert isolate.call("large", _hold, 400) == 1

    assert not worker.alive()
    assert isolate.call("after", os.getpid) != first
