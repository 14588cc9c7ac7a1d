"""Photo requests: intake -> OCR -> classify -> deterministic parser -> model fallback -> merge.

The models are called only when parsing leaves critical fields missing: first the text model on the OCR
lines, then the vision model on the photo, in the order PHOTO_FALLBACK_ORDER sets (pipeline/fallback.py);
food photos, which have nothing to read, go to the vision model directly. When a model cannot be reached,
the answer is what was found without it, the missing fields marked `missing` and a warning saying why.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from PIL import Image
from pydantic import BaseModel

from ..config import Settings
from ..deadline import Deadline
from ..errors import ErrorCode, ProcessingError
from ..images import decode_photo, encode_for_model
from ..llm.base import VisionModel
from ..llm.prompts import NUTRITION_LABEL_INSTRUCTION, RECIPE_INSTRUCTION, food_instruction
from ..messages import Request, RequestKind, Response, ResultKind, Source
from ..metrics import Metrics
from ..ocr.base import OcrEngine, OcrResult
from ..ocr.orientation import upright_image
from ..parsing.classify import classify
from ..parsing.nutrition import ParsedNutrition, parse_nutrition_label
from ..parsing.recipe import ParsedRecipe, parse_recipe
from ..schemas import CRITICAL_FIELDS, FoodResult, NutritionLabelResult, RecipeResult
from ..tracing import span
from .fallback import FallbackModels, FallbackOutcome, PhotoFallback, fallback_order
from .merge import is_empty, keep_partial, merge

log = logging.getLogger(__name__)

_RESULT_MODELS: dict[ResultKind, type[BaseModel]] = {
    ResultKind.RECIPE: RecipeResult, ResultKind.NUTRITION_LABEL: NutritionLabelResult, ResultKind.FOOD: FoodResult,
}
_INSTRUCTIONS = {ResultKind.RECIPE: RECIPE_INSTRUCTION, ResultKind.NUTRITION_LABEL: NUTRITION_LABEL_INSTRUCTION}


@dataclass
class _Timer:
    started: float = field(default_factory=time.monotonic)
    stages: dict[str, int] = field(default_factory=dict)

    def lap(self, stage: str, since: float) -> float:
        now = time.monotonic()
        self.stages[stage] = int((now - since) * 1000)
        return now


class PhotoPipeline:
    def __init__(self, settings: Settings, ocr: OcrEngine, vision: VisionModel, metrics: Metrics, *,
                 text: VisionModel | None = None, use_llm: bool = True) -> None:
        """`text`: the text model asked for a result schema (ModelSet.structured_text); None leaves the text
        step out of PHOTO_FALLBACK_ORDER."""
        self._settings = settings
        self._ocr = ocr
        self._vision = vision
        self._metrics = metrics
        self._use_llm = use_llm
        self._fallback = PhotoFallback(fallback_order(settings.photo_fallback_order), FallbackModels(vision, text))

    def run(self, request: Request, *, request_id: str, deadline: Deadline) -> Response:
        timer = _Timer(started=deadline.started_at)
        mark = time.monotonic()
        assert request.photo is not None
        decoded = decode_photo(request.photo, max_bytes=self._settings.max_image_bytes,
                               max_pixels=self._settings.max_image_pixels,
                               min_side=max(self._settings.ocr_max_side, self._settings.llm_image_max_side))
        mark = timer.lap("decode", mark)

        if request.kind is RequestKind.FOOD:
            return _with_kind(ResultKind.FOOD, lambda: self._food(request, request_id, decoded.image, deadline, timer))

        deadline.check("ocr")
        with span("ocr"):
            ocr = self._ocr.recognize(decoded.image)
        mark = timer.lap("ocr", mark)
        if request.kind is RequestKind.AUTO:
            verdict = classify(ocr)
            kind = verdict.kind
            log.info("photo classified", extra={"result_kind": kind.value, "confidence": round(verdict.confidence, 2),
                                                "ocr_lines": len(ocr.lines)})
            if kind is ResultKind.FOOD:
                return _with_kind(kind, lambda: self._food(request, request_id, decoded.image, deadline, timer))
        else:
            kind = ResultKind(request.kind.value)
        return _with_kind(kind, lambda: self._read(request, request_id, kind, ocr, decoded.image, deadline, timer))

    def _read(self, request: Request, request_id: str, kind: ResultKind, ocr: OcrResult, image: Image.Image,
              deadline: Deadline, timer: _Timer) -> Response:
        """A recipe or a label: parse the OCR lines, then ask the fallback models for what is missing."""
        mark = time.monotonic()
        with span("parse", {"kind": kind.value}):
            parsed_result, found, partial = self._parse(kind, ocr)
        mark = timer.lap("parse", mark)
        critical = CRITICAL_FIELDS[kind.value]
        if self._use_llm:
            outcome = self._fallback.complete(
                parsed=parsed_result, found=found, critical=critical, ocr=ocr, instruction=_INSTRUCTIONS[kind],
                image_jpeg=lambda: encode_for_model(upright_image(image, ocr.rotation), self._settings.llm_image_max_side),
                deadline=deadline)
        else:
            outcome = FallbackOutcome(merge(parsed_result, found, None))
            missing = [f for f in critical if f not in found]
            if missing:
                outcome.warnings.append("model fallback not run (--no-llm); missing: " + ", ".join(missing))
        if outcome.asked:
            timer.lap("llm", mark)  # all model calls together, as before; per model below
            timer.stages.update(outcome.timings_ms)
        self._metrics.photo_fallback.labels(kind.value, "yes" if outcome.asked else "no").inc()
        merged = keep_partial(outcome.merged, partial)
        if merged.rejected:
            log.info("model values contradicted by OCR were dropped", extra={"fields": list(merged.rejected)})
        for source in merged.sources.values():
            self._metrics.field_sources.labels(kind.value, source.value).inc()
        timer.stages["total"] = int((time.monotonic() - timer.started) * 1000)
        response = Response.ok_photo(user_email=request.user_email, request_id=request_id, kind=kind,
                                     result=merged.result, sources=merged.sources,
                                     model=",".join(dict.fromkeys(outcome.models)) or None, timings_ms=timer.stages)
        if outcome.warnings:
            response.warnings = outcome.warnings
        return response

    def _parse(self, kind: ResultKind, ocr: OcrResult) -> tuple[BaseModel, set[str], frozenset[str]]:
        """The parsed result, the fields read and plausible, and the lists read only in part (the models
        may replace those)."""
        parsed: ParsedRecipe | ParsedNutrition
        if kind is ResultKind.RECIPE:
            parsed = parse_recipe(ocr)
        else:
            parsed = parse_nutrition_label(ocr)
        return parsed.result, set(parsed.found), parsed.partial

    def _food(self, request: Request, request_id: str, image: Image.Image, deadline: Deadline,
              timer: _Timer) -> Response:
        """Food photos have nothing to read: the vision model answers with the earlier service's schema."""
        if not self._use_llm:
            raise ProcessingError(ErrorCode.MODEL_UNAVAILABLE,
                                  "a food photo needs the vision model, and the model was turned off (--no-llm)")
        mark = time.monotonic()
        instruction = food_instruction(request.prompt, self._settings.max_prompt_chars)
        image_jpeg = encode_for_model(image, self._settings.llm_image_max_side)
        result, generation = self._vision.extract(image_jpeg=image_jpeg, result_model=FoodResult,
                                                  instruction=instruction, deadline=deadline)
        timer.lap("llm", mark)
        timer.stages["llm_vision"] = timer.stages["llm"]
        timer.stages["total"] = int((time.monotonic() - timer.started) * 1000)
        self._metrics.photo_fallback.labels("food", "vision_first").inc()
        data = result.model_dump()
        # Every field comes from the model; one it left empty is `missing`, as in merged results.
        sources = {name: (Source.MISSING if is_empty(data.get(name)) else Source.LLM_VISION)
                   for name in FoodResult.model_fields}
        return Response.ok_photo(user_email=request.user_email, request_id=request_id, kind=ResultKind.FOOD,
                                 result=data, sources=sources, model=generation.model,
                                 timings_ms=timer.stages)


def _with_kind(kind: ResultKind, answer: Callable[[], Response]) -> Response:
    """Run `answer`; a failure from here on carries the kind the photo was classified as, so the error
    answer says it (a food photo with the model off is still a food photo)."""
    try:
        return answer()
    except ProcessingError as error:
        error.result_kind = kind.value
        raise


def build_photo_pipeline(settings: Settings, vision: VisionModel, metrics: Metrics, *,
                         ocr: OcrEngine | None = None, text: VisionModel | None = None,
                         use_llm: bool = True) -> PhotoPipeline:
    from ..ocr.factory import build_ocr_engine

    return PhotoPipeline(settings, ocr or build_ocr_engine(settings), vision, metrics, text=text, use_llm=use_llm)
