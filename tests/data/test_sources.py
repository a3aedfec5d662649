"""Every source loads to float32 NHWC scaled as `data.scale` says, labels keep their index;
bad data fails in one line."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from mlflow_tflite.config import DataConfig
from mlflow_tflite.data import DataError, Dataset, prepare_dataset


def assert_well_formed(dataset: Dataset, shape: tuple[int, ...], classes: int,
                       low: float = 0.0, high: float = 1.0) -> None:
    assert dataset.input_shape == shape
    assert dataset.num_classes == classes
    for name, array in dataset.arrays().items():
        if name.startswith("x_"):
            assert array.dtype == np.float32 and array.shape[1:] == shape
            assert array.size == 0 or (array.min() >= low and array.max() <= high)
        else:
            assert array.dtype == np.int64
            assert set(np.unique(array)) <= set(range(classes))


def test_mnist_is_the_5000_bundled_digits_split_70_10_20() -> None:
    dataset = prepare_dataset(DataConfig(source="mnist"))

    assert_well_formed(dataset, (28, 28, 1), 10)
    assert (len(dataset.y_train), len(dataset.y_val), len(dataset.y_test)) == (3500, 500, 1000)
    assert dataset.class_names == tuple(str(i) for i in range(10))
    assert dataset.normalization["scale"] == pytest.approx(1 / 255)
    assert dataset.x_train.max() == pytest.approx(1.0)


def test_digits_are_8x8_scaled_by_one_sixteenth() -> None:
    dataset = prepare_dataset(DataConfig(source="digits"))

    assert_well_formed(dataset, (8, 8, 1), 10)
    assert len(dataset.y_train) + len(dataset.y_val) + len(dataset.y_test) == 1797
    assert dataset.normalization["scale"] == pytest.approx(1 / 16)


def test_npz_without_test_arrays_is_split_three_ways(write_npz: Callable[..., Path]) -> None:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (100, 6, 5), dtype=np.uint8)
    path = write_npz(x_train=x, y_train=np.repeat([3, 7], 50))

    dataset = prepare_dataset(DataConfig(source=str(path)))

    # Labels keep their index: classes 0..7, six of them with no example.
    assert_well_formed(dataset, (6, 5, 1), 8)
    assert dataset.absent_classes == ["0", "1", "2", "4", "5", "6"]
    assert set(np.unique(dataset.y_test)) == {3, 7}
    assert (len(dataset.y_train), len(dataset.y_val), len(dataset.y_test)) == (70, 10, 20)
    assert dataset.normalization["scale"] == pytest.approx(1 / 255)
    assert "integer pixels / 255" in dataset.normalization["rule"]


def test_npz_test_arrays_are_kept_as_the_test_split(write_npz: Callable[..., Path]) -> None:
    rng = np.random.default_rng(0)
    x_test = rng.random((30, 4, 4, 3)).astype(np.float32)
    path = write_npz(
        x_train=rng.random((80, 4, 4, 3)).astype(np.float32),
        y_train=np.tile([0, 1], 40),
        x_test=x_test,
        y_test=np.tile([0, 1], 15),
    )

    dataset = prepare_dataset(DataConfig(source=str(path), validation_fraction=0.25))

    assert_well_formed(dataset, (4, 4, 3), 2)
    assert (len(dataset.y_train), len(dataset.y_val), len(dataset.y_test)) == (60, 20, 30)
    assert sorted(map(bytes, dataset.x_test)) == sorted(map(bytes, x_test))
    assert dataset.normalization["scale"] == 1.0


def test_a_float_npz_is_used_as_given_by_default(write_npz: Callable[..., Path]) -> None:
    x = np.linspace(-1, 1, 40 * 4).reshape(40, 2, 2)
    path = write_npz(x_train=x, y_train=np.tile([0, 1], 20))

    dataset = prepare_dataset(DataConfig(source=str(path)))

    assert dataset.normalization["setting"] == "none"
    assert "auto for a float .npz" in dataset.normalization["rule"]
    assert min(a.min() for a in (dataset.x_train, dataset.x_val, dataset.x_test)) == -1.0


@pytest.mark.parametrize(
    ("scale", "low", "high"),
    [("[0, 1]", 0.0, 1.0), ([-1, 1], -1.0, 1.0), ("none", 0.0, 255.0),
     ({"mean": [127.5], "std": [127.5]}, -1.0, 1.0),
     ("tests.data.test_sources:halve", 0.0, 127.5)],
    ids=["unit", "symmetric", "none", "mean-std", "function"],
)
def test_data_scale_maps_integer_pixels_as_it_says(
    write_npz: Callable[..., Path], scale: object, low: float, high: float
) -> None:
    x = np.tile(np.array([0, 255], dtype=np.uint8), 40 * 2).reshape(40, 2, 2)
    path = write_npz(x_train=x, y_train=np.tile([0, 1], 20))

    dataset = prepare_dataset(DataConfig(source=str(path), scale=scale))

    assert_well_formed(dataset, (2, 2, 1), 2, low, high)
    assert dataset.x_train.min() == pytest.approx(low)
    assert dataset.x_train.max() == pytest.approx(high)


def halve(x: np.ndarray) -> np.ndarray:
    """A `data.scale: module:function` for the test above."""
    return x / 2


def test_float_pixels_up_to_255_map_to_minus_one_one(write_npz: Callable[..., Path]) -> None:
    x = np.linspace(0, 255, 40 * 9, dtype=np.float64).reshape(40, 3, 3)
    path = write_npz(x_train=x, y_train=np.tile([0, 1], 20))

    dataset = prepare_dataset(DataConfig(source=str(path), scale="[-1, 1]",
                                         validation_fraction=0.0))

    assert dataset.normalization["rule"] == "[-1, 1]: float pixels / 127.5 - 1"
    assert min(dataset.x_train.min(), dataset.x_test.min()) == pytest.approx(-1.0)
    assert max(dataset.x_train.max(), dataset.x_test.max()) == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("x", "scale", "expected"),
    [(np.full((20, 2, 2), 1000, np.int32), "[0, 1]", "data.scale: [0, 1] maps pixels 0..255"),
     (np.full((20, 2, 2), -5.0), "[-1, 1]", "data.scale: [-1, 1] needs pixels in [0, 1]"),
     (np.zeros((20, 2, 2)), "no_such_module_x:f", "data.scale: no_such_module_x:f: cannot "
      "import")],
    ids=["int-range", "float-range", "import"],
)
def test_a_data_scale_that_does_not_fit_fails_naming_the_key(
    write_npz: Callable[..., Path], x: np.ndarray, scale: str, expected: str
) -> None:
    x = x.copy()
    x.flat[0] = 1 if x.flat[1] == 0 else 0  # not constant
    path = write_npz(x_train=x, y_train=np.tile([0, 1], 10))

    with pytest.raises(DataError) as raised:
        prepare_dataset(DataConfig(source=str(path), scale=scale))

    assert str(raised.value).startswith(expected)
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize(("color_mode", "channels"), [("grayscale", 1), ("rgb", 3)])
def test_image_folder_is_resized_with_sorted_class_names(
    write_images: Callable[..., Path], color_mode: str, channels: int
) -> None:
    root = write_images({"dog": 10, "cat": 10})

    dataset = prepare_dataset(
        DataConfig(source=str(root), image_size=(8, 6), color_mode=color_mode)
    )

    assert_well_formed(dataset, (8, 6, channels), 2)
    assert dataset.class_names == ("cat", "dog")
    assert len(dataset.y_train) + len(dataset.y_val) + len(dataset.y_test) == 20


def test_hidden_files_in_an_image_folder_are_ignored(write_images: Callable[..., Path]) -> None:
    root = write_images({"a": 10, "b": 10})
    (root / "a" / ".DS_Store").write_bytes(b"\0\1")
    (root / ".git").mkdir()

    assert prepare_dataset(DataConfig(source=str(root))).num_classes == 2


def test_max_samples_keeps_a_stratified_subset() -> None:
    dataset = prepare_dataset(DataConfig(source="digits", max_samples=200))

    labels = np.concatenate([dataset.y_train, dataset.y_val, dataset.y_test])
    assert len(labels) == 200
    assert np.bincount(labels).min() >= 19 and np.bincount(labels).max() <= 21


def _images(counts: dict[str, int]) -> Callable[[Path, Callable[..., Path]], Path]:
    def make(tmp_path: Path, write_images: Callable[..., Path]) -> Path:
        return write_images(counts)

    return make


def _missing_npz(tmp_path: Path, _: Callable[..., Path]) -> Path:
    return tmp_path / "absent.npz"


def _missing_dir(tmp_path: Path, _: Callable[..., Path]) -> Path:
    return tmp_path / "absent"


def _npz(**arrays: np.ndarray) -> Callable[[Path, Callable[..., Path]], Path]:
    def make(tmp_path: Path, _: Callable[..., Path]) -> Path:
        path = tmp_path / "bad.npz"
        np.savez(path, **arrays)
        return path

    return make


def _empty_class(tmp_path: Path, write_images: Callable[..., Path]) -> Path:
    root = write_images({"a": 3, "b": 3})
    (root / "empty").mkdir()
    return root


def _non_image(tmp_path: Path, write_images: Callable[..., Path]) -> Path:
    root = write_images({"a": 3, "b": 3})
    (root / "b" / "notes.txt").write_text("not pixels")
    return root


def _csv_file(tmp_path: Path, _: Callable[..., Path]) -> Path:
    path = tmp_path / "data.csv"
    path.write_text("1,2\n")
    return path


_X = np.zeros((20, 4, 4), np.uint8)
_Y = np.tile([0, 1], 10)


@pytest.mark.parametrize(
    ("make_source", "expected"),
    [
        (_missing_npz, "absent.npz: .npz file not found"),
        (_missing_dir, "absent: no such file or directory"),
        (_csv_file, "data.csv: unsupported data source"),
        (_npz(x_train=_X), "bad.npz: missing key(s) y_train (has x_train)"),
        (_npz(images=_X, labels=_Y), "missing key(s) x_train, y_train (has images, labels)"),
        (_npz(x_train=_X, y_train=_Y, x_test=_X), "bad.npz: missing key(s) y_test"),
        (_npz(x_train=_X, y_train=_Y[:19]), "x_train has 20 samples but y_train has 19"),
        (
            _npz(x_train=_X, y_train=_Y, x_test=_X[:5], y_test=_Y),
            "x_test has 5 samples but y_test has 20",
        ),
        (_npz(x_train=_X, y_train=_Y + 0.5), "bad.npz: labels are not integers"),
        (_npz(x_train=_X, y_train=_Y.astype(str)), "labels are not integers (dtype <U"),
        (_npz(x_train=_X, y_train=np.zeros(20, int)), "found 1 class(es); need at least 2"),
        (_npz(x_train=_X[:, 0, 0], y_train=_Y), "x_train has shape (20,); expected (N, H, W)"),
        (
            _npz(x_train=np.full((20, 2, 2), np.nan), y_train=_Y),
            "x_train contains NaN or infinite values",
        ),
        (
            _npz(x_train=np.full((20, 2, 2), -1.0), y_train=_Y),
            "bad.npz: every pixel has the value -1",
        ),
        (_empty_class, "empty: empty class folder"),
        (_non_image, "notes.txt: not a readable image file"),
        (_images({"only": 3}), "found 1 class folder(s); need at least 2"),
        (_images({"a": 1, "b": 30}), "cannot make a stratified test split"),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_bad_data_fails_with_one_line_naming_file_and_problem(
    tmp_path: Path,
    write_images: Callable[..., Path],
    make_source: Callable[[Path, Callable[..., Path]], Path],
    expected: str,
) -> None:
    source = make_source(tmp_path, write_images)

    with pytest.raises(DataError) as raised:
        prepare_dataset(DataConfig(source=str(source)))

    message = str(raised.value)
    assert expected in message
    assert "\n" not in message
    assert str(tmp_path) in message
