"""The CPU a measurement ran on, and what it means for int8 latency.

XNNPACK's int8 kernels beat its fp32 ones on CPUs with an int8 dot-product instruction
(AVX-512 VNNI, AVX-VNNI, AMX, Arm's dotprod and i8mm). Without one (an AVX2-only x86, an
Armv8.0 core) int8 runs slower than fp32 there (bench/RESULTS.md: 1.47x on an AVX2 AMD
EPYC, MNIST and MobileNetV2 alike), so every int8 variant fails a `max_latency_vs_fp32`
gate measured on that machine, whatever the device the model ships to.
"""

from __future__ import annotations

import platform
from collections.abc import Iterable
from functools import cache

INT8_FEATURES = ("avx512_vnni", "avx_vnni", "amx_int8", "avx512f", "avx2", "asimddp", "i8mm")
DOT_PRODUCT = frozenset({"avx512_vnni", "avx_vnni", "amx_int8", "asimddp", "i8mm"})
# Quantization schemes whose kernels are integer on XNNPACK.
INTEGER_SCHEMES = frozenset({"int8", "int16x8"})


@cache  # read once per process: every variant's measurement records the CPU
def _cpuinfo() -> str | None:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            return handle.read()
    except OSError:
        return None


def cpu_model() -> str:
    """The CPU's marketing name (Linux: /proc/cpuinfo), else what `platform` knows."""
    for line in (_cpuinfo() or "").splitlines():
        if line.startswith(("model name", "Hardware", "Model")):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine() or "unknown"


def cpu_int8_features(cpuinfo: str | None = None) -> str:
    """The int8-relevant instruction sets the CPU reports (`/proc/cpuinfo` flags), e.g.
    `avx2` or `avx512_vnni, avx512f, avx2`; `none` without any, `unknown` off Linux."""
    cpuinfo = cpuinfo if cpuinfo is not None else _cpuinfo()
    if cpuinfo is None:
        return "unknown"
    flags: set[str] = set()
    for line in cpuinfo.splitlines():
        if line.startswith(("flags", "Features")):
            flags.update(line.split(":", 1)[1].split())
    return ", ".join(f for f in INT8_FEATURES if f in flags) or "none"


def int8_slower_note(rows: Iterable[tuple[str, float | None]], features: str) -> str | None:
    """One line telling why every int8 variant is slower than fp32 when the CPU (whose
    `cpu_int8_features` are `features`) has no int8 dot-product instruction; None when
    some int8 variant is not slower, none was timed, or the CPU has one.

    `rows` are (quantization, latency_vs_fp32) of the finished variants.
    """
    ratios = [ratio for scheme, ratio in rows if scheme in INTEGER_SCHEMES and ratio is not None]
    if not ratios or min(ratios) <= 1.0 or features == "unknown":
        return None
    if DOT_PRODUCT & {f.strip() for f in features.split(",")}:
        return None
    return (f"every int8 variant is slower than fp32 here (latency_vs_fp32 {min(ratios):.2f} "
            f"at best): this CPU has no int8 dot-product instruction (int8 instructions: "
            f"{features}), where XNNPACK's int8 kernels lose to its fp32 ones; on one with "
            f"it (AVX-512 VNNI, AVX-VNNI, Arm dotprod) they win. Time on the device you ship "
            f"to (a `targets` entry of kind ssh) before relaxing max_latency_vs_fp32")
