"""`recipe`: the user's own ai-edge-quantizer recipe, `convert.recipe: path/to/recipe.json`.

Setting `convert.recipe` alone selects this scheme. The file is read and checked by
ai-edge-quantizer's recipe loader when the params are validated, before any work.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator

from mlflow_tflite.convert.facts import ModelFacts
from mlflow_tflite.convert.quantizer import Recipe, read_recipe
from mlflow_tflite.plugins.scheme import AI_EDGE_QUANTIZER, Scheme
from mlflow_tflite.section import Section


class RecipeOptions(Section):
    """`convert.*` keys only `recipe` reads."""

    recipe: str | None = Field(None, description="Path of an ai-edge-quantizer recipe JSON.")

    @field_validator("recipe")
    @classmethod
    def _is_a_recipe(cls, path: str | None) -> str | None:
        if path is not None:
            read_recipe(path)
        return path


def recipe(cfg: Any) -> Recipe:
    if cfg.recipe is None:
        raise ValueError("quantization recipe needs convert.recipe: path/to/recipe.json")
    return read_recipe(cfg.recipe)


def recognise(facts: ModelFacts) -> bool:
    # A user's recipe can make anything; its models are named by what they look like.
    return False


SCHEME = Scheme(
    name="recipe",
    engine=AI_EDGE_QUANTIZER,
    summary="your own ai-edge-quantizer recipe (convert.recipe: path/to/recipe.json)",
    recognise=recognise,
    recipe=recipe,
    options=RecipeOptions,
    selected_by="recipe",
)
