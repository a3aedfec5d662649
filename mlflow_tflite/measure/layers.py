"""Per-layer error of a quantized `.tflite` model against its float model.

    from mlflow_tflite.measure.layers import layer_errors, most_sensitive, summary_metrics

    errors = layer_errors("fp32.tflite", "int8.tflite", x_test)   # float model's op order
    summary_metrics(errors)        # {"output_snr_db": 31.2, "min_layer_snr_db": 24.9}
    most_sensitive(errors, 3)      # the layers that add the most error, worst first

Both models run on LiteRT's builtin kernels with every intermediate tensor preserved (a
delegate computes its ops out of sight), on the same inputs, in batches. The analysis
streams: a batch holds as many samples as keep both models' preserved tensors within
`BATCH_BYTES`, each matched tensor adds to running sums and is dropped, so memory grows
with the model's activations for one batch, never with layers x samples. Large models run
fewer samples (`sample_count`): at least `MIN_SAMPLES`, up to `ANALYSIS_BYTES` of
activations read in all, since each layer's statistics then already cover millions of
values (MobileNetV2 at 224x224, int8 weight-only: every layer's SNR over 32 samples is
within 0.09 dB of its SNR over 256, 0.02 dB on average; see bench/RESULTS.md).

A *layer* is one output tensor of one op of the float model; `measure/graph.py` says how
it is matched to the quantized model's tensor carrying the same value.

Errors accumulate along the graph, so a layer's `snr_db` includes what earlier layers
lost. `added_snr_db` estimates the layer's own share under additive noise: the SNR of
(noise-to-signal out - the worst noise-to-signal of its activation inputs); ranking uses it.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mlflow_tflite.measure.graph import Graph, Op, match_layers, real_values
from mlflow_tflite.measure.quality import SNR_CEILING_DB

DEFAULT_MAX_SAMPLES = 256
# Samples per invoke for dynamic-batch models, at most.
BATCH = 64
# Bytes of preserved activation tensors (both models) one batch may hold: a float
# MobileNetV2 at 224x224 preserves about 45 MB a sample per model, so it runs 2 a batch.
BATCH_BYTES = 256 * 2**20
# Activation bytes (both models) the whole analysis reads, and the fewest samples it runs.
ANALYSIS_BYTES = 2 * 2**30
MIN_SAMPLES = 32
TABLE_COLUMNS = ("layer", "op", "mse", "snr_db", "cosine")
OUTPUT_SNR_METRIC = "output_snr_db"
MIN_LAYER_SNR_METRIC = "min_layer_snr_db"

Model = bytes | str | Path


@dataclass(frozen=True)
class LayerError:
    """How far one layer's output in the quantized model is from the float model's.

    `layer` is the float tensor name up to its first `;` (the converter joins fused op
    names with `;`); `snr_db` is at most SNR_CEILING_DB (`identical`), `added_snr_db`
    is infinite for a layer that adds no error; `tensor` the full name (what
    ai-edge-quantizer regexes and the converter's denylist match), `quantized_tensor` the
    matched tensor's name, `position` the op's index in the float model's execution order.
    """

    layer: str
    op: str
    mse: float
    snr_db: float
    cosine: float
    added_snr_db: float
    tensor: str
    quantized_tensor: str
    position: int
    is_output: bool

    @property
    def identical(self) -> bool:
        """Whether the quantized layer's values equal the float layer's (to float32)."""
        return self.snr_db >= SNR_CEILING_DB

    def row(self) -> dict[str, Any]:
        """The table row: TABLE_COLUMNS."""
        values = asdict(self)
        return {column: values[column] for column in TABLE_COLUMNS}


class _Sums:
    """Running sums over batches, so no tensor is kept past its batch."""

    def __init__(self) -> None:
        self.signal = self.noise = self.dot = self.other = 0.0
        self.count = 0

    def add(self, ref: np.ndarray, quant: np.ndarray) -> None:
        ref, quant = ref.reshape(-1), quant.reshape(-1)
        diff = ref - quant
        # einsum: one pass, no temporary (about twice as fast as `@` on large tensors).
        self.signal += float(np.einsum("i,i->", ref, ref))
        self.noise += float(np.einsum("i,i->", diff, diff))
        self.dot += float(np.einsum("i,i->", ref, quant))
        self.other += float(np.einsum("i,i->", quant, quant))
        self.count += ref.size

    @property
    def noise_ratio(self) -> float:
        if self.noise == 0.0:
            return 0.0
        return self.noise / self.signal if self.signal else math.inf

    def cosine(self) -> float:
        # ai-edge-quantizer's convention: both zero is 1, one zero is 0.
        if self.signal == 0.0 and self.other == 0.0:
            return 1.0
        if self.signal == 0.0 or self.other == 0.0:
            return 0.0
        return self.dot / math.sqrt(self.signal * self.other)


def _db(noise_ratio: float) -> float:
    """SNR in dB from noise power / signal power: inf when there is no noise."""
    if noise_ratio <= 0.0:
        return math.inf
    return -10.0 * math.log10(noise_ratio) if math.isfinite(noise_ratio) else -math.inf


def _snr_db(noise_ratio: float) -> float:
    """A layer's SNR as reported: at most SNR_CEILING_DB (identical float32 values),
    never an infinity that MLflow logs as 1.8e308."""
    return min(_db(noise_ratio), SNR_CEILING_DB)


def _arrays(inputs: np.ndarray | list[np.ndarray] | tuple[np.ndarray, ...]) -> list[np.ndarray]:
    return [np.asarray(a) for a in inputs] if isinstance(inputs, list | tuple) else [inputs]


def _check_inputs(ref: Any, quant: Any, arrays: list[np.ndarray]) -> None:
    """Raise ValueError unless both models take the same inputs and the arrays fit them."""

    def describe(runner: Any) -> str:
        return ", ".join(f"{s.shape} {s.dtype}" for s in runner.inputs)

    def fits(expected: list[int], actual: tuple[int, ...]) -> bool:
        return len(expected) == len(actual) and all(
            e in (-1, a) for e, a in zip(expected[1:], actual[1:], strict=True)
        )

    shapes = [[-1, *s.shape[1:]] for s in ref.inputs]
    if shapes != [[-1, *s.shape[1:]] for s in quant.inputs]:
        raise ValueError(
            f"the models' inputs do not match: float model takes {describe(ref)}, "
            f"quantized model takes {describe(quant)}"
        )
    given = [tuple(a.shape) for a in arrays]
    if len(arrays) != len(shapes) or not all(map(fits, shapes, given)):
        raise ValueError(f"inputs of shape {given} do not fit the model inputs {describe(ref)}")
    if not len(arrays[0]):
        raise ValueError("no input samples")


def _batches(
    arrays: list[np.ndarray], max_samples: int, batch: int, pad: bool
) -> Iterator[tuple[list[np.ndarray], int]]:
    """Up to `max_samples` evenly spaced samples in batches of `batch`, each with its
    count of real samples.

    With `pad` (fixed-batch models) a short last batch is filled by repeating its last
    sample; the caller leaves the padding out of the sums.
    """
    size = len(arrays[0])
    picks = np.unique(np.linspace(0, size - 1, num=min(max_samples, size)).round().astype(int))
    for start in range(0, len(picks), batch):
        chunk = picks[start : start + batch]
        real = len(chunk)
        if pad:
            chunk = np.concatenate([chunk, np.repeat(chunk[-1:], batch - real)])
        yield [a[chunk] for a in arrays], real


def layer_errors(
    float_model: Model,
    quantized_model: Model,
    inputs: np.ndarray | list[np.ndarray],
    *,
    max_samples: int = DEFAULT_MAX_SAMPLES,
) -> list[LayerError]:
    """Compare a quantized model with its float model, layer by layer, on test inputs.

    Args:
        float_model: the float `.tflite` (bytes or path) the quantized one was made from.
        quantized_model: the quantized `.tflite` (converter or ai-edge-quantizer made).
        inputs: float samples, one array (or one per model input) with a leading sample
            axis; integer-input models get them quantized by the input's scale.
        max_samples: at most this many evenly spaced samples are run (fewer for a
            large model, see `sample_count`).

    Returns:
        One LayerError per matched layer, in the float model's op order.

    Raises:
        ValueError: the models' inputs differ, the arrays do not fit them, no sample,
            or no layer of the float model could be matched.
        FileNotFoundError / RuntimeError from LiteRT: a model cannot be loaded.
    """
    from mlflow_tflite.litert import TFLiteRunner

    if max_samples < 1:
        raise ValueError(f"max_samples must be >= 1 (got {max_samples})")
    runners = [
        TFLiteRunner(_content(m), delegate="builtin", preserve_all_tensors=True)
        for m in (float_model, quantized_model)
    ]
    arrays = _arrays(inputs)
    _check_inputs(*runners, arrays)
    ref, quant = (Graph(r.interpreter) for r in runners)
    matches = match_layers(ref, quant)
    if not matches:
        raise ValueError("no layer of the quantized model matches the float model's layers")
    fixed = {r.fixed_batch for r in runners} - {None}
    if len(fixed) > 1:
        raise ValueError(f"the models' fixed batch sizes differ: {sorted(fixed)}")
    sums = {tensor: _Sums() for _, tensor, _ in matches}
    # The interpreters are allocated at batch 1, or at the fixed batch.
    per_sample = (ref.activation_bytes() + quant.activation_bytes()) // (min(fixed) if fixed
                                                                          else 1)
    size = min(fixed) if fixed else batch_size(per_sample)
    count = sample_count(max_samples, per_sample)
    for batch, real in _batches(arrays, count, size, pad=bool(fixed)):
        for runner in runners:
            runner.predict(batch, dequantize_outputs=False)

        def values(runner: Any, graph: Graph, index: int, rows: int = len(batch[0]),
                   real: int = real) -> np.ndarray:
            value = runner.interpreter.get_tensor(index)
            if real < rows and value.ndim and value.shape[0] == rows:
                value = value[:real]  # the padding of a fixed-batch model's last batch
            return real_values(value, graph.tensors[index])

        for _, tensor, other in matches:
            sums[tensor].add(values(runners[0], ref, tensor), values(runners[1], quant, other))
    return _results(ref, quant, matches, sums)


def batch_size(per_sample: int) -> int:
    """Samples per batch of a dynamic-batch model: as many as keep both models'
    preserved activations (`per_sample` bytes a sample) within BATCH_BYTES."""
    return max(1, min(BATCH, BATCH_BYTES // max(per_sample, 1)))


def sample_count(max_samples: int, per_sample: int) -> int:
    """Samples to run: `max_samples`, fewer for models whose activations (`per_sample`
    bytes a sample, both models) would exceed ANALYSIS_BYTES, never below MIN_SAMPLES."""
    return min(max_samples, max(MIN_SAMPLES, ANALYSIS_BYTES // max(per_sample, 1)))


def _content(model: Model) -> bytes:
    if isinstance(model, bytes | bytearray):
        return bytes(model)
    path = Path(model)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such .tflite file")
    return path.read_bytes()


def _results(
    ref: Graph, quant: Graph, matches: list[tuple[Op, int, int]], sums: dict[int, _Sums]
) -> list[LayerError]:
    results = []
    names: set[str] = set()
    for op, tensor, other in matches:
        s = sums[tensor]
        incoming = [sums[t].noise_ratio for t in op.inputs if t in sums]
        added = s.noise_ratio - max(incoming, default=0.0)
        full = ref.tensors[tensor]["name"]
        short = full.split(";")[0]
        layer = short if short not in names else full
        names.add(layer)
        results.append(
            LayerError(
                layer=layer,
                op=op.op,
                mse=s.noise / s.count if s.count else 0.0,
                snr_db=_snr_db(s.noise_ratio),
                cosine=s.cosine(),
                added_snr_db=_db(added) if not math.isnan(added) else math.inf,
                tensor=full,
                quantized_tensor=quant.tensors[other]["name"],
                position=op.position,
                is_output=tensor in ref.outputs,
            )
        )
    return results


def output_snr_db(errors: list[LayerError]) -> float:
    """The lowest SNR (dB) among the model's outputs.

    Raises:
        ValueError: no model output among the layers.
    """
    outputs = [e.snr_db for e in errors if e.is_output]
    if not outputs:
        raise ValueError("no model output among the compared layers")
    return min(outputs)


def min_layer_snr_db(errors: list[LayerError]) -> float:
    """The lowest SNR (dB) of any layer.

    Raises:
        ValueError: no layers.
    """
    if not errors:
        raise ValueError("no layers to summarise")
    return min(e.snr_db for e in errors)


def summary_metrics(errors: list[LayerError]) -> dict[str, float]:
    """The MLflow metrics of DESIGN.md: `output_snr_db` and `min_layer_snr_db`."""
    return {
        OUTPUT_SNR_METRIC: output_snr_db(errors),
        MIN_LAYER_SNR_METRIC: min_layer_snr_db(errors),
    }


def most_sensitive(errors: list[LayerError], count: int | None = None) -> list[LayerError]:
    """Layers ordered by the error they add themselves, worst first.

    Sorted by `added_snr_db`, then `snr_db`, then op order. Layers that add no error
    (infinite `added_snr_db`, `identical`) come last.

    Args:
        errors: `layer_errors(...)`.
        count: keep the first `count`; all when None.
    """
    ranked = sorted(errors, key=lambda e: (e.added_snr_db, e.snr_db, e.position))
    return ranked if count is None else ranked[:count]

