"""The Prefect flows of mlflow-tflite, imported as `mlflow_tflite_flows`.

The repository keeps them in `flows/`; setup.py installs this folder under the
non-generic name `mlflow_tflite_flows`, so nothing named `flows` lands in site-packages.
Only the `mlflow-tflite` command imports them (`mlflow_tflite.cli.run`, `.schedule`).
"""
