"""TFLite Micro's own weight compression (lookup tables) on a run's int8 variants.

    python bench/bench_tflm_compression.py DIR/reports/models [--data DIR/data/prepared]

`DIR` is a run's directory (`python bench/bench_targets.py --keep DIR` leaves one). For
each full-integer variant, every constant int8 weight tensor is rewritten by the
`tflite-micro` package's compressor (`tflite_micro.compression`, method `lut`): its
values become bit-packed indices into one value table per output channel (the channel
axis of its quantization, else one table for the tensor), with the fewest index bits
that hold every value, and a DECODE operator that expands it at run time is inserted. A
tensor is compressed only where the indices and tables are smaller than the tensor.
Clustered weights (16 or 8 centroids, so at most 16 or 8 int8 values per channel) need
4 or 3 bits instead of 8. Then, per variant: flash (the flatbuffer's size) before and
after, the smallest TFLM arena before and after (DECODE writes the expanded weights into
the arena), the arena when the expanded weights go to a RAM region of their own (TFLM's
alternate decompression memory: the smallest of each, found by bisection), and whether
TFLM's outputs on the first 32 test samples are bit-identical.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np

SAMPLES = 32


def weight_specs(content: bytes) -> list:
    """The LUT compression spec of every int8 weight tensor it shrinks."""
    from tflite_micro import compression
    from tflite_micro.tensorflow.lite.micro.compression import lut, spec
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as fb

    model = fb.ModelT.InitFromPackedBuf(bytearray(content), 0)
    builder = compression.SpecBuilder()
    for g, graph in enumerate(model.subgraphs):
        for t, tensor in enumerate(graph.tensors):
            data = model.buffers[tensor.buffer].data if tensor.buffer else None
            if data is None or len(data) == 0 or tensor.type != fb.TensorType.INT8:
                continue
            array = np.asarray(data, dtype=np.uint8).view(np.int8).reshape(tensor.shape)
            scales = tensor.quantization.scale if tensor.quantization else None
            axis = (tensor.quantization.quantizedDimension
                    if scales is not None and len(scales) > 1 else None)
            if axis not in (None, 0, array.ndim - 1):
                continue  # the DECODE kernels take the first or the last axis only
            tables = lut.compress_array(array, axis)
            bits = tables.index_bitwidth
            size = -(-array.size * bits // 8) + len(tables.lookup_tables) * 2**bits
            if size < array.size:
                mode = spec.PerTensor() if axis is None else spec.PerChannel(axis=axis)
                builder.add_tensor(g, t).with_lut(bits, mode)
    return builder.build()


def _sized(runtime, arena: int | None = None, decode: int | None = None):
    """`runtime` whose `from_bytes(model, arena_size=n)` sizes the arena (`decode` bytes
    of decompression memory) or, given `arena`, the decompression memory: what
    `smallest_arena` bisects."""

    def from_bytes(model, arena_size):
        if arena is None:
            return runtime.Interpreter.from_bytes(
                model, arena_size=arena_size, alt_decompression_memory_size=decode)
        return runtime.Interpreter.from_bytes(
            model, arena_size=arena, alt_decompression_memory_size=arena_size)

    return SimpleNamespace(Interpreter=SimpleNamespace(from_bytes=from_bytes))


def tflm_outputs(content: bytes, arena: int, inputs: np.ndarray) -> list[np.ndarray]:
    """TFLM's raw outputs for each input row (quantized to the model's input type)."""
    from tflite_micro.python.tflite_micro import runtime

    from mlflow_tflite.targets.probe import quantize

    interpreter = runtime.Interpreter.from_bytes(content, arena_size=arena)
    detail = interpreter.get_input_details(0)
    outputs = []
    for row in inputs:
        interpreter.set_input(quantize(row[None], detail), 0)
        interpreter.invoke()
        outputs.append(np.array(interpreter.get_output(0)))
    return outputs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", type=Path, help="a run's reports/models directory")
    parser.add_argument("--data", type=Path, help="a run's data/prepared directory")
    args = parser.parse_args()
    import warnings

    from tflite_micro import compression
    from tflite_micro.python.tflite_micro import runtime

    from mlflow_tflite.targets.probe import smallest_arena

    inputs = None
    if args.data:
        with np.load(args.data / "dataset.npz") as split:
            inputs = split["x_test"][:SAMPLES].astype(np.float32)
    print("| variant | tensors compressed (index bits) | flash | compressed flash | saved "
          "| arena | compressed arena | ... weights decoded apart: arena + decode memory "
          "| TFLM outputs |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for path in sorted(args.models.glob("*.tflite")):
        content = path.read_bytes()
        try:
            runtime.Interpreter.from_bytes(content, arena_size=16 * 2**20)
        except RuntimeError:
            continue  # TFLM does not run it (see the tflm target): nothing to compress for
        before = smallest_arena(runtime, content, 16 * 2**20)
        specs = weight_specs(content)
        if not specs:
            print(f"| {path.stem} | none shrink | {len(content):,} B | - | - | "
                  f"{before:,} B | - | - | - |")
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            packed = bytes(compression.compress(content, specs))
        after = smallest_arena(runtime, packed, 16 * 2**20)
        # The expanded weights in a RAM region of their own (TFLM's alternate
        # decompression memory) instead of the arena: `after` bytes are surely enough.
        separate = smallest_arena(_sized(runtime, decode=after), packed, 16 * 2**20)
        decode = smallest_arena(_sized(runtime, arena=separate), packed, after)
        rows = inputs if inputs is not None else np.random.default_rng(0).random(
            (SAMPLES, *runtime.Interpreter.from_bytes(content, arena_size=before)
             .get_input_details(0)["shape"][1:]), dtype=np.float32)
        same = sum(np.array_equal(a, b) for a, b in zip(
            tflm_outputs(content, before, rows), tflm_outputs(packed, after, rows),
            strict=True))
        bits = sorted({s.compression[0].index_bitwidth for s in specs})
        saved = len(content) - len(packed)
        print(f"| {path.stem} | {len(specs)} ({'/'.join(map(str, bits))}) | "
              f"{len(content):,} B | {len(packed):,} B | {saved:,} B "
              f"({saved / len(content):.1%}) | {before:,} B | {after:,} B | "
              f"{separate:,} B + {decode:,} B | {same}/{len(rows)} identical |")
    print(f"\ninputs: {'the test split' if inputs is not None else 'uniform random'}, "
          f"{SAMPLES} samples; python {sys.version.split()[0]}")


if __name__ == "__main__":
    main()
