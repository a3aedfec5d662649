"""The compression techniques: one module per technique, found by walking this package.

Each technique module in `mlflow_tflite.compress` defines `TECHNIQUE`, a `Technique`
holding its name (the `compress.<name>` block and a part of the `technique` tag), its
position in the application order, its typed config block and its `apply` function. The
config validator (`CompressConfig`), the pipeline and the search space read
`technique_names()` / `get_technique()`, so a new technique is one new file. Technique
modules import tfmot inside `apply` only (`mlflow-tflite --help` stays fast).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from mlflow_tflite._discovery import discover

if TYPE_CHECKING:
    from mlflow_tflite.section import Section


@dataclass(frozen=True)
class Technique:
    """One compression technique.

    Attributes:
        name: the `compress.<name>` block; joined with `+` in the `technique` tag.
        order: position in the application order (lower first); tfmot's collaborative
            optimizations only support prune -> cluster -> qat.
        summary: one line for docs and listings.
        config: the typed `compress.<name>` block.
        apply: `(model, cfg, ctx) -> model`.
    """

    name: str
    order: int
    summary: str
    config: type[Section]
    apply: Callable[[Any, Any, Any], Any]


@cache
def all_techniques() -> tuple[Technique, ...]:
    """Every technique module's `TECHNIQUE`, in application order.

    Raises:
        RuntimeError: two modules define the same name or the same order.
    """
    found = discover("mlflow_tflite.compress", "TECHNIQUE", Technique)
    orders = [t.order for t in found]
    if len(set(orders)) != len(orders):
        raise RuntimeError(f"two compression techniques share an order: {orders}")
    return tuple(sorted(found, key=lambda t: t.order))


def technique_names() -> tuple[str, ...]:
    """Every `compress.<name>` block, in application order."""
    return tuple(t.name for t in all_techniques())


def get_technique(name: str) -> Technique:
    """The technique called `name`.

    Raises:
        KeyError: no technique has that name (the message lists the known ones).
    """
    for technique in all_techniques():
        if technique.name == name:
            return technique
    raise KeyError(f"unknown technique {name!r}; expected one of {', '.join(technique_names())}")
