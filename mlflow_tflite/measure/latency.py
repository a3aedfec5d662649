"""Single-sample invoke latency per delegate and thread count.

One fixed input is set once; `warmup_runs` invokes (at least one) are discarded
(first-invoke work: XNNPACK weight packing, lazy allocations, cold caches), then each of
`timed_runs` invokes is timed alone with `time.perf_counter_ns`, so the numbers are what
an app sees per request, without Python-side input conversion. Percentiles interpolate
linearly between samples (`numpy.percentile`): with 50 runs, p99 is close to the slowest.
"""

from __future__ import annotations

import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mlflow_tflite.errors import first_line
from mlflow_tflite.litert import DEFAULT_DELEGATE


@dataclass(frozen=True)
class LatencyResult:
    """Latency of one delegate, with the settings that produced it.

    `supported` is False when the delegate cannot load, allocate or invoke the model;
    `reason` then says why and the statistics are None.
    """

    delegate: str
    threads: int | None
    warmup_runs: int
    timed_runs: int
    input_source: str
    supported: bool = True
    reason: str | None = None
    p50_ms: float | None = None
    p90_ms: float | None = None
    p99_ms: float | None = None
    mean_ms: float | None = None
    std_ms: float | None = None
    min_ms: float | None = None
    samples_ms: list[float] = field(default_factory=list, repr=False)

    @property
    def label(self) -> str:
        return delegate_label(self.delegate)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("samples_ms")
        return data


def delegate_label(delegate: str) -> str:
    """The name used as a metric prefix: `xnnpack`, or `external_<library stem>`.

    MLflow metric names cannot hold a whole filesystem path, and the stem is what users
    recognise (`external:/opt/libedgetpu.so.1` -> `external_libedgetpu`).
    """
    if not delegate.startswith("external:"):
        return delegate
    stem = Path(delegate.removeprefix("external:")).name.split(".")[0]
    return "external_" + re.sub(r"[^A-Za-z0-9_\-]", "_", stem)


MAX_REASON_CHARS = 240


def _missing_library(delegate: str) -> str | None:
    """Why an external delegate cannot load, when its library path does not exist.

    Checked before LiteRT tries: its failed `load_delegate` also prints a spurious
    traceback from `Delegate.__del__`. A bare name (no `/`) is left to the loader's
    search path.
    """
    library = delegate.removeprefix("external:")
    if delegate.startswith("external:") and "/" in library and not Path(library).exists():
        return f"OSError: delegate library {library} not found"
    return None


def fixed_input(runner: Any, x: np.ndarray | list[np.ndarray] | None) -> tuple[list, str]:
    """Model-ready arrays for one invoke, and where they came from.

    The first sample of `x` (one array per model input), quantized for integer inputs
    and repeated up to a fixed batch; zeros of each input's shape when `x` is None.
    """
    from mlflow_tflite.litert import quantize

    details = runner.interpreter.get_input_details()
    if x is None:
        arrays = [np.zeros(d["shape"], dtype=d["dtype"]) for d in details]
        return arrays, "zeros"
    samples = x if isinstance(x, list | tuple) else [x]
    if len(samples) != len(details):
        raise ValueError(f"model has {len(details)} inputs but {len(samples)} arrays were given")
    arrays = []
    for sample, spec, detail in zip(samples, runner.inputs, details, strict=True):
        value = np.asarray(sample[0:1])
        batch = int(detail["shape"][0]) if len(detail["shape"]) else 1
        if batch > 1:
            value = np.repeat(value, batch, axis=0)
        if spec.is_quantized and np.issubdtype(value.dtype, np.floating):
            value = quantize(value, spec)
        arrays.append(value.astype(detail["dtype"], copy=False).reshape(detail["shape"]))
    return arrays, "x_test[0:1]"


def measure_latency(
    model: bytes,
    delegate: str = DEFAULT_DELEGATE,
    threads: int | None = 1,
    warmup_runs: int = 5,
    timed_runs: int = 50,
    x: np.ndarray | list[np.ndarray] | None = None,
) -> LatencyResult:
    """Time `timed_runs` single invokes after `warmup_runs`, on one delegate.

    A delegate that cannot load, allocate or invoke the model (a missing external
    library, XNNPACK refusing a sparse model, an op without a kernel) gives a result with
    `supported=False` and the reason instead of raising: it says something about the
    delegate, not about the variant.

    Raises:
        ValueError: run counts out of range, or `x` does not match the model inputs.
    """
    ready = prepare(model, delegate, threads, warmup_runs, timed_runs, x)
    if isinstance(ready, LatencyResult):
        return ready
    samples = np.empty(timed_runs, dtype=np.int64)
    time_invokes(ready.invoke, samples)
    return ready.result(samples)


@dataclass(frozen=True)
class Prepared:
    """A warmed-up interpreter ready to be timed: its `invoke` and the settings."""

    invoke: Any
    settings: dict[str, Any]
    input_source: str

    def result(self, samples_ns: np.ndarray) -> LatencyResult:
        """The statistics of invoke times `samples_ns` (nanoseconds)."""
        ms = np.asarray(samples_ns) / 1e6
        p50, p90, p99 = np.percentile(ms, [50, 90, 99])
        return LatencyResult(
            **self.settings,
            input_source=self.input_source,
            p50_ms=float(p50),
            p90_ms=float(p90),
            p99_ms=float(p99),
            mean_ms=float(ms.mean()),
            std_ms=float(ms.std()),
            min_ms=float(ms.min()),
            samples_ms=[float(v) for v in ms],
        )


def time_invokes(invoke: Any, samples: np.ndarray, start: int = 0, count: int | None = None
                 ) -> None:
    """Time `count` invokes alone (all of `samples` when None) into `samples[start:]`, in
    nanoseconds: nothing but the call sits between the two clock reads."""
    clock = time.perf_counter_ns
    for i in range(start, start + (len(samples) if count is None else count)):
        begin = clock()
        invoke()
        samples[i] = clock() - begin


def prepare(
    model: bytes,
    delegate: str,
    threads: int | None,
    warmup_runs: int,
    timed_runs: int,
    x: np.ndarray | list[np.ndarray] | None,
) -> Prepared | LatencyResult:
    """Load `model` on `delegate`, set the fixed input and run the warm-up invokes; an
    unsupported LatencyResult (with the reason) when the delegate cannot run it.

    Raises:
        ValueError: run counts out of range, or `x` does not match the model inputs.
    """
    from mlflow_tflite.litert import TFLiteRunner

    if warmup_runs < 0:
        raise ValueError(f"warmup_runs should be >= 0, got {warmup_runs}")
    if timed_runs < 1:
        raise ValueError(f"timed_runs should be >= 1, got {timed_runs}")
    settings = {
        "delegate": delegate,
        "threads": threads,
        "warmup_runs": warmup_runs,
        "timed_runs": timed_runs,
    }
    if missing := _missing_library(delegate):
        return LatencyResult(**settings, input_source="none", supported=False, reason=missing)
    try:
        runner = TFLiteRunner(model, delegate=delegate, threads=threads)
    except Exception as error:  # noqa: BLE001 - any load failure means "cannot run here"
        return LatencyResult(
            **settings, input_source="none", supported=False,
            reason=first_line(error, with_type=True, limit=MAX_REASON_CHARS),
        )
    arrays, source = fixed_input(runner, x)
    interpreter = runner.interpreter
    try:
        for spec, array in zip(runner.inputs, arrays, strict=True):
            interpreter.set_tensor(spec.index, array)
        # At least one untimed invoke: it is where a delegate can still fail.
        for _ in range(max(warmup_runs, 1)):
            interpreter.invoke()
    except Exception as error:  # noqa: BLE001
        return LatencyResult(
            **settings, input_source=source, supported=False,
            reason=first_line(error, with_type=True, limit=MAX_REASON_CHARS),
        )
    return Prepared(interpreter.invoke, settings, source)
