"""Classes come from the model: how many, and their names where the model or data has them.

Labels are class indices and keep their value (class 6 stays 6). When the model's output
says how many classes there are, that is the count, and classes absent from the data are
allowed (and reported); a label the model has no output for is the data's mistake and
stops the data step, before any run starts. Names the model carries (a `.tflite` file's
metadata label file) name the classes; a folder named by class is labelled by them, and
names the data gives must agree with them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from mlflow_tflite.config.data import MeanStd
from mlflow_tflite.data.errors import DataError
from mlflow_tflite.data.sources import FOLDER, RawData


@dataclass(frozen=True)
class ModelFacts:
    """What the data step needs to know of `train.model` (None: it does not say).

    `classes`: the size of its one class-score output; `class_names`: names it carries
    (a `.tflite` file's metadata label file, named by `names_origin`); `rescaling`: how it
    rescales its own inputs (e.g. "Rescaling layer 'rescaling'"); `normalization`: the
    `(x - mean) / std` on 0..255 pixels its `.tflite` metadata asks its inputs to have.
    """

    origin: str
    classes: int | None = None
    class_names: tuple[str, ...] | None = None
    rescaling: str | None = None
    normalization: MeanStd | None = None
    names_origin: str | None = None


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
    if model is not None and model.class_names and len(model.class_names) == count:
        _check_same_names(names, model, origin)
        names = list(model.class_names)
    names += [str(index) for index in range(len(names), count)]
    return tuple(names)


def by_model_names(raw: RawData, model: ModelFacts | None, origin: str) -> RawData:
    """A folder source named by class (`cat/`, `dog/`) labelled with the model's index of
    each name, when the model carries class names (sorted folder names would otherwise
    number them in another order).

    Raises:
        DataError: a folder's name is none of the model's classes, naming the folder.
    """
    if model is None or not model.class_names or raw.kind != FOLDER or not raw.class_names:
        return raw
    index: dict[str, int] = {}
    for i, name in enumerate(model.class_names):
        index.setdefault(name.casefold(), i)  # a name listed twice is its first class
    shown = ", ".join(model.class_names[:6]) + (", ..." if len(model.class_names) > 6 else "")
    mapping = []
    for name in raw.class_names:
        if name.casefold() not in index:
            raise DataError(
                f"{origin}/{name}: not one of train.model's classes ({model.origin}, "
                f"{model.names_origin}: {shown}): name each folder as the model names its "
                "class, or by its class index")
        mapping.append(index[name.casefold()])
    return replace(raw, y=np.asarray(mapping, dtype=np.int64)[raw.y],
                   class_names=model.class_names)


def _check_same_names(names: Sequence[str], model: ModelFacts, origin: str) -> None:
    """Names the data gives by class index must be the model's (case aside): otherwise its
    labels mean other classes than the model's outputs, and every accuracy would be wrong."""
    assert model.class_names is not None
    for index, (ours, theirs) in enumerate(zip(names, model.class_names, strict=False)):
        if ours.strip().casefold() != theirs.strip().casefold():
            raise DataError(
                f"{origin}: class {index} is {ours!r} in the data but {theirs!r} in "
                f"train.model ({model.origin}, {model.names_origin}): the data's labels must "
                "be the model's class indices (drop the data's class names to use the "
                "model's)")


def absent_classes(class_names: Sequence[str], *label_arrays: np.ndarray) -> list[str]:
    """The classes no split has an example of."""
    present: set[int] = set()
    for labels in label_arrays:
        present.update(int(v) for v in np.unique(labels))
    return [name for index, name in enumerate(class_names) if index not in present]
