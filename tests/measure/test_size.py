from __future__ import annotations

import gzip

from mlflow_tflite.measure.size import gzip_size_bytes, size_bytes


def test_size_is_the_flatbuffer_length(float_model: bytes) -> None:
    assert size_bytes(float_model) == len(float_model)


def test_gzip_size_is_reproducible_and_matches_decompressible_output(float_model: bytes) -> None:
    first, second = gzip_size_bytes(float_model), gzip_size_bytes(float_model)
    assert first == second
    assert first == len(gzip.compress(float_model, compresslevel=9, mtime=0))


def test_zeros_compress_better_than_random_bytes() -> None:
    assert gzip_size_bytes(bytes(10_000)) < 100
    assert gzip_size_bytes(bytes(range(256)) * 40) < 10_240
