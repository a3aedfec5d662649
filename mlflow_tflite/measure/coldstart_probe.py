"""Child process for cold start: `python -m mlflow_tflite.measure.coldstart_probe MODEL`.

Prints one JSON line: `cold_start_ms` (load + allocate + first invoke) and
`peak_memory_mb`. Run by `coldstart.measure_cold_start`, one fresh process per sample,
so nothing the parent imported or loaded before is warm here.

Peak memory is the peak resident set size (VmHWM) during load + allocate + first invoke
minus the resident set size just before loading, after LiteRT and NumPy are imported: it
is what loading and running the model costs (its weights, the tensor arena, the model
file's pages, and the LiteRT code pages its first run touches), not the imports. The kernel's peak
counter is reset after the imports (`/proc/self/clear_refs`), so import-time spikes do
not count; where that reset is not allowed the peak since process start is used, which
can only overstate.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path


def _status_kb(field: str) -> int:
    text = Path("/proc/self/status").read_text()
    match = re.search(rf"^{field}:\s+(\d+) kB", text, re.MULTILINE)
    if match is None:
        raise RuntimeError(f"/proc/self/status has no {field}")
    return int(match.group(1))


def _reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def probe(model_path: str, delegate: str, threads: int | None) -> dict[str, float | bool]:
    """Cold start and peak memory of one model in this (fresh) process."""
    import numpy as np
    from ai_edge_litert import interpreter as _  # noqa: F401 - imported before the baseline

    from mlflow_tflite.litert import make_interpreter

    peak_reset = _reset_peak()
    baseline_kb = _status_kb("VmRSS")
    anon_kb, file_kb = _status_kb("RssAnon"), _status_kb("RssFile")
    start = time.perf_counter_ns()
    interpreter = make_interpreter(model_path, delegate=delegate, threads=threads)
    for detail in interpreter.get_input_details():
        interpreter.set_tensor(detail["index"], np.zeros(detail["shape"], detail["dtype"]))
    interpreter.invoke()
    elapsed_ns = time.perf_counter_ns() - start
    peak_kb = _status_kb("VmHWM")
    return {
        "cold_start_ms": elapsed_ns / 1e6,
        "peak_memory_mb": max(peak_kb - baseline_kb, 0) / 1024.0,
        "baseline_rss_mb": baseline_kb / 1024.0,
        # Where the memory went: heap (weights, arena) versus pages of the model file and of
        # LiteRT's own code touched for the first time.
        "anon_delta_mb": (_status_kb("RssAnon") - anon_kb) / 1024.0,
        "file_delta_mb": (_status_kb("RssFile") - file_kb) / 1024.0,
        "peak_reset": peak_reset,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("--delegate", required=True)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)
    print(json.dumps(probe(args.model, args.delegate, args.threads)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
