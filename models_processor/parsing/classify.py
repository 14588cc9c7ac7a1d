"""What kind of photo is this: a recipe, a nutrition-facts label, or food (a dish with no useful text)?

Decided from OCR text only, with general signals rather than per-image rules:

- nutrition_label: the label's fixed vocabulary ("Nutrition Facts", "Serving size", "Calories",
  "Total Fat", "Sodium", "Total Carbohydrate", "Protein", "% Daily Value", ...) and nutrient lines
  with an amount ("Sodium 15mg"). Matched on a compact form of the text (lower case, letters and
  digits only) so lost spaces ("TotalFat", "Carbohydrate31g") and case do not matter, with common
  OCR letter confusions in the patterns (e.g. "calorle", "Dally").
- recipe: section words (ingredients, method, directions, instructions), cooking words (preheat,
  bake, oven, serves, prep time, ...), lines that start with a quantity and a unit or count
  ("180 g flour", "1/2 cup", "3 eggs") and lines that start with a cooking verb ("Add", "Stir").
- food: little or no confident text (a plate photographed from above may show a stray "10").

A nutrition label often lists ingredients too and a recipe may mention calories, so each side needs
several distinct signals, and the label's very specific vocabulary outweighs generic recipe words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from models_processor.ocr.base import OcrResult
from models_processor.schemas import ResultKind

# Lines recognised with less confidence than this are mostly texture read as letters; they do not count.
MIN_LINE_SCORE = 0.6
# Fewer confident letters/digits than this is not a document (food photos, a logo on a mug).
MIN_TEXT_CHARS = 20
# How many distinct signals make a verdict. Real labels show 8-15 nutrition terms; real recipes show
# several quantity lines plus section/cooking words.
NUTRITION_MIN = 4
RECIPE_MIN = 3

# Nutrition-label vocabulary as regexes over the compact text (lower case, only [a-z0-9%]).
# Each entry counts once however often it occurs. Character classes absorb typical OCR confusions
# (i/l/1, o/0, rn/m).
_NUTRITION_TERMS: dict[str, str] = {
    "nutrition_facts": r"nutr[il1]t[il1][o0]nfacts",
    "serving_size": r"serv[il1]ngs[il1]ze",
    "servings_per": r"serv[il1]ngs(per|[il1]n)",
    "amount_per_serving": r"am[o0]untperserv",
    "calories": r"ca[il1][o0]r[il1]es",
    "total_fat": r"t[o0]ta[il1]fat",
    "saturated_fat": r"saturatedfat",
    "trans_fat": r"transfat",
    "cholesterol": r"ch[o0][il1]ester[o0][il1]",
    "sodium": r"s[o0]d[il1]um",
    "carbohydrate": r"carb[o0]hydrate",
    "dietary_fiber": r"d[il1]etaryf[il1]b(er|re)",
    "sugars": r"sugars",
    "protein": r"pr[o0]te[il1]n",
    "daily_value": r"da[il1][il1]yva[il1]ue",
    "potassium": r"p[o0]tass[il1]um",
    "vitamin": r"v[il1]tam[il1]n",
    # EU/UK and AU/NZ tables: "Nutrition information", "Typical values", "Per 100g", energy in kJ/kcal,
    # "of which saturates", "Avg quantity per serving", salt.
    "nutrition_information": r"nutr[il1]t[il1][o0]n(a[il1])?[il1]nf[o0]rmat[il1][o0]n|valeurnutr[il1]t[il1]ve",
    "typical_values": r"typ[il1]ca[il1]va[il1]ues",
    "per_100": r"per100(g|m[il1])",
    "energy": r"energy\d*(kj|kca[il1])|\d(kj|kca[il1])",
    "saturates": r"saturates|[o0]fwh[il1]ch",
    "avg_quantity": r"(avg|average)quant[il1]ty",
    "per_serving": r"perserv(e|[il1]ng)",
    "salt": r"sa[il1]t\d",
}
# A nutrient word followed by an amount in g/mg (OCR often reads 0 as "O": "Omg", "Og").
_NUTRIENT_AMOUNT = re.compile(
    r"(fat|sodium|carbohydrate|sugars|protein|cholesterol|fiber|fibre|potassium|saturates|salt|total)[0-9o][0-9.,]*(mg|g)"
)

_RECIPE_TERMS: dict[str, str] = {
    "ingredients": r"\bingred[il1]ents?\b",
    "method": r"\b(method|directions|instructions|preparation)\b",
    "preheat": r"\bpre-?heat",
    "oven": r"\boven\b",
    "bake": r"\bbak(e|ed|ing)\b",
    "serves": r"\b(serves|makes|yield)\b",
    "prep_time": r"\b(prep|cook|cooking|total)\s*(time|t[il1]me)\b",
    "stir_mix": r"\b(stir|whisk|knead|simmer|saute|sauté|fry|boil|chop|slice[ds]?)\b",
    "minutes": r"\b\d+\s*(min|mins|minutes|hours?)\b",
}
# A line that starts with a quantity (integer, decimal, fraction, unicode fraction, range) and then a
# unit or a count noun: "180 g flour", "1/2 cup", "100ml (scant 1/2 cup)", "3 eggs", "2-3 cloves".
_QUANTITY_LINE = re.compile(
    r"^\s*(\d+([.,/]\d+)?(\s*-\s*\d+)?|[½¼¾⅓⅔⅛⅜⅝⅞]|\d+\s*[½¼¾⅓⅔⅛⅜⅝⅞])\s*"
    r"(g|kg|mg|ml|l|dl|cl|oz|lb|lbs|cups?|c|tbsp|tbs|tsp|teaspoons?|tablespoons?|pinch(es)?|cloves?"
    r"|cans?|large|small|medium|eggs?|slices?|sticks?|handfuls?|bunch(es)?|pieces?)\b",
    re.IGNORECASE,
)
_COOKING_VERB_LINE = re.compile(
    r"^\s*(\d+[.)]?\s*)?(add|mix|stir|pour|bake|heat|preheat|place|combine|whisk|serve|fry|cook|drain"
    r"|chop|slice|beat|fold|cut|bring|remove|season|sprinkle|transfer|leave|let|melt|spread|roll|cover)\b",
    re.IGNORECASE,
)
# List bullets and the check boxes of blog recipe cards before an ingredient ("☐ 1 cup blueberries").
_BULLET = re.compile(r"^[\s•·›»▪■●◦*\-–—☐□▢◻☑✓✔○]+")
_CAP = 6  # each line-based signal is capped so one long ingredient list cannot swamp the label vocabulary


@dataclass(frozen=True)
class Classification:
    """The verdict plus what it was based on (logged with the request)."""

    kind: ResultKind
    confidence: float  # 0..1, how clearly the winning side won
    scores: dict[str, float] = field(default_factory=dict)
    signals: tuple[str, ...] = ()


def _compact(text: str) -> str:
    return re.sub(r"[^a-z0-9%]", "", text.lower())


def classify(ocr: OcrResult) -> Classification:
    lines = [line.text for line in ocr.lines if line.score >= MIN_LINE_SCORE and line.text.strip()]
    text = "\n".join(lines)
    chars = sum(ch.isalnum() for ch in text)
    compact = _compact(text)
    lower = text.lower()

    nutrition_hits = [name for name, pattern in _NUTRITION_TERMS.items() if re.search(pattern, compact)]
    amount_lines = sum(1 for line in lines if _NUTRIENT_AMOUNT.search(_compact(line)))
    # "Nutrition Facts" alone is nearly decisive: it is printed on every US/Canadian label.
    nutrition = len(nutrition_hits) + (2 if "nutrition_facts" in nutrition_hits else 0) + min(amount_lines, _CAP) / 2

    recipe_hits = [name for name, pattern in _RECIPE_TERMS.items() if re.search(pattern, lower)]
    items = [_BULLET.sub("", line) for line in lines]
    quantity_lines = sum(1 for line in items if _QUANTITY_LINE.match(line))
    verb_lines = sum(1 for line in items if _COOKING_VERB_LINE.match(line))
    recipe = len(recipe_hits) + min(quantity_lines, _CAP) + min(verb_lines, _CAP) / 2

    scores = {
        "nutrition": round(nutrition, 2),
        "recipe": round(recipe, 2),
        "chars": float(chars),
        "lines": float(len(lines)),
        "quantity_lines": float(quantity_lines),
        "nutrient_amount_lines": float(amount_lines),
    }
    signals = tuple(f"nutrition:{n}" for n in nutrition_hits) + tuple(f"recipe:{n}" for n in recipe_hits)

    if chars < MIN_TEXT_CHARS:
        return Classification(ResultKind.FOOD, 1.0 - chars / MIN_TEXT_CHARS / 2, scores, signals)
    if nutrition >= NUTRITION_MIN and nutrition >= recipe:
        return Classification(ResultKind.NUTRITION_LABEL, _margin(nutrition, recipe), scores, signals)
    if recipe >= RECIPE_MIN:
        return Classification(ResultKind.RECIPE, _margin(recipe, nutrition), scores, signals)
    # Text, but neither kind: a menu, a mug, a packet front. The vision model handles it as food.
    return Classification(ResultKind.FOOD, 0.5, scores, signals)


def _margin(winner: float, other: float) -> float:
    """Confidence from how far the winner leads (0.5 at a tie, approaching 1 when the other side is 0)."""
    return round(0.5 + 0.5 * (winner - other) / (winner + other), 3) if winner + other else 0.5
