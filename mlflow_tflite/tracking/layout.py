"""Names of the MLflow run layout a flow run writes and the registry reads.

One parent run per flow run (tag `mlflow_tflite.role=flow`), one nested child run per
variant (`mlflow_tflite.role=variant`). Writers (tracking) and readers (registry,
compare) import these so the two sides cannot drift apart: every tag key the tool writes
on runs and model versions is defined here, once.
"""

ROLE_TAG = "mlflow_tflite.role"
FLOW_ROLE = "flow"
VARIANT_ROLE = "variant"
# A search trial's child run; the Pareto-optimal trials are re-tagged VARIANT_ROLE, so they
# are the candidates the promotion policy reads, exactly as variants are.
TRIAL_ROLE = "trial"
TRIAL_TAG = "trial"  # the Optuna trial number
TRIAL_STATE_TAG = "trial_state"  # complete | pruned | infeasible | failed
PARETO_TAG = "mlflow_tflite.pareto"  # "true" on the Pareto-optimal feasible trials
# On a search's parent run: the Optuna study and its storage.
STUDY_TAG = "mlflow_tflite.study"
STUDY_STORAGE_TAG = "mlflow_tflite.study_storage"
PARENT_TAG = "mlflow.parentRunId"
VARIANT_TAG = "mlflow_tflite.variant"
# On a variant's child run, copied onto its model versions: how it was made and the
# delegate its unprefixed latency metrics are of.
TECHNIQUE_TAG = "technique"
QUANTIZATION_TAG = "quantization"
DELEGATE_TAG = "delegate"
MODEL_URI_TAG = "mlflow_tflite.model_uri"
# On a FAILED child run: the variant's error, one line.
ERROR_TAG = "mlflow_tflite.error"
FAILED_STEP_TAG = "mlflow_tflite.failed_step"
REUSED_TAG = "mlflow_tflite.reused"
# On a variant whose first compression steps came from the artifact store (a stored
# variant's result), those steps joined with `+` (`prune`, `prune+cluster`).
REUSED_STEPS_TAG = "mlflow_tflite.reused_steps"
# On every variant child run: champion | passed | refused: <gate> | failed: <step>: <reason>
# (`records.VariantRecord.verdict_line`), a column the runs table can show.
VERDICT_TAG = "mlflow_tflite.verdict"
# On a parent run: the variants its baseline could not take, a line each with the reason
# (`records.skipped_tag`); they have no child run.
SKIPPED_TAG = "mlflow_tflite.skipped"
# On a Keras 3 baseline's parent run: its tf_keras twin and the largest output difference
# (`train.bridge.Twin.describe`), or why it has none.
KERAS3_TWIN_TAG = "mlflow_tflite.keras3_twin"
# On a parent run: the Prefect flow run that wrote it.
PREFECT_FLOW_RUN_TAG = "mlflow_tflite.prefect_flow_run"
# On a finished parent run: the key of its data, params and code (pipeline.keys.inputs_key).
INPUTS_KEY_TAG = "mlflow_tflite.inputs_key"
DATA_VERSION_TAG = "data_version"
GIT_COMMIT_TAG = "git_commit"
# On a parent run: the host and process running it, so a crashed run is told from a live one.
HOST_TAG = "mlflow_tflite.host"
PID_TAG = "mlflow_tflite.pid"
# Clock ticks after boot at which the pid started: a reused pid is not the same process.
PID_START_TAG = "mlflow_tflite.pid_start"
# On a parent run: why its promotion moved no alias (a chance-level baseline).
WARNING_TAG = "mlflow_tflite.warning"
# On a `benchmark --log` run: the model it measured.
BENCHMARK_MODEL_TAG = "mlflow_tflite.benchmark.model"
# On the parent run: how the baseline's float weights are stored (float32 | float16).
WEIGHTS_STORAGE_TAG = "weights_storage"
# The scheme the baseline itself was quantized with (`none` for a float baseline; `dynamic`,
# `int8`, `float16`, ... for a published quantized `.tflite`): on the parent run, every
# variant run and every registered version, so nobody reads a quantized file as fp32.
BASELINE_QUANTIZATION_TAG = "baseline_quantization"

# On registered model versions.
SOURCE_RUN_TAG = "mlflow_tflite.source_run"  # the variant's child run
SOURCE_FLOW_RUN_TAG = "mlflow_tflite.flow_run"  # the parent (flow) run it came from
TARGETS_TAG = "mlflow_tflite.targets"
PROMOTION_ERROR_TAG = "mlflow_tflite.promotion_error"  # why validation refused it
PREVIOUS_TAG_PREFIX = "mlflow_tflite.previous."
MODEL_CARD_TAG = "mlflow_tflite.model_card"
# On a version a rollback moved the alias from (its summary), and on the one it moved to
# (ROLLBACK_TAG_PREFIX + key: what happened).
ROLLED_BACK_TAG = "mlflow_tflite.rolled_back"
ROLLBACK_TAG_PREFIX = "mlflow_tflite.rollback."

# On the promotion lock (a registered model of its own while a promotion holds it).
LOCK_HOLDER_TAG = "mlflow_tflite.lock.holder"
LOCK_EXPIRES_TAG = "mlflow_tflite.lock.expires_at"
