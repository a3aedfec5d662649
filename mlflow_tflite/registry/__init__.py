"""Promotion through the MLflow Model Registry: policy, alias moves, rollback.

    from mlflow_tflite.registry import promote_flow_run, rollback
    decision = promote_flow_run(parent_run_id, "mnist-classifier", params.promote)
    print(decision.summary)
"""

from mlflow_tflite.registry.decision import Decision, TargetDecision
from mlflow_tflite.registry.lock import LockTimeout
from mlflow_tflite.registry.promote import promote_flow_run
from mlflow_tflite.registry.rollback import Rollback, RollbackError, rollback
from mlflow_tflite.registry.versions import PromotionError

__all__ = [
    "Decision",
    "LockTimeout",
    "PromotionError",
    "Rollback",
    "RollbackError",
    "TargetDecision",
    "promote_flow_run",
    "rollback",
]
