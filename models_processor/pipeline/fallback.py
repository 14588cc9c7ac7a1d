"""The model fallback of a photo: the models asked, in a configured order, for what OCR could not read.

- text: the OCR lines, with their positions, go to the text model with the kind's JSON Schema as `format`
  (no image: cheap, and the model cannot invent what is not printed); its values are tagged `llm-text`.
  Skipped when the OCR text is too poor to read anything from.
- vision: the photo (and the OCR text as context) goes to the vision model; its values are `llm-vision`.

Each step is asked only while critical fields are still missing, and each answer goes through the same
merge (pipeline/merge.py): values read by OCR or by an earlier step win, a model value contradicting them is
dropped, every field keeps its own source. A failed step is a warning, never an error: the next step runs and
the answer is what the steps before it found. PHOTO_FALLBACK_ORDER sets the order (docs/photos.md).
"""

from __future__ import annotations

import logging
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from pydantic import BaseModel

from ..deadline import Deadline
from ..llm.base import ModelCallError, VisionModel
from ..llm.prompts import ocr_lines_instruction, with_ocr_context
from ..messages import Source
from ..ocr.base import OcrLine, OcrResult
from .merge import Merged, merge

log = logging.getLogger(__name__)


class FallbackStep(StrEnum):
    TEXT = "text"
    VISION = "vision"


_SOURCES = {FallbackStep.TEXT: Source.LLM_TEXT, FallbackStep.VISION: Source.LLM_VISION}
# Stage names in `timings_ms`: the inspector and operators see which model the time went to.
_STAGES = {FallbackStep.TEXT: "llm_text", FallbackStep.VISION: "llm_vision"}

# OCR text a text model can work from: at least this many lines read with at least this confidence, and
# this many letters and digits in them. Below that (a blurred photo, a food photo asked for as a recipe)
# the text model could only guess, so the vision model is asked instead.
MIN_USABLE_LINES = 3
MIN_LINE_SCORE = 0.6
MIN_USABLE_CHARS = 40
# The OCR lines sent to the text model, bounded for num_ctx (about 4 characters a token).
MAX_LINES_CHARS = 6000


def fallback_order(setting: str) -> tuple[FallbackStep, ...]:
    """PHOTO_FALLBACK_ORDER ("text,vision") as steps; config.py has already checked the names."""
    return tuple(FallbackStep(step.strip()) for step in setting.split(",") if step.strip())


def ocr_text_is_usable(ocr: OcrResult) -> bool:
    confident = [line for line in ocr.lines if line.score >= MIN_LINE_SCORE]
    chars = sum(ch.isalnum() for line in confident for ch in line.text)
    return len(confident) >= MIN_USABLE_LINES and chars >= MIN_USABLE_CHARS


def ocr_lines_with_positions(ocr: OcrResult, max_chars: int = MAX_LINES_CHARS) -> str:
    """One OCR line a row, top to bottom then left to right, each with the position of its box as
    "[x=LEFT y=TOP h=HEIGHT]" in pixels: lines at the same y sit side by side (a label's value column, a
    second page column), and larger h marks titles."""
    rows = [f"[x={round(line.left)} y={round(line.top)} h={round(line.height)}] {line.text}"
            for line in _reading_order(ocr.lines)]
    text: list[str] = []
    used = 0
    for row in rows:
        if used + len(row) + 1 > max_chars:
            break
        text.append(row)
        used += len(row) + 1
    return "\n".join(text)


def _reading_order(lines: Sequence[OcrLine]) -> list[OcrLine]:
    """Rows top to bottom (a line whose middle is within half a typical line height of the row's first line
    joins that row), each row left to right."""
    if not lines:
        return []
    half = statistics.median(line.height for line in lines) / 2
    ordered: list[OcrLine] = []
    row: list[OcrLine] = []
    for line in sorted(lines, key=lambda item: item.center_y):
        if row and line.center_y - row[0].center_y > half:
            ordered.extend(sorted(row, key=lambda item: item.left))
            row = []
        row.append(line)
    ordered.extend(sorted(row, key=lambda item: item.left))
    return ordered


@dataclass
class FallbackOutcome:
    merged: Merged
    models: list[str] = field(default_factory=list)  # models whose answers were merged, in order
    asked: list[FallbackStep] = field(default_factory=list)  # steps whose model was called
    timings_ms: dict[str, int] = field(default_factory=dict)  # per step: llm_text, llm_vision
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class FallbackModels:
    """The models of the steps. `text` None: no text model was given, the text step is left out."""

    vision: VisionModel
    text: VisionModel | None


class PhotoFallback:
    def __init__(self, order: tuple[FallbackStep, ...], models: FallbackModels) -> None:
        self._order = tuple(s for s in order if s is not FallbackStep.TEXT or models.text is not None)
        self._models = models

    @property
    def order(self) -> tuple[FallbackStep, ...]:
        return self._order

    def complete(self, *, parsed: BaseModel, found: set[str], critical: tuple[str, ...], ocr: OcrResult,
                 instruction: str, image_jpeg: Callable[[], bytes], deadline: Deadline) -> FallbackOutcome:
        """Ask the steps in order while a critical field is missing. `image_jpeg` is called only when the
        vision model is asked (encoding the photo costs time)."""
        outcome = FallbackOutcome(merge(parsed, found, None))
        for step in self._order:
            missing = [f for f in critical if outcome.merged.sources.get(f) is Source.MISSING]
            if not missing:
                break
            if step is FallbackStep.TEXT and not ocr_text_is_usable(ocr):
                log.info("text fallback skipped: too little OCR text", extra={"ocr_lines": len(ocr.lines)})
                continue
            outcome.asked.append(step)
            started = time.monotonic()
            try:
                answer, model_name = self._ask(step, type(parsed), instruction, ocr, image_jpeg, deadline)
            except ModelCallError as exc:
                # The photo still gets what OCR and the other steps read; the requester learns why not more.
                log.warning("%s fallback failed", step.value, extra={"code": exc.code.value, "reason": exc.message})
                outcome.warnings.append(f"{step.value} fallback failed ({exc.code.value}): {exc.message}")
                continue
            finally:
                outcome.timings_ms[_STAGES[step]] = int((time.monotonic() - started) * 1000)
            outcome.merged = merge_answer(type(parsed), outcome.merged, answer, _SOURCES[step])
            outcome.models.append(model_name)
        return outcome

    def _ask(self, step: FallbackStep, result_model: type[BaseModel], instruction: str, ocr: OcrResult,
             image_jpeg: Callable[[], bytes], deadline: Deadline) -> tuple[BaseModel, str]:
        if step is FallbackStep.TEXT:
            assert self._models.text is not None  # left out of the order otherwise
            answer, generation = self._models.text.extract(
                image_jpeg=None, result_model=result_model, deadline=deadline,
                instruction=ocr_lines_instruction(instruction, ocr_lines_with_positions(ocr), ocr.width, ocr.height))
        else:
            answer, generation = self._models.vision.extract(
                image_jpeg=image_jpeg(), result_model=result_model, deadline=deadline,
                instruction=with_ocr_context(instruction, ocr.text))
        return answer, generation.model


def merge_answer(result_model: type[BaseModel], current: Merged, answer: BaseModel, source: Source) -> Merged:
    """Merge one model answer into what is known so far: fields known (by OCR or an earlier step) keep their
    value and source and are what the answer is checked against; the answer fills the rest."""
    known = {name for name, src in current.sources.items() if src is not Source.MISSING}
    step = merge(result_model.model_validate(current.result), known, answer, model_source=source)
    sources = {name: (current.sources[name] if name in known else src) for name, src in step.sources.items()}
    return Merged(step.result, sources, tuple(sorted({*current.rejected, *step.rejected})))
