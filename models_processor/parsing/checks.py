"""Self-checks of parsed values: a value read off a photo is reported as read (source `ocr`) only when it
is plausible; one that fails counts as missing, so the fallback model is asked for it.

Why: OCR misreads are silent. "30mg" of carbohydrate, a kJ figure in the calories, a sugar value larger
than the carbohydrate it is part of, "Serves 130" from a page number: each is a value that looks read and
is wrong. Rules here are about what a label or a recipe can be, never about particular photos
(docs/parsing.md, "Self-checks").

Lists are not all-or-nothing: lines that do not look like ingredients (or steps) are dropped, and a list
that lost lines is `partial`: kept as the OCR answer, but open to the model, which may replace it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from statistics import median

from models_processor.ocr.base import OcrResult
from models_processor.parsing.quantities import starts_with_quantity
from models_processor.schemas import Ingredient, NutritionLabelResult, RecipeResult

# Largest plausible per-serving value of each field (a very large serving still stays below these).
NUTRITION_MAX: dict[str, float] = {
    "calories": 2000.0, "total_fat_g": 100.0, "saturated_fat_g": 60.0, "trans_fat_g": 20.0,
    "cholesterol_mg": 1000.0, "sodium_mg": 6000.0, "potassium_mg": 6000.0, "total_carbohydrate_g": 200.0,
    "dietary_fiber_g": 60.0, "total_sugars_g": 150.0, "added_sugars_g": 150.0, "protein_g": 100.0,
    "servings_per_container": 400.0,
}
# A part can never exceed its whole: (part, whole).
PART_OF: tuple[tuple[str, str], ...] = (
    ("saturated_fat_g", "total_fat_g"), ("trans_fat_g", "total_fat_g"),
    ("dietary_fiber_g", "total_carbohydrate_g"), ("total_sugars_g", "total_carbohydrate_g"),
    ("added_sugars_g", "total_sugars_g"),
)
MACROS = ("total_fat_g", "total_carbohydrate_g", "protein_g")
# Calories against 9/4/4 kcal per gram: labels round and fibre or sugar alcohols count less, so only a
# gross disagreement fails.
ATWATER_TOLERANCE = 0.35
ATWATER_SLACK_KCAL = 40.0

# Below this median line confidence the OCR text is not a reading of the page (handwriting in poor light,
# a page upside down, texture read as letters: 0.55-0.62 on the held-out set, while every legible page there
# and the real samples score 0.82 or more): nothing read from it is reported as read.
PAGE_MIN_MEDIAN_SCORE = 0.7
MAX_SERVINGS = 100
MAX_MINUTES = 24 * 60
MAX_INGREDIENT_WORDS = 16
NUTRITION_LINE = re.compile(r"\b(?:kcal|calories|cals?)\b.*\b\d+\s*g\b|\bper serv(?:ing|e)\b.*\d", re.I)


@dataclass(frozen=True)
class Checked:
    """What passed: `found` holds fields read and plausible; `failed` says why the others were dropped;
    `partial` names list fields kept from OCR but open to the model."""

    found: set[str]
    failed: dict[str, str] = field(default_factory=dict)
    partial: frozenset[str] = frozenset()


def legible(ocr: OcrResult) -> bool:
    """Whether the OCR lines read as text at all (their median confidence); when not, every field is
    left to the model."""
    return bool(ocr.lines) and median(ln.score for ln in ocr.lines) >= PAGE_MIN_MEDIAN_SCORE


ILLEGIBLE = "OCR confidence too low to read the page"


def atwater(fat: float, carbohydrate: float, protein: float) -> float:
    return 9 * fat + 4 * carbohydrate + 4 * protein


def calories_disagree(calories: float, estimate: float) -> bool:
    return abs(calories - estimate) > max(ATWATER_SLACK_KCAL, ATWATER_TOLERANCE * estimate)


def check_nutrition(result: NutritionLabelResult, found: set[str]) -> tuple[NutritionLabelResult, Checked]:
    """Range, part-of-whole and energy checks; failing fields are set to None and leave `found`."""
    values = result.model_dump()
    failed: dict[str, str] = {}

    def read(name: str) -> float | None:
        value = values.get(name)
        return float(value) if name in found and name not in failed and isinstance(value, (int, float)) else None

    for name, most in NUTRITION_MAX.items():
        value = read(name)
        if value is not None and value > most:
            failed[name] = f"{value:g} above the plausible {most:g}"
    for part, whole in PART_OF:
        p, w = read(part), read(whole)
        if p is not None and w is not None and p > w + 1e-9:
            # Which of the two is misread cannot be told: both go to the fallback.
            failed[part] = failed[whole] = f"{part} {p:g} > {whole} {w:g}"
    calories, macros = read("calories"), [read(m) for m in MACROS]
    if calories is not None and all(m is not None for m in macros):
        estimate = atwater(*[m or 0.0 for m in macros])
        if calories_disagree(calories, estimate):
            for name in ("calories", *MACROS):
                failed[name] = f"calories {calories:g} against {estimate:g} from the macros"
    for name in failed:
        values[name] = None
    kept = {f for f in found if f not in failed}
    return NutritionLabelResult(**values), Checked(found=kept, failed=failed)


def looks_like_ingredient(item: Ingredient) -> bool:
    """An ingredient line is short, names something, and is not a sentence or a nutrition line."""
    text = item.original_text.strip()
    words = text.split()
    if not words or len(words) > MAX_INGREDIENT_WORDS or item.name is None:
        return False
    if NUTRITION_LINE.search(text):
        return False
    # A sentence (several words ending in a full stop) is a step or an introduction, unless it starts
    # with a quantity ("2 eggs, beaten.").
    return not (len(words) > 6 and text.endswith(".") and not starts_with_quantity(text))


def looks_like_step(text: str) -> bool:
    return len(text.split()) >= 2 and NUTRITION_LINE.search(text) is None


def check_recipe(result: RecipeResult, found: set[str]) -> tuple[RecipeResult, Checked]:
    """Servings and times in sane ranges, a title that reads as one, lists of plausible lines."""
    failed: dict[str, str] = {}
    partial: set[str] = set()
    servings, times = result.servings, result.times.model_copy()
    if servings is not None and not 1 <= servings <= MAX_SERVINGS:
        failed["servings"] = f"{servings} servings"
        servings = None
    for key in ("prep_min", "cook_min", "total_min"):
        minutes = getattr(times, key)
        if minutes is not None and not 1 <= minutes <= MAX_MINUTES:
            failed[f"times.{key}"] = f"{minutes} minutes"
            setattr(times, key, None)
    parts = [t for t in (times.prep_min, times.cook_min) if t is not None]
    if times.total_min is not None and parts and times.total_min < max(parts):
        failed["times.total_min"] = f"total {times.total_min} shorter than a part"
        times.total_min = None
    title = result.title
    if title is not None and (len(re.findall(r"[A-Za-z]", title)) < 3 or len(title) > 150):
        failed["title"] = "not a title"
        title = None
    ingredients = [i for i in result.ingredients if looks_like_ingredient(i)]
    if len(ingredients) < len(result.ingredients) and "ingredients" in found:
        partial.add("ingredients")
    steps = [s for s in result.instructions if looks_like_step(s)]
    if len(steps) < len(result.instructions) and "instructions" in found:
        partial.add("instructions")
    checked = result.model_copy(update={"servings": servings, "times": times, "title": title,
                                        "ingredients": ingredients, "instructions": steps})
    kept = {f for f in found if f not in failed and f not in partial}
    if "times" in kept and not any(v is not None for v in times.model_dump().values()):
        kept.discard("times")
    for name, value in (("ingredients", ingredients), ("instructions", steps)):
        if not value:
            kept.discard(name)
            partial.discard(name)
    return checked, Checked(found=kept, failed=failed, partial=frozenset(partial))
