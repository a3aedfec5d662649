"""The search space: `search.space` parsed into dimensions, sampled as Optuna suggestions.

A block per technique (`prune`, `cluster`, `qat`, in the order they apply) and one for
`convert`; each key is a field of that block's config in `variants` (so the same
validator, and the same schemes, decide what a value may be), plus `use` for a technique
(on, off or both). A value is a range `{low, high, step?, log?}` (int when low and high
are), `{choices: [...]}`, or a fixed value (a plain list such as `m_by_n: [2, 4]` is one
value, and so is a mapping for a key that holds a block of its own, such as the layer
policy `prune.layers: {min_weights: 4096}`; `{choices: [{}, {exclude: [...]}]}` makes
which layers are pruned a dimension). `sample_variant` reads the space the way an Optuna
objective would, one `trial.suggest_*` per dimension, conditionally:

- a technique's keys are sampled only when its `use` comes out true;
- what the techniques declare (`plugins.technique.Technique`) holds: keys an earlier step
  fixes are not sampled (`after`: clustering after a prune step preserves sparsity), a
  key's range is capped by the earlier steps (`search_cap`: `clusters` below the fewest
  weights any pruned kernel keeps), and the convert keys a step needs are set (`convert`:
  with QAT the conversion is int8);
- a key only some schemes read (`io_type`) is sampled only when one of them was picked.

Blocks, keys, schemes and these rules come from the registries (`plugins.technique`,
`plugins.scheme`), so a new technique or scheme is searchable without a change here.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from mlflow_tflite.config.variants import ConvertConfig, VariantConfig
from mlflow_tflite.plugins.scheme import all_schemes, get_scheme
from mlflow_tflite.plugins.technique import all_techniques, get_technique, technique_names

USE = "use"
CONVERT = "convert"
RANGE_KEYS = {"low", "high", "step", "log"}
SCALARS = (bool, int, float, str, type(None))


class SpaceError(ValueError):
    """A space that cannot be searched; the message is one line starting with the key path."""


def block_models() -> dict[str, type[BaseModel]]:
    """Block name -> the config model its keys belong to: every registered technique in
    application order, then convert (whose quantization choices are the registered schemes)."""
    models: dict[str, type[BaseModel]] = {t.name: t.config for t in all_techniques()}
    models[CONVERT] = ConvertConfig
    return models


def option_schemes() -> dict[str, set[str]]:
    """`convert.*` keys only some schemes read (e.g. `io_type`) -> those schemes."""
    owners: dict[str, set[str]] = {}
    for scheme in all_schemes():
        for key in scheme.options.model_fields if scheme.options else ():
            owners.setdefault(key, set()).add(scheme.name)
    return owners


@dataclass(frozen=True)
class Dimension:
    """One key of the space: a fixed value, an int or float range, or categorical choices."""

    name: str  # `prune.final_sparsity`, the Optuna parameter name
    kind: str  # fixed | int | float | choice
    value: Any = None
    low: float = 0.0
    high: float = 0.0
    step: float | None = None
    log: bool = False
    choices: tuple[Any, ...] = ()

    def allows(self, value: Any) -> bool:
        """Whether `value` is one this dimension can take."""
        if self.kind == "fixed":
            return _token(value) == _token(self.value)
        if self.kind == "choice":
            return _token(value) in [_token(c) for c in self.choices]
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        return self.low <= value <= self.high and (self.kind == "float" or value == int(value))

    def enqueued(self, value: Any) -> Any:
        """`value` as Optuna holds this dimension's parameter (a choice as its token)."""
        return _token(value) if self.kind == "choice" else value

    @property
    def searched(self) -> bool:
        """Whether the dimension has more than one value."""
        if self.kind == "fixed":
            return False
        if self.kind == "choice":
            return len(self.choices) > 1
        return self.high > self.low

    def suggest(self, trial: Any, high: float | None = None) -> Any:
        """The value for `trial` (an Optuna trial); `high` lowers the range's top."""
        if self.kind == "fixed":
            return self.value
        if self.kind == "choice":
            tokens = [_token(c) for c in self.choices]
            picked = trial.suggest_categorical(self.name, tokens)
            return self.choices[tokens.index(picked)]
        top = self.high if high is None else max(self.low, min(self.high, high))
        if self.kind == "int":
            step = int(self.step or 1)
            return trial.suggest_int(self.name, int(self.low), int(top), step=step, log=self.log)
        return trial.suggest_float(self.name, self.low, top, step=self.step, log=self.log)


def _token(value: Any) -> Any:
    # Optuna's categorical choices are scalars; a list or mapping choice (m_by_n, a layer
    # policy) travels as JSON, a tuple as the list it was written as.
    if isinstance(value, SCALARS):
        return value
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json", exclude_defaults=True)
    return json.dumps(value if isinstance(value, dict) else list(value), sort_keys=True)


@dataclass(frozen=True)
class Space:
    """The parsed space: block -> key -> Dimension, blocks in application order."""

    blocks: dict[str, dict[str, Dimension]] = field(default_factory=dict)

    def dimensions(self) -> list[Dimension]:
        return [d for block in self.blocks.values() for d in block.values()]


def _check_value(model: type[BaseModel], key: str, value: Any, path: str) -> None:
    """Validate one value of `key` with the block's own model; cross-field rules are left to
    the whole variant (their errors have no field location)."""
    try:
        model.model_validate({key: value})
    except ValidationError as error:
        for problem in error.errors():
            if tuple(problem["loc"][:1]) == (key,):
                message = problem["msg"].removeprefix("Value error, ")
                raise SpaceError(f"{path}: {message} (got {value!r})") from None


def _takes_mapping(model: type[BaseModel], key: str) -> bool:
    """Whether `key` holds a block of its own (`prune.layers`): a mapping is then its value,
    not a range, unless it is `{choices: [...]}` (layer policies to choose from)."""
    field_info = model.model_fields.get(key)
    if field_info is None:
        return False
    kinds = typing.get_args(field_info.annotation) or (field_info.annotation,)
    return any(isinstance(kind, type) and issubclass(kind, BaseModel) for kind in kinds)


def _dimension(model: type[BaseModel], block: str, key: str, raw: Any, path: str) -> Dimension:
    name = f"{block}.{key}"
    check = model if key != USE else None

    def valid(value: Any) -> None:
        if check is not None:
            _check_value(check, key, value, path)
        elif not isinstance(value, bool):
            raise SpaceError(f"{path}: expected true or false (got {value!r})")

    if not isinstance(raw, dict) or (_takes_mapping(model, key) and set(raw) != {"choices"}):
        valid(raw)
        return Dimension(name, "fixed", value=raw)
    if set(raw) == {"choices"}:
        choices = raw["choices"]
        if not isinstance(choices, list) or not choices:
            raise SpaceError(f"{path}.choices: expected a non-empty list")
        for choice in choices:
            valid(choice)
        return Dimension(name, "choice", choices=tuple(choices))
    if not raw or not set(raw) <= RANGE_KEYS or not {"low", "high"} <= set(raw):
        raise SpaceError(
            f"{path}: expected a value, {{choices: [...]}} or {{low, high, step?, log?}} "
            f"(got keys {', '.join(map(str, raw)) or 'none'})"
        )
    low, high, step = raw["low"], raw["high"], raw.get("step")
    numbers = [v for v in (low, high, step) if v is not None]
    if any(isinstance(v, bool) or not isinstance(v, int | float) for v in numbers):
        raise SpaceError(f"{path}: low, high and step must be numbers")
    if key == USE:
        raise SpaceError(f"{path}: use takes true, false or {{choices: [true, false]}}")
    if low > high:
        raise SpaceError(f"{path}: low {low} > high {high}")
    if step is not None and step <= 0:
        raise SpaceError(f"{path}: step must be > 0 (got {step})")
    log = bool(raw.get("log", False))
    if log and (low <= 0 or step is not None):
        raise SpaceError(f"{path}: a log range needs low > 0 and no step")
    valid(low)
    valid(high)
    kind = "int" if all(isinstance(v, int) for v in numbers) else "float"
    return Dimension(name, kind, low=low, high=high, step=step, log=log)


def parse_space(raw: dict[str, Any], where: str = "search.space") -> Space:
    """Parse and check `search.space`.

    Raises:
        SpaceError: an unknown block or key, a malformed range (`low 0.9 > high 0.5`), a
            value the block's config refuses, or a space with nothing to search; the
            message starts with the key path (`search.space.prune.final_sparsity: ...`).
    """
    models = block_models()
    blocks: dict[str, dict[str, Dimension]] = {}
    for block, keys in raw.items():
        path = f"{where}.{block}"
        if block not in models:
            raise SpaceError(f"{path}: unknown block; expected one of {', '.join(models)}")
        if not isinstance(keys, dict):
            raise SpaceError(f"{path}: expected a mapping of keys to ranges or choices")
        allowed = [*([USE] if block != CONVERT else []), *models[block].model_fields]
        dims: dict[str, Dimension] = {}
        for key, value in keys.items():
            if key not in allowed:
                raise SpaceError(f"{path}.{key}: unknown key; expected one of {', '.join(allowed)}")
            dims[key] = _dimension(models[block], block, key, value, f"{path}.{key}")
        blocks[block] = dims
    ordered = {b: blocks[b] for b in models if b in blocks}
    space = Space(ordered)
    if not any(d.searched for d in space.dimensions()):
        raise SpaceError(
            f"{where}: empty; give at least one key a range or several choices "
            "(e.g. prune: {final_sparsity: {low: 0.5, high: 0.95}})"
        )
    return space


def techniques(space: Space) -> list[str]:
    """The techniques a trial of `space` may apply (`use` not fixed to false)."""
    found = []
    for name in technique_names():
        use = space.blocks.get(name, {}).get(USE)
        if name in space.blocks and not (use and use.kind == "fixed" and use.value is False):
            found.append(name)
    return found


def narrow_to_baseline(space: Space, model: str,
                       where: str = "search.space") -> tuple[Space, str | None]:
    """`space` without what the `train.model` baseline cannot take (a technique whose
    `needs` the kind does not meet: TFMOT's need a tf_keras model; a `.tflite` baseline
    skips the converter), and one line saying what was dropped (None when nothing was).

    Raises:
        SpaceError: nothing searchable is left, or no conversion scheme is.
    """
    from mlflow_tflite.train.kinds import (
        DESCRIPTIONS,
        NEEDS_DESCRIPTIONS,
        baseline_kind,
        scheme_refusal,
        technique_refusal,
    )

    kind = baseline_kind(model)
    dropped_blocks = [name for name in space.blocks
                      if name != CONVERT and technique_refusal(kind, name) is not None]
    blocks = {name: dict(dims) for name, dims in space.blocks.items()
              if name not in dropped_blocks}
    dim = blocks.get(CONVERT, {}).get("quantization")
    choices = () if dim is None else (dim.choices if dim.kind == "choice" else (dim.value,))
    dropped_schemes = [s for s in choices
                       if scheme_refusal(kind, s, get_scheme(s).needs_keras_model) is not None]
    if not dropped_blocks and not dropped_schemes:
        return space, None
    parts = []
    for needs in dict.fromkeys(get_technique(name).needs for name in dropped_blocks):
        names = [name for name in dropped_blocks if get_technique(name).needs == needs]
        why = "TFMOT needs" if needs == "tf_keras" else "each needs"
        parts.append(f"{', '.join(names)} ({why} {NEEDS_DESCRIPTIONS[needs]})")
    if dropped_schemes:
        parts.append(f"convert.quantization {', '.join(dropped_schemes)} (the TFLite "
                     "converter needs a Keras model or a SavedModel)")
    note = f"{where}: train.model is {DESCRIPTIONS[kind]}: dropped {' and '.join(parts)}"
    kept = [s for s in choices if s not in dropped_schemes]
    if dim is not None and not kept:
        raise SpaceError(f"{note}; no conversion scheme is left to search")
    if dim is not None and dropped_schemes:
        blocks[CONVERT]["quantization"] = dataclasses.replace(dim, kind="choice",
                                                              choices=tuple(kept))
    narrowed = Space(blocks)
    if not any(d.searched for d in narrowed.dimensions()):
        raise SpaceError(f"{note}; nothing is left to search")
    return narrowed, note


def drop_techniques(space: Space, reasons: dict[str, str]) -> tuple[Space, str | None]:
    """`space` without the technique blocks `reasons` names (techniques that cannot wrap
    the baseline), and one line saying so (None when nothing was dropped).

    Raises:
        SpaceError: nothing searchable is left.
    """
    dropped = [name for name in space.blocks if name in reasons]
    if not dropped:
        return space, None
    note = "search.space: dropped " + "; ".join(f"{name} ({reasons[name]})" for name in dropped)
    narrowed = Space({name: dims for name, dims in space.blocks.items() if name not in dropped})
    if not any(d.searched for d in narrowed.dimensions()):
        raise SpaceError(f"{note}; nothing is left to search")
    return narrowed, note


def sample_variant(
    trial: Any, space: Space, name: str, kernel_sizes: list[int] | None = None
) -> tuple[VariantConfig, dict[str, Any]]:
    """Sample one variant from `space` with Optuna `trial.suggest_*` calls.

    Args:
        trial: an Optuna trial (from `study.ask()`).
        space: the parsed space.
        name: the variant's name (`trial-7`).
        kernel_sizes: the baseline's kernel sizes, to cap sparsity-preserving clusters.

    Returns:
        The validated VariantConfig and the values this trial sampled, by parameter name.

    Raises:
        pydantic.ValidationError: the sampled combination is not a valid variant.
    """
    compress: dict[str, dict[str, Any]] = {}
    earlier: dict[str, Any] = {}  # the sampled steps' validated blocks, for search_cap
    fixed_convert: dict[str, Any] = {}
    for technique in all_techniques():
        dims = space.blocks.get(technique.name)
        if dims is None or not (dims[USE].suggest(trial) if USE in dims else True):
            continue
        # Keys the earlier steps fix (cluster after prune preserves sparsity) are not sampled.
        block: dict[str, Any] = technique.fixed_after(list(compress))
        for key, dim in dims.items():
            if key == USE or key in block:
                continue
            cap = (technique.search_cap(key, earlier, kernel_sizes or [])
                   if technique.search_cap else None)
            block[key] = dim.suggest(trial, high=cap)
        compress[technique.name] = block
        earlier[technique.name] = technique.config.model_validate(block)
        fixed_convert.update(technique.convert)
    convert: dict[str, Any] = {}
    owners = option_schemes()
    # quantization first: whether a scheme's own keys (io_type) are sampled depends on it.
    dims = sorted(space.blocks.get(CONVERT, {}).items(), key=lambda item: item[0] != "quantization")
    for key, dim in dims:
        if key in fixed_convert:  # with QAT the conversion is int8
            convert[key] = fixed_convert[key]
        elif key in owners and convert.get("quantization", "none") not in owners[key]:
            continue
        else:
            convert[key] = dim.suggest(trial)
    for key, value in fixed_convert.items():
        convert.setdefault(key, value)
    variant = VariantConfig(name=name, compress=compress, convert=convert)
    return variant, dict(trial.params)
