"""Recipe page from OCR lines -> RecipeResult.

How it reads a page (all rules are about shape, never about particular recipes; docs/parsing.md):
- Lines are put in reading order by layout.reading_order (columns read one at a time); rotated side
  tabs, bare page numbers, very low-confidence boxes and running headers/footers ("130 Traybakes" in the
  page margin) are dropped.
- Servings and times come from metadata-shaped lines (recipe_meta); the title is the most prominent
  plausible line with its wrapped continuation (recipe_title).
- Then one pass over the lines with a named state (Section). Each line goes to the first reader that takes
  it: section headers switch the section; group headers ("For the sauce:") and nutrition lines ("Per
  serving: 320 kcal ...") are skipped; inside a headed section a line joins that section until its shape
  says otherwise (a sentence ends an ingredient list); without headers, an ingredient block is a run of
  quantity lines with their continuations, steps are numbered lines or paragraphs after the title and
  the ingredients.
- Steps and notes are joined across OCR line breaks (recipe_blocks).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from models_processor.ocr.base import OcrLine, OcrResult
from models_processor.parsing.checks import ILLEGIBLE, Checked, check_recipe, legible
from models_processor.parsing.layout import deskew, reading_order
from models_processor.parsing.quantities import parse_ingredient
from models_processor.parsing.recipe_blocks import (
    attach_drop_caps,
    group_ingredients,
    group_paragraph_lines,
    pair_quantity_column,
)
from models_processor.parsing.recipe_lines import (
    NOTE_INLINE,
    Section,
    clean,
    ends_sentence,
    header_kind,
    is_caps_header,
    is_group_header,
    is_ingredient_line,
    is_list_line,
    is_noise,
    is_nutrition_line,
    is_step_start,
    join,
    running_lines,
)
from models_processor.parsing.recipe_meta import meta_only, parse_duration, parse_servings, parse_times, stacked_meta
from models_processor.parsing.recipe_title import find_title
from models_processor.schemas import Ingredient, RecipeResult

__all__ = ["ParsedRecipe", "Section", "parse_duration", "parse_recipe", "parse_servings"]

# A line this long that does not start with a quantity reads as a sentence, not an ingredient.
SENTENCE_MIN_WORDS = 8
# A step is left out when this share of its words comes from lines OCR read below STEP_MIN_SCORE (a squeezed
# or washed-out line reads letters that are not there: "Fry he hlts n he butte" at 0.69; legible lines read
# 0.9 and more).
STEP_MIN_SCORE = 0.72
UNSURE_STEP_SHARE = 0.4
# An ingredient line with a fraction glyph read below STEP_MIN_SCORE: its amount is doubtful (OCR caps the
# score of a line whose fraction glyph it could not read again, ocr/fraction_pass.py), the list is partial.
FRACTION_GLYPH = re.compile("[½¼¾⅓⅔⅛⅜⅝⅞]")
# A wrapped ingredient's next line sits at most this many line heights below the previous one.
BLOCK_GAP = 2.5


@dataclass(frozen=True)
class ParsedRecipe:
    result: RecipeResult
    found: set[str] = field(default_factory=set)
    # Lists kept from OCR that failed some line checks: the model may replace them (checks.Checked).
    partial: frozenset[str] = frozenset()
    checked: Checked | None = None


@dataclass
class StepBlock:
    lines: list[OcrLine]
    numbered: bool


@dataclass
class PageReader:
    """The reading state of one page; the readers below move it forward line by line."""

    lines: list[OcrLine]
    skip: set[int]  # metadata, title and running lines: read elsewhere
    title_pos: int
    headers: list[tuple[Section, OcrLine]]
    section: Section = Section.NONE
    ingredient_lines: list[OcrLine] = field(default_factory=list)
    step_blocks: list[StepBlock] = field(default_factory=list)
    note_blocks: list[list[OcrLine]] = field(default_factory=list)
    seen_ingredients_after_title: bool = False
    section_top: float | None = None  # top of the current section's header line
    steps_at_header: int = 0  # step blocks read before the current section's header

    @property
    def texts(self) -> list[str]:
        return [ln.text for ln in self.lines]

    @property
    def has_method_header(self) -> bool:
        return any(kind is Section.INSTRUCTIONS for kind, _ in self.headers)

    @property
    def side_by_side(self) -> bool:
        """Ingredient and method headers beside each other ("Ingredients | Directions")."""
        return any(a[0] != b[0] and (a[1].right < b[1].left or b[1].right < a[1].left)
                   and abs(a[1].center_y - b[1].center_y) < 2 * max(a[1].height, b[1].height)
                   for a in self.headers for b in self.headers)

    def step_open(self, i: int) -> bool:
        """Whether the last step block ends with the previous line (so line i may continue it)."""
        return bool(self.step_blocks) and i > 0 and self.step_blocks[-1].lines[-1] is self.lines[i - 1]

    def add_step_line(self, i: int) -> None:
        if self.step_open(i):
            self.step_blocks[-1].lines.append(self.lines[i])
        else:
            self.step_blocks.append(StepBlock([self.lines[i]], False))

    def add_ingredients(self, i: int, block: Sequence[OcrLine]) -> None:
        self.ingredient_lines.extend(block)
        if i > self.title_pos:
            self.seen_ingredients_after_title = True


Reader = Callable[[PageReader, int], int | None]


def read_skipped(r: PageReader, i: int) -> int | None:
    return i + 1 if i in r.skip else None


def read_section_header(r: PageReader, i: int) -> int | None:
    kind = header_kind(r.lines[i].text)
    if kind is None:
        return None
    r.section = kind
    r.section_top = r.lines[i].top
    r.steps_at_header = len(r.step_blocks)
    if kind is Section.NOTES:
        r.note_blocks.append([])
    return i + 1


def read_inline_note(r: PageReader, i: int) -> int | None:
    ln = r.lines[i]
    m = NOTE_INLINE.match(ln.text)
    if not m:
        return None
    r.section = Section.NOTES
    r.note_blocks.append([OcrLine(m.group("text"), ln.score, ln.box)])
    return i + 1


def read_aside(r: PageReader, i: int) -> int | None:
    """Lines that are neither ingredients nor steps: nutrition lines, group headers, CAPS sub-headings."""
    text = r.lines[i].text
    if is_nutrition_line(text):
        return i + 1
    if is_group_header(text) and r.section is not Section.NOTES:
        return i + 1  # "For the sauce:" keeps the section it is in
    if is_caps_header(text):
        # A sub-heading inside ingredients/method ("FOR THE SAUCE") keeps the section; elsewhere an
        # unknown section starts ("ANTIPASTI", a chapter tab) whose text is not taken as steps.
        if r.section not in (Section.INGREDIENTS, Section.INSTRUCTIONS):
            r.section = Section.OTHER
        return i + 1
    return None


def read_side_by_side(r: PageReader, i: int) -> int | None:
    """Headers side by side: a line belongs to the nearest header above it in its own column, whatever
    order the columns were read in."""
    if not (r.section in (Section.INGREDIENTS, Section.INSTRUCTIONS) and r.side_by_side):
        return None
    here = _column_section(r.lines[i], r.headers)
    if here == r.section:
        return None
    if here is Section.INGREDIENTS:
        r.add_ingredients(i, [r.lines[i]])
    elif here is Section.INSTRUCTIONS:
        r.add_step_line(i)
    # None: above or outside every headed column (an intro beside the list): left out.
    return i + 1


def read_in_section(r: PageReader, i: int) -> int | None:
    """A line inside a headed section joins it, unless its shape ends the section: a numbered step or a
    sentence after an ingredient list (a method printed with no header of its own)."""
    text = r.lines[i].text
    if r.section is Section.NOTES:
        r.note_blocks[-1].append(r.lines[i])
        return i + 1
    if r.section is Section.INGREDIENTS:
        if is_step_start(text) or (r.ingredient_lines and _ends_ingredients(r, i)):
            r.section = Section.NONE
            return None
        r.add_ingredients(i, [r.lines[i]])
        return i + 1
    if r.section is Section.INSTRUCTIONS:
        if _above_header(r, i):
            # Printed above the method header, before any step: not the method. Columns read one at a time
            # can put an ingredient list's second column (or the rest of a row cut by glare) after the
            # header that sits under the first one. A method flowing into the next column comes after
            # steps, so it stays a step.
            if is_ingredient_line(r.lines[i].text) or is_list_line(r.lines[i].text):
                r.add_ingredients(i, [r.lines[i]])
        else:
            r.add_step_line(i)
        return i + 1
    return None


def _above_header(r: PageReader, i: int) -> bool:
    return (r.section_top is not None and bool(r.ingredient_lines) and len(r.step_blocks) == r.steps_at_header
            and r.lines[i].bottom <= r.section_top)


def _ends_ingredients(r: PageReader, i: int) -> bool:
    """A sentence-shaped line that neither starts with a quantity nor continues the previous item."""
    text, prev = r.lines[i].text, r.ingredient_lines[-1]
    if is_ingredient_line(text) or len(text.split()) < SENTENCE_MIN_WORDS:
        return False  # "Salt and freshly ground pepper." is still an ingredient
    indented = r.lines[i].left > prev.left + 0.4 * r.lines[i].height
    dangling = prev.text.rstrip().endswith((",", "-", "(", " or", " and", " of"))
    return not (indented or dangling)


def read_ingredient_block(r: PageReader, i: int) -> int | None:
    """A headerless ingredient block: quantity lines plus their continuations and short list lines."""
    lines, texts = r.lines, r.texts
    if (r.section is not Section.NONE and r.section is not Section.OTHER) or not is_ingredient_line(texts[i]):
        return None
    block = [lines[i]]
    j = i + 1
    while j < len(lines) and j not in r.skip and header_kind(texts[j]) is None \
            and not is_caps_header(texts[j]) and not is_step_start(texts[j]) and not is_nutrition_line(texts[j]) \
            and _below(lines[j - 1], lines[j]) \
            and (is_ingredient_line(texts[j]) or is_list_line(texts[j]) or is_group_header(texts[j])
                 or block[0].left + 0.4 * lines[j].height < lines[j].left < lines[j - 1].right):
        if not is_group_header(texts[j]):
            block.append(lines[j])
        j += 1
    r.add_ingredients(i, block)
    return j


def _below(upper: OcrLine, lower: OcrLine) -> bool:
    """`lower` is the next printed line under `upper` in the same column (not the top of the next column)."""
    gap = lower.top - upper.bottom
    return -2 * upper.height < gap < BLOCK_GAP * upper.height


def read_numbered_step(r: PageReader, i: int) -> int | None:
    lines, texts = r.lines, r.texts
    if not is_step_start(texts[i]):
        return None
    r.step_blocks.append(StepBlock([lines[i]], True))
    if r.section is not Section.OTHER:
        r.section = Section.NONE
    # Continuation lines of a numbered step (no number of their own) follow it.
    j = i + 1
    while j < len(lines) and j not in r.skip and not is_step_start(texts[j]) and header_kind(texts[j]) is None \
            and not is_ingredient_line(texts[j]) and not is_caps_header(texts[j]) \
            and not is_nutrition_line(texts[j]) and not ends_sentence(texts[j - 1]):
        r.step_blocks[-1].lines.append(lines[j])
        j += 1
    return j


def read_open_paragraph(r: PageReader, i: int) -> int | None:
    """The next line of an open paragraph step."""
    if not r.step_open(i):
        return None
    prev_text = r.lines[i - 1].text
    if (not ends_sentence(prev_text) and r.section is not Section.OTHER) \
            or (not r.step_blocks[-1].numbered and not r.has_method_header):
        r.step_blocks[-1].lines.append(r.lines[i])
        return i + 1
    return None


def read_paragraph(r: PageReader, i: int) -> int | None:
    """An unheaded paragraph after the title (and after any ingredient block that follows it)."""
    text = r.lines[i].text
    if r.has_method_header or not 0 <= r.title_pos < i or is_list_line(text):
        return None
    if not r.seen_ingredients_after_title and any(is_ingredient_line(t) for t in r.texts[i + 1:]):
        return None  # an introduction: the ingredients are still to come
    r.step_blocks.append(StepBlock([r.lines[i]], False))
    return i + 1


READERS: tuple[Reader, ...] = (read_skipped, read_section_header, read_inline_note, read_aside,
                               read_side_by_side, read_in_section, read_ingredient_block, read_numbered_step,
                               read_open_paragraph, read_paragraph)


def _read_page(r: PageReader) -> None:
    i = 0
    while i < len(r.lines):
        ln = r.lines[i]
        if i > 0 and ln.top < r.lines[i - 1].top - 2 * ln.height and r.section in (Section.NOTES, Section.OTHER):
            r.section = Section.NONE  # reading order jumped to the top of a new column: a sidebar has ended
        for reader in READERS:
            nxt = reader(r, i)
            if nxt is not None:
                i = nxt
                break
        else:
            i += 1  # a line no reader takes (text beside the recipe)


def parse_recipe(ocr: OcrResult) -> ParsedRecipe:
    if not legible(ocr):
        return ParsedRecipe(result=RecipeResult(), checked=Checked(found=set(), failed={"page": ILLEGIBLE}))
    ordered = [ln for ln in pair_quantity_column(reading_order(attach_drop_caps(deskew(ocr.lines))))
               if not is_noise(ln)]
    lines = [OcrLine(clean(ln.text), ln.score, ln.box) for ln in ordered]
    texts = [ln.text for ln in lines]
    times, time_idx = parse_times(texts)
    servings, serv_idx = parse_servings(texts)
    # Label-over-value strips are read from the boxes as OCR gave them: joined into rows, their cells run
    # together when the strip is squeezed (a curved card).
    stacked_times, stacked_servings, _ = stacked_meta(deskew(ocr.lines))
    times = times.model_copy(update={k: v for k, v in stacked_times.items() if getattr(times, k) is None})
    servings = servings if servings is not None else stacked_servings
    meta_lines = {i for i, t in enumerate(texts) if meta_only(t)}
    skip = time_idx | serv_idx | meta_lines | running_lines(lines)
    title, title_idx = find_title(lines, skip)
    headers: list[tuple[Section, OcrLine]] = [(k, ln) for ln in lines for k in [header_kind(ln.text)]
                                              if k in (Section.INGREDIENTS, Section.INSTRUCTIONS)]
    reader = PageReader(lines=lines, skip=skip | title_idx, title_pos=min(title_idx) if title_idx else -1,
                        headers=headers)
    _read_page(reader)
    ingredients: list[Ingredient] = [parse_ingredient(t) for t in group_ingredients(reader.ingredient_lines)]
    sure: list[str] = []
    every: list[str] = []
    for block in reader.step_blocks:
        for para in group_paragraph_lines(block.lines, any(is_step_start(x.text) for x in block.lines)):
            if para.text:
                every.append(para.text)
                if _unsure_share(para.lines) < UNSURE_STEP_SHARE:
                    sure.append(para.text)
    # Steps mostly read with low confidence are left out and the list is partial (the model is asked); when
    # no step is sure, they all stay as the partial list's text, since there is nothing better to keep.
    unsure = len(sure) < len(every)
    steps = sure or every
    notes = [p for block in reader.note_blocks for p in [join([clean(x.text) for x in block])] if p]
    result = RecipeResult(title=title, servings=servings, times=times, ingredients=ingredients,
                          instructions=steps, notes=notes)
    found = {name for name, ok in (
        ("title", title), ("servings", servings is not None), ("times", any(times.model_dump().values())),
        ("ingredients", ingredients), ("instructions", steps), ("notes", notes)) if ok}
    checked_result, checked = check_recipe(result, found)
    doubtful = {name for name, ok in (
        ("instructions", unsure and checked_result.instructions),
        ("ingredients", checked_result.ingredients and any(
            ln.score < STEP_MIN_SCORE and FRACTION_GLYPH.search(ln.text) for ln in reader.ingredient_lines)),
    ) if ok}
    if doubtful:
        checked = Checked(found=checked.found - doubtful, failed=checked.failed, partial=checked.partial | doubtful)
    return ParsedRecipe(result=checked_result, found=checked.found, partial=checked.partial, checked=checked)


def _unsure_share(lines: Sequence[OcrLine]) -> float:
    words = [(len(ln.text.split()), ln.score) for ln in lines]
    total = sum(n for n, _ in words)
    return sum(n for n, score in words if score < STEP_MIN_SCORE) / total if total else 0.0


def _column_section(line: OcrLine, headers: Sequence[tuple[Section, OcrLine]]) -> Section | None:
    """Kind of the nearest header above `line` whose column it is in (the header's left edge is the
    rightmost one at or left of the line's start, give or take two line heights)."""
    above = [(k, h) for k, h in headers if h.bottom <= line.top + 0.5 * line.height
             and h.left <= line.left + 2 * line.height]
    if not above:
        return None
    col_left = max(h.left for _, h in above)
    same_col = [(k, h) for k, h in above if h.left >= col_left - 2 * line.height]
    return max(same_col, key=lambda kh: kh[1].top)[0]
