"""What the deployment targets cost and report on the shipped MNIST variants.

    python bench/bench_targets.py                      # the shipped params.yaml
    python bench/bench_targets.py --keep /tmp/targets  # keep the run's directory

One `mlflow-tflite run` of the shipped params.yaml in a fresh directory (no cache) with
two targets added: `mcu: {kind: tflm}` and `app: {kind: runtime}`, and a promotion target
`mcu` gated on a 64 KB arena and 256 KB of flash (besides the default target). Then, per
shipped variant: TFLM arena and flash against LiteRT's peak memory and file size (from
the run's `variants.csv`), TFLM's output SNR against LiteRT, and the time each target
adds, measured again per target on that variant's `.tflite` (the run measures them
inside its measure step). The overhead is the targets' total over the run's wall time
(target: tflm and runtime together <= 10%).
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
ENV = {"TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "2",
       "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DVC_NO_ANALYTICS": "1",
       "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "1"}
ARENA_LIMIT, FLASH_LIMIT = 65536, 262144
TARGETS = {"mcu": {"kind": "tflm"}, "app": {"kind": "runtime"}}


def params_with_targets(directory: Path) -> Path:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["targets"] = TARGETS
    default = dict(params["promote"]["constraints"])
    params["promote"]["targets"] = {
        "cpu": {"alias": "champion"},
        "mcu": {"constraints": {**default, "max_mcu/arena_bytes": ARENA_LIMIT,
                                "max_mcu/flash_bytes": FLASH_LIMIT}},
    }
    path = directory / "params.yaml"
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    return path


def run(directory: Path) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run([str(BIN / "mlflow-tflite"), "run", "--params", "params.yaml"],
                          cwd=directory, env={**os.environ, **ENV}, capture_output=True,
                          text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"run failed: {done.stderr.strip().splitlines()[-1:]}")
    return seconds, done.stdout


def target_seconds(models: Path) -> dict[str, dict[str, float]]:
    """Per variant, the seconds each target takes on its `.tflite`, as in the run."""
    import numpy as np

    from mlflow_tflite.config import parse_params
    from mlflow_tflite.targets.run import measure_targets

    params = parse_params({**yaml.safe_load((ROOT / "params.yaml").read_text()),
                           "targets": TARGETS})
    x = np.random.default_rng(0).random((1000, 28, 28, 1), dtype=np.float32)
    found = {}
    for path in sorted(models.glob("*.tflite")):
        found[path.stem] = {}
        for name, config in params.targets.items():
            start = time.perf_counter()
            measure_targets({name: config}, path, x, params.benchmark)
            found[path.stem][name] = time.perf_counter() - start
    return found


def main() -> None:
    from mlflow_tflite.targets.tflm import MISSING

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="run in this directory and keep it")
    args = parser.parse_args()
    directory = args.keep or Path(tempfile.mkdtemp(prefix="bench-targets-"))
    directory.mkdir(parents=True, exist_ok=True)
    params_with_targets(directory)
    wall, output = run(directory)
    rows = {r["variant"]: r for r in csv.DictReader((directory / "reports" / "variants.csv")
                                                   .open())}
    seconds = target_seconds(directory / "reports" / "models")
    print(f"# machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores")
    print(f"# run wall time with targets: {wall:.1f} s\n")
    print("| variant | TFLM | arena | flash | LiteRT peak memory | file size | TFLM SNR vs "
          "LiteRT | min runtime | tflm s | runtime s |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: |")
    totals = {name: 0.0 for name in TARGETS}

    def number(row: dict, key: str) -> float | None:
        return float(row[key]) if row.get(key) not in (None, "") else None

    for variant, row in rows.items():
        if variant not in seconds:
            continue
        arena, flash = number(row, "mcu/arena_bytes"), number(row, "mcu/flash_bytes")
        snr, peak = number(row, "mcu/output_snr_db"), number(row, "peak_memory_mb")
        if flash is None:  # the target could not measure: its error tag says why
            print(f"| {variant} | error: {row.get('mcu/error')} | | | | | | | | |")
            continue
        fits = row.get("mcu/compatible") == "true"
        fit = ("fits" if fits and arena <= ARENA_LIMIT and flash <= FLASH_LIMIT
               else "too big" if fits
               else f"no: {str(row.get('mcu/compatible')).removeprefix(MISSING)}")
        for name in TARGETS:
            totals[name] += seconds[variant][name]
        print(f"| {variant} | {fit} | {f'{arena / 1024:,.1f} KiB' if arena else '-'} | "
              f"{flash / 1024:,.1f} KiB | {f'{peak:.2f} MB' if peak is not None else '-'} | "
              f"{float(row['size_bytes']) / 1024:,.1f} KiB | "
              f"{f'{snr:.1f} dB' if snr is not None else '-'} | {row.get('app/min_runtime')} | "
              f"{seconds[variant]['mcu']:.2f} | {seconds[variant]['app']:.2f} |")
    print()
    for name, total in totals.items():
        print(f"- {name} ({TARGETS[name]['kind']}): {total:.1f} s, {total / wall:.1%} of the run")
    both = sum(totals.values())
    print(f"- tflm + runtime: {both:.1f} s, {both / wall:.1%} of the run "
          f"(target <= 10%: {'met' if both / wall <= 0.10 else 'missed'})")
    decision = [line for line in output.splitlines() if "mcu" in line or "promot" in line.lower()]
    print("\n" + "\n".join(decision[-6:]))
    if not args.keep:
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
