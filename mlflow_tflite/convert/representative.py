"""Representative samples for the schemes that calibrate activation ranges."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import numpy as np

Representative = Callable[[], Iterator[list[np.ndarray]]]


def representative_dataset(
    samples: np.ndarray | Sequence[np.ndarray], count: int
) -> Representative:
    """A generator of `count` single-sample batches spread evenly over `samples`.

    `samples` is one array (single-input model) or one array per model input; evenly
    spaced picks are deterministic and cover every part of a stratified split.

    Raises:
        ValueError: `samples` is empty.
    """
    arrays = [samples] if isinstance(samples, np.ndarray) else list(samples)
    size = len(arrays[0])
    if size == 0:
        raise ValueError("the representative samples are empty")
    picks = np.unique(np.linspace(0, size - 1, num=min(count, size)).round().astype(int))

    def generate() -> Iterator[list[np.ndarray]]:
        for index in picks:
            yield [np.asarray(a[index : index + 1], dtype=np.float32) for a in arrays]

    return generate
