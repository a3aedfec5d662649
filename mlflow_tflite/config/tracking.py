"""The `mlflow` section: where runs and models go."""

from __future__ import annotations

from pydantic import Field

from mlflow_tflite.section import Section


class MlflowConfig(Section):
    """Tracking store, experiment and registered model."""

    tracking_uri: str | None = Field(
        None, description="None uses MLFLOW_TRACKING_URI or sqlite:///mlflow.db."
    )
    experiment: str = Field("mlflow-tflite", min_length=1)
    registered_model_name: str = Field("mnist-classifier", min_length=1)
