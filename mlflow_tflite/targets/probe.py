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
# Ops that cannot be tried alone (they call subgraphs or share resource variables): the
# whole model's message names them.
_NOT_ALONE = {"IF", "WHILE", "CALL_ONCE", "VAR_HANDLE", "READ_VARIABLE", "ASSIGN_VARIABLE"}
# Tensor types TFLM kernels take; another input type names the op's variant.
_TFLM_TYPES = {"FLOAT32", "INT8", "UINT8", "INT16", "INT32", "INT64", "BOOL"}


def quantize(values, detail):
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


def _missing_ops(runtime, model):
    """Every op TFLM cannot run, in model order (`FULLY_CONNECTED(hybrid)`), and TFLM's
    first line for each: each distinct (opcode, input types) tried alone, as a
    one-operator model holding that operator's tensors and constant buffers."""
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as fb

    parsed = fb.ModelT.InitFromPackedBuf(bytearray(model), 0)
    ops = {v: k for k, v in vars(fb.BuiltinOperator).items() if not k.startswith("_")}
    types = {v: k for k, v in vars(fb.TensorType).items() if not k.startswith("_")}
    missing, reasons, tried = [], [], set()
    for graph in parsed.subgraphs or []:
        for op in graph.operators or []:
            code = parsed.operatorCodes[op.opcodeIndex]
            name = ops.get(max(code.builtinCode, code.deprecatedBuiltinCode), "CUSTOM")
            inputs = [graph.tensors[i] for i in op.inputs if i >= 0]
            key = (op.opcodeIndex, tuple(t.type for t in inputs))
            if key in tried or name in _NOT_ALONE:
                continue
            tried.add(key)
            with _Stderr() as captured:
                fails = _tflm_interpreter(runtime, _one_op_model(fb, parsed, graph, op),
                                          16 * 2**20) is None
            if fails:
                label = f"{name}{_qualifier(parsed, inputs, types)}"
                missing.append(label)
                lines = [line for line in captured.text.splitlines() if line.strip()]
                reasons.append(f"{label}: {lines[0] if lines else 'does not allocate'}")
    return missing, reasons


def _qualifier(model, inputs, types):
    """`(hybrid)` for float activations with integer weights, `(float16)` for a type
    TFLM kernels do not take, else nothing."""
    names = [types.get(t.type, "?") for t in inputs]
    weights = [types.get(t.type, "?") for t in inputs if _constant(model, t)]
    if names and names[0] == "FLOAT32" and {"INT8", "INT4"} & set(weights):
        return "(hybrid)"
    odd = [n for n in names if n not in _TFLM_TYPES]
    return f"({odd[0].lower()})" if odd else ""


def _constant(model, tensor):
    data = model.buffers[tensor.buffer].data if tensor.buffer else None
    return data is not None and len(data) > 0


def _one_op_model(fb, model, graph, op):
    """A model of `op` alone: its tensors, its constant buffers, its opcode."""
    import copy

    import flatbuffers

    alone = fb.ModelT()
    alone.version = model.version or 3
    alone.operatorCodes = [copy.deepcopy(model.operatorCodes[op.opcodeIndex])]
    alone.buffers = [fb.BufferT()]
    sub, index = fb.SubGraphT(), {}
    sub.tensors = []

    def take(i):
        if i >= 0 and i not in index:
            tensor = copy.deepcopy(graph.tensors[i])
            if _constant(model, tensor):
                alone.buffers.append(copy.deepcopy(model.buffers[tensor.buffer]))
                tensor.buffer = len(alone.buffers) - 1
            else:
                tensor.buffer = 0
            index[i] = len(sub.tensors)
            sub.tensors.append(tensor)
        return index.get(i, i)

    single = copy.deepcopy(op)
    single.opcodeIndex = 0
    single.inputs = [take(i) for i in op.inputs]
    single.outputs = [take(i) for i in op.outputs]
    if op.intermediates is not None:
        single.intermediates = [take(i) for i in op.intermediates]
    sub.operators = [single]
    sub.inputs = [j for j in single.inputs if j >= 0 and sub.tensors[j].buffer == 0]
    sub.outputs = list(single.outputs)
    alone.subgraphs = [sub]
    builder = flatbuffers.Builder(1024)
    builder.Finish(alone.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def smallest_arena(runtime, model, fits):
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
        lines = [line for line in captured.text.splitlines() if line.strip()]
        missing, reasons = _missing_ops(runtime, model)
        # Ops judged by the whole model's message only (see _NOT_ALONE), after the rest.
        for op in _MISSING.findall(captured.text) + _NODE.findall(captured.text):
            if not any(name.partition("(")[0] == op for name in missing):
                missing.append(op)
        return {"missing_ops": missing,
                "error": "; ".join(reasons) or (lines[0] if lines else "does not allocate")}
    with _Stderr():
        arena = smallest_arena(runtime, model, arena)
    interpreter = runtime.Interpreter.from_bytes(model, arena_size=arena)
    in_details = [interpreter.get_input_details(i) for i in range(len(inputs))]
    out_details = [interpreter.get_output_details(i) for i in range(settings["outputs"])]

    def invoke(sample):
        for i, values in enumerate(inputs):
            interpreter.set_input(quantize(values[sample : sample + 1], in_details[i]), i)
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
                                   quantize(inputs[i][sample : sample + 1], detail))
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
