"""A step's limit counts its own time in its process, and a step past it ends that process."""

from __future__ import annotations

import math
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
