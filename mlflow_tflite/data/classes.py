"""Classes come from the model: how many, and their names where the model or data has them.

Labels are class indices and keep their value (class 6 stays 6). When the model's output
says how many classes there are, that is the count, and classes absent from the data are
allowed (and reported); a label the model has no output for is the data's mistake and
stops the data step, before any run starts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mlflow_tflite.data.errors import DataError


@dataclass(frozen=True)
class ModelFacts:
    """What the data step needs to know of `train.model` (None: it does not say).

    `classes`: the size of its one class-score output; `class_names`: names it carries;
    `rescaling`: how it rescales its own inputs (e.g. "Rescaling layer 'rescaling'").
    """

    origin: str
    classes: int | None = None
    class_names: tuple[str, ...] | None = None
    rescaling: str | None = None


def class_names_for(labels: np.ndarray, source_names: Sequence[str], model: ModelFacts | None,
                    origin: str) -> tuple[str, ...]:
    """The class names, one per class index: the model's count, else the data's.

    Raises:
        DataError: a label has no output in the model, or the source names more (or
            fewer) classes than the model has, naming which side is wrong.
    """
    top = int(labels.max())
    count = top + 1
    if model is not None and model.classes is not None:
        if top >= model.classes:
            raise DataError(
                f"{origin}: label {top} is outside train.model's {model.classes} classes "
                f"({model.origin} outputs {model.classes} scores): the data's labels must be "
                f"the model's class indices 0..{model.classes - 1} (outputs that are not class "
                "scores: use data.source: synthetic)"
            )
        count = model.classes
    names = list(source_names)
    if model is None or model.classes is None:
        count = max(count, len(names))
    elif len(names) > count:
        raise DataError(
            f"{origin}: names {len(names)} classes but train.model ({model.origin}) outputs "
            f"{count} scores: the data has classes the model cannot predict"
        )
    if model is not None and model.class_names and len(model.class_names) == count and not names:
        names = list(model.class_names)
    names += [str(index) for index in range(len(names), count)]
    return tuple(names)


def absent_classes(class_names: Sequence[str], *label_arrays: np.ndarray) -> list[str]:
    """The classes no split has an example of."""
    present: set[int] = set()
    for labels in label_arrays:
        present.update(int(v) for v in np.unique(labels))
    return [name for index, name in enumerate(class_names) if index not in present]
