"""The `targets` section: where the model must run, a name per target with its kind.

    targets:
      mcu: {kind: tflm}
      app: {kind: runtime, max_min_runtime: "2.10"}
      pi:  {kind: ssh, host: pi@raspberrypi.local, python: /usr/bin/python3}

Each entry is validated by its kind's own config (`mlflow_tflite.targets.<kind>`). Its
metrics are registered in the catalogue as `<name>/<metric>` before the params validate
(`register_target_metrics`, called by `parse_params` beside the user's metrics), so
`promote` and `search` may gate and rank on them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import BeforeValidator, ValidationError

from mlflow_tflite.metrics import TARGET_NAME, register_metric
from mlflow_tflite.plugins.target import get_kind, kind_names, target_metric
from mlflow_tflite.section import Section

_NAME = re.compile(rf"^{TARGET_NAME}$")


def _entry(value: Any) -> Any:
    if isinstance(value, Section):
        return value
    if not isinstance(value, dict) or "kind" not in value:
        raise ValueError(f"expected a mapping with kind: {' | '.join(kind_names())}")
    kind = get_kind(str(value["kind"]))
    try:
        return kind.config.model_validate(value)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        message = first["msg"].removeprefix("Value error, ")
        if first["type"] == "extra_forbidden":
            message = "unknown key"
        raise ValueError(f"{where}: {message}" if where else message) from None


TargetEntry = Annotated[Any, BeforeValidator(_entry)]


def check_targets(targets: Mapping[str, Any]) -> dict[str, Any]:
    """Check the target names (they prefix metric names)."""
    for name in targets:
        if not _NAME.match(name):
            raise ValueError(f"target name {name!r}: use lower-case letters, digits, '_' and '-'")
    return dict(targets)


def register_target_metrics(raw: Mapping[str, Any]) -> None:
    """Register the metrics of every `targets` entry of a params mapping as
    `<name>/<metric>`: the explicit step before validation that lets `promote` and
    `search` name them. An entry that is malformed (no known kind, a bad name) registers
    nothing and is left to the validation to report."""
    targets = raw.get("targets")
    if not isinstance(targets, dict):
        return
    known = kind_names()
    for name, entry in targets.items():
        kind = entry.get("kind") if isinstance(entry, dict) else None
        if isinstance(name, str) and _NAME.match(name) and kind in known:
            for metric in get_kind(kind).metrics:
                register_metric(target_metric(name, metric))


def target_gates(targets: Mapping[str, Any]) -> dict[str, float]:
    """The constraints the entries set themselves (`max_min_runtime`), as constraints keys
    (`max_app/min_runtime`) and limits."""
    gates = {}
    for name, config in targets.items():
        for metric, (comparison, limit) in get_kind(config.kind).gates(config).items():
            gates[f"{comparison}_{name}/{metric}"] = limit
    return gates
