"""What a rendered document says: the values a careful reader reads off it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class IngredientTruth:
    text: str  # the line as printed (a wrapped line joined with one space)
    quantity: float | None
    unit: str | None
    name: str


@dataclass(frozen=True)
class RecipeTruth:
    title: str
    servings: int | None
    times: dict[str, int | None]  # prep_min / cook_min / total_min
    ingredients: tuple[IngredientTruth, ...]
    instructions: tuple[str, ...]


@dataclass(frozen=True)
class Document:
    """One rendered document before degradation: kind, family (layout style) and its truth."""

    name: str
    kind: str  # "recipe" | "nutrition_label"
    family: str
    nutrition: dict[str, Any] = field(default_factory=dict)  # field -> value printed (scored fields only)
    recipe: RecipeTruth | None = None
