"""The photo as OCR saw it, and each OCR line's box with the result field it fed, for the inspector page.

The parsers do not report which lines they used, so the link is found here by matching text: a line belongs
to a field when its text is part of the field's value (titles, ingredients, steps) or, for numbers, when it
carries the field's label word ("Protein", "Sodium") or sits on that label's row holding the value.
"""

from __future__ import annotations

import base64
import io
import re
from collections.abc import Iterable, Sequence
from typing import Any

from PIL import Image
from pydantic import BaseModel

from ..ocr.base import OcrLine, OcrResult
from ..ocr.orientation import upright_image

PREVIEW_MAX_SIDE = 1200  # enough to read the boxes on a desktop screen; small enough to send quickly
_MIN_MATCH_CHARS = 3     # shorter texts ("1", "g") match everything

# Label words of number fields: a line naming the field; words that, present, mean another field.
_LABEL_WORDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "serving_size": (("serving size",), ()),
    "servings_per_container": (("servings per", "per container"), ()),
    "calories": (("calorie",), ("from fat",)),
    "total_fat_g": (("fat",), ("saturated", "sat.", "trans", "calories from")),
    "saturated_fat_g": (("saturated", "sat. fat", "sat fat"), ()),
    "trans_fat_g": (("trans",), ()),
    "cholesterol_mg": (("cholest",), ()),
    "sodium_mg": (("sodium", "salt"), ()),
    "potassium_mg": (("potass",), ()),
    "total_carbohydrate_g": (("carbohydrate", "carb."), ()),
    "dietary_fiber_g": (("fiber", "fibre"), ()),
    "total_sugars_g": (("sugar",), ("added",)),
    "added_sugars_g": (("added",), ()),
    "protein_g": (("protein",), ()),
    "servings": (("serves", "servings", "yield", "makes"), ()),
    "times": (("prep", "cook", "total time", "ready in", "minutes", "mins"), ()),
}


class OverlayBox(BaseModel):
    points: list[tuple[float, float]]  # four corners in preview pixels, clockwise from top-left
    text: str
    field: str | None                  # the result field this line fed, if one matched


class Overlay(BaseModel):
    image: str  # data: URL of the upright preview the boxes are drawn on
    width: int
    height: int
    boxes: list[OverlayBox]


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"[^\w.%/ ]+", " ", text.lower())).strip()


def _texts(value: Any) -> Iterable[str]:
    """The strings a field's value holds (ingredient objects give their original text)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, dict):
                yield str(item.get("original_text") or item.get("name") or "")
            else:
                yield from _texts(item)


def _numbers(value: Any) -> list[str]:
    if isinstance(value, bool):
        return []
    if isinstance(value, int | float):
        return [f"{value:g}"]
    if isinstance(value, dict):
        return [n for v in value.values() for n in _numbers(v)]
    return []


def _text_match(line: str, needles: Sequence[str]) -> bool:
    if len(line) < _MIN_MATCH_CHARS:
        return False
    return any(line in n or (len(n) >= _MIN_MATCH_CHARS and n in line) for n in needles)


def _label_match(name: str, line: str) -> bool:
    words, unless = _LABEL_WORDS.get(name, ((), ()))
    return any(w in line for w in words) and not any(u in line for u in unless)


def _same_row(a: OcrLine, b: OcrLine) -> bool:
    return abs(a.center_y - b.center_y) <= 0.6 * max(a.height, b.height, 1.0)


def fields_of_lines(lines: Sequence[OcrLine], result: dict[str, Any]) -> list[str | None]:
    """For each OCR line, the result field it fed (first match in the result's field order), or None."""
    normed = [_norm(line.text) for line in lines]
    owner: list[str | None] = [None] * len(lines)
    for name, value in result.items():
        needles = [_norm(t) for t in _texts(value) if t]
        numbers = _numbers(value)
        for i, text in enumerate(normed):
            if owner[i] is None and needles and _text_match(text, needles):
                owner[i] = name
        if not numbers and name not in ("serving_size",):
            continue
        labels = [i for i, text in enumerate(normed) if owner[i] is None and _label_match(name, text)]
        for i in labels:
            owner[i] = name
            for j, other in enumerate(lines):  # the value may be a separate box on the label's row
                if owner[j] is None and _same_row(lines[i], other) and any(n in normed[j] for n in numbers):
                    owner[j] = name
    return owner


def _preview(image: Image.Image, rotation: int) -> tuple[Image.Image, str]:
    upright = upright_image(image, rotation)
    upright.thumbnail((PREVIEW_MAX_SIDE, PREVIEW_MAX_SIDE))
    out = io.BytesIO()
    upright.convert("RGB").save(out, format="JPEG", quality=80)
    return upright, "data:image/jpeg;base64," + base64.b64encode(out.getvalue()).decode()


def build_overlay(image: Image.Image, ocr: OcrResult, result: dict[str, Any] | None) -> Overlay:
    """The preview (upright, as OCR read it) and every OCR line's box scaled onto it."""
    preview, url = _preview(image, ocr.rotation)
    scale = preview.width / ocr.width if ocr.width else 1.0
    owners = fields_of_lines(ocr.lines, result or {})
    boxes = [OverlayBox(points=[(round(x * scale, 1), round(y * scale, 1)) for x, y in line.box],
                        text=line.text, field=owner)
             for line, owner in zip(ocr.lines, owners, strict=True)]
    return Overlay(image=url, width=preview.width, height=preview.height, boxes=boxes)
