"""The prepared dataset: split arrays, class names, normalisation, and its content version."""

from __future__ import annotations

import io
import json
import os
import tempfile
import zipfile
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from mlflow_tflite.data.errors import DataError
from mlflow_tflite.data.version import content_version

ARRAYS_FILE = "dataset.npz"
META_FILE = "dataset.json"
SPLITS = ("train", "val", "test")
# A fixed timestamp makes `dataset.npz` byte-identical for identical content, so DVC sees
# no change when the same data is prepared again.
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True, eq=False)
class Dataset:
    """Train/validation/test splits as float32 NHWC model inputs and int64 labels.

    `y_*` hold indices into `class_names` (the model's classes; some may have no example,
    see `absent_classes`). `normalization` records how raw values were scaled
    (`data.scale`: `x = (raw - offset) * scale`, or a user's function, with a `rule` in
    words), so serving code can do the same.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple[str, ...]
    source: str
    normalization: dict[str, Any] = field(default_factory=dict)

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one example, e.g. (28, 28, 1)."""
        return tuple(int(d) for d in self.x_train.shape[1:])

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def absent_classes(self) -> list[str]:
        """The classes no split has an example of (allowed: the model's classes count)."""
        from mlflow_tflite.data.classes import absent_classes

        return absent_classes(self.class_names, self.y_train, self.y_val, self.y_test)

    @property
    def labelled(self) -> bool:
        """Whether the splits carry labels (`data.source: synthetic` has none)."""
        return bool(self.class_names)

    @property
    def shapes(self) -> dict[str, list[int]]:
        """Shape of every array, keyed by its name (`x_train`, `y_test`, ...)."""
        return {name: list(array.shape) for name, array in self.arrays().items()}

    def arrays(self) -> dict[str, np.ndarray]:
        """The six arrays in a fixed order, keyed by their attribute names."""
        return {
            f"{kind}_{split}": getattr(self, f"{kind}_{split}")
            for split in SPLITS
            for kind in ("x", "y")
        }

    @cached_property
    def version(self) -> str:
        """sha256 of the prepared arrays and class names: the data version the flow logs."""
        return content_version(self.arrays(), self.class_names)


def by_input_name(x: np.ndarray) -> np.ndarray | dict[str, np.ndarray]:
    """A multi-input structured array (a field per input) as a dict of arrays by input
    name, what MLflow's datasets and the pyfunc's `predict` take; any other array as is."""
    return {name: x[name] for name in x.dtype.names} if x.dtype.names else x


def save_dataset(dataset: Dataset, directory: str | os.PathLike[str]) -> Path:
    """Write `dataset.npz` and `dataset.json` into `directory`, each replaced atomically.

    Args:
        dataset: The prepared dataset.
        directory: Created if missing; DVC can track it as one output.

    Returns:
        The directory.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    meta = {
        "version": dataset.version,
        "source": dataset.source,
        "class_names": list(dataset.class_names),
        "normalization": dataset.normalization,
        "absent_classes": dataset.absent_classes,
        "shapes": dataset.shapes,
        "dtypes": {name: str(array.dtype) for name, array in dataset.arrays().items()},
    }
    _atomic_write(directory / ARRAYS_FILE, _npz_bytes(dataset.arrays()))
    _atomic_write(directory / META_FILE, (json.dumps(meta, indent=2) + "\n").encode())
    return directory


def load_dataset(directory: str | os.PathLike[str]) -> Dataset:
    """Read a dataset written by `save_dataset`; its content must still match its version.

    Raises:
        DataError: a file is missing or unreadable, or the arrays no longer hash to the
            recorded version.
    """
    meta, arrays = read_meta(directory), read_arrays(directory)
    try:
        dataset = Dataset(
            **arrays,
            class_names=tuple(meta["class_names"]),
            source=meta["source"],
            normalization=meta.get("normalization", {}),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise DataError(f"{directory}: unreadable prepared dataset ({exc})") from exc
    if dataset.version != meta.get("version"):
        raise DataError(
            f"{Path(directory) / ARRAYS_FILE}: content hashes to {dataset.version}, "
            f"but {META_FILE} records {meta.get('version')}"
        )
    return dataset


def read_meta(directory: str | os.PathLike[str]) -> dict[str, Any]:
    """`dataset.json` of a dataset written by `save_dataset`: version, class names,
    normalization, absent classes, shapes; no array is read.

    Raises:
        DataError: the file is missing or unreadable.
    """
    path = Path(directory) / META_FILE
    try:
        return json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise DataError(f"{path}: prepared dataset file not found") from exc
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: unreadable prepared dataset ({exc})") from exc


def read_arrays(directory: str | os.PathLike[str], *names: str) -> dict[str, np.ndarray]:
    """The named arrays (`x_test`, ...; all without names) of a dataset written by
    `save_dataset`, without the content check (`load_dataset` does it): for a reader that
    describes a dataset already checked, whose other splits need not be in memory.

    Raises:
        DataError: the file is missing or unreadable, or has no such array.
    """
    path = Path(directory) / ARRAYS_FILE
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {name: npz[name] for name in names or npz.files}
    except FileNotFoundError as exc:
        raise DataError(f"{path}: prepared dataset file not found") from exc
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        raise DataError(f"{path}: unreadable prepared dataset ({exc})") from exc


def _npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, array in arrays.items():
            member = io.BytesIO()
            np.lib.format.write_array(member, np.ascontiguousarray(array), allow_pickle=False)
            archive.writestr(zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_DATE), member.getvalue())
    return buffer.getvalue()


def _atomic_write(path: Path, content: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
