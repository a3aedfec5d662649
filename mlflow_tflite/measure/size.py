"""Size on disk and over the wire: the raw flatbuffer and its gzip-compressed form."""

from __future__ import annotations

import gzip


def size_bytes(content: bytes) -> int:
    """Bytes of the `.tflite` flatbuffer, what an app bundles."""
    return len(content)


def gzip_size_bytes(content: bytes) -> int:
    """Bytes after gzip at level 9, what a download costs.

    Pruned and clustered weights shrink only under a general-purpose compressor (a run of
    zeros or a palette of a few values still takes full width in the flatbuffer), so this
    is where those techniques show. `mtime=0` keeps the number reproducible.
    """
    return len(gzip.compress(content, compresslevel=9, mtime=0))


def compression_ratio(fp32_bytes: float, variant_bytes: float) -> float:
    """How many times smaller than the fp32 `.tflite` a variant is: `fp32_bytes /
    variant_bytes`, both raw (`size_bytes`, the metric `compression_ratio`) or both after
    gzip (`gzip_size_bytes`); never one of each."""
    return fp32_bytes / variant_bytes
