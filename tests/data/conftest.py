"""Small on-disk datasets built in tmp_path: .npz files and image folders."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest


@pytest.fixture
def write_npz(tmp_path: Path) -> Callable[..., Path]:
    """Write the given arrays to `<tmp_path>/<name>` and return its path."""

    def write(name: str = "data.npz", **arrays: np.ndarray) -> Path:
        path = tmp_path / name
        np.savez(path, **arrays)
        return path

    return write


@pytest.fixture
def write_images(tmp_path: Path) -> Callable[..., Path]:
    """An image folder: `{class: count}` RGB PNGs of varying size under `<tmp_path>/images`."""
    from PIL import Image

    def write(counts: dict[str, int], root: str = "images") -> Path:
        base = tmp_path / root
        rng = np.random.default_rng(0)
        for name, count in counts.items():
            (base / name).mkdir(parents=True, exist_ok=True)
            for i in range(count):
                size = (12 + i % 3, 10 + i % 2)
                pixels = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
                Image.fromarray(pixels, "RGB").save(base / name / f"img{i:02d}.png")
        return base

    return write
