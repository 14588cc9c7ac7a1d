"""A recipe page's title: the most prominent line that could be one, with the lines of the same type size
stacked right above or below it (titles wrap onto two or three lines)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from statistics import median

from models_processor.ocr.base import OcrLine
from models_processor.parsing.quantities import starts_with_quantity
from models_processor.parsing.recipe_lines import header_kind, is_group_header
from models_processor.parsing.recipe_meta import SERVINGS_LABEL, TIME_LABELS, meta_only

# A title is shown to users as is: only confidently read lines qualify.
TITLE_MIN_SCORE = 0.7
# Most lines a wrapped title takes.
MAX_TITLE_LINES = 3


def prominence(line: OcrLine) -> float:
    """Box height times average character width; the width is capped at one height so spaced-out
    garbage or letter-spaced text cannot outrank large type."""
    chars = max(1, len(line.text.replace(" ", "")))
    return line.height * min((line.right - line.left) / chars, line.height)


def title_candidate(text: str) -> bool:
    words = text.split()
    return (1 <= len(words) <= 10 and len(re.findall(r"[A-Za-z]", text)) >= 3
            and header_kind(text) is None and not starts_with_quantity(text) and not is_group_header(text)
            and not text.rstrip().endswith((".", ",", ":", ";")) and not re.search(r"\d\s*(?:min|hour|h)\b", text, re.I)
            and not is_meta_label(text))


def is_meta_label(text: str) -> bool:
    """"SERVINGS", "Prep Time", "PREP TIME COOK TIME": a recipe card's labels, never its title."""
    t = text.strip()
    return SERVINGS_LABEL.match(t) is not None or meta_only(t) or \
        any((m := label.match(t)) is not None and not t[m.end():].strip() for _, label in TIME_LABELS)


def title_case(text: str) -> str:
    letters = [ch for ch in text if ch.isalpha()]
    if letters and all(ch.isupper() for ch in letters):
        return " ".join(w[:1].upper() + w[1:].lower() for w in text.split())
    return text


def continues_title(upper: OcrLine, lower: OcrLine) -> bool:
    """Two lines of one title: same type size, stacked closely, starting near the same x or centred."""
    # OCR boxes of one type size differ in height with ascenders and descenders ("and Rosemary
    # Potatoes" is a third taller than "Shoulder with Garlic"), hence the wide bounds.
    ratio = prominence(lower) / max(prominence(upper), 1e-6)
    same_size = 0.65 <= ratio <= 1.55 and 0.7 <= lower.height / max(upper.height, 1e-6) <= 1.45
    gap = lower.top - upper.bottom
    aligned = abs(lower.left - upper.left) < 1.5 * upper.height or \
        abs((lower.left + lower.right) - (upper.left + upper.right)) < 3 * upper.height
    return same_size and aligned and -0.5 * upper.height <= gap <= 0.8 * upper.height


def find_title(lines: Sequence[OcrLine], skip: set[int]) -> tuple[str | None, set[int]]:
    """The most prominent candidate line (and same-size lines right above or below it)."""
    cands = [i for i, ln in enumerate(lines)
             if i not in skip and ln.score >= TITLE_MIN_SCORE and title_candidate(ln.text)]
    if not cands:
        return None, set()
    body = median(prominence(ln) for ln in lines)
    best = max(cands, key=lambda i: prominence(lines[i]))
    if prominence(lines[best]) < 1.3 * body:
        best = cands[0]  # nothing stands out: the first plausible line of the page
    first = last = best
    while first - 1 in cands and last - first < MAX_TITLE_LINES - 1 and continues_title(lines[first - 1], lines[first]):
        first -= 1
    while last + 1 in cands and last - first < MAX_TITLE_LINES - 1 and continues_title(lines[last], lines[last + 1]):
        last += 1
    used = set(range(first, last + 1))
    if any(_beside(lines[k], ln) for k in used for j, ln in enumerate(lines) if j not in used):
        return None, used  # the title's row goes on in its type size (a word lost to glare): not read whole
    return title_case(" ".join(lines[k].text for k in range(first, last + 1))), used


def _beside(title: OcrLine, other: OcrLine) -> bool:
    """`other` sits on the title's row, in the same type size, a few letters away: part of the title that OCR
    read as a separate box (the gap where glare or a crease wiped a word out)."""
    same_row = abs(other.center_y - title.center_y) < 0.4 * title.height
    same_size = 0.7 <= other.height / max(title.height, 1e-6) <= 1.4
    gap = max(other.left - title.right, title.left - other.right)
    return same_row and same_size and gap < 4 * title.height
