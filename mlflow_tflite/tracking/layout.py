"""Names of the MLflow run layout a flow run writes and the registry reads.

One parent run per flow run (tag `mlflow_tflite.role=flow`), one nested child run per
variant (`mlflow_tflite.role=variant`). Writers (tracking) and readers (registry,
compare) import these so the two sides cannot drift apart: every tag key the tool writes
on runs and model versions is defined here, once.
"""

ROLE_TAG = "mlflow_tflite.role"
FLOW_ROLE = "flow"
VARIANT_ROLE = "variant"
PARENT_TAG = "mlflow.parentRunId"
VARIANT_TAG = "mlflow_tflite.variant"
MODEL_URI_TAG = "mlflow_tflite.model_uri"
# On a FAILED child run: the variant's error, one line.
ERROR_TAG = "mlflow_tflite.error"
FAILED_STEP_TAG = "mlflow_tflite.failed_step"
REUSED_TAG = "mlflow_tflite.reused"
# On a parent run: the Prefect flow run that wrote it.
PREFECT_FLOW_RUN_TAG = "mlflow_tflite.prefect_flow_run"
# On a finished parent run: the key of its data, params and code (pipeline.steps.inputs_key).
INPUTS_KEY_TAG = "mlflow_tflite.inputs_key"
DATA_VERSION_TAG = "data_version"

# On registered model versions.
SOURCE_RUN_TAG = "mlflow_tflite.source_run"  # the variant's child run
SOURCE_FLOW_RUN_TAG = "mlflow_tflite.flow_run"  # the parent (flow) run it came from
TARGETS_TAG = "mlflow_tflite.targets"
PROMOTION_ERROR_TAG = "mlflow_tflite.promotion_error"  # why validation refused it
PREVIOUS_TAG_PREFIX = "mlflow_tflite.previous."
MODEL_CARD_TAG = "mlflow_tflite.model_card"
