"""Result models of the photo kinds (docs/contracts.md "Result schemas"); also the JSON Schemas sent to the model."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class ResultKind(StrEnum):
    """What a result is: one of the photo kinds, or a text answer."""

    RECIPE = "recipe"
    NUTRITION_LABEL = "nutrition_label"
    FOOD = "food"
    TEXT = "text"


class Source(StrEnum):
    """Where a result field's value came from (the `sources` map of a photo result)."""

    OCR = "ocr"
    LLM_VISION = "llm-vision"
    LLM_TEXT = "llm-text"
    MISSING = "missing"


class _Result(BaseModel):
    # Model output may carry extra keys; they are dropped rather than failing validation.
    model_config = ConfigDict(extra="ignore")


class RecipeTimes(_Result):
    prep_min: int | None = Field(None, ge=0)
    cook_min: int | None = Field(None, ge=0)
    total_min: int | None = Field(None, ge=0)


class Ingredient(_Result):
    original_text: str
    name: str | None = None
    quantity: float | None = Field(None, ge=0)
    unit: str | None = None


class RecipeResult(_Result):
    title: str | None = None
    servings: int | None = Field(None, ge=0)
    times: RecipeTimes = Field(default_factory=RecipeTimes)
    ingredients: list[Ingredient] = Field(default_factory=list)
    instructions: list[str] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)


NUTRIENT_FIELDS = (
    "total_fat_g", "saturated_fat_g", "trans_fat_g", "cholesterol_mg", "sodium_mg", "potassium_mg",
    "total_carbohydrate_g", "dietary_fiber_g", "total_sugars_g", "added_sugars_g", "protein_g",
)


class NutritionLabelResult(_Result):
    """Numbers per serving, first column; None when not on the label."""

    serving_size: str | None = None
    servings_per_container: float | None = Field(None, ge=0)
    calories: float | None = Field(None, ge=0)
    total_fat_g: float | None = Field(None, ge=0)
    saturated_fat_g: float | None = Field(None, ge=0)
    trans_fat_g: float | None = Field(None, ge=0)
    cholesterol_mg: float | None = Field(None, ge=0)
    sodium_mg: float | None = Field(None, ge=0)
    potassium_mg: float | None = Field(None, ge=0)
    total_carbohydrate_g: float | None = Field(None, ge=0)
    dietary_fiber_g: float | None = Field(None, ge=0)
    total_sugars_g: float | None = Field(None, ge=0)
    added_sugars_g: float | None = Field(None, ge=0)
    protein_g: float | None = Field(None, ge=0)


class Macros(_Result):
    protein: float | None = Field(None, ge=0)
    carbs: float | None = Field(None, ge=0)
    fat: float | None = Field(None, ge=0)


class FoodResult(_Result):
    """The earlier service's photo analysis."""

    dish_name: str
    estimated_avg_calories: float | None = Field(None, ge=0)
    ingredients: list[str] = Field(default_factory=list)
    total_avg_weight: float | None = Field(None, ge=0)
    contains: Macros = Field(default_factory=Macros)


# Fields whose absence after parsing triggers the vision fallback (docs/contracts.md "Result schemas").
CRITICAL_FIELDS: dict[str, tuple[str, ...]] = {
    "recipe": ("title", "ingredients", "instructions"),
    "nutrition_label": ("calories", "total_fat_g", "total_carbohydrate_g", "protein_g"),
    "food": (),
}
