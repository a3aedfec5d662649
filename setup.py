"""Packaging that pyproject.toml cannot say: the repository's `flows/` folder installs as
`mlflow_tflite_flows`, so the distribution puts no generic top-level `flows` package into
site-packages. Everything else (metadata, dependencies, scripts) is in pyproject.toml."""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["mlflow_tflite", "mlflow_tflite.*"]), "mlflow_tflite_flows"],
    package_dir={"mlflow_tflite_flows": "flows"},
)
