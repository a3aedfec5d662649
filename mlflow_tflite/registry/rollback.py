"""Move a champion alias back to the version it replaced, recording who and why."""

from __future__ import annotations

import getpass
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from mlflow_tflite.registry.lock import registry_lock
from mlflow_tflite.registry.versions import alias_version, previous_tag
from mlflow_tflite.tracking.layout import ROLLBACK_TAG_PREFIX, ROLLED_BACK_TAG


class RollbackError(Exception):
    """Nothing to roll back to; the message is one line."""


@dataclass(frozen=True)
class Rollback:
    """A completed rollback of one alias."""

    model_name: str
    alias: str
    from_version: str
    to_version: str
    user: str
    reason: str
    at: str

    @property
    def summary(self) -> str:
        why = f": {self.reason}" if self.reason else ""
        return (
            f"Moved alias {self.alias} of {self.model_name} from version {self.from_version} "
            f"back to version {self.to_version} (by {self.user} at {self.at}{why})."
        )

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "summary": self.summary}


def champion_alias(target: str | None) -> str:
    """The default champion alias of a target (`champion` for the single-target policy)."""
    return "champion" if target in (None, "default") else f"champion-{target}"


def rollback(
    model_name: str,
    target: str | None = None,
    *,
    client: MlflowClient | None = None,
    reason: str = "",
    user: str | None = None,
    alias: str | None = None,
    lock_timeout_s: float = 120.0,
) -> Rollback:
    """Point the target's champion alias at the previous champion.

    The previous champion is the version named by the current champion's
    `mlflow_tflite.previous.<alias>` tag, written when it was promoted; rolling back
    twice walks further back. The restored version gets `mlflow_tflite.rollback.*` tags
    (user, reason, from_version, at) and the demoted one `mlflow_tflite.rolled_back`.

    Args:
        model_name: Registered model.
        target: Promotion target; None is the single-target policy (alias `champion`).
        alias: The champion alias, when a target sets its own (overrides `target`).
        user: Who rolls back (default: the login name).

    Returns:
        The Rollback: versions moved between, who, why and when (`.summary`).

    Raises:
        RollbackError: no such model, no champion, or the champion records no
            previous version.

    Example:
        >>> rollback("mnist-classifier", reason="crashes on Pixel 6").summary
        'Moved alias champion of mnist-classifier from version 4 back to version 3 (...)'
    """
    client = client or MlflowClient()
    alias = alias or champion_alias(target)
    user = user or getpass.getuser()
    try:
        client.get_registered_model(model_name)
    except MlflowException as error:
        raise RollbackError(f"no registered model {model_name!r}") from error
    with registry_lock(client, model_name, timeout_s=lock_timeout_s):
        current = alias_version(client, model_name, alias)
        if current is None:
            raise RollbackError(f"{model_name} has no version with alias {alias!r}")
        previous = current.tags.get(previous_tag(alias), "")
        if not previous:
            raise RollbackError(
                f"{model_name} version {current.version} (alias {alias}) has no previous "
                f"champion to roll back to: it was the first"
            )
        try:
            client.get_model_version(model_name, previous)
        except MlflowException as error:
            raise RollbackError(
                f"previous champion {model_name} version {previous} no longer exists"
            ) from error
        done = Rollback(
            model_name,
            alias,
            str(current.version),
            previous,
            user,
            reason,
            datetime.now(timezone.utc).isoformat(timespec="seconds"),
        )
        tags = {
            "user": user,
            "reason": reason,
            "from_version": str(current.version),
            "alias": alias,
            "at": done.at,
        }
        for key, value in tags.items():
            client.set_model_version_tag(model_name, previous, ROLLBACK_TAG_PREFIX + key, value)
        client.set_model_version_tag(model_name, current.version, ROLLED_BACK_TAG, done.summary)
        client.set_registered_model_alias(model_name, alias, previous)
    return done
