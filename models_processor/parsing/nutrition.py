"""Nutrition label from OCR lines -> NutritionLabelResult (US, Canadian bilingual, EU/UK, AU/NZ tables).

How it reads a label (docs/parsing.md):
- Boxes are grouped into rows (layout.group_rows, which corrects skew from the boxes' own angles), and
  merged into cells across word-sized gaps; each cell is repaired for typical OCR damage (lost spaces
  "Carbohydrate31g", "Og" for "0g", glued words "0gAdded"). A cell holding several nutrients ("Iron 8mg
  45% Potassium 235mg 6%") is split where a nutrient name follows a value.
- A nutrient is recognised only when its name STARTS a cell ("Not a significant source of saturated
  fat" names nutrients mid-sentence and is ignored). Its value is the first number that is not a
  percentage in the rest of the cell, else in the following cells of the row, else at the start of the
  next row. When the label has a "per serving" column beside a "per 100 g" one, the value is taken from
  the cell nearest the per-serving column; otherwise the first column.
- Values are read in the field's own unit (nutrition_values.parse_value); energy in kJ only is converted
  to kcal, a kJ row followed by a kcal row gives the kcal.
- The first occurrence of a field wins, and parsing stops at the footnote ("based on a 2,000 calorie
  diet"), whose reference table repeats nutrient names with other numbers.
- The result then goes through checks.check_nutrition: implausible values become missing.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from models_processor.ocr.base import OcrLine, OcrResult
from models_processor.parsing.checks import ILLEGIBLE, Checked, check_nutrition, legible
from models_processor.parsing.layout import deskew, group_rows, merge_row
from models_processor.parsing.nutrition_values import (
    has_value,
    only_kj,
    parse_value,
    repair_text,
    repair_text_keep_case,
    to_float,
)
from models_processor.schemas import NutritionLabelResult

__all__ = ["ParsedNutrition", "parse_nutrition_label", "repair_text", "repair_text_keep_case"]

# Field -> name pattern anchored at the start of a cell (after cleanup, lowercased). Bilingual labels
# print "Saturated / saturés" and "+ Trans / trans" without the word "fat".
FIELD_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (name, re.compile(pattern)) for name, pattern in (
        ("calories", r"^(?:amount per serving\s*)?calories\b(?!\s*from)|^energy\b"),
        ("saturated_fat_g", r"^(?:of which\s*)?(?:saturated|sat\.?)(?:\s*fat)?\b|^(?:of which\s*)?saturates\b"),
        ("trans_fat_g", r"^\+?\s*trans\.?(?:\s*fat)?\b"),
        ("total_fat_g", r"^(?:total\s*)?fat\b"),
        ("cholesterol_mg", r"^chol[a-z]*\.?"),
        ("sodium_mg", r"^sodium\b"),
        ("potassium_mg", r"^potas(?:sium|\.)?"),
        ("dietary_fiber_g", r"^(?:dietary\s*)?fib(?:er|re)s?\b"),
        ("added_sugars_g", r"^(?:incl(?:udes|\.)?\s*)?added\s*sugars?\b"),
        ("total_sugars_g", r"^(?:total\s*|of which\s*)?sugars?\b(?!\s*alcohols?)"),
        ("total_carbohydrate_g", r"^(?:total\s*)?carb(?:ohydrates?|s|\.)?\b|^(?:total\s*)?carbo[a-z]*"),
        ("protein_g", r"^proteins?\b"),
    )
)
# Any nutrient name that may start a second entry in the middle of a cell: after a value, a percentage, a
# closing bracket, a comma or a bullet ("Iron 8mg 45% Potassium 235mg 6%", linear labels "Total Fat 8g (10%
# DV), Sat. Fat 1g (5% DV), ...").
# EU linear declarations ("energy 1201 kJ / 287 kcal; fat 8.1 g, of which saturates 1.1 g; carbohydrate ...")
# separate entries with semicolons and name them in lower case, salt included.
MID_ROW_NAME = re.compile(
    r"(?<=[%\d•·g),:;])\s*[•·,;]?\s*(?=(?:calories\b(?!\s*from)|calcium|iron|potassium|vitamin|sodium|chol(?:esterol|est)?\.?|protein|"
    r"\+\s*trans|trans\.?\s*fat|magnesium|zinc|phosphorus|total\s*fat|sat(?:urated|\.)\s*fat|total\s*carb|"
    r"dietary\s*fib|fib(?:er|re)\b|total\s*sugars|sugars\b|incl(?:udes|\.)\s*\d|energy\b|fat\b|of\s*which\b|"
    r"carbohydrates?\b|salt\b)\b)")
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
                         r"percent daily values?|calories\s*:?\s*2[.,]?000|5\s*% or less)", re.I)
PER_SERVING_RE = re.compile(r"\bper\s*(?:serv(?:ing|e)|portion|\d+\s*g\s*serv|pack)", re.I)
PER_100_RE = re.compile(r"\bper\s*100\s*(?:g|ml)\b|^100\s*(?:g|ml)$", re.I)

FIELD_UNIT = {f: ("mg" if f.endswith("_mg") else "g") for f, _ in FIELD_PATTERNS if f != "calories"}
# Largest horizontal gap, in line heights, still read as a space between words of one cell.
WORD_GAP = 0.6


@dataclass(frozen=True)
class ParsedNutrition:
    result: NutritionLabelResult
    found: set[str]
    checked: Checked | None = None
    partial: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True)
class Cell:
    text: str  # repaired, lowercased
    left: float
    right: float

    @property
    def center(self) -> float:
        return (self.left + self.right) / 2


def _split_mid_row(line: OcrLine) -> list[Cell]:
    """One cell per nutrient when a cell holds several ("iron 8mg 45% potassium 235mg 6%"); positions are
    apportioned by character count."""
    text = repair_text(line.text)
    if INCLUDES_RE.match(text):
        return [Cell(text, line.left, line.right)]
    cuts = [0] + [m.start() for m in MID_ROW_NAME.finditer(text) if m.start() > 0] + [len(text)]
    width = (line.right - line.left) / max(1, len(text))
    return [Cell(text[a:b].strip(" •·,;"), line.left + a * width, line.left + b * width)
            for a, b in itertools.pairwise(cuts) if text[a:b].strip(" •·,;")]


# Running text wrapped inside a name ("..., of" / "which saturates 10.1 g") on linear labels.
DANGLING_RE = re.compile(r"(?:^|\s)(?:of|of which|which)$")


def _join_dangling(rows: list[list[Cell]]) -> list[list[Cell]]:
    """A row ending in a connector word continues on the next row: the word joins that row's first cell."""
    for r in range(len(rows) - 1):
        if rows[r] and rows[r + 1] and DANGLING_RE.search(rows[r][-1].text):
            tail = rows[r][-1]
            m = DANGLING_RE.search(tail.text)
            assert m is not None
            head = rows[r + 1][0]
            rows[r + 1][0] = Cell(f"{tail.text[m.start():].strip()} {head.text}", head.left, head.right)
            rows[r][-1] = Cell(tail.text[:m.start()].strip(), tail.left, tail.right)
    return rows


def _match_field(text: str) -> tuple[str, str] | None:
    """(field, text after the name) when a cell starts with a nutrient name."""
    inc = INCLUDES_RE.match(text)
    if inc:
        return "added_sugars_g", inc.group("value")
    for name, pattern in FIELD_PATTERNS:
        m = pattern.match(text)
        if m:
            return name, text[m.end():]
    return None


def serving_column(rows: Sequence[Sequence[Cell]]) -> float | None:
    """x of the per-serving column on a table that also has a per-100 g column, else None (first column)."""
    for r, row in enumerate(rows):
        here = list(row) + (list(rows[r + 1]) if r + 1 < len(rows) else [])
        serving = [c for c in here if PER_SERVING_RE.search(c.text) and not PER_100_RE.search(c.text)]
        hundred = [c for c in here if PER_100_RE.search(c.text)]
        if serving and hundred:
            return serving[0].center
    return None


def _value_cells(rows: Sequence[Sequence[Cell]], r: int, c: int) -> list[Cell]:
    """Cells that may hold the value of the name in rows[r][c]: the rest of its row until a word cell,
    then the first cell of the next row (a value pushed down by OCR)."""
    out: list[Cell] = []
    for cell in rows[r][c + 1:]:
        if _match_field(cell.text) is not None or SERVING_SIZE_RE.search(cell.text):
            break
        if re.match(r"^[a-z]{3,}", cell.text) and not cell.text.startswith("less"):
            break  # a label word ("calories from fat 110"): the value is not further along
        out.append(cell)
    if not out and r + 1 < len(rows) and rows[r + 1]:
        first = rows[r + 1][0]
        if _match_field(first.text) is None and has_value(first.text) and not re.match(r"^[a-z]{3,}", first.text):
            out.append(first)
    return out


def _read_value(rows: Sequence[Sequence[Cell]], r: int, c: int, name: str, rest: str,
                column: float | None) -> float | None:
    unit = None if name == "calories" else FIELD_UNIT[name]
    if has_value(rest) and column is None:
        return _energy(rows, r, rest, None) if unit is None else parse_value(rest, unit)
    cells = [cl for cl in _value_cells(rows, r, c) if has_value(cl.text)]
    if has_value(rest):
        cells.insert(0, Cell(rest, rows[r][c].left, rows[r][c].right))
    if not cells:
        return None
    cell = min(cells, key=lambda cl: abs(cl.center - column)) if column is not None else cells[0]
    return _energy(rows, r, cell.text, cell) if unit is None else parse_value(cell.text, unit)


def _energy(rows: Sequence[Sequence[Cell]], r: int, text: str, cell: Cell | None) -> float | None:
    """kcal; a kJ-only cell whose next row prints the kcal in the same column gives that kcal."""
    if only_kj(text) and r + 1 < len(rows):
        below = [b for b in rows[r + 1] if re.search(r"\d\s*k?cal\b", b.text)]
        if below:
            ref = cell.center if cell is not None else below[0].center
            return parse_value(min(below, key=lambda b: abs(b.center - ref)).text, None)
    return parse_value(text, None)


def _serving_size(raw_rows: Sequence[Sequence[str]], r: int, c: int) -> str | None:
    text = raw_rows[r][c]
    m = SERVING_SIZE_RE.search(text)
    rest = text[m.end():] if m else ""
    if not rest.strip() and c + 1 < len(raw_rows[r]):
        rest = raw_rows[r][c + 1]  # only the next cell: further cells belong to other panels
    rest = re.split(r"\bservings?\b|\babout \d+ servings|\d+\s*servings|\bamount\s*per\b|,\s*(?=\w[\w. ]*:)", rest,
                    flags=re.I)[0]
    rest = rest.strip(" :;,.-")
    return rest or None


def _servings(row: Sequence[Cell]) -> float | None:
    for c in range(len(row)):
        joined = " ".join(cell.text for cell in row[c:])
        for pattern in SERVINGS_RES:
            sm = pattern.search(joined)
            if sm:
                return to_float(sm.group("n"))
    return None


def parse_nutrition_label(ocr: OcrResult) -> ParsedNutrition:
    """Fields of a nutrition label; `found` names the fields that were read off the label and passed the
    self-checks."""
    if not legible(ocr):
        return ParsedNutrition(result=NutritionLabelResult(), found=set(),
                               checked=Checked(found=set(), failed={"page": ILLEGIBLE}))
    boxes = group_rows(deskew(ocr.lines))
    # Nutrients read from cells merged only across word-sized gaps: a name and its value printed apart
    # ("Total Carbohydrate" "14g") still join, while %DV cells and neighbouring panels stay separate.
    rows = _join_dangling([[cell for line in merge_row(row, max_gap=WORD_GAP) for cell in _split_mid_row(line)]
                           for row in boxes])
    # The serving size is read from the unmerged boxes, so text of a neighbouring panel that touches
    # the size box is not taken along ("1 Bottle" + "Contains ...").
    raw_rows = [[repair_text_keep_case(ln.text) for ln in row] for row in boxes]
    column = serving_column(rows)
    values: dict[str, object] = {}
    for r, row in enumerate(rows):
        if FOOTNOTE_RE.search(" ".join(cell.text for cell in row)):
            break
        if "serving_size" not in values:
            for c, text in enumerate(raw_rows[r]):
                if SERVING_SIZE_RE.search(text):
                    size = _serving_size(raw_rows, r, c)
                    if size:
                        values["serving_size"] = size
                    break
        if "servings_per_container" not in values:
            servings = _servings(row)
            if servings is not None:
                values["servings_per_container"] = servings
        for c, cell in enumerate(row):
            hit = _match_field(cell.text)
            if hit is None or hit[0] in values:
                continue
            value = _read_value(rows, r, c, hit[0], hit[1], column)
            if value is not None:
                values[hit[0]] = value
    result, checked = check_nutrition(NutritionLabelResult.model_validate(values), set(values))
    return ParsedNutrition(result=result, found=checked.found, checked=checked)
