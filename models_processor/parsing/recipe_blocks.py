"""Joining OCR lines into recipe items: wrapped ingredient lines into one ingredient, lines of a step or
paragraph into one step."""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import median

from models_processor.ocr.base import OcrLine
from models_processor.parsing.quantities import split_quantity, starts_with_quantity
from models_processor.parsing.recipe_lines import clean, ends_sentence, is_step_start, join, strip_step_number


@dataclass(frozen=True)
class Paragraph:
    text: str
    lines: tuple[OcrLine, ...]


def group_paragraphs(lines: Sequence[OcrLine], numbered: bool) -> list[str]:
    return [p.text for p in group_paragraph_lines(lines, numbered) if p.text]


def group_paragraph_lines(lines: Sequence[OcrLine], numbered: bool) -> list[Paragraph]:
    """Join OCR lines into steps: a new step starts at a number, or after a line that ends a sentence and
    is followed by a paragraph gap or is visibly short."""
    if not lines:
        return []
    right = max(ln.right for ln in lines)
    left = min(ln.left for ln in lines)
    width = max(right - left, 1.0)
    threshold = _paragraph_gap(lines)
    groups: list[list[tuple[str, OcrLine]]] = []
    prev: OcrLine | None = None
    for ln in lines:
        text = clean(ln.text)
        start = prev is None
        if prev is not None and numbered and is_step_start(text):
            start = True
        elif prev is not None and not numbered and ends_sentence(prev.text):
            gap = ln.top - prev.bottom
            short = (prev.right - left) < 0.8 * width
            start = gap > threshold or short
        if start:
            groups.append([(strip_step_number(text) if numbered else text, ln)])
        else:
            groups[-1].append((text, ln))
        prev = ln
    return [Paragraph(join([t for t, _ in g]), tuple(ln for _, ln in g)) for g in groups]


def _paragraph_gap(lines: Sequence[OcrLine]) -> float:
    """The vertical gap above which a new paragraph starts. OCR boxes are padded, so lines of one paragraph
    nearly touch while paragraphs are set apart: when the block's gaps fall into two groups the threshold is
    between them; when they are all alike they are either all paragraph breaks (one-line steps) or none."""
    height = median(ln.height for ln in lines)
    gaps = [g for a, b in itertools.pairwise(lines) for g in [b.top - a.bottom] if -height < g < 3 * height]
    if len(gaps) >= 2 and max(gaps) - min(gaps) > 0.25 * height:
        return min((min(gaps) + max(gaps)) / 2, 0.6 * height)
    return 0.35 * height


def group_ingredients(lines: Sequence[OcrLine]) -> list[str]:
    """Join wrapped ingredient lines: a line continues the previous one when it is indented, or does not
    start with a quantity and the previous line ended with a joining word or comma."""
    if not lines:
        return []
    base = min(ln.left for ln in lines)
    items: list[list[str]] = []
    prev: OcrLine | None = None
    for ln in lines:
        text = clean(ln.text)
        cont = False
        # A wrapped line starts below the previous one, not to the right of its end: a line beyond the
        # previous line's right edge is another column's item the layout kept in this row.
        if prev is not None and not starts_with_quantity(text) and ln.left < prev.right:
            indented = ln.left > base + 0.4 * ln.height and ln.left > prev.left - 0.2 * ln.height
            dangling = re.search(r"(?:,|\bor|\band|\bof|\bplus|-|\()\s*$", prev.text) is not None
            cont = indented or dangling or text.startswith("(")
        if cont and items:
            items[-1].append(text)
        else:
            items.append([text])
        prev = ln
    return [join(i) for i in items]


def is_bare_quantity(text: str) -> bool:
    """A cell that is only an amount ("200 g", "1/2 cup", "3"): the quantity column of a two-column list."""
    if not starts_with_quantity(text):
        return False
    return not split_quantity(text).rest.strip(" .,")


def pair_quantity_column(lines: Sequence[OcrLine]) -> list[OcrLine]:
    """Join a column of bare quantities to the names printed beside them on the same rows, so that
    "200 g" + "flour" reads "200 g flour" instead of all quantities and then all names. A quantity keeps
    its own line when no name sits right of it on its row."""
    joined: dict[int, OcrLine] = {}
    used: set[int] = set()
    quantities = [ln for ln in lines if is_bare_quantity(ln.text)]
    if len(quantities) < 2:
        return list(lines)
    for q in quantities:
        beside = [ln for ln in lines if id(ln) not in used and ln is not q and not is_bare_quantity(ln.text)
                  and abs(ln.center_y - q.center_y) < 0.5 * q.height and 0 <= ln.left - q.right < 12 * q.height]
        if not beside:
            continue
        name = min(beside, key=lambda ln: ln.left - q.right)
        used.add(id(name))
        box = ((q.left, min(q.top, name.top)), (name.right, min(q.top, name.top)),
               (name.right, max(q.bottom, name.bottom)), (q.left, max(q.bottom, name.bottom)))
        joined[id(q)] = OcrLine(f"{q.text} {name.text}", min(q.score, name.score), box)
    if len(joined) < 2:
        return list(lines)
    return [joined.get(id(ln), ln) for ln in lines if id(ln) not in used]


def attach_drop_caps(lines: Sequence[OcrLine]) -> list[OcrLine]:
    """A drop cap (one large capital beside the first lines of a paragraph: "C" + "rack the eggs ...") is
    put back at the start of the line it begins; the line's box then starts at the capital."""
    if len(lines) < 3:
        return list(lines)
    body = median(ln.height for ln in lines)
    out = list(lines)
    for cap in lines:
        if not (re.fullmatch(r"[A-Z]", cap.text.strip()) and cap.height >= 1.6 * body):
            continue
        beside = [ln for ln in out if ln is not cap and ln.text[:1].islower()
                  and -body < ln.left - cap.right < 2 * body and abs(ln.top - cap.top) < 0.6 * body]
        if not beside:
            continue
        first = min(beside, key=lambda ln: ln.top)
        (_, y0), (x1, y1), (x2, y2), (_, y3) = first.box
        box = ((cap.left, y0), (x1, y1), (x2, y2), (cap.left, y3))
        out[out.index(first)] = OcrLine(cap.text.strip() + first.text, first.score, box)
        out.remove(cap)
    return out
