"""The compression techniques: one module per technique, found by walking this package.

Each technique module in `mlflow_tflite.compress` defines `TECHNIQUE`, a `Technique`
holding everything the rest of the code knows about it: its name (the `compress.<name>`
block and a part of the `technique` tag), its position in the application order, its
typed config block, its `apply` function, the baselines it needs, its rules across the
variant, how the search samples it, what the search's pruner makes of its epochs and what
it adds to the model card. The config validator (`CompressConfig`, `VariantConfig`), the
pipeline, the baseline-kind checks (`train.kinds`), the search space and pruner and the
model card read these, so a new technique is one new file. Technique modules import tfmot
inside `apply` only (`mlflow-tflite --help` stays fast).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from mlflow_tflite._discovery import Registry

if TYPE_CHECKING:
    from mlflow_tflite.section import Section

# What a technique's `apply` needs the baseline to be (`train.kinds` maps each to the
# baseline kinds that give it one): `tf_keras`, a tf_keras model (TFMOT wraps only tf_keras
# layers); `keras`, any Keras model whose layers hold weights (`get_weights`).
Needs = Literal["keras", "tf_keras"]


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
        needs: what the baseline must be (`Needs`); a variant with this step is skipped
            with the reason on any other kind (`train.kinds.technique_refusal`).
        noun: how messages name it ("pruning"); the name when not given.
        check: `(cfg, compress, convert) -> problem or None`, the rules across the
            variant (`compress`: its CompressConfig; `convert`: its ConvertConfig, None
            when only the compress block is checked); run when a variant is validated.
        convert: `convert.*` values a variant with this step must have (qat: int8);
            validation refuses others and the search samples no others.
        after: earlier step -> `{key: value}` this block takes after it (cluster after
            prune preserves sparsity); validation refuses another explicit value (saying
            `after_reason`) and the search does not sample the key.
        after_reason: why another value is refused ("clustering would undo the pruning").
        search_cap: `(key, earlier, kernel_sizes) -> highest value or None`: the upper
            bound of a searched key given the earlier steps' validated blocks (`earlier`,
            name -> config) and the baseline's kernel sizes.
        judged: `(cfg, epoch) -> bool`, whether the search's pruner may judge a trial
            after `epoch` of this step; every epoch when not given.
        card: `(compression facts) -> lines` for the model card's recipe, from what
            `apply` put in `ctx.facts` (stored as the build's `compression.json`).
        probe: `(model) -> None`, wraps a copy of the baseline as `apply` would, without
            training, and raises when it cannot (`compress.probe`): tried once per run,
            before any variant spends time on earlier steps.
        sparse: it leaves zeroed weights, worth the converter's sparse format
            (`convert.sparsity_optimization`) in a variant with this step.
        sizes: it changes what the converted model's weights are (zeros, a palette),
            hence its size; False (QAT: the int8 conversion quantizes the weights to the
            same count and width) lets the search's size screen skip the step.
    """

    name: str
    order: int
    summary: str
    config: type[Section]
    apply: Callable[[Any, Any, Any], Any]
    needs: Needs = "keras"
    noun: str = ""
    check: Callable[[Any, Any, Any], str | None] | None = None
    convert: Mapping[str, Any] = field(default_factory=dict)
    after: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    after_reason: str = ""
    search_cap: Callable[[str, Mapping[str, Any], list[int]], float | None] | None = None
    judged: Callable[[Any, int], bool] | None = None
    card: Callable[[Mapping[str, Any]], list[str]] | None = None
    probe: Callable[[Any], None] | None = None
    sparse: bool = False
    sizes: bool = True

    def __post_init__(self) -> None:
        if not self.noun:
            object.__setattr__(self, "noun", self.name)

    def problem(self, cfg: Any, compress: Any, convert: Any | None) -> str | None:
        """What is wrong with this step's block `cfg` in a variant (its `compress` and,
        when known, `convert` blocks), else None: the declared `convert` and `after`
        values, then `check`."""
        if convert is not None:
            for key, value in self.convert.items():
                got = getattr(convert, key)
                if got != value:
                    return f"compress.{self.name} needs convert.{key} {value} (got {got})"
        problem = self.after_problem(cfg, compress.steps[: compress.steps.index(self.name)])
        if problem is not None:
            return problem
        return self.check(cfg, compress, convert) if self.check else None


    def fixed_after(self, earlier: list[str] | tuple[str, ...]) -> dict[str, Any]:
        """The keys of this block that the `earlier` steps fix (`after`), with their values."""
        fixed: dict[str, Any] = {}
        for step in earlier:
            fixed.update(self.after.get(step, {}))
        return fixed

    def after_problem(self, cfg: Any, earlier: list[str] | tuple[str, ...]) -> str | None:
        """Why `cfg` cannot follow the `earlier` steps (a key set explicitly to another
        value than `after` fixes), else None."""
        for step in earlier:
            for key, value in self.after.get(step, {}).items():
                if key in cfg.model_fields_set and getattr(cfg, key) != value:
                    return (f"compress.{self.name}.{key} is {_yaml(getattr(cfg, key))} "
                            f"after a {step} "
                            f"step; {self.after_reason or 'it needs ' + _yaml(value)} "
                            f"(remove the key or set it to {_yaml(value)})")
        return None


def _yaml(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _distinct_orders(found: list[Technique]) -> None:
    orders = [t.order for t in found]
    if len(set(orders)) != len(orders):
        raise RuntimeError(f"two compression techniques share an order: {orders}")


_TECHNIQUES = Registry(
    "mlflow_tflite.compress", "TECHNIQUE", Technique,
    order=lambda t: t.order, noun="technique", check=_distinct_orders,
)


# Every technique and every `compress.<name>` block, in application order; one by name
# (KeyError listing the known ones).
all_techniques = _TECHNIQUES.all
technique_names = _TECHNIQUES.names
get_technique = _TECHNIQUES.get
