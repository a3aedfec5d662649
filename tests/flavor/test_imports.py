"""The flavor keeps TensorFlow out of the import path of loading and serving."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize(
    "statement",
    [
        "import mlflow_tflite",
        "import mlflow_tflite.flavor",
        "import mlflow_tflite; mlflow_tflite.save_model",
    ],
)
def test_importing_the_flavor_does_not_import_tensorflow(statement):
    code = f"{statement}; import sys; print('tensorflow' in sys.modules)"

    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )

    assert result.stdout.strip() == "False"


def test_loading_and_predicting_does_not_import_tensorflow(float_model, tmp_path):
    path = tmp_path / "model"
    import mlflow_tflite

    mlflow_tflite.save_model(float_model, path)
    code = (
        "import sys, numpy as np, mlflow\n"
        f"model = mlflow.pyfunc.load_model({str(path)!r})\n"
        "model.predict(np.zeros((2, 8, 8, 1), np.float32))\n"
        "print('tensorflow' in sys.modules)\n"
    )

    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )

    assert result.stdout.strip().splitlines()[-1] == "False"
