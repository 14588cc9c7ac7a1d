"""What a rendered document says: the values a careful reader reads off it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional


@dataclass(frozen=True)
class IngredientTruth:
    text: str  # the line as printed (a wrapped line joined with one space)
    quantity: Optional[float]
    unit: Optional[str]
    name: str


@dataclass(frozen=True)
class RecipeTruth:
    title: str
    servings: Optional[int]
    times: dict[str, Optional[int]]  # prep_min / cook_min / total_min
    ingredients: tuple[IngredientTruth, ...]
    instructions: tuple[str, ...]


@dataclass(frozen=True)
class Document:
    """One rendered document before degradation: kind, family (layout style) and its truth."""

    name: str
    kind: str  # "recipe" | "nutrition_label"
    family: str
    nutrition: dict[str, Any] = field(default_factory=dict)  # field -> value printed (scored fields only)
    recipe: Optional[RecipeTruth] = None
