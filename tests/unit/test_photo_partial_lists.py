"""Honest per-field sources through the photo pipeline: a list whose OCR lines partly fail the parser's
checks is sent to the model (which replaces it), and is answered from OCR's good lines, tagged `ocr`, when no
model answers; an implausible label value is `missing`, never `ocr`. The real Ollama client talks to the
stand-in server over HTTP; OCR is a double that returns fixed lines (no OCR run needed)."""

from __future__ import annotations

import json

from PIL import Image

from models_processor.deadline import Deadline
from models_processor.messages import Request, Response, Source
from models_processor.ocr.base import OcrLine, OcrResult
from models_processor.pipeline.merge import Merged, keep_partial
from testkit.fakes.ollama_server import Reply
from tests.unit.photo_support import chat_requests, make_pipeline, sample_b64


def _line(text: str, y: float, h: float = 20, cw: float = 9.0, x: float = 60) -> OcrLine:
    w = cw * len(text)
    return OcrLine(text, 0.99, ((x, y), (x + w, y), (x + w, y + h), (x, y + h)))


class LinesOcr:
    """An OCR double returning the given lines."""

    name = "lines"

    def __init__(self, lines: list[OcrLine]) -> None:
        self.result = OcrResult(lines, 1200, 1600)

    def recognize(self, image: Image.Image) -> OcrResult:
        return self.result


# A headed ingredient list in which a line runs on into a long sentence (text beside the list that OCR
# joined to it): the joined item fails the checks, so the list is partial.
RECIPE = LinesOcr([
    _line("Pancakes", 40, h=44, cw=24), _line("Ingredients", 110),
    _line("200g flour", 140), _line("2 eggs,", 165),
    _line("beaten with the milk we always keep in the fridge for the whole family to share on Sundays.", 190, x=80),
    _line("300ml milk", 215),
    _line("Method", 260), _line("1. Whisk everything together until smooth.", 290),
    _line("2. Fry ladlefuls in a hot buttered pan until golden.", 315)])


def run(pipeline) -> Response:
    request = Request(user_email="u@example.com", photo=sample_b64("recipe_pumpkin_pie.png"), kind="recipe")
    return pipeline.run(request, request_id="r-1", deadline=Deadline.after(60))


def test_partial_ingredient_list_without_model_is_the_good_ocr_lines_tagged_ocr(standin):
    response = run(make_pipeline(standin.url, RECIPE, use_llm=False))
    assert standin.requests == []
    assert [i["original_text"] for i in response.result["ingredients"]] == ["200g flour", "300ml milk"]
    assert response.sources["ingredients"] is Source.OCR
    assert response.sources["instructions"] is Source.OCR and response.sources["title"] is Source.OCR


def test_partial_ingredient_list_is_asked_of_the_model_which_replaces_it(standin):
    model_list = [{"original_text": t, "name": n, "quantity": q, "unit": u} for t, n, q, u in (
        ("200g flour", "flour", 200, "g"), ("2 eggs", "eggs", 2, None), ("300ml milk", "milk", 300, "ml"),
        ("1 tbsp butter", "butter", 1, "tbsp"))]
    standin.enqueue(Reply(text=json.dumps({"ingredients": model_list})))
    response = run(make_pipeline(standin.url, RECIPE, PHOTO_FALLBACK_ORDER="vision"))
    assert len(chat_requests(standin)) == 1
    assert [i["original_text"] for i in response.result["ingredients"]] == [m["original_text"] for m in model_list]
    assert response.sources["ingredients"] is Source.LLM_VISION
    assert response.sources["title"] is Source.OCR  # read and plausible: not replaced


def test_implausible_label_values_are_missing_not_ocr(standin):
    label = LinesOcr([_line("Nutrition Facts", 40, h=40, cw=20), _line("Calories 90", 100),
                      _line("Total Fat 2g", 130), _line("Saturated Fat 5g", 160),
                      _line("Total Carbohydrate 30mg", 190), _line("Protein 3g", 220)])
    request = Request(user_email="u@example.com", photo=sample_b64("nutrition_snack_label.jpg"),
                      kind="nutrition_label")
    response = make_pipeline(standin.url, label, use_llm=False).run(request, request_id="r-2",
                                                                    deadline=Deadline.after(60))
    for name in ("total_fat_g", "saturated_fat_g", "total_carbohydrate_g"):
        assert response.result[name] is None and response.sources[name] is Source.MISSING, name
    assert response.result["protein_g"] == 3 and response.sources["protein_g"] is Source.OCR


def test_keep_partial_only_retags_missing_lists_that_hold_lines():
    merged = Merged({"ingredients": [{"original_text": "2 eggs"}], "instructions": [], "title": None},
                    {"ingredients": Source.MISSING, "instructions": Source.MISSING, "title": Source.MISSING})
    out = keep_partial(merged, frozenset({"ingredients", "instructions"}))
    assert out.sources == {"ingredients": Source.OCR, "instructions": Source.MISSING, "title": Source.MISSING}
