"""Merging what OCR parsed with what the vision model returned, field by field, with the source of each.

Rules (docs/contracts.md, docs/photos.md): a value read off the photo by OCR wins where present; model values fill the gaps; a model
value that contradicts what OCR read is dropped, not allowed to overwrite or sit beside it; `sources` names
where each top-level field came from (ocr, llm-vision, missing).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from ..schemas import NutritionLabelResult, RecipeResult, Source

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


def is_empty(value: Any) -> bool:
    """No value: None, "", [], or a nested object whose sub-fields are all empty (recipe times of nulls)."""
    if isinstance(value, dict):
        return all(is_empty(v) for v in value.values())
    return value is None or value == [] or value == ""


def sources_without_model(result: BaseModel, found: set[str]) -> dict[str, Source]:
    return {name: (Source.OCR if name in found else Source.MISSING) for name in type(result).model_fields}


def keep_partial(merged: Merged, partial: frozenset[str]) -> Merged:
    """Lists that OCR read only in part (some lines failed the parser's checks) are sent to the models as
    missing; when no model answered for one, the OCR lines that passed are the answer, tagged `ocr`."""
    sources = {name: (Source.OCR if name in partial and src is Source.MISSING and not is_empty(merged.result.get(name))
                      else src) for name, src in merged.sources.items()}
    return Merged(merged.result, sources, merged.rejected)


def merge(ocr: BaseModel, found: set[str], model: BaseModel | None,
          model_source: Source = Source.LLM_VISION) -> Merged:
    """Field-by-field merge of two results of the same schema.

    `rejected` names the model values dropped because OCR contradicted them: top-level field names, or
    "times.total_min"-style names for sub-fields of a nested value (recipe times).
    """
    if model is None:
        return Merged(ocr.model_dump(), sources_without_model(ocr, found))
    ocr_data, model_data = ocr.model_dump(), model.model_dump()
    rejected = set(_contradictions(ocr, found, model))
    merged: dict[str, Any] = {}
    sources: dict[str, Source] = {}
    for name in type(ocr).model_fields:
        ocr_value, model_value = ocr_data.get(name), model_data.get(name)
        if name in found and not is_empty(ocr_value):
            if isinstance(ocr_value, dict) and isinstance(model_value, dict) and name not in rejected:
                # Nested values (recipe times): fill only the sub-fields OCR left empty, and not with a
                # model sub-value that contradicts what OCR read.
                merged[name] = {k: (v if v is not None
                                    else (None if f"{name}.{k}" in rejected else model_value.get(k)))
                                for k, v in ocr_value.items()}
            else:
                merged[name] = ocr_value
            sources[name] = Source.OCR
        elif name not in rejected and not is_empty(model_value):
            merged[name] = model_value
            sources[name] = model_source
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


_MACROS = ("total_fat_g", "total_carbohydrate_g", "protein_g")


def _atwater(fat: float, carbohydrate: float, protein: float) -> float:
    return 9 * fat + 4 * carbohydrate + 4 * protein


def _disagrees(calories: float, estimate: float) -> bool:
    return abs(calories - estimate) > max(_ATWATER_SLACK_KCAL, _ATWATER_TOLERANCE * estimate)


def _nutrition_contradictions(ocr: NutritionLabelResult, found: set[str], model: NutritionLabelResult) -> list[str]:
    def from_ocr(name: str) -> float | None:
        return getattr(ocr, name) if name in found else None

    rejected: list[str] = []
    for part, whole in _PART_OF:
        # Only judge a model value against an OCR value: two model values are the model's own business.
        part_model, whole_model = getattr(model, part), getattr(model, whole)
        part_ocr, whole_ocr = from_ocr(part), from_ocr(whole)
        if part_ocr is None and whole_ocr is not None and part_model is not None and part_model > whole_ocr:
            rejected.append(part)
        if whole_ocr is None and part_ocr is not None and whole_model is not None and whole_model < part_ocr:
            rejected.append(whole)

    def value(name: str) -> float | None:
        """The figure the merged label would carry: OCR's if read, else the model's unless dropped."""
        own = from_ocr(name)
        if own is not None:
            return own
        return None if name in rejected else getattr(model, name)

    macros = [m for m in (value(name) for name in _MACROS) if m is not None]
    all_macros = len(macros) == len(_MACROS)  # fat, carbohydrate and protein all known
    ocr_macros = [m for m in _MACROS if from_ocr(m) is not None]
    model_macros = [m for m in _MACROS if from_ocr(m) is None and value(m) is not None]
    calories_ocr = from_ocr("calories")
    if calories_ocr is None and model.calories is not None:
        # The model's calories against the macros OCR read (completed by the model's macros).
        if ocr_macros and all_macros and _disagrees(model.calories, _atwater(*macros)):
            rejected.append("calories")
    elif calories_ocr is not None and model_macros and all_macros:
        # The other way round: model macros that make OCR's calories impossible are dropped, unless OCR's
        # own macros already disagree with OCR's calories (then the label, not the model, is odd).
        ocr_only = _atwater(*[from_ocr(m) or 0.0 for m in _MACROS])
        if _disagrees(calories_ocr, _atwater(*macros)) and not (ocr_only > calories_ocr
                                                                  and _disagrees(calories_ocr, ocr_only)):
            rejected.extend(model_macros)
    return rejected


def _recipe_contradictions(ocr: RecipeResult, found: set[str], model: RecipeResult) -> list[str]:
    """A recipe's total time cannot be shorter than one of its parts: a model time that breaks this against
    a time OCR read is dropped (per sub-field of `times`)."""
    if "times" not in found:
        return []
    rejected = []
    times_ocr, times_model = ocr.times, model.times
    parts = [t for t in (times_ocr.prep_min, times_ocr.cook_min) if t is not None]
    if times_ocr.total_min is None and times_model.total_min is not None and parts \
            and times_model.total_min < max(parts):
        rejected.append("times.total_min")
    if times_ocr.total_min is not None:
        for part in ("prep_min", "cook_min"):
            if getattr(times_ocr, part) is None and getattr(times_model, part) is not None \
                    and getattr(times_model, part) > times_ocr.total_min:
                rejected.append(f"times.{part}")
    return rejected
