"""The int8 instruction sets a measurement records with its CPU."""

from __future__ import annotations

from pathlib import Path

from mlflow_tflite.measure.cpu import cpu_int8_features, int8_slower_note

AVX2_ONLY = "processor\t: 0\nmodel name\t: AMD EPYC\nflags\t\t: fpu sse2 avx avx2 fma\n"
VNNI = "flags\t\t: fpu avx2 avx512f avx512_vnni\n"
ARM = "Features\t: fp asimd asimddp i8mm\n"


def test_an_avx2_cpu_reports_avx2_only() -> None:
    assert cpu_int8_features(AVX2_ONLY) == "avx2"


def test_dot_product_instructions_are_named_first() -> None:
    assert cpu_int8_features(VNNI) == "avx512_vnni, avx512f, avx2"
    assert cpu_int8_features(ARM) == "asimddp, i8mm"


def test_a_cpu_without_any_says_none() -> None:
    assert cpu_int8_features("flags\t: fpu sse2\n") == "none"


def test_this_machine_is_read_from_proc_cpuinfo() -> None:
    assert cpu_int8_features() == cpu_int8_features(Path("/proc/cpuinfo").read_text())


def test_a_note_names_the_missing_instruction_when_every_int8_variant_is_slower() -> None:
    rows = [("none", 1.0), ("dynamic", 0.98), ("int8", 1.47), ("int8", 1.61), ("int16x8", 32.3)]

    note = int8_slower_note(rows, "avx2")

    assert note is not None
    assert "latency_vs_fp32 1.47 at best" in note
    assert "(int8 instructions: avx2)" in note


def test_no_note_when_an_int8_variant_is_not_slower_or_the_cpu_has_dot_products() -> None:
    assert int8_slower_note([("int8", 1.47), ("int8", 0.98)], "avx2") is None
    assert int8_slower_note([("int8", 1.47)], "avx512_vnni, avx512f, avx2") is None
    assert int8_slower_note([("int8", 1.47)], "asimddp") is None
    assert int8_slower_note([("int8", None), ("dynamic", 1.2)], "avx2") is None
    assert int8_slower_note([("int8", 1.47)], "unknown") is None
