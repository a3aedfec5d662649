"""Names of the MLflow run layout a flow run writes and the registry reads.

One parent run per flow run (tag `mlflow_tflite.role=flow`), one nested child run per
variant (`mlflow_tflite.role=variant`). Writers (tracking) and readers (registry,
compare) import these so the two sides cannot drift apart.
"""

ROLE_TAG = "mlflow_tflite.role"
FLOW_ROLE = "flow"
VARIANT_ROLE = "variant"
PARENT_TAG = "mlflow.parentRunId"
VARIANT_TAG = "mlflow_tflite.variant"
MODEL_URI_TAG = "mlflow_tflite.model_uri"
ERROR_TAG = "mlflow_tflite.error"
FAILED_STEP_TAG = "mlflow_tflite.failed_step"
REUSED_TAG = "mlflow_tflite.reused"
FLOW_RUN_TAG = "mlflow_tflite.flow_run_id"
# On a finished parent run: the key of its data, params and code (pipeline.steps.inputs_key).
INPUTS_KEY_TAG = "mlflow_tflite.inputs_key"
DATA_VERSION_TAG = "data_version"
