"""Servings and times of a recipe page: "Serves 4", "Makes 12", "Prep time: 5 min", "Cook 1 hr 15 mins".

Read only from metadata-shaped text: a line is cut at separators ("|", "/", "•", ";", wide gaps) into
segments, and a label counts when its segment is short or the label opens it, and the duration is not
followed by more of a sentence. So "cook the onion for 10 minutes, stirring" inside a step is not a cook
time, and the step keeps its words.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

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
# Metadata segments are separated by bars, slashes, bullets, semicolons or wide spaces.
SEGMENT_SPLIT = re.compile(r"\s*(?:[|•·;]|\s/\s|\s{3,})\s*")
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
