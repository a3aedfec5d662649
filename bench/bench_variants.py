"""Benchmark every variant of a params file in one process, and check our latency numbers.

    python bench/bench_variants.py                      # default params.yaml
    python bench/bench_variants.py --set train.epochs=1 --output bench/RESULTS.md
    python bench/bench_variants.py --schemes dynamic,int8,int4_weight_only --append bench/RESULTS.md

Trains the baseline once, builds every variant (compress -> convert) from a fresh copy
of it, measures each with `measure_variant` (the code path the flow uses) and prints:
- the variants table: size, gzip size, accuracy, output SNR against fp32 (dB), p50
  latency (primary delegate and builtin), cold start, peak memory;
- each variant/fp32 latency and size ratio, from this one run;
- our p50 against a plain LiteRT timing loop on the same model and input (the default
  XNNPACK interpreter, same threads), which must agree within 10%.
With --output, writes all of it as markdown together with the command and conditions;
--append adds it to the end of a file instead. `--schemes a,b,...` replaces the params'
variants with `fp32` and, per name, the params variant of that name or else a plain
variant of that quantization scheme, to compare schemes side by side in one run.
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from mlflow_tflite.cli.console import set_environment  # noqa: E402

# What every command sets before TensorFlow loads: tf_keras for tfmot, quiet C++ logs,
# no telemetry (Prefect's server otherwise prints a traceback offline).
set_environment(verbose=True)

TOLERANCE = 0.10


from mlflow_tflite.measure.coldstart import COLD_START_RUNS  # noqa: E402 - after sys.path


def plain_litert_p50_ms(
    model: bytes, x: np.ndarray, delegate: str, threads: int, warmup: int, runs: int
) -> float:
    """Median single-invoke time of LiteRT's own Interpreter, written as a user would.

    `delegate` picks the op resolver the same way our measurement names it (the default
    resolver is XNNPACK), without going through our code.
    """
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    resolver = {
        "xnnpack": OpResolverType.AUTO,
        "builtin": OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
        "reference": OpResolverType.BUILTIN_REF,
    }[delegate]
    interpreter = Interpreter(
        model_content=model, num_threads=threads, experimental_op_resolver_type=resolver
    )
    interpreter.allocate_tensors()
    detail = interpreter.get_input_details()[0]
    sample = x[0:1]
    scale, zero_point = detail["quantization"]
    if np.issubdtype(detail["dtype"], np.integer) and scale:
        info = np.iinfo(detail["dtype"])
        sample = np.clip(np.round(sample / scale) + zero_point, info.min, info.max)
    interpreter.set_tensor(detail["index"], sample.astype(detail["dtype"]))
    for _ in range(max(warmup, 1)):
        interpreter.invoke()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        interpreter.invoke()
        times.append(time.perf_counter() - start)
    return float(np.median(times) * 1e3)


def snr_db(outputs: np.ndarray, reference: np.ndarray) -> float:
    """Output signal-to-noise ratio against the fp32 outputs, in dB (inf when identical)."""
    noise = float(np.mean((np.asarray(outputs, np.float64) - reference) ** 2))
    signal = float(np.mean(np.asarray(reference, np.float64) ** 2))
    return float("inf") if noise == 0 else 10 * np.log10(signal / noise)


def scheme_variants(names: str, params: Any) -> list[dict[str, Any]]:
    """`fp32`, then per name the params variant of that name or a plain variant of that
    scheme, as params.yaml `variants` entries."""
    own = {v.name: v.model_dump(mode="json") for v in params.variants}
    picked = [n.strip() for n in names.split(",") if n.strip() not in ("", "none", "fp32")]
    return [{"name": "fp32", "convert": {"quantization": "none"}}] + [
        own.get(n, {"name": n, "convert": {"quantization": n}}) for n in picked
    ]


def build_and_measure(params: Any, log: Any = print) -> dict[str, Any]:
    """Every variant measured; the reference checks; timings of each stage."""
    from mlflow_tflite import compress, convert, train
    from mlflow_tflite.config.variants import ConvertConfig
    from mlflow_tflite.data import prepare_dataset
    from mlflow_tflite.measure import measure_variant, predict_outputs

    stages: dict[str, float] = {}
    start = time.perf_counter()
    dataset = prepare_dataset(params.data)
    stages["prepare"] = time.perf_counter() - start

    start = time.perf_counter()
    trained = train.train_baseline(dataset, params.train, log=log)
    stages["train baseline"] = time.perf_counter() - start

    fp32 = convert.convert_model(trained.model, ConvertConfig(quantization="none"), dataset)
    reference = predict_outputs(fp32, dataset.x_test)
    bench = params.benchmark
    rows: list[dict[str, Any]] = []
    for variant in params.variants:
        start = time.perf_counter()
        model = trained.model  # compress_model works on its own fresh copy
        if variant.compress.steps:
            model = compress.compress_model(model, variant.compress, dataset, params.train)
        # As the flow does: the sparse format only for what pruning made sparse.
        sparse = variant.compress.prune is not None and variant.convert.sparsity_optimization
        conversion = convert.convert_variant(model, variant.convert, dataset, sparse=sparse)
        flatbuffer = conversion.flatbuffer
        built = time.perf_counter() - start
        start = time.perf_counter()
        measured = measure_variant(
            flatbuffer,
            dataset.x_test,
            dataset.y_test,
            config=bench,
            baseline_accuracy=trained.accuracy,
            reference_outputs=reference,
            fp32_size_bytes=len(fp32),
        )
        took = time.perf_counter() - start
        # Checked on the delegate that fills the unprefixed latency (builtin where XNNPACK
        # refuses a sparse model), so every variant is compared.
        plain = plain_litert_p50_ms(
            flatbuffer,
            dataset.x_test,
            measured.delegate,
            bench.threads,
            bench.warmup_runs,
            bench.timed_runs,
        )
        rows.append(
            {
                "name": variant.name,
                "m": measured,
                "plain_p50": plain,
                "snr_db": snr_db(
                    predict_outputs(flatbuffer, dataset.x_test, delegate=measured.delegate),
                    reference,
                ),
                "build_s": built,
                "measure_s": took,
            }
        )
        log(f"{variant.name}: built in {built:.1f} s, measured in {took:.1f} s")
    return {
        "rows": rows,
        "baseline_accuracy": trained.accuracy,
        "data_version": dataset.version,
        "test_samples": len(dataset.x_test),
        "fp32_size": len(fp32),
        "stages": stages,
    }


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    from tabulate import tabulate

    return tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True)


def variants_table(result: dict[str, Any]) -> str:
    rows = []
    for row in result["rows"]:
        m = row["m"].metrics()
        rows.append(
            [
                row["name"],
                f"{int(m['size_bytes']):,}",
                f"{int(m['gzip_size_bytes']):,}",
                f"{m['accuracy']:.4f}",
                f"{m['accuracy_delta']:+.4f}",
                f"{m['agreement']:.4f}",
                f"{row['snr_db']:.1f}",
                f"{m['latency_p50_ms']:.4f}",
                f"{m.get('builtin/latency_p50_ms', float('nan')):.4f}",
                f"{m.get('cold_start_ms', float('nan')):.2f}",
                f"{m.get('peak_memory_mb', float('nan')):.2f}",
                f"{m['sparsity']:.3f}",
                int(m["unique_weight_values"]),
                row["m"].delegate,
            ]
        )
    return _table(
        [
            "variant",
            "size B",
            "gzip B",
            "accuracy",
            "Δ acc",
            "agreement",
            "out SNR dB",
            "p50 ms",
            "builtin p50 ms",
            "cold start ms",
            "peak MB",
            "sparsity",
            "unique w",
            "delegate",
        ],
        rows,
    )


def ratios_table(result: dict[str, Any]) -> str:
    by_name = {row["name"]: row["m"].metrics() for row in result["rows"]}
    base = by_name.get("fp32")
    if base is None:
        return "(no `fp32` variant: no ratios)"
    rows = []
    for name, m in by_name.items():
        if name == "fp32":
            continue
        rows.append(
            [
                f"{name}/fp32",
                f"{m['latency_p50_ms'] / base['latency_p50_ms']:.3f}",
                f"{m['builtin/latency_p50_ms'] / base['builtin/latency_p50_ms']:.3f}"
                if "builtin/latency_p50_ms" in m and "builtin/latency_p50_ms" in base
                else "-",
                f"{m['size_bytes'] / base['size_bytes']:.3f}",
                f"{m['gzip_size_bytes'] / base['gzip_size_bytes']:.3f}",
            ]
        )
    return _table(
        ["ratio", "p50 latency (primary)", "p50 latency (builtin)", "size", "gzip size"], rows
    )


def agreement_table(result: dict[str, Any]) -> tuple[str, bool]:
    rows, ok = [], True
    for row in result["rows"]:
        m = row["m"]
        ours = m.primary.p50_ms
        diff = (ours - row["plain_p50"]) / row["plain_p50"]
        within = abs(diff) <= TOLERANCE
        ok &= within
        rows.append(
            [
                row["name"],
                m.delegate,
                f"{ours:.4f}",
                f"{row['plain_p50']:.4f}",
                f"{diff:+.1%}",
                "yes" if within else "NO",
            ]
        )
    headers = [
        "variant",
        "delegate",
        "ours p50 ms",
        "plain LiteRT loop p50 ms",
        "difference",
        "within 10%",
    ]
    return _table(headers, rows), ok


def conditions() -> dict[str, str]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    return {
        "cpu": f"{cpu}, {os.cpu_count()} logical CPUs",
        "load": load,
        "python": platform.python_version(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default=str(ROOT / "params.yaml"))
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--output", metavar="FILE", help="write the results as markdown")
    parser.add_argument("--append", metavar="FILE", help="append the results as markdown")
    parser.add_argument("--schemes", metavar="A,B",
                        help="fp32 and these schemes or params variants, side by side")
    args = parser.parse_args(argv)

    from mlflow_tflite.config import load_params

    params = load_params(args.params, args.set)
    if args.schemes:
        variants = scheme_variants(args.schemes, params)
        params = params.model_validate({**params.model_dump(), "variants": variants})
    before = conditions()
    started = time.perf_counter()
    result = build_and_measure(params)
    total = time.perf_counter() - started
    after = conditions()

    agree, ok = agreement_table(result)
    b = params.benchmark
    settings = (
        f"delegates {b.delegates} (primary {b.primary_delegate}), threads {b.threads}, "
        f"{b.warmup_runs} warm-up + {b.timed_runs} timed single-sample invokes, "
        f"cold start: median of {COLD_START_RUNS} fresh processes"
    )
    sections = [
        ("Variants", variants_table(result)),
        ("Ratios against fp32 (same run)", ratios_table(result)),
        ("Our p50 against a plain LiteRT timing loop (same model, input, threads)", agree),
    ]
    for title, body in sections:
        print(f"\n## {title}\n\n{body}")
    print(f"\nagreement within {TOLERANCE:.0%}: {'yes' if ok else 'NO'}; total {total:.0f} s")

    if args.output or args.append:
        interpreter = Path(sys.executable)
        if interpreter.is_relative_to(ROOT):
            interpreter = interpreter.relative_to(ROOT)
        else:
            interpreter = Path("python")
        arguments = argv if argv is not None else sys.argv[1:]
        command = f"{interpreter} bench/bench_variants.py " + " ".join(map(shlex.quote, arguments))
        stage_times = ", ".join(f"{k} {v:.1f} s" for k, v in result["stages"].items())
        per_variant = ", ".join(
            f"{r['name']} {r['build_s']:.0f}+{r['measure_s']:.0f} s" for r in result["rows"]
        )
        title = "Quantization schemes" if args.schemes else "Benchmark results"
        lines = [
            f"{'## ' if args.append else '# '}{title}",
            "",
            f"Command (from the repository root): `{command.strip()}`",
            "",
            f"- run: {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, total {total:.0f} s "
            f"({stage_times}; per variant build+measure: {per_variant})",
            f"- machine: {before['cpu']}; Python {before['python']}; load average "
            f"(1/5/15 min) {before['load']} before, {after['load']} after",
            f"- data: `{params.data.source}`, version `{result['data_version'][:12]}`, "
            f"{result['test_samples']} test samples; baseline (Keras) accuracy "
            f"{result['baseline_accuracy']:.4f}; fp32 size {result['fp32_size']:,} bytes",
            f"- latency: {settings}",
            "",
        ]
        level = "###" if args.append else "##"
        for heading, body in sections:
            lines += [f"{level} {heading}", "", body, ""]
        lines.append(f"Agreement within {TOLERANCE:.0%}: **{'yes' if ok else 'no'}**.")
        text = "\n".join(lines) + "\n"
        if args.append:
            with open(args.append, "a") as out:
                out.write("\n" + text)
        else:
            Path(args.output).write_text(text)
        print(f"wrote {args.append or args.output}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
