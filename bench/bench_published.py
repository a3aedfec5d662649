"""Every ai-edge-quantizer scheme on published float `.tflite` files, as given.

    python bench/bench_published.py FILE.tflite [FILE.tflite ...]

For each file: how it is stored (old-style op codes, float16 weights), then per scheme the
size against the file given, the weight tensors quantized, and the output SNR against
the file's own outputs on 64 seeded random inputs in [0, 1) (every output, flattened).
The files are not shipped here; the ones in bench/RESULTS.md come from the `mediapipe`
wheel (`pip download mediapipe==0.10.21 --no-deps`, then unzip its `*.tflite`).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

SCHEMES = ("int8_weight_only", "int4_weight_only", "int4_dynamic", "int4_blockwise")
SAMPLES = 64


def rows(path: Path) -> list[list[str]]:
    """One row per scheme for one file."""
    import numpy as np

    from mlflow_tflite.config import ConvertConfig
    from mlflow_tflite.convert import ConversionError, convert_variant
    from mlflow_tflite.convert.flatbuffer import normalise, weights_storage
    from mlflow_tflite.errors import first_line
    from mlflow_tflite.litert import TFLiteRunner
    from mlflow_tflite.measure.outputs import predict_all
    from mlflow_tflite.measure.quality import flat_outputs, output_snr_db

    given = path.read_bytes()
    fixed = normalise(given)
    stored = f"{weights_storage(given)}, {fixed.opcodes} old op codes"
    shape = TFLiteRunner(given, delegate="builtin").inputs[0].shape[1:]
    x = np.random.default_rng(0).random((SAMPLES, *shape), dtype=np.float32)
    reference = flat_outputs(predict_all(given, x))
    found = []
    for scheme in SCHEMES:
        try:
            conversion = convert_variant(given, ConvertConfig(quantization=scheme))
        except ConversionError as error:
            found.append([path.name, stored, scheme, "-", "-", "-", str(error)])
            continue
        done, total = conversion.quantized_weights
        ratio = f"{len(given) / len(conversion.flatbuffer):.2f}x"
        try:
            outputs = flat_outputs(predict_all(conversion.flatbuffer, x))
        except RuntimeError as error:  # LiteRT refuses the quantized model
            found.append([path.name, stored, scheme, ratio, f"{done}/{total}", "-",
                          first_line(error, limit=90)])
            continue
        snr = output_snr_db(outputs, reference)
        found.append([path.name, stored, scheme, ratio, f"{done}/{total}", f"{snr:.1f}", ""])
    return found


def main(argv: list[str] | None = None) -> int:
    from tabulate import tabulate

    files = [Path(f) for f in (argv if argv is not None else sys.argv[1:])]
    if not files:
        print(__doc__)
        return 2
    table = [row for path in files for row in rows(path)]
    headers = ["file", "stored as", "scheme", "smaller than file", "weights quantized",
               "output SNR dB", "error"]
    print(tabulate(table, headers=headers, tablefmt="github"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
