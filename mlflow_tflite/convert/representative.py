"""Representative samples for the schemes that calibrate activation ranges."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import numpy as np

Representative = Callable[[], Iterator[list[np.ndarray] | dict[str, np.ndarray]]]


def representative_dataset(
    samples: np.ndarray | Sequence[np.ndarray], count: int
) -> Representative:
    """A generator of `count` single-sample batches spread evenly over `samples`.

    `samples` is one array (single-input model), one array per model input, or a
    structured array with a field per input (named as the model's signature names them:
    each batch is then a dict by input name, which the converter feeds by signature);
    evenly spaced picks are deterministic and cover every part of a stratified split.

    Raises:
        ValueError: `samples` is empty.
    """
    arrays = [samples] if isinstance(samples, np.ndarray) else list(samples)
    size = len(arrays[0])
    if size == 0:
        raise ValueError("the representative samples are empty")
    picks = np.unique(np.linspace(0, size - 1, num=min(count, size)).round().astype(int))

    fields = arrays[0].dtype.names if len(arrays) == 1 else None
    if fields:
        def by_name() -> Iterator[dict[str, np.ndarray]]:
            for index in picks:
                yield {name: arrays[0][name][index : index + 1] for name in fields}

        return by_name

    def generate() -> Iterator[list[np.ndarray]]:
        for index in picks:
            yield [np.asarray(a[index : index + 1], dtype=np.float32) for a in arrays]

    return generate
