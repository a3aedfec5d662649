"""Runs one `.tflite` on a target's runtime and prints what it measured as JSON.

A standalone script (numpy and the runtime only, no mlflow_tflite import): the `tflm`
target runs it in a subprocess here (a native abort in TFLite Micro fails the target,
not the flow), the `ssh` target copies it to the device and runs it with the device's
python. Inputs come as `inputs.npz` (`input_0`, `input_1`, ... float, one row a sample);
settings as `settings.json`. It prints one JSON object: `outputs` (per sample, every
output flattened and dequantized), `latency_ms` (per timed invoke), and per runtime
`arena_bytes` (tflm), `peak_memory_mb` (litert), or `error` / `missing_ops`.

    python probe.py tflm|litert model.tflite inputs.npz settings.json
"""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
import time

try:
    import numpy as np
except ImportError as missing:  # reported as the runtime's absence, in JSON
    np = None
    _NUMPY_MISSING = str(missing)

# The largest arena a TFLM search tries; a model that does not allocate in it lacks an op.
MAX_ARENA = 256 * 2**20
_NODE = re.compile(r"Node (\w+) \(number \d+\) failed to (?:prepare|invoke)")
_MISSING = re.compile(r"Didn't find op for builtin opcode '(\w+)'")


def _quantize(values, detail):
    params = detail.get("quantization_parameters") or {}
    scales = np.asarray(params.get("scales", []), dtype=np.float64)
    dtype = np.dtype(detail["dtype"])
    if scales.size and np.issubdtype(dtype, np.integer):
        zero = np.asarray(params.get("zero_points", [0]), dtype=np.float64)
        info = np.iinfo(dtype)
        return np.clip(np.round(values / scales[0] + zero[0]), info.min, info.max).astype(dtype)
    return np.asarray(values).astype(dtype)


def _dequantize(values, detail):
    params = detail.get("quantization_parameters") or {}
    scales = np.asarray(params.get("scales", []), dtype=np.float64)
    if scales.size and np.issubdtype(np.asarray(values).dtype, np.integer):
        zero = np.asarray(params.get("zero_points", [0]), dtype=np.float64)
        return ((np.asarray(values, dtype=np.float64) - zero[0]) * scales[0]).astype(np.float32)
    return np.asarray(values, dtype=np.float32)


class _Stderr:
    """Native stderr (file descriptor 2) captured to a file while open: TFLM's reasons."""

    def __enter__(self):
        sys.stderr.flush()
        self._saved = os.dup(2)
        self._file = tempfile.TemporaryFile(mode="w+b")
        os.dup2(self._file.fileno(), 2)
        return self

    def __exit__(self, *exc):
        os.dup2(self._saved, 2)
        os.close(self._saved)
        self._file.seek(0)
        self.text = self._file.read().decode(errors="replace")
        self._file.close()


def _tflm_interpreter(runtime, model, arena):
    try:
        return runtime.Interpreter.from_bytes(model, arena_size=arena)
    except RuntimeError:
        return None


def _smallest_arena(runtime, model, fits):
    """The smallest arena (16-byte steps) that allocates, given one that does."""
    low, high = 0, fits
    while high - low > 16:
        middle = (low + high) // 2 // 16 * 16
        if middle <= low:
            break
        if _tflm_interpreter(runtime, model, middle) is None:
            low = middle
        else:
            high = middle
    return high


def _run_tflm(model, inputs, settings):
    from tflite_micro.python.tflite_micro import runtime

    with _Stderr() as captured:
        interpreter = None
        for arena in (16 * 2**20, MAX_ARENA):
            interpreter = _tflm_interpreter(runtime, model, arena)
            if interpreter is not None:
                break
    if interpreter is None:
        missing = sorted(set(_MISSING.findall(captured.text)) | set(_NODE.findall(captured.text)))
        lines = [line for line in captured.text.splitlines() if line.strip()]
        return {"missing_ops": missing, "error": lines[0] if lines else "does not allocate"}
    with _Stderr():
        arena = _smallest_arena(runtime, model, arena)
    interpreter = runtime.Interpreter.from_bytes(model, arena_size=arena)
    in_details = [interpreter.get_input_details(i) for i in range(len(inputs))]
    out_details = [interpreter.get_output_details(i) for i in range(settings["outputs"])]

    def invoke(sample):
        for i, values in enumerate(inputs):
            interpreter.set_input(_quantize(values[sample : sample + 1], in_details[i]), i)
        interpreter.invoke()

    def read():
        return np.concatenate([_dequantize(interpreter.get_output(i), d).reshape(-1)
                               for i, d in enumerate(out_details)])

    result = _outputs_and_latency(invoke, read, len(inputs[0]), settings)
    return {**result, "arena_bytes": arena}


def _run_litert(model_path, inputs, settings):
    import resource

    from ai_edge_litert import interpreter as litert

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kwargs = {"num_threads": settings.get("threads", 1)}
    if settings.get("delegate") in ("builtin", "reference"):
        resolver = litert.OpResolverType
        kwargs["experimental_op_resolver_type"] = (
            resolver.BUILTIN_REF if settings["delegate"] == "reference"
            else resolver.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    interpreter = litert.Interpreter(model_path=model_path, **kwargs)
    in_details = interpreter.get_input_details()
    for i, detail in enumerate(in_details):
        shape = list(detail["shape"])
        if shape and shape[0] != 1:
            interpreter.resize_tensor_input(detail["index"], [1, *list(inputs[i].shape[1:])])
    interpreter.allocate_tensors()
    in_details = interpreter.get_input_details()
    out_details = interpreter.get_output_details()

    def invoke(sample):
        for i, detail in enumerate(in_details):
            interpreter.set_tensor(detail["index"],
                                   _quantize(inputs[i][sample : sample + 1], detail))
        interpreter.invoke()

    def read():
        return np.concatenate([_dequantize(interpreter.get_tensor(d["index"]), d).reshape(-1)
                               for d in out_details])

    result = _outputs_and_latency(invoke, read, len(inputs[0]), settings)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return {**result, "peak_memory_mb": max(peak - before, 0) / 1024}


def _outputs_and_latency(invoke, read, samples, settings):
    outputs = []
    for sample in range(samples):
        invoke(sample)
        outputs.append(read().tolist())
    for _ in range(settings.get("warmup_runs", 5)):
        invoke(0)
    timings = []
    for run in range(settings.get("timed_runs", 50)):
        start = time.perf_counter()
        invoke(run % samples)
        timings.append((time.perf_counter() - start) * 1000)
    return {"outputs": outputs, "latency_ms": timings}


def main(argv):
    runtime_name, model_path, inputs_path, settings_path = argv
    if np is None:
        print(json.dumps({"error": f"{runtime_name} runtime missing: {_NUMPY_MISSING}"}))
        return
    with open(settings_path) as handle:
        settings = json.load(handle)
    with np.load(inputs_path) as stored:
        inputs = [stored[f"input_{i}"] for i in range(len(stored.files))]
    try:
        if runtime_name == "tflm":
            with open(model_path, "rb") as handle:
                result = _run_tflm(handle.read(), inputs, settings)
        else:
            result = _run_litert(model_path, inputs, settings)
    except ImportError as error:
        result = {"error": f"{runtime_name} runtime missing: {error}"}
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
