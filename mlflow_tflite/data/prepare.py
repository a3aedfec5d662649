"""From a `data` config section to a prepared, split, versioned `Dataset`."""

from __future__ import annotations

import numpy as np

from mlflow_tflite.config import DataConfig
from mlflow_tflite.data.classes import ModelFacts, by_model_names, class_names_for
from mlflow_tflite.data.dataset import Dataset
from mlflow_tflite.data.scaling import resolve
from mlflow_tflite.data.sources import load_source
from mlflow_tflite.data.split import stratified_split, stratified_subset


def prepare_dataset(config: DataConfig, model: ModelFacts | None = None) -> Dataset:
    """Load `config.source`, scale it as `config.scale` says and split it by `config.seed`.

    Fractions are of the whole dataset: with the defaults 70% train, 10% validation, 20%
    test. An `.npz` with `x_test`/`y_test` keeps them as the test split, and validation is
    then `validation_fraction` of its training arrays. `max_samples` keeps a stratified
    subset of each array pool before splitting. The same config and data always give the
    same split and the same `Dataset.version`.

    Args:
        config: The validated `data` section.
        model: What `train.model` says about its classes and its own input scaling
            (None: a model built for the data, such as `builtin`).

    Returns:
        The prepared dataset (not yet written; see `save_dataset`).

    Raises:
        DataError: the source is missing or unusable, `data.scale` does not fit it, or a
            label has no output in the model; the message names the file or key.

    Example:
        >>> dataset = prepare_dataset(DataConfig(source="digits"))
        >>> dataset.input_shape, dataset.num_classes
        ((8, 8, 1), 10)
    """
    seed, origin = config.seed, config.source
    raw = by_model_names(load_source(config.source, tuple(config.image_size), config.color_mode),
                         model, origin)
    scaling = resolve(config.scale, raw, origin, model.rescaling if model else None,
                      model.normalization if model else None)
    labels = raw.y if raw.y_test is None else np.concatenate([raw.y, raw.y_test])
    class_names = class_names_for(labels, raw.class_names, model, origin)
    x, y = stratified_subset(raw.x, raw.y, config.max_samples, seed, origin)
    if raw.x_test is not None and raw.y_test is not None:
        x_test, y_test = stratified_subset(raw.x_test, raw.y_test, config.max_samples, seed, origin)
        x_train, x_val, y_train, y_val = stratified_split(
            x, y, config.validation_fraction, seed, origin, "validation"
        )
    else:
        x_rest, x_test, y_rest, y_test = stratified_split(
            x, y, config.test_fraction, seed, origin, "test"
        )
        # validation_fraction is of the whole dataset, so rescale it to what is left.
        val_of_rest = config.validation_fraction / (1.0 - config.test_fraction)
        x_train, x_val, y_train, y_val = stratified_split(
            x_rest, y_rest, val_of_rest, seed, origin, "validation"
        )
    return Dataset(
        x_train=scaling.apply(x_train),
        y_train=y_train,
        x_val=scaling.apply(x_val),
        y_val=y_val,
        x_test=scaling.apply(x_test),
        y_test=y_test,
        class_names=class_names,
        source=config.source,
        normalization=scaling.record(),
    )
