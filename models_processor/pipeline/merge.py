"""Merging what OCR parsed with what the vision model returned, field by field, with the source of each.

Rules (design.md): a value read off the photo by OCR wins where present; model values fill the gaps; a model
value that contradicts what OCR read is dropped, not allowed to overwrite or sit beside it; `sources` names
where each top-level field came from (ocr, llm-vision, missing).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from pydantic import BaseModel

from ..messages import Source
from ..schemas import NutritionLabelResult, RecipeResult

# A part can never exceed its whole on a label: (part, whole).
_PART_OF = (
    ("saturated_fat_g", "total_fat_g"), ("trans_fat_g", "total_fat_g"),
    ("dietary_fiber_g", "total_carbohydrate_g"), ("total_sugars_g", "total_carbohydrate_g"),
    ("added_sugars_g", "total_sugars_g"),
)
# Calories from macros (Atwater: 9 kcal/g fat, 4 kcal/g carbohydrate and protein). Labels round, fibre and
# sugar alcohols count less: only a gross disagreement counts as a contradiction.
_ATWATER_TOLERANCE = 0.35
_ATWATER_SLACK_KCAL = 40.0


@dataclass(frozen=True)
class Merged:
    result: dict[str, Any]
    sources: dict[str, Source]
    rejected: tuple[str, ...] = ()  # model fields dropped because OCR contradicted them


def _empty(value: Any) -> bool:
    return value is None or value == [] or value == {} or value == ""


def sources_without_model(result: BaseModel, found: set[str]) -> dict[str, Source]:
    return {name: (Source.OCR if name in found else Source.MISSING) for name in type(result).model_fields}


def merge(ocr: BaseModel, found: set[str], model: Optional[BaseModel]) -> Merged:
    """Field-by-field merge of two results of the same schema."""
    if model is None:
        return Merged(ocr.model_dump(), sources_without_model(ocr, found))
    ocr_data, model_data = ocr.model_dump(), model.model_dump()
    rejected = set(_contradictions(ocr, found, model))
    merged: dict[str, Any] = {}
    sources: dict[str, Source] = {}
    for name in type(ocr).model_fields:
        ocr_value, model_value = ocr_data.get(name), model_data.get(name)
        if name in found and not _empty(ocr_value):
            if isinstance(ocr_value, dict) and isinstance(model_value, dict):
                # Nested values (recipe times): fill only the sub-fields OCR left empty.
                merged[name] = {k: (v if v is not None else (None if name in rejected else model_value.get(k)))
                                for k, v in ocr_value.items()}
            else:
                merged[name] = ocr_value
            sources[name] = Source.OCR
        elif name not in rejected and not _empty(model_value):
            merged[name] = model_value
            sources[name] = Source.LLM_VISION
        else:
            merged[name] = ocr_value  # None, or the schema's empty list
            sources[name] = Source.MISSING
    return Merged(merged, sources, tuple(sorted(rejected)))


def _contradictions(ocr: BaseModel, found: set[str], model: BaseModel) -> list[str]:
    if isinstance(ocr, NutritionLabelResult) and isinstance(model, NutritionLabelResult):
        return _nutrition_contradictions(ocr, found, model)
    if isinstance(ocr, RecipeResult) and isinstance(model, RecipeResult):
        return _recipe_contradictions(ocr, found, model)
    return []


def _nutrition_contradictions(ocr: NutritionLabelResult, found: set[str], model: NutritionLabelResult) -> list[str]:
    def value(name: str) -> Optional[float]:
        """The figure the merged label would carry: OCR's if read, else the model's."""
        own = getattr(ocr, name) if name in found else None
        return own if own is not None else getattr(model, name)

    rejected = []
    for part, whole in _PART_OF:
        # Only judge a model value against an OCR value: two model values are the model's own business.
        if part not in found and whole in found and getattr(model, part) is not None \
                and getattr(ocr, whole) is not None and getattr(model, part) > getattr(ocr, whole):
            rejected.append(part)
        if whole not in found and part in found and getattr(model, whole) is not None \
                and getattr(ocr, part) is not None and getattr(model, whole) < getattr(ocr, part):
            rejected.append(whole)
    if "calories" not in found and model.calories is not None:
        macros = [value("total_fat_g"), value("total_carbohydrate_g"), value("protein_g")]
        ocr_macros = {"total_fat_g", "total_carbohydrate_g", "protein_g"} & found
        if ocr_macros and all(m is not None for m in macros):
            estimate = 9 * macros[0] + 4 * macros[1] + 4 * macros[2]
            if abs(model.calories - estimate) > max(_ATWATER_SLACK_KCAL, _ATWATER_TOLERANCE * estimate):
                rejected.append("calories")
    return rejected


def _recipe_contradictions(ocr: RecipeResult, found: set[str], model: RecipeResult) -> list[str]:
    rejected = []
    # A recipe's total time cannot be shorter than one of the parts OCR read.
    times_ocr, times_model = ocr.times, model.times
    parts = [t for t in (times_ocr.prep_min, times_ocr.cook_min) if t is not None]
    if times_ocr.total_min is None and times_model.total_min is not None and parts \
            and times_model.total_min < max(parts):
        rejected.append("times")
    return rejected
