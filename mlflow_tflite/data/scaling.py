"""`data.scale`: how raw inputs become the model's inputs, decided once per dataset.

Every split, and so the representative dataset, the fidelity inputs and the serving
examples drawn from them, goes through the same `Scaling`; `dataset.json` records it
(`normalization`) so serving code can do the same. Raw units: MNIST and folder pixels
0..255, digits 0..16, an `.npz` as saved.

`auto` (the default) per source:
- `mnist`, `digits`, an image folder, an integer `.npz` with values in 0..255: `[0, 1]`
  (pixels divided by 255, or 16 for digits);
- a float `.npz`, an integer `.npz` with larger values: `none` (used as given);
- any source when the model rescales its own inputs (a `Rescaling` or `Normalization`
  layer before its first weights): `none`, so nothing is scaled twice;
- pixels, for a `.tflite` whose TFLite Metadata normalizes its input: that mean/std.
An explicit value is applied as written, whatever the model carries (the console line
then says the model also rescales, or warns that the metadata asks otherwise).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from mlflow_tflite.config.data import AUTO, NONE, SYMMETRIC, UNIT, MeanStd
from mlflow_tflite.data.errors import DataError
from mlflow_tflite.data.sources import NPZ, RawData

KEY = "data.scale"


@dataclass(frozen=True)
class Scaling:
    """`x = (raw - offset) * factor` (per channel when lists), or a user's function."""

    setting: str
    rule: str
    offset: float | list[float] = 0.0
    factor: float | list[float] = 1.0
    function: str | None = None
    notes: tuple[str, ...] = field(default=())

    def apply(self, x: np.ndarray) -> np.ndarray:
        """The model's inputs for raw images `x` (float32)."""
        raw = np.asarray(x, dtype=np.float32)
        if self.function is not None:
            return _call(self.function, raw)
        offset = np.asarray(self.offset, dtype=np.float32)
        factor = np.asarray(self.factor, dtype=np.float32)
        return ((raw - offset) * factor).astype(np.float32)

    def record(self) -> dict[str, Any]:
        """What `dataset.json` keeps under `normalization`."""
        record: dict[str, Any] = {"setting": self.setting, "rule": self.describe()}
        if self.function is None:
            record.update(offset=self.offset, scale=self.factor)
        else:
            record["function"] = self.function
        return record

    def describe(self) -> str:
        return "; ".join((self.rule, *self.notes))


def resolve(scale: str | MeanStd, raw: RawData, source: str,
            model_rescaling: str | None = None,
            model_normalization: MeanStd | None = None) -> Scaling:
    """The scaling `data.scale` asks for on this source (`auto`: the source's default).

    Args:
        scale: The validated `data.scale`.
        raw: The loaded source (its kind, units and pixels decide `auto`).
        source: `data.source`, for the rule's wording.
        model_rescaling: How the model rescales its own inputs (e.g. "Rescaling layer
            'rescaling'"), None when it does not.
        model_normalization: The `(x - mean) / std` on 0..255 pixels a `.tflite` model's
            metadata asks for, None when it says nothing.

    Raises:
        DataError: one line naming `data.scale`: the pixels do not have the units the
            value needs, the metadata's channels are not the images', or the function
            cannot be imported.
    """
    if scale == AUTO:
        if model_rescaling is not None:
            return Scaling(NONE, f"none (auto: the model rescales its own inputs with "
                                 f"{model_rescaling})")
        if model_normalization is not None:
            return _from_metadata(model_normalization, raw, source)
        default = _default(raw)
        chosen = resolve(default, raw, source)
        return Scaling(chosen.setting, f"{chosen.rule} (auto for {_source_kind(raw)})",
                       chosen.offset, chosen.factor)
    notes = (f"the model also rescales its inputs ({model_rescaling})",) if model_rescaling else ()
    scaling = _explicit(scale, raw, notes)
    if model_normalization is not None and _contradicts(scaling, raw, model_normalization):
        scaling = replace(scaling, notes=(
            *scaling.notes, f"warning: train.model's TFLite metadata asks "
            f"{mean_std_rule(model_normalization)} of 0..255 pixels, which {KEY} does not give; "
            f"{KEY} is applied as written"))
    return scaling


def _explicit(scale: str | MeanStd, raw: RawData, notes: tuple[str, ...]) -> Scaling:
    if isinstance(scale, MeanStd):
        return Scaling("mean/std", mean_std_rule(scale), _one(scale.mean),
                       _one([1.0 / s for s in scale.std]), notes=notes)
    if scale == NONE:
        return Scaling(NONE, "none (inputs as given)", notes=notes)
    if scale in (UNIT, SYMMETRIC):
        full, units = _full_scale(raw, scale)
        if scale == UNIT:
            rule = "[0, 1]: kept (already in [0, 1])" if full == 1.0 else (
                f"[0, 1]: {units} / {full:g}")
            return Scaling(UNIT, rule, 0.0, 1.0 / full, notes=notes)
        if full == 0.0:  # already symmetric
            return Scaling(SYMMETRIC, "[-1, 1]: kept (already in [-1, 1])", notes=notes)
        return Scaling(SYMMETRIC, f"[-1, 1]: {units} / {full / 2:g} - 1", full / 2,
                       2.0 / full, notes=notes)
    _import(scale)
    return Scaling(scale, f"{scale} (raw float32 pixels)", function=scale, notes=notes)


def _from_metadata(norm: MeanStd, raw: RawData, source: str) -> Scaling:
    """`auto` for a `.tflite` whose metadata normalizes its inputs: its mean/std, which are
    in 0..255 pixel units, on sources of pixels (digits' 0..16 taken as 0..255); a float or
    wide-integer `.npz` stays as given (the user's arrays are the model's inputs)."""
    asked = f"{mean_std_rule(norm)} of 0..255 pixels"
    if _default(raw) != UNIT:
        return Scaling(NONE, f"none (auto for {_source_kind(raw)}; train.model's TFLite "
                             f"metadata asks {asked}: set {KEY} if these are raw pixels)")
    channels = int(raw.x.shape[-1])
    if {len(norm.mean), len(norm.std)} - {1, channels}:
        raise DataError(f"{KEY}: train.model's TFLite metadata normalizes "
                        f"{max(len(norm.mean), len(norm.std))} channels, but {source}'s "
                        f"images have {channels} (data.color_mode)")
    white, _ = _full_scale(raw, UNIT)
    to_255 = 255.0 / white
    how = "" if white == 255.0 else f", pixels 0..{white:g} taken as 0..255"
    return Scaling("mean/std", f"{mean_std_rule(norm)} (auto: train.model's TFLite metadata{how})",
                   _one([m / to_255 for m in norm.mean]),
                   _one([to_255 / s for s in norm.std]))


def _contradicts(scaling: Scaling, raw: RawData, norm: MeanStd) -> bool:
    """Whether `scaling` maps black and white pixels elsewhere than the metadata's mean/std
    does (False when that cannot be told: a function, values that are not pixels)."""
    if scaling.function is not None:
        return False
    try:
        white, _ = _full_scale(raw, UNIT)
    except DataError:
        return False
    ends = np.array([[0.0], [1.0]]) * np.ones(int(raw.x.shape[-1]))
    try:
        ours = scaling.apply(ends * white)
        theirs = (ends * 255.0 - np.asarray(norm.mean)) / np.asarray(norm.std)
        return not np.allclose(ours, theirs, atol=1e-3)
    except ValueError:  # channel counts that do not broadcast: reported elsewhere
        return False


def mean_std_rule(norm: MeanStd) -> str:
    """`(x - mean 127.5) / std 127.5`: how a rule names a mean/std scaling."""
    return f"(x - mean {_fmt(norm.mean)}) / std {_fmt(norm.std)}"


def _default(raw: RawData) -> str:
    if raw.kind != NPZ:
        return UNIT
    pixels = raw.pixels()
    if np.issubdtype(pixels.dtype, np.integer) and pixels.min() >= 0 and pixels.max() <= 255:
        return UNIT
    return NONE


def _source_kind(raw: RawData) -> str:
    if raw.kind != NPZ:
        return {"bundled": "a bundled dataset", "folder": "an image folder"}[raw.kind]
    return ("integer .npz pixels" if np.issubdtype(raw.pixels().dtype, np.integer)
            else "a float .npz")


def _full_scale(raw: RawData, target: str) -> tuple[float, str]:
    """The raw value that maps to 1 (0.0: float pixels already in [-1, 1] for SYMMETRIC)."""
    if raw.full_scale is not None:
        return raw.full_scale, "pixels"
    pixels = raw.pixels()
    low, high = float(pixels.min()), float(pixels.max())
    if np.issubdtype(pixels.dtype, np.integer):
        if low >= 0 and high <= 255:
            return 255.0, "integer pixels"
        raise DataError(f"{KEY}: {target} maps pixels 0..255, but the .npz has integer values "
                        f"{low:g}..{high:g}; use {{mean, std}}, module:function or none")
    if low >= 0 and high <= 1:
        return 1.0, "pixels"
    if target == SYMMETRIC and low >= -1 and high <= 1:
        return 0.0, "pixels"
    if low >= 0 and high <= 255:
        return 255.0, "float pixels"
    raise DataError(f"{KEY}: {target} needs pixels in [0, 1] or [0, 255], but the .npz "
                    f"spans {low:g}..{high:g}; use {{mean, std}}, module:function or none")


def _call(spec: str, raw: np.ndarray) -> np.ndarray:
    function = _import(spec)
    try:
        out = np.asarray(function(raw), dtype=np.float32)
    # Whatever the user's function raises, the data cannot be prepared.
    except Exception as exc:
        raise DataError(f"{KEY}: {spec} failed: {type(exc).__name__}: {exc}") from exc
    if out.shape[:1] != raw.shape[:1]:
        raise DataError(f"{KEY}: {spec} returned shape {out.shape} for {raw.shape[0]} images; "
                        "expected one output per image")
    return out


def _import(spec: str) -> Any:
    from mlflow_tflite._discovery import import_function

    try:
        return import_function(spec)
    except LookupError as exc:
        raise DataError(f"{KEY}: {exc}") from None


def _one(values: list[float]) -> float | list[float]:
    return values[0] if len(values) == 1 else list(values)


def _fmt(values: list[float]) -> str:
    return ", ".join(f"{v:g}" for v in values) if len(values) > 1 else f"{values[0]:g}"
