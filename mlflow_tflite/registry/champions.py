"""The current champion's metrics, comparable with a flow run's data version.

A champion measured on another data version is re-measured through the caller's
`remeasure(model_uri)`; without one, or if it fails, the champion is not comparable.
Results are cached per version, so a promotion re-measures a champion at most once.
"""

from __future__ import annotations

from collections.abc import Callable

from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion

from mlflow_tflite.registry.versions import version_data_version, version_metrics

Remeasure = Callable[[str], dict[str, float]]
Comparable = tuple[dict[str, float] | None, str, bool]


class NotLoaded(Exception):
    """A champion whose metrics must be read (maybe re-measured) outside the lock."""

    def __init__(self, version: ModelVersion) -> None:
        super().__init__(version.version)
        self.version = version


class Champions:
    """Champion metrics comparable with this flow run's data version, cached per version."""

    def __init__(
        self,
        client: MlflowClient,
        model_name: str,
        data_version: str | None,
        remeasure: Remeasure | None,
    ) -> None:
        self._client = client
        self._model_name = model_name
        self._data_version = data_version
        self._remeasure = remeasure
        self._cache: dict[str, Comparable] = {}
        self.cached_only = False

    def metrics(self, version: ModelVersion) -> Comparable:
        """(metrics or None when not comparable, why not / how, re-measured?).

        Raises:
            NotLoaded: `cached_only` is set and this version was never read.
        """
        key = str(version.version)
        if key not in self._cache:
            if self.cached_only:
                raise NotLoaded(version)
            self._cache[key] = self._load(version)
        return self._cache[key]

    def _load(self, version: ModelVersion) -> Comparable:
        metrics = version_metrics(self._client, version)
        measured_on = version_data_version(self._client, version)
        if measured_on == self._data_version:
            return metrics, "", False
        mismatch = (
            f"champion version {version.version} was measured on data version "
            f"{measured_on or 'unknown'}, not {self._data_version or 'unknown'}"
        )
        if self._remeasure is None:
            return None, f"{mismatch}, and no re-measurement was available", False
        uri = f"models:/{self._model_name}/{version.version}"
        try:
            fresh = self._remeasure(uri)
        except Exception as error:  # any failure makes the champion not comparable
            return None, f"{mismatch}, and re-measuring it failed ({error})", False
        return {**metrics, **fresh}, f"re-measured on data version {self._data_version}", True
