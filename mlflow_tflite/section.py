"""Shared base for params.yaml sections: unknown keys are errors."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    """A params.yaml section: strict keys, validated on assignment, immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)
