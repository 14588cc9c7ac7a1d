"""Nutrition-facts label from OCR lines -> NutritionLabelResult.

How it reads a label:
- Boxes are grouped into rows of cells (layout.row_cells); each cell is repaired for typical OCR damage
  (lost spaces "Carbohydrate31g", "O"/"o" read for zero "Og", "O mg", glued words "0gAdded").
- A nutrient is recognised only when its name STARTS a cell ("Not a significant source of saturated
  fat" names nutrients mid-sentence and is ignored). Its value is the first number that is not a
  percentage in the rest of the cell, else in the following cells of the row, else at the start of the
  next row (values pushed down by OCR). So two-column labels ("Calories 110 150") and %DV columns give
  the per-serving, first-column figure.
- "less than 1g" / "<1g" gives the stated number (1), matching how the ground truth is read off labels.
- A missing unit where the last digit is a "9" is taken as a misread "g" only when reading the number
  whole would be implausible ("09" has a leading zero; 0-suffixed-9 above the field's maximum).
- The first occurrence of a field wins, and parsing stops at the footnote ("based on a 2,000 calorie
  diet"), whose reference table repeats nutrient names with other numbers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional, Sequence

from models_processor.ocr.base import OcrLine, OcrResult
from models_processor.parsing.layout import group_rows, merge_row
from models_processor.schemas import NutritionLabelResult

# Field -> name pattern anchored at the start of a cell (after cleanup, lowercased).
FIELD_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (field, re.compile(pattern)) for field, pattern in (
        ("calories", r"^(?:amount per serving\s*)?calories\b(?!\s*from)|^energy\b"),
        ("saturated_fat_g", r"^(?:of which\s*)?(?:saturated|sat\.?)\s*fat\b|^(?:of which\s*)?saturates\b"),
        ("trans_fat_g", r"^trans\.?\s*fat\b"),
        ("total_fat_g", r"^(?:total\s*)?fat\b"),
        ("cholesterol_mg", r"^chol[a-z]*\.?"),
        ("sodium_mg", r"^sodium\b"),
        ("potassium_mg", r"^potas(?:sium|\.)?"),
        ("dietary_fiber_g", r"^(?:dietary\s*)?fib(?:er|re)s?\b"),
        ("added_sugars_g", r"^(?:incl(?:udes|\.)?\s*)?added\s*sugars?\b"),
        ("total_sugars_g", r"^(?:total\s*|of which\s*)?sugars?\b"),
        ("total_carbohydrate_g", r"^(?:total\s*)?carb(?:ohydrates?|s|\.)?\b|^(?:total\s*)?carbo[a-z]*"),
        ("protein_g", r"^proteins?\b"),
    )
)
# "Includes 10g Added Sugars": the value sits between "includes" and the name.
INCLUDES_RE = re.compile(r"^incl(?:udes|\.)?\s*(?P<value>(?:<|less than)?\s*\d+(?:[.,]\d+)?\s*m?g)\s*added\s*sugar")
SERVING_SIZE_RE = re.compile(r"\bserv(?:ing|\.)?\s*size\b\s*:?\s*", re.I)
SERVINGS_RES = (
    re.compile(r"servings?\s*(?:per|in|/)\s*(?:the\s*)?[a-z]+\s*:?\s*(?:about|approx\.?|approximately|abt\.?)?\s*"
               r"(?P<n>\d+(?:[.,]\d+)?)", re.I),
    re.compile(r"(?:about|approx\.?|approximately)?\s*(?P<n>\d+(?:[.,]\d+)?)\s*servings?\s*(?:per|in)\b", re.I),
)
# Where the label's footnote begins; its reference table repeats nutrient names with other numbers.
FOOTNOTE_RE = re.compile(r"(calorie\s*diet|daily values? (?:are|is) based|tells you how much|"
                         r"percent daily values?|calories\s*:?\s*2[.,]?000)", re.I)
VALUE_RE = re.compile(r"(?P<lt><|less\s*than\s*)?(?P<num>\d{1,3}(?:,\d{3})+(?![\d])|\d+(?:[.,]\d+)?)\s*"
                      r"(?P<unit>mcg|µg|mg|kcal|kj|cal|g)?(?P<pct>\s*%)?", re.I)

FIELD_UNIT = {f: ("mg" if f.endswith("_mg") else "g") for f, _ in FIELD_PATTERNS if f != "calories"}
# Largest horizontal gap, in line heights, still read as a space between words of one cell.
WORD_GAP = 0.6
# Per-serving maxima used only to judge a reading implausible.
PLAUSIBLE_MAX = {"g": 100.0, "mg": 5000.0, "kcal": 2000.0}


@dataclass(frozen=True)
class ParsedNutrition:
    result: NutritionLabelResult
    found: set[str]


def repair_text(text: str) -> str:
    """Undo common OCR damage on label text; lowercased."""
    s = text.replace("’", "'").replace("|", " ")
    s = re.sub(r"(?<=[A-Za-z])(?=\d)", " ", s)             # "Carbohydrate31g" -> "Carbohydrate 31g"
    s = re.sub(r"(?<=\d)(m?g|mcg)(?=[A-Z])", r"\1 ", s)     # "0gAdded" -> "0g Added"
    s = re.sub(r"\b[oO](?=\s*(?:mcg|mg|g)\b)", "0", s)      # "Og", "O mg" -> "0g", "0 mg"
    s = re.sub(r"(?<=\d)[oO]\b|(?<=\d)[oO](?=\d)", "0", s)  # "1O" -> "10"
    s = re.sub(r"\s+", " ", s)
    return s.strip().lower().lstrip("-•·*. ")


def _to_float(num: str) -> float:
    if re.fullmatch(r"\d{1,3}(?:,\d{3})+", num):
        return float(num.replace(",", ""))
    return float(num.replace(",", "."))


def parse_value(text: str, unit: Optional[str]) -> Optional[float]:
    """First non-percentage number of text, converted to `unit` ("g", "mg" or None for energy)."""
    for m in VALUE_RE.finditer(text):
        if m.group("pct"):
            continue
        num, found_unit = m.group("num"), (m.group("unit") or "").lower()
        value = _to_float(num)
        if unit is None:
            if found_unit == "kj":
                continue  # energy in kJ next to kcal: keep looking for the kcal figure
            return value
        if not found_unit:
            value = _misread_g(num, unit)
            if value is None:
                return None
            return value
        if found_unit in ("mcg", "µg"):
            value = value / 1000.0
            found_unit = "mg"
        if found_unit == "g" and unit == "mg":
            value *= 1000.0
        elif found_unit == "mg" and unit == "g":
            value /= 1000.0
        return round(value, 3)
    return None


def _misread_g(num: str, unit: str) -> Optional[float]:
    """A bare number where a unit is expected. "09" is "0g"; "129" for a gram field above its maximum is
    "12g"; any other bare number is taken as printed (OCR often drops a small unit)."""
    value = _to_float(num)
    if unit == "g" and num.endswith("9") and len(num) >= 2 and "." not in num and "," not in num:
        if num.startswith("0") or value > PLAUSIBLE_MAX["g"]:
            return _to_float(num[:-1])
    if value > PLAUSIBLE_MAX.get(unit, float("inf")):
        return None
    return value


def _match_field(text: str) -> Optional[tuple[str, str]]:
    """(field, text after the name) when a cell starts with a nutrient name."""
    inc = INCLUDES_RE.match(text)
    if inc:
        return "added_sugars_g", inc.group("value")
    for field, pattern in FIELD_PATTERNS:
        m = pattern.match(text)
        if m:
            return field, text[m.end():]
    return None


def _cells_value(cells: Sequence[str], unit: Optional[str]) -> Optional[float]:
    """Value from the cells that follow a name: the first that holds a number and no other name."""
    for text in cells:
        if _match_field(text) is not None or SERVING_SIZE_RE.search(text):
            return None
        value = parse_value(text, unit)
        if value is not None:
            return value
        if re.search(r"[a-z]{3,}", text) and not re.search(r"\d", text):
            return None  # a word cell without numbers: the value is not further along
    return None


def _serving_size(rows: Sequence[Sequence[str]], r: int, c: int) -> Optional[str]:
    text = rows[r][c]
    m = SERVING_SIZE_RE.search(text)
    rest = text[m.end():] if m else ""
    if not rest.strip() and c + 1 < len(rows[r]):
        rest = rows[r][c + 1]  # only the next cell: further cells belong to other panels
    rest = re.split(r"\bservings?\b|\babout \d+ servings|\d+\s*servings", rest, flags=re.I)[0]
    rest = rest.strip(" :;,.-")
    return rest or None


def parse_nutrition_label(ocr: OcrResult) -> ParsedNutrition:
    """Fields of a nutrition-facts label; `found` names the fields that were read off the label."""
    boxes = group_rows(ocr.lines)
    # Nutrients read from cells merged only across word-sized gaps: a name and its value printed apart
    # ("Total Carbohydrate" "14g") still join, while %DV cells and neighbouring panels stay separate.
    grid = [merge_row(row, max_gap=WORD_GAP) for row in boxes]
    rows = [[repair_text(cell.text) for cell in row] for row in grid]
    # The serving size is read from the unmerged boxes, so text of a neighbouring panel that touches
    # the size box is not taken along ("1 Bottle" + "Contains ...").
    raw_rows = [[repair_text_keep_case(ln.text) for ln in row] for row in boxes]
    values: dict[str, object] = {}
    for r, row in enumerate(rows):
        if FOOTNOTE_RE.search(" ".join(row)):
            break
        if "serving_size" not in values:
            for c, text in enumerate(raw_rows[r]):
                if SERVING_SIZE_RE.search(text):
                    size = _serving_size(raw_rows, r, c)
                    if size:
                        values["serving_size"] = size
                    break
        for c, text in enumerate(row):
            if "servings_per_container" not in values:
                joined = " ".join(row[c:])
                for pattern in SERVINGS_RES:
                    sm = pattern.search(joined)
                    if sm:
                        values["servings_per_container"] = _to_float(sm.group("n"))
                        break
            hit = _match_field(text)
            if hit is None or hit[0] in values:
                continue
            field, rest = hit
            unit = None if field == "calories" else FIELD_UNIT[field]
            value = parse_value(rest, unit)
            if value is None and not re.search(r"\d", rest):
                following = row[c + 1:]
                if r + 1 < len(rows):
                    following = following + rows[r + 1][:1]
                value = _cells_value(following, unit)
            if value is not None:
                values[field] = value
    result = NutritionLabelResult(**values)
    return ParsedNutrition(result=result, found=set(values))


def repair_text_keep_case(text: str) -> str:
    """Serving sizes are returned as printed; only spacing and zero/"O" damage are repaired."""
    s = re.sub(r"\b[oO](?=\s*(?:mcg|mg|g)\b)", "0", text)
    return re.sub(r"\s+", " ", s).strip()
