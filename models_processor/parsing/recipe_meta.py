"""Servings and times of a recipe page: "Serves 4", "Makes 12", "Prep time: 5 min", "Cook 1 hr 15 mins".

Read only from metadata-shaped text: a line is cut at separators ("|", "/", "•", ";", wide gaps) into
segments, and a label counts when its segment is short or the label opens it, and the duration is not
followed by more of a sentence. So "cook the onion for 10 minutes, stirring" inside a step is not a cook
time, and the step keeps its words.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from models_processor.ocr.base import OcrLine
from models_processor.schemas import RecipeTimes

SERVING_WORDS = r"(?:servings?|portions?|people|persons|helpings?)"
SERVINGS_RES = (
    re.compile(r"\b(?:serves|servings?|se\w{0,3}ings?|portions?)\b\s*[:\-]?\s*(?:about\s*)?(?P<n>\d+)", re.I),
    # "Makes 12", "Yield: 8 servings"; but "MAKES 1 BREAD", "Makes 2 loaves", "Yield: 24 cookies" count
    # items, not servings (one loaf is not one serving): a yield is servings only when bare or followed by
    # a serving word.
    re.compile(rf"\b(?:yields?|makes)\b\s*[:\-]?\s*(?:about\s*)?(?P<n>\d+)(?:\s*-\s*\d+)?\s*"
               rf"(?:{SERVING_WORDS}\b|$|[.;,)])", re.I),
    re.compile(r"\b(?:for|feeds)\s+(?P<n>\d+)\s*(?:people|persons|servings|portions)\b", re.I),
    re.compile(r"\b(?P<n>\d+)\s*(?:servings|portions)\b", re.I),
)
TIME_LABELS = (
    ("prep_min", re.compile(r"\b(?:prep(?:aration)?|active)\.?\s*(?:time)?\s*[:\-]?\s*", re.I)),
    ("cook_min", re.compile(r"\b(?:c\w{1,2}k(?:ing)?|bak(?:e|ing)|roast(?:ing)?|fry(?:ing)?)\s*(?:time|t\w{0,2}e)?"
                            r"\s*[:\-]?\s*", re.I)),
    ("total_min", re.compile(r"\b(?:total|ready in|start to finish)\s*(?:time)?\s*[:\-]?\s*", re.I)),
)
DURATION_RE = re.compile(
    r"^(?P<hh>\d+)\s*h\s*(?P<mm>\d{1,2})\b"  # "1h30" first: the general form would match it empty
    r"|^(?:about\s*)?(?:(?P<h>\d+(?:[.,]\d+)?)\s*(?:-\s*\d+\s*)?(?:h|hr|hrs|hour|hours)\b\.?\s*(?:and\s*)?)?"
    r"(?:(?P<m>\d+)\s*(?:-\s*\d+\s*)?(?:m|min|mins|minute|minutes)\b\.?)?", re.I)
# Metadata segments are separated by bars, slashes, bullets, semicolons, tildes or wide spaces.
# OCR often reads a middle dot as a full stop between spaces ("Serves 10 . Prep 20 minutes").
SEGMENT_SPLIT = re.compile(r"\s*(?:[|•·;]|\s[/.~]\s|\s{3,})\s*")
# A segment longer than this reads as a sentence: its numbers are not servings or times.
META_MAX_WORDS = 8
# After a duration, metadata ends, or another label / bracket / separator follows; a sentence goes on.
AFTER_DURATION = re.compile(r"^\s*(?:$|[|/•·;()\-–+]|,\s*(?:[A-Z]|$)|[A-Z]|plus\b|and\b\s*\d)")
# A numbered step ("2. Bake 35 minutes") is never metadata.
NUMBERED = re.compile(r"^\s*(?:step\s*)?\d{1,2}\s*[.):]\s*[A-Za-z]", re.I)


def duration_span(text: str) -> tuple[int, int] | None:
    """(minutes, end offset) of a duration at the start of text: "45 min", "1 hr 15 mins", "1h30"."""
    s = text.lstrip()
    offset = len(text) - len(s)
    m = DURATION_RE.match(s)
    if not m:
        return None
    if m.group("hh"):
        return int(m.group("hh")) * 60 + int(m.group("mm")), offset + m.end()
    hours, minutes = m.group("h"), m.group("m")
    if hours is None and minutes is None:
        return None
    total = float(hours.replace(",", ".")) * 60 if hours else 0.0
    total += int(minutes) if minutes else 0
    return round(total), offset + m.end()


def parse_duration(text: str) -> int | None:
    """Minutes of a duration at the start of text: "45 min", "1 hr 15 mins", "1.5 hours", "1h30"."""
    span = duration_span(text)
    return span[0] if span else None


def segments(text: str) -> list[str]:
    return [s for s in SEGMENT_SPLIT.split(text) if s.strip()]


def _segment_times(segment: str) -> dict[str, int]:
    found: dict[str, int] = {}
    short = len(segment.split()) <= META_MAX_WORDS
    for key, label in TIME_LABELS:
        for m in label.finditer(segment):
            if not short and m.start() > 0:
                continue  # a label inside a long sentence
            span = duration_span(segment[m.end():])
            if span is None:
                continue
            minutes, end = span
            if AFTER_DURATION.match(segment[m.end() + end:]) is None:
                continue  # "bake 35 minutes until golden": narrative
            found.setdefault(key, minutes)
            break
    return found


def parse_times(lines: Sequence[str]) -> tuple[RecipeTimes, set[int]]:
    """Times from labelled durations on metadata-shaped lines; returns the indexes of the lines used."""
    found: dict[str, int] = {}
    used: set[int] = set()
    for i, text in enumerate(lines):
        if NUMBERED.match(text):
            continue
        for segment in segments(text):
            for key, minutes in _segment_times(segment).items():
                if key not in found:
                    found[key] = minutes
                    used.add(i)
    return RecipeTimes(**found), used


def parse_servings(lines: Sequence[str]) -> tuple[int | None, set[int]]:
    for i, text in enumerate(lines):
        for segment in segments(text):
            if len(segment.split()) > META_MAX_WORDS:
                continue  # in a sentence "makes 2 loaves" is narrative, not the yield line
            for pattern in SERVINGS_RES:
                m = pattern.search(segment)
                if m:
                    return int(m.group("n")), {i}
    return None, set()


# An icon before a label or value is read as one stray glyph ("0 40 min", "© PREP TIME").
ICON_GLYPH = re.compile(r"^(?:[0OoQ©®@¤]|[^\w\s])\s+(?=\S)")
SERVINGS_LABEL = re.compile(r"^(?:serves|servings?|portions?|yields?)\s*:?$", re.I)


def _value_below(lines: Sequence[OcrLine], i: int) -> int | None:
    """Index of the line printed right under line i and overlapping it sideways (an icon strip's value
    under its label: "PREP TIME" over "25 min")."""
    ln = lines[i]
    below = [j for j, o in enumerate(lines) if j != i and o.top >= ln.center_y
             and o.top - ln.bottom < 1.5 * ln.height and o.left < ln.right and o.right > ln.left]
    return min(below, key=lambda j: lines[j].top) if below else None


def stacked_meta(lines: Sequence[OcrLine]) -> tuple[dict[str, int], int | None, set[int]]:
    """Times and servings printed as a label with its value underneath (recipe cards' icon strips):
    (times by key, servings, indexes of the lines used). Only a bare duration or number counts as the value."""
    times: dict[str, int] = {}
    servings: int | None = None
    used: set[int] = set()
    for i, ln in enumerate(lines):
        text = ICON_GLYPH.sub("", ln.text.strip())
        keys = [key for key, label in TIME_LABELS if (m := label.match(text)) and not text[m.end():].strip()]
        is_servings = SERVINGS_LABEL.match(text) is not None
        if not keys and not is_servings:
            continue
        j = _value_below(lines, i)
        if j is None:
            continue
        value = ICON_GLYPH.sub("", lines[j].text.strip())
        span = duration_span(value)
        if keys and span is not None and not value[span[1]:].strip(" .") and keys[0] not in times:
            times[keys[0]] = span[0]
            used |= {i, j}
        number = re.fullmatch(r"(\d{1,3})(?:\s*(?:servings?|portions?|people))?", value, re.I)
        if is_servings and number and servings is None:
            servings = int(number.group(1))
            used |= {i, j}
    return times, servings, used


_META_VALUES = re.compile(r"\d+\s*(?:h|hrs?|hours?|m|mins?|minutes?)\b\.?|\d+\s*(?:servings?|portions?|people)\b|\d+", re.I)


def meta_only(text: str) -> bool:
    """A line holding nothing but time labels and time or serving values ("PREP TIME COOK TIME", "10 min 0 25
    min" when an icon strip's cells run together): metadata, never an ingredient or a step. A sentence
    ("and cook 10 min.") is not: it ends with a full stop or starts in lower case."""
    stripped = text.strip()
    if not re.search(r"[A-Za-z]", stripped) or stripped.endswith(".") or stripped[:1].islower():
        return False
    rest, labels = stripped, 0
    for _, label in TIME_LABELS:
        rest, n = label.subn(" ", rest)
        labels += n
    rest, values = _META_VALUES.subn(" ", rest)
    return bool(labels or values) and all(len(w) == 1 for w in rest.split() if re.search(r"\w", w))
