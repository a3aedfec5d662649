"""What a model's metadata says decides `data.scale: auto` and the class names: the rules of
the data step, given the facts a `.tflite` file's TFLite Metadata yields (read from a real
file in tests/train/test_tflite_metadata.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from mlflow_tflite.config import DataConfig
from mlflow_tflite.config.data import MeanStd
from mlflow_tflite.data import DataError, ModelFacts, prepare_dataset

SYMMETRIC = MeanStd(mean=[127.5], std=[127.5])
NAMES = ("cat", "dog", "bird")


def _facts(normalization: MeanStd | None = SYMMETRIC,
           names: tuple[str, ...] | None = NAMES) -> ModelFacts:
    return ModelFacts("m.tflite", 3, names, normalization=normalization,
                      names_origin="labels.txt in its metadata")


def _pixels(channels: int = 3) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (30, 4, 4, channels), dtype=np.uint8)
    x[0], x[1] = 0, 255  # black and white are both present
    return {"x_train": x, "y_train": np.tile([0, 1, 2], 10)}


def test_auto_applies_the_metadata_mean_std_to_pixels(write_npz: Callable[..., Path]) -> None:
    dataset = prepare_dataset(DataConfig(source=str(write_npz(**_pixels()))), _facts())

    x = np.concatenate([dataset.x_train, dataset.x_val, dataset.x_test])
    assert (x.min(), x.max()) == (-1.0, 1.0)
    assert dataset.normalization["rule"] == (
        "(x - mean 127.5) / std 127.5 (auto: train.model's TFLite metadata)")
    assert dataset.normalization["setting"] == "mean/std"


def test_digits_pixels_are_taken_as_0_255_for_the_metadata() -> None:
    dataset = prepare_dataset(DataConfig(source="digits"),
                              ModelFacts("m.tflite", 10, normalization=SYMMETRIC))

    assert dataset.x_train.min() == pytest.approx(-1.0)
    assert dataset.x_train.max() == pytest.approx(1.0)
    assert "pixels 0..16 taken as 0..255" in dataset.normalization["rule"]


def test_a_float_npz_stays_as_given_and_the_line_says_what_the_metadata_asks(
    write_npz: Callable[..., Path],
) -> None:
    arrays = _pixels()
    arrays["x_train"] = arrays["x_train"] / 255.0
    dataset = prepare_dataset(DataConfig(source=str(write_npz(**arrays))), _facts())

    assert dataset.x_train.max() <= 1.0 and dataset.x_train.min() >= 0.0
    assert dataset.normalization["rule"] == (
        "none (auto for a float .npz; train.model's TFLite metadata asks (x - mean 127.5) / "
        "std 127.5 of 0..255 pixels: set data.scale if these are raw pixels)")


@pytest.mark.parametrize(("scale", "warned"), [
    ("[-1, 1]", False),
    ({"mean": [127.5, 127.5, 127.5], "std": [127.5]}, False),
    ("[0, 1]", True),
    ("none", True),
])
def test_an_explicit_scale_wins_and_is_warned_about_only_when_it_contradicts(
    write_npz: Callable[..., Path], scale: object, warned: bool,
) -> None:
    dataset = prepare_dataset(DataConfig(source=str(write_npz(**_pixels())), scale=scale),
                              _facts())

    rule = dataset.normalization["rule"]
    assert ("warning: train.model's TFLite metadata asks (x - mean 127.5) / std 127.5 of "
            "0..255 pixels, which data.scale does not give; data.scale is applied as "
            "written" in rule) is warned
    assert "auto" not in rule


def test_metadata_for_other_channels_than_the_images_is_one_line(
    write_npz: Callable[..., Path],
) -> None:
    rgb = MeanStd(mean=[123.7, 116.3, 103.5], std=[58.4, 57.1, 57.4])

    with pytest.raises(DataError, match=r"^data\.scale: train.model's TFLite metadata "
                                        r"normalizes 3 channels, but .*'s images have 1 "
                                        r"\(data\.color_mode\)$"):
        prepare_dataset(DataConfig(source=str(write_npz(**_pixels(1)))), _facts(rgb))


def test_the_model_names_the_classes_the_data_does_not(write_npz: Callable[..., Path]) -> None:
    arrays = _pixels()
    arrays["y_train"] = np.tile([0, 2], 15)  # dog absent

    dataset = prepare_dataset(DataConfig(source=str(write_npz(**arrays))), _facts())

    assert dataset.class_names == NAMES
    assert dataset.absent_classes == ["dog"]


def test_npz_class_names_that_disagree_with_the_model_stop_the_data_step(
    write_npz: Callable[..., Path],
) -> None:
    agreeing = write_npz("same.npz", **_pixels(), class_names=np.array(["Cat", "dog"]))
    other = write_npz("other.npz", **_pixels(), class_names=np.array(["dog", "cat", "bird"]))

    assert prepare_dataset(DataConfig(source=str(agreeing)), _facts()).class_names == NAMES
    with pytest.raises(DataError, match=r"other\.npz: class 0 is 'dog' in the data but 'cat' in "
                                        r"train.model \(m.tflite, labels.txt in its metadata\)"):
        prepare_dataset(DataConfig(source=str(other)), _facts())


def test_a_folder_named_by_class_is_labelled_with_the_model_indices(
    write_images: Callable[..., Path],
) -> None:
    root = write_images({"bird": 6, "CAT": 6})
    config = DataConfig(source=str(root), image_size=(4, 4), color_mode="rgb",
                        validation_fraction=0.0, test_fraction=0.5)

    dataset = prepare_dataset(config, _facts())

    assert dataset.class_names == NAMES
    assert set(np.unique(dataset.y_train)) == {0, 2}  # cat stays 0, bird stays 2
    assert dataset.absent_classes == ["dog"]
    assert prepare_dataset(config).class_names == ("CAT", "bird")  # no model: sorted names


def test_a_folder_the_model_has_no_class_for_is_named(write_images: Callable[..., Path]) -> None:
    root = write_images({"cat": 3, "horse": 3})

    with pytest.raises(DataError, match=r"images/horse: not one of train.model's classes "
                                        r"\(m.tflite, labels.txt in its metadata: cat, dog, "
                                        r"bird\)"):
        prepare_dataset(DataConfig(source=str(root), image_size=(4, 4)), _facts())
