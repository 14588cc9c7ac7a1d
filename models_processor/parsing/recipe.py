"""Recipe page from OCR lines -> RecipeResult.

How it reads a page (all rules are about shape, never about particular recipes):
- Lines are put in reading order by layout.reading_order (columns read one at a time); rotated side
  tabs, bare page numbers and very low-confidence boxes are dropped.
- Title: the most prominent line (box height times average character width, so large and wide display
  type wins over body text), that is not a section header, a metadata line, an ingredient or a
  sentence; a line directly below of the same size continues it (two-line titles). ALL-CAPS titles
  are returned in title case.
- Servings ("Serves 4", "Makes 12", "Yield: 8 servings", "for 4 people"; not "Makes 1 bread" or "Makes 24
  cookies", which count items) and times ("Prep time: 5 min",
  "Cooking: 1 hr 15 mins", "1h30") are read from any line; total time only when printed.
- Sections: headers ("Ingredients", "Method"/"Directions"/"Instructions"/"Preparation", "Note"/"Tip"/
  "Variation", other short ALL-CAPS lines) switch the section. Without headers, an ingredient block is a
  run of lines that start with a quantity, with continuation lines (indented, or not starting with a
  quantity after a line that did not end) and short list lines; steps are numbered lines ("1.", "1)",
  "Step 1", "1 Preheat...") or paragraphs after the title.
- Steps and notes are joined across OCR line breaks; a new step starts at a number, or after a line that
  ends a sentence and is followed by a paragraph gap or is visibly short.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from statistics import median
from typing import Optional, Sequence

from models_processor.ocr.base import OcrLine, OcrResult
from models_processor.parsing.layout import reading_order
from models_processor.parsing.quantities import parse_ingredient, starts_with_quantity, lookup_unit
from models_processor.schemas import Ingredient, RecipeResult, RecipeTimes

MIN_SCORE = 0.5
# A title is shown to users as is: only confidently read lines qualify.
TITLE_MIN_SCORE = 0.7

INGREDIENT_HEADER = re.compile(r"^(?:the\s+)?ingredients?\s*(?:list)?\s*:?$|^you(?:'ll| will) need:?$|"
                               r"^what you need:?$|^shopping list:?$", re.I)
METHOD_HEADER = re.compile(r"^(?:method|directions?|instructions?|preparation|steps?|procedure|"
                           r"how to (?:make|cook|prepare)(?: it)?|to make|cooking instructions?)\s*:?$", re.I)
NOTE_HEADER = re.compile(r"^(?:notes?|tips?|variations?|cook'?s notes?|chef'?s tips?|hints?|make ahead|"
                         r"storage|to store|substitutions?|scaling|serving suggestions?|freezing)\s*:?$", re.I)
# "Note: ..." / "Tip: ..." inline.
NOTE_INLINE = re.compile(r"^(?:notes?|tips?|variations?|cook'?s note|hint)\s*[:\-–]\s*(?P<text>.+)$", re.I)
STEP_NUMBER = re.compile(r"^(?:step\s*)?(?P<n>\d{1,2})\s*(?:[.):]|\s)\s*(?=\S)", re.I)

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
SENTENCE_END = re.compile(r"[.!?)]\s*$|[.!?][\"'’”]\s*$")


@dataclass(frozen=True)
class ParsedRecipe:
    result: RecipeResult
    found: set[str] = field(default_factory=set)


def parse_duration(text: str) -> Optional[int]:
    """Minutes of a duration at the start of text: "45 min", "1 hr 15 mins", "1.5 hours", "1h30"."""
    s = text.strip()
    m = DURATION_RE.match(s)
    if not m:
        return None
    if m.group("hh"):
        return int(m.group("hh")) * 60 + int(m.group("mm"))
    hours, minutes = m.group("h"), m.group("m")
    if hours is None and minutes is None:
        return None
    total = float(hours.replace(",", ".")) * 60 if hours else 0.0
    total += int(minutes) if minutes else 0
    return int(round(total))


def parse_times(lines: Sequence[str]) -> tuple[RecipeTimes, set[int]]:
    """Times from labelled durations; returns the indexes of the lines used."""
    found: dict[str, int] = {}
    used: set[int] = set()
    for i, text in enumerate(lines):
        for key, label in TIME_LABELS:
            if key in found:
                continue
            for m in label.finditer(text):
                minutes = parse_duration(text[m.end():])
                if minutes is not None:
                    found[key] = minutes
                    used.add(i)
                    break
    return RecipeTimes(**found), used


def parse_servings(lines: Sequence[str]) -> tuple[Optional[int], set[int]]:
    for i, text in enumerate(lines):
        if len(text.split()) > 8:
            continue  # in a sentence "makes 2 loaves" is narrative, not the yield line
        for pattern in SERVINGS_RES:
            m = pattern.search(text)
            if m:
                return int(m.group("n")), {i}
    return None, set()


def _is_noise(line: OcrLine) -> bool:
    text = line.text.strip()
    if line.score < MIN_SCORE or not re.search(r"[A-Za-z0-9]", text):
        return True
    if re.fullmatch(r"\d{1,3}", text):
        return True  # page numbers
    # Text running vertically (a side tab): the box is much taller than wide.
    return len(text) >= 3 and line.height > 1.5 * (line.right - line.left)


def _clean(text: str) -> str:
    text = text.replace("℃", "°C").replace("℉", "°F")
    text = re.sub(r"^[\s•·›»▪■●◦*\-–—]+(?=\S)", "", text)
    return re.sub(r"\s+", " ", text).strip()


def _header_kind(text: str) -> Optional[str]:
    t = text.strip().strip(":").strip()
    if INGREDIENT_HEADER.match(t):
        return "ingredients"
    if METHOD_HEADER.match(t):
        return "instructions"
    if NOTE_HEADER.match(t):
        return "notes"
    return None


def _is_caps_header(text: str) -> bool:
    letters = [ch for ch in text if ch.isalpha()]
    return (len(letters) >= 3 and all(ch.isupper() for ch in letters) and len(text.split()) <= 4
            and not re.search(r"\d", text))


def _is_step_start(text: str) -> bool:
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


def _strip_step_number(text: str) -> str:
    m = STEP_NUMBER.match(text)
    return text[m.end():].strip() if m else text


def _prominence(line: OcrLine) -> float:
    """Box height times average character width; the width is capped at one height so spaced-out
    garbage or letter-spaced text cannot outrank large type."""
    chars = max(1, len(line.text.replace(" ", "")))
    return line.height * min((line.right - line.left) / chars, line.height)


def _title_candidate(text: str) -> bool:
    words = text.split()
    return (1 <= len(words) <= 10 and len(re.findall(r"[A-Za-z]", text)) >= 3
            and _header_kind(text) is None and not starts_with_quantity(text)
            and not text.rstrip().endswith((".", ",", ":", ";")) and not re.search(r"\d\s*(?:min|hour|h)\b", text, re.I))


def _title_case(text: str) -> str:
    letters = [ch for ch in text if ch.isalpha()]
    if letters and all(ch.isupper() for ch in letters):
        return " ".join(w[:1].upper() + w[1:].lower() for w in text.split())
    return text


def find_title(lines: Sequence[OcrLine], skip: set[int]) -> tuple[Optional[str], set[int]]:
    """The most prominent candidate line (and a same-size line right below it)."""
    cands = [i for i, ln in enumerate(lines)
             if i not in skip and ln.score >= TITLE_MIN_SCORE and _title_candidate(ln.text)]
    if not cands:
        return None, set()
    body = median(_prominence(ln) for ln in lines)
    best = max(cands, key=lambda i: _prominence(lines[i]))
    if _prominence(lines[best]) < 1.3 * body:
        best = cands[0]  # nothing stands out: the first plausible line of the page
    first = last = best
    # Two- or three-line titles: neighbours in reading order of the same size, stacked closely.
    while first - 1 in cands and last - first < 2 and _continues_title(lines[first - 1], lines[first]):
        first -= 1
    while last + 1 in cands and last - first < 2 and _continues_title(lines[last], lines[last + 1]):
        last += 1
    used = set(range(first, last + 1))
    return _title_case(" ".join(lines[k].text for k in range(first, last + 1))), used


def _continues_title(upper: OcrLine, lower: OcrLine) -> bool:
    ratio = _prominence(lower) / max(_prominence(upper), 1e-6)
    same_size = 0.7 <= ratio <= 1.4 and 0.8 <= lower.height / max(upper.height, 1e-6) <= 1.25
    gap = lower.top - upper.bottom
    return same_size and -0.5 * upper.height <= gap <= 0.8 * upper.height


def _ends_sentence(text: str) -> bool:
    return SENTENCE_END.search(text) is not None


def _join(parts: Sequence[str]) -> str:
    out = ""
    for p in parts:
        if out.endswith("-") and p[:1].islower():
            out = out[:-1] + p  # a word hyphenated across lines
        else:
            out = f"{out} {p}" if out else p
    return out.strip()


def group_paragraphs(lines: Sequence[OcrLine], numbered: bool) -> list[str]:
    """Join OCR lines into steps/paragraphs (see module doc for the rule)."""
    if not lines:
        return []
    right = max(ln.right for ln in lines)
    left = min(ln.left for ln in lines)
    width = max(right - left, 1.0)
    groups: list[list[str]] = []
    prev: Optional[OcrLine] = None
    for ln in lines:
        text = _clean(ln.text)
        start = prev is None
        if not start and numbered and _is_step_start(text):
            start = True
        elif not start and not numbered and _ends_sentence(prev.text):
            gap = ln.top - prev.bottom
            short = (prev.right - left) < 0.8 * width
            start = gap > 0.6 * prev.height or short
        if start:
            groups.append([_strip_step_number(text) if numbered else text])
        else:
            groups[-1].append(text)
        prev = ln
    return [_join(g) for g in groups if _join(g)]


def group_ingredients(lines: Sequence[OcrLine]) -> list[str]:
    """Join wrapped ingredient lines: a line continues the previous one when it is indented, or does not
    start with a quantity and the previous line ended with a joining word or comma."""
    if not lines:
        return []
    base = min(ln.left for ln in lines)
    items: list[list[str]] = []
    prev: Optional[OcrLine] = None
    for ln in lines:
        text = _clean(ln.text)
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
    return [_join(i) for i in items]


def _is_ingredient_line(text: str) -> bool:
    return starts_with_quantity(text) and not _is_step_start(text) and len(text.split()) <= 12


def _is_list_line(text: str) -> bool:
    """A short line that is not a sentence: the shape of an unnumbered ingredient."""
    return len(text.split()) <= 7 and not _ends_sentence(text) and not _is_caps_header(text)


def parse_recipe(ocr: OcrResult) -> ParsedRecipe:
    lines = [ln for ln in reading_order(ocr.lines) if not _is_noise(ln)]
    lines = [OcrLine(_clean(ln.text), ln.score, ln.box) for ln in lines]
    texts = [ln.text for ln in lines]
    times, time_idx = parse_times(texts)
    servings, serv_idx = parse_servings(texts)
    meta = time_idx | serv_idx
    title, title_idx = find_title(lines, meta)
    title_pos = min(title_idx) if title_idx else -1

    ingredient_lines: list[OcrLine] = []
    step_blocks: list[tuple[list[OcrLine], bool]] = []  # (lines, numbered)
    note_blocks: list[list[OcrLine]] = []
    section: Optional[str] = None  # set by headers
    has_method_header = any(_header_kind(t) == "instructions" for t in texts)
    seen_ingredients_after_title = False
    headers = [(k, ln) for ln, t in zip(lines, texts) for k in [_header_kind(t)] if k in ("ingredients", "instructions")]
    side_by_side = any(a[0] != b[0] and (a[1].right < b[1].left or b[1].right < a[1].left)
                       and abs(a[1].center_y - b[1].center_y) < 2 * max(a[1].height, b[1].height)
                       for a in headers for b in headers)
    i = 0
    while i < len(lines):
        ln, text = lines[i], texts[i]
        if i > 0 and ln.top < lines[i - 1].top - 2 * ln.height and section in ("notes", "other"):
            section = None  # reading order jumped to the top of a new column: a sidebar has ended
        if i in meta or i in title_idx:
            i += 1
            continue
        kind = _header_kind(text)
        if kind is not None:
            section = kind
            if kind == "notes":
                note_blocks.append([])
            i += 1
            continue
        inline_note = NOTE_INLINE.match(text)
        if inline_note:
            section = "notes"
            note_blocks.append([OcrLine(inline_note.group("text"), ln.score, ln.box)])
            i += 1
            continue
        if _is_caps_header(text):
            # A sub-heading inside ingredients/method ("FOR THE SAUCE") keeps the section; elsewhere an
            # unknown section starts ("ANTIPASTI", a chapter tab) whose text is not taken as steps.
            if section not in ("ingredients", "instructions"):
                section = "other"  # an unknown section ("ANTIPASTI", a chapter tab): its text is not a step
            i += 1
            continue
        if side_by_side and section in ("ingredients", "instructions"):
            # Headers side by side ("Ingredients | Directions"): a line belongs to the nearest header
            # above it in its own column, whatever order the columns were read in.
            section_here = _column_section(ln, headers)
            if section_here != section:
                if section_here is None:
                    i += 1  # above/outside every headed column (an intro beside the list): leave it
                    continue
                if section_here == "ingredients":
                    ingredient_lines.append(ln)
                elif step_blocks and step_blocks[-1][0][-1] is lines[i - 1]:
                    step_blocks[-1][0].append(ln)
                else:
                    step_blocks.append(([ln], False))
                i += 1
                continue
        if section == "notes":
            note_blocks[-1].append(ln)
        elif section == "ingredients":
            ingredient_lines.append(ln)
        elif section == "instructions":
            if step_blocks and step_blocks[-1][0][-1] is lines[i - 1]:
                step_blocks[-1][0].append(ln)
            else:
                step_blocks.append(([ln], False))
        elif _is_ingredient_line(text):
            # A headerless ingredient block: quantity lines plus their continuations and short list lines.
            block = [ln]
            j = i + 1
            while j < len(lines) and j not in meta and j not in title_idx and _header_kind(texts[j]) is None \
                    and not _is_caps_header(texts[j]) and not _is_step_start(texts[j]) \
                    and (lines[j].top - lines[j - 1].bottom) < 2.5 * lines[j - 1].height \
                    and (_is_ingredient_line(texts[j]) or _is_list_line(texts[j])
                         or lines[j].left > block[0].left + 0.4 * lines[j].height):
                block.append(lines[j])
                j += 1
            ingredient_lines.extend(block)
            if i > title_pos:
                seen_ingredients_after_title = True
            i = j
            continue
        elif _is_step_start(text):
            step_blocks.append(([ln], True))
            section = section if section == "other" else None
            # Continuation lines of a numbered step (no number of their own) follow it.
            j = i + 1
            while j < len(lines) and not _is_step_start(texts[j]) and _header_kind(texts[j]) is None \
                    and not _is_ingredient_line(texts[j]) and not _is_caps_header(texts[j]) \
                    and not _ends_sentence(texts[j - 1]):
                step_blocks[-1][0].append(lines[j])
                j += 1
            i = j
            continue
        elif step_blocks and step_blocks[-1][0][-1] is lines[i - 1] and not _ends_sentence(texts[i - 1]) \
                and section != "other" or (step_blocks and step_blocks[-1][0][-1] is lines[i - 1]
                                           and not step_blocks[-1][1] and not has_method_header):
            step_blocks[-1][0].append(ln)  # the next line of an open paragraph
        elif not has_method_header and 0 <= title_pos < i and not _is_list_line(text) \
                and (seen_ingredients_after_title or not _has_later_ingredients(texts, i)):
            # An unheaded paragraph after the title (and after any ingredient block that follows it).
            step_blocks.append(([ln], False))
        i += 1

    ingredients: list[Ingredient] = [parse_ingredient(t) for t in group_ingredients(ingredient_lines)]
    steps: list[str] = []
    for block, _ in step_blocks:
        steps.extend(group_paragraphs(block, any(_is_step_start(x.text) for x in block)))
    notes = [p for block in note_blocks for p in [_join([_clean(x.text) for x in block])] if p]
    result = RecipeResult(title=title, servings=servings, times=times, ingredients=ingredients,
                          instructions=steps, notes=notes)
    found = {name for name, ok in (
        ("title", title), ("servings", servings is not None), ("times", any(times.model_dump().values())),
        ("ingredients", ingredients), ("instructions", steps), ("notes", notes)) if ok}
    return ParsedRecipe(result=result, found=found)


def _column_section(line: OcrLine, headers: Sequence[tuple[str, OcrLine]]) -> Optional[str]:
    """Kind of the nearest header above `line` whose column it is in (the header's left edge is the
    rightmost one at or left of the line's start, give or take two line heights)."""
    above = [(k, h) for k, h in headers if h.bottom <= line.top + 0.5 * line.height
             and h.left <= line.left + 2 * line.height]
    if not above:
        return None
    col_left = max(h.left for _, h in above)
    same_col = [(k, h) for k, h in above if h.left >= col_left - 2 * line.height]
    return max(same_col, key=lambda kh: kh[1].top)[0]


def _has_later_ingredients(texts: Sequence[str], i: int) -> bool:
    """Whether a quantity line follows: then this paragraph is an introduction, not a step."""
    return any(_is_ingredient_line(t) for t in texts[i + 1:])
