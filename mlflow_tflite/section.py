"""Shared base for params.yaml sections: unknown keys are errors."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict


class Section(BaseModel):
    """A params.yaml section: strict keys, validated on assignment, immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


def _compiles(regex: str) -> str:
    try:
        re.compile(regex)
    except re.error as error:
        raise ValueError(f"{regex!r} is not a regular expression ({error})") from None
    return regex


# A key holding a regular expression, checked to compile when the params load.
Regex = Annotated[str, AfterValidator(_compiles)]
