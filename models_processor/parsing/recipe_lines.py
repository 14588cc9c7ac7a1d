"""What one line of a recipe page is, by its shape: a section header, a group header, a numbered step, an
ingredient, a list line, a running header or footer, a nutrition line, or noise."""

from __future__ import annotations

import re
from collections.abc import Sequence
from enum import Enum
from statistics import median

from models_processor.ocr.base import OcrLine
from models_processor.parsing.quantities import lookup_unit, starts_with_quantity
from models_processor.parsing.recipe_meta import ICON_GLYPH, duration_span


class Section(Enum):
    """Where the reader is on the page; set by headers and by the shape of the lines."""

    NONE = "none"
    INGREDIENTS = "ingredients"
    INSTRUCTIONS = "instructions"
    NOTES = "notes"
    OTHER = "other"  # an unknown section ("ANTIPASTI", a chapter tab): its text is not a step


MIN_SCORE = 0.5
INGREDIENT_HEADER = re.compile(r"^(?:the\s+)?ingredients?\s*(?:list)?\s*:?$|^you(?:'ll| will) need:?$|"
                               r"^what you need:?$|^shopping list:?$", re.I)
METHOD_HEADER = re.compile(r"^(?:method|directions?|instructions?|preparation|steps?|procedure|"
                           r"how to (?:make|cook|prepare)(?: it)?|to make|cooking instructions?)\s*:?$", re.I)
NOTE_HEADER = re.compile(r"^(?:notes?|tips?|variations?|cook'?s notes?|chef'?s tips?|hints?|make ahead|"
                         r"storage|to store|substitutions?|scaling|serving suggestions?|freezing)\s*:?$", re.I)
# A nutrition panel under a recipe card ("Nutrition", "Nutrition Facts", "Nutritional information"): its own
# section, never part of the last step.
NUTRITION_HEADER = re.compile(r"^(?:nutrition(?:al)?(?:\s+(?:facts|info(?:rmation)?|per serving))?|nutrition "
                              r"(?:values|data))\s*:?$", re.I)
# "Note: ..." / "Tip: ..." inline.
NOTE_INLINE = re.compile(r"^(?:notes?|tips?|variations?|cook'?s note|hint)\s*[:\-–]\s*(?P<text>.+)$", re.I)
# An ingredient group's header in any case: "For the sauce:", "FOR THE TOPPING", "To serve", "Filling:".
GROUP_HEADER = re.compile(r"^(?:for|to)\s+(?:the\s+)?[a-z][\w'-]*(?:\s+[\w'-]+){0,3}\s*:?$|^[A-Za-z][\w' -]{2,30}:$",
                          re.I)
# A step number; "1.5 kg" is a decimal, not step 1.
STEP_NUMBER = re.compile(r"^(?:step\s*)?(?P<n>\d{1,2})(?![.,]\d)\s*(?:[.):]|\s)\s*(?=\S)", re.I)
SENTENCE_END = re.compile(r"[.!?)]\s*$|[.!?][\"'’”]\s*$")
# "Per serving: 320 kcal, 12g fat ..." printed under a recipe: nutrition, not a step.
NUTRITION_LINE = re.compile(r"^(?:nutrition(?:al)?(?: info(?:rmation)?)?|per serv(?:ing|e)|each serving)\b.*\d"
                            r"|\b\d+\s*(?:kcal|cal(?:ories)?)\b.*\b\d+\s*g\b", re.I)
# A running header or footer: a page number with a chapter or book name ("130 Traybakes", "Baking 64").
RUNNING_LINE = re.compile(r"^\d{1,4}\s+\D{2,40}$|^\D{2,40}\s+\d{1,4}$|^\d{1,4}$")
# Share of the text's height at the top and bottom of the page where running lines sit.
MARGIN_BAND = 0.06


def clean(text: str) -> str:
    text = text.replace("℃", "°C").replace("℉", "°F")
    # Bullets, and the check boxes of blog recipe cards ("☐ 2 cups flour").
    text = re.sub(r"^[\s•·›»▪■●◦*\-–—☐□▢◻☑✓✔○]+(?=\S)", "", text)
    text = re.sub(r"^[Il|]\.\s+(?=[A-Z][a-z])", "1. ", text)  # step "1." read as "I." / "l."
    return re.sub(r"\s+", " ", text).strip()


def is_noise(line: OcrLine) -> bool:
    text = line.text.strip()
    if line.score < MIN_SCORE or not re.search(r"[A-Za-z0-9]", text):
        return True
    if re.fullmatch(r"\d{1,3}", text):
        return True  # page numbers
    words = text.split()
    # Numbers are not fragments: "Serves 2 ~ Total 1 hr 45 mins" is metadata, not a smudge.
    fragments = sum(len(w) <= 2 and not w.isdigit() for w in words)
    if len(words) >= 4 and fragments > 0.6 * len(words) and not starts_with_quantity(text):
        return True  # letters read from texture or a blurred smudge ("Be s t t td t u tme")
    # Text running vertically (a side tab): the box is much taller than wide.
    return len(text) >= 3 and line.height > 1.5 * (line.right - line.left)


def running_lines(lines: Sequence[OcrLine]) -> set[int]:
    """Indexes of running headers/footers: in the page's top or bottom band, a page number beside a
    capitalised chapter or book name, set apart from the text (narrower type, or a wide gap around it)."""
    if len(lines) < 4:
        return set()
    top, bottom = min(ln.top for ln in lines), max(ln.bottom for ln in lines)
    band = MARGIN_BAND * (bottom - top)
    body = median(ln.height for ln in lines)
    body_width = median(_char_width(ln) for ln in lines)
    out = set()
    for i, ln in enumerate(lines):
        text = clean(ln.text)
        m = RUNNING_LINE.match(text)
        if m is None or not (ln.top <= top + band or ln.bottom >= bottom - band) or ln.height > 1.2 * body:
            continue
        words = re.sub(r"\d", "", text).split()
        if words and not words[0][:1].isupper():
            continue  # "2 carrots, diced" at the foot of a list
        gap = min((abs(o.top - ln.bottom) if o.top >= ln.bottom else abs(ln.top - o.bottom)
                   for o in lines if o is not ln), default=0.0)
        if _char_width(ln) <= 0.88 * body_width or gap >= 2 * ln.height:
            out.add(i)
    return out


def _char_width(line: OcrLine) -> float:
    """Type size from the box's average character width: OCR pads small print more than body text in
    height, so heights hide the difference while widths keep it."""
    return (line.right - line.left) / max(1, len(line.text.replace(" ", "")))


def starts_with_unit(text: str) -> bool:
    """"130 g flour" is an ingredient even at the top of a page."""
    words = text.split()
    return len(words) >= 2 and lookup_unit(words[1]) is not None


def header_kind(text: str) -> Section | None:
    t = text.strip().strip(":").strip()
    if INGREDIENT_HEADER.match(t):
        return Section.INGREDIENTS
    if METHOD_HEADER.match(t):
        return Section.INSTRUCTIONS
    if NOTE_HEADER.match(t):
        return Section.NOTES
    if NUTRITION_HEADER.match(t):
        return Section.OTHER
    return None


def is_caps_header(text: str) -> bool:
    letters = [ch for ch in text if ch.isalpha()]
    return (len(letters) >= 3 and all(ch.isupper() for ch in letters) and len(text.split()) <= 4
            and not re.search(r"\d", text))


def is_group_header(text: str) -> bool:
    """A sub-heading inside an ingredient list ("For the sauce:"): short, no digits, no sentence."""
    return (len(text.split()) <= 5 and not re.search(r"\d", text) and GROUP_HEADER.match(text.strip()) is not None
            and header_kind(text) is None)


def is_step_start(text: str) -> bool:
    """A numbered step: the number is followed by a capitalised word (not a unit) and the line reads
    as a sentence ("1 Preheat the oven.", "2) Mix well", "Step 3: ...")."""
    m = STEP_NUMBER.match(text)
    if not m:
        return False
    rest = text[m.end():]
    first = rest.split()[0] if rest.split() else ""
    if lookup_unit(first) is not None:
        return False
    explicit = bool(re.match(r"^(?:step\s*)?\d{1,2}\s*[.):]", text, re.I))
    return (first[:1].isupper() and (explicit or len(text.split()) >= 5 or SENTENCE_END.search(text) is not None)) \
        or (explicit and len(rest.split()) >= 4)


def strip_step_number(text: str) -> str:
    m = STEP_NUMBER.match(text)
    return text[m.end():].strip() if m else text


def ends_sentence(text: str) -> bool:
    return SENTENCE_END.search(text) is not None


def is_nutrition_line(text: str) -> bool:
    return NUTRITION_LINE.search(text) is not None


def is_duration(text: str) -> bool:
    """A line that is only a duration ("25 min", "1 hr 5 mins"): a time, never an ingredient."""
    text = ICON_GLYPH.sub("", text.strip())
    span = duration_span(text)
    return span is not None and not text[span[1]:].strip(" .")


def is_ingredient_line(text: str) -> bool:
    return starts_with_quantity(text) and not is_step_start(text) and len(text.split()) <= 12 \
        and not is_nutrition_line(text) and not is_duration(text)


def is_list_line(text: str) -> bool:
    """A short line that is not a sentence: the shape of an unnumbered ingredient."""
    return len(text.split()) <= 7 and not ends_sentence(text) and not is_caps_header(text)


def join(parts: Sequence[str]) -> str:
    out = ""
    for p in parts:
        if out.endswith("-") and p[:1].islower():
            out = out[:-1] + p  # a word hyphenated across lines
        else:
            out = f"{out} {p}" if out else p
    return out.strip()
