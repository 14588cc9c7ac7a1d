"""The photo model fallback (pipeline/fallback.py) against the Ollama stand-in over HTTP: which model is asked
for what, in which order, and the source each field ends up with. OCR is the recorded OCR of a sample."""

from __future__ import annotations

import json

import pytest

from models_processor.config import ConfigError, load_settings
from models_processor.deadline import Deadline
from models_processor.errors import ErrorCode, ProcessingError
from models_processor.llm.factory import build_models
from models_processor.messages import Request, Response, Source
from models_processor.metrics import Metrics
from models_processor.pipeline.fallback import FallbackStep, fallback_order, ocr_text_is_usable
from models_processor.pipeline.photo import PhotoPipeline
from models_processor.pipeline.requests import Inbound, RequestProcessor
from models_processor.pipeline.text import TextPipeline
from testkit.fakes.models import ScriptedTextModel
from testkit.fakes.ollama_server import OllamaStandIn, Reply
from tests.unit.photo_support import DumpOcr, chat_requests, pipeline_settings, sample_b64

SNACK = "nutrition_snack_label.jpg"
FOOD = "food_zucchine_dish.jpg"
VISION_MODEL = "llava:7b"
TEXT_MODEL = "qwen2.5:3b"


@pytest.fixture
def ollama():
    """One stand-in serving a vision model and a text-only model."""
    with OllamaStandIn(models=(VISION_MODEL, TEXT_MODEL), vision_models=(VISION_MODEL,)) as server:
        yield server


def pipeline(url: str | None, ocr, *, use_llm: bool = True, **env: str) -> PhotoPipeline:
    settings = pipeline_settings(url, OLLAMA_VISION_MODEL=VISION_MODEL, OLLAMA_TEXT_MODEL=TEXT_MODEL, **env)
    metrics = Metrics()
    models = build_models(settings, metrics)
    return PhotoPipeline(settings, ocr, models.vision, metrics, text=models.structured_text, use_llm=use_llm)


def run(photo_pipeline: PhotoPipeline, name: str, kind: str = "auto") -> Response:
    request = Request(user_email="u@example.com", photo=sample_b64(name), kind=kind)
    return photo_pipeline.run(request, request_id="r-1", deadline=Deadline.after(60))


def no_calories(text: str) -> bool:
    return text == "Calories 155"


def call_summary(server) -> list[tuple[str, bool]]:
    """(model, whether an image was sent) for every chat call, in order."""
    return [(r.body["model"], any(m.get("images") for m in r.body["messages"])) for r in chat_requests(server)]


def prompt_of(call) -> str:
    return "\n".join(m["content"] for m in call.body["messages"] if m["role"] == "user")


def test_text_model_answers_from_the_ocr_lines_and_the_vision_model_is_not_called(ollama):
    ollama.enqueue(Reply(text=json.dumps({"calories": 155, "total_fat_g": 99})))
    response = run(pipeline(ollama.url, DumpOcr(SNACK, drop=no_calories)), SNACK)

    assert call_summary(ollama) == [(TEXT_MODEL, False)]  # the text model, no photo
    call = chat_requests(ollama)[0]
    assert "calories" in call.body["format"]["properties"]  # the kind's JSON Schema as `format`
    prompt = prompt_of(call)
    assert "[x=7 y=100 h=16] Total Fat 11g" in prompt  # OCR lines with their positions
    assert "Calories 155" not in prompt  # the line OCR did not read is not invented
    assert response.result["calories"] == 155 and response.sources["calories"] is Source.LLM_TEXT
    # What OCR read wins over the model's value.
    assert response.result["total_fat_g"] == 11 and response.sources["total_fat_g"] is Source.OCR
    assert response.model == TEXT_MODEL and response.warnings is None
    assert "llm" in response.timings_ms and "llm_text" in response.timings_ms
    assert "llm_vision" not in response.timings_ms  # a stage appears only for a model really called


def test_vision_model_is_asked_for_what_the_text_pass_cannot_answer(ollama):
    ollama.enqueue(Reply(text=json.dumps({"calories": None, "potassium_mg": 75})),
                   Reply(text=json.dumps({"calories": 160, "potassium_mg": 90})))
    response = run(pipeline(ollama.url, DumpOcr(SNACK, drop=no_calories)), SNACK)

    assert call_summary(ollama) == [(TEXT_MODEL, False), (VISION_MODEL, True)]
    assert response.result["calories"] == 160 and response.sources["calories"] is Source.LLM_VISION
    # The text pass's value stays (it came first) and keeps its own source.
    assert response.result["potassium_mg"] == 75 and response.sources["potassium_mg"] is Source.LLM_TEXT
    assert response.sources["protein_g"] is Source.OCR
    assert response.model == f"{TEXT_MODEL},{VISION_MODEL}"
    # The time of each model call, and all of them together as `llm` (as before the split).
    timings = response.timings_ms
    assert {"llm_text", "llm_vision"} <= timings.keys()
    assert timings["llm_text"] + timings["llm_vision"] <= timings["llm"] + 2


def test_text_answer_contradicting_the_ocr_macros_is_dropped_and_the_vision_model_asked(ollama):
    # OCR macros (fat 11 g, carbohydrate 14 g, protein 2 g) put calories near 163: 900 is dropped by the same
    # contradiction check the vision answer goes through, so calories is still missing and vision is asked.
    ollama.enqueue(Reply(text=json.dumps({"calories": 900})), Reply(text=json.dumps({"calories": 150})))
    response = run(pipeline(ollama.url, DumpOcr(SNACK, drop=no_calories)), SNACK)
    assert call_summary(ollama) == [(TEXT_MODEL, False), (VISION_MODEL, True)]
    assert response.result["calories"] == 150 and response.sources["calories"] is Source.LLM_VISION


def test_ocr_text_too_poor_goes_straight_to_the_vision_model(ollama):
    # The food photo has no text: asked for as a label, there is nothing for the text model to read.
    assert not ocr_text_is_usable(DumpOcr(FOOD).result)
    ollama.enqueue(Reply(text=json.dumps({"calories": 250, "total_fat_g": 10, "total_carbohydrate_g": 30,
                                          "protein_g": 8})))
    response = run(pipeline(ollama.url, DumpOcr(FOOD)), FOOD, kind="nutrition_label")
    assert call_summary(ollama) == [(VISION_MODEL, True)]
    assert response.sources["calories"] is Source.LLM_VISION and response.model == VISION_MODEL


def test_food_photo_goes_to_the_vision_model_only(ollama):
    ollama.enqueue(Reply(text=json.dumps({"dish_name": "Zucchine alla scapece"})))
    response = run(pipeline(ollama.url, DumpOcr(FOOD)), FOOD, kind="food")
    assert call_summary(ollama) == [(VISION_MODEL, True)]
    assert response.kind.value == "food" and response.sources["dish_name"] is Source.LLM_VISION


def test_order_vision_then_text(ollama):
    ollama.enqueue(Reply(text=json.dumps({"calories": None})), Reply(text=json.dumps({"calories": 155})))
    response = run(pipeline(ollama.url, DumpOcr(SNACK, drop=no_calories), PHOTO_FALLBACK_ORDER="vision,text"), SNACK)
    assert call_summary(ollama) == [(VISION_MODEL, True), (TEXT_MODEL, False)]
    assert response.sources["calories"] is Source.LLM_TEXT


def test_order_vision_only_never_calls_the_text_model(ollama):
    ollama.enqueue(Reply(text=json.dumps({"calories": None})))
    response = run(pipeline(ollama.url, DumpOcr(SNACK, drop=no_calories), PHOTO_FALLBACK_ORDER="vision"), SNACK)
    assert call_summary(ollama) == [(VISION_MODEL, True)]
    assert response.sources["calories"] is Source.MISSING


def test_text_model_failing_is_a_warning_and_the_vision_model_answers(ollama):
    ollama.enqueue(*[Reply(text="no JSON here") for _ in range(3)],  # 1 + 2 validation retries
                   Reply(text=json.dumps({"calories": 160})))
    response = run(pipeline(ollama.url, DumpOcr(SNACK, drop=no_calories)), SNACK)
    assert call_summary(ollama) == [(TEXT_MODEL, False)] * 3 + [(VISION_MODEL, True)]
    assert response.sources["calories"] is Source.LLM_VISION
    assert response.warnings and response.warnings[0].startswith("text fallback failed (model_output_invalid)")


def test_complete_label_asks_no_model(ollama):
    response = run(pipeline(ollama.url, DumpOcr(SNACK)), SNACK)
    assert chat_requests(ollama) == [] and response.model is None


def test_fallback_order_setting():
    assert fallback_order(load_settings({}).photo_fallback_order) == (FallbackStep.TEXT, FallbackStep.VISION)
    assert fallback_order(load_settings({"PHOTO_FALLBACK_ORDER": " Vision "}).photo_fallback_order) == (
        FallbackStep.VISION,)
    for bad in ("text,text", "ocr", "vision,audio"):
        with pytest.raises(ConfigError, match="PHOTO_FALLBACK_ORDER"):
            load_settings({"PHOTO_FALLBACK_ORDER": bad})


# ----------------------------------------------------------------------------- error answers keep the kind

def answer_through_processor(photo_pipeline: PhotoPipeline, name: str, kind: str = "auto") -> dict:
    settings = load_settings({})
    processor = RequestProcessor(settings, TextPipeline(ScriptedTextModel(), max_prompt_chars=1000), photo_pipeline,
                                 Metrics())
    value = json.dumps({"user_email": "u@example.com", "photo": sample_b64(name), "kind": kind}).encode()
    processed = processor.process(Inbound(b"r-err", value, "t", 0, 0), Deadline.after(60))
    assert processed.response is not None
    return json.loads(processed.response.to_bytes())


def test_food_photo_with_the_model_off_answers_an_error_with_its_kind():
    # Classified food from its (empty) OCR, then the vision model is off: the error answer says "food".
    ocr = DumpOcr(FOOD)
    answer = answer_through_processor(pipeline(None, ocr, use_llm=False), FOOD)
    assert ocr.calls == 1  # it was OCR'd and classified, not told its kind
    assert answer["status"] == "error" and answer["error"]["code"] == "model_unavailable"
    assert answer["kind"] == "food"


def test_food_photo_with_no_model_server_answers_an_error_with_its_kind():
    with pytest.raises(ProcessingError) as err:
        run(pipeline(None, DumpOcr(FOOD)), FOOD, kind="food")
    assert err.value.code is ErrorCode.MODEL_UNAVAILABLE and err.value.result_kind == "food"
    answer = answer_through_processor(pipeline(None, DumpOcr(FOOD)), FOOD, kind="food")
    assert answer["kind"] == "food" and answer["error"]["code"] == "model_unavailable"


def test_error_before_classification_has_no_kind():
    settings = load_settings({})
    processor = RequestProcessor(settings, TextPipeline(ScriptedTextModel(), max_prompt_chars=1000),
                                 pipeline(None, DumpOcr(FOOD)), Metrics())
    value = json.dumps({"user_email": "u@example.com", "photo": "not*base64"}).encode()
    answer = json.loads(processor.process(Inbound(b"r-bad", value, "t", 0, 0), Deadline.after(10)).response.to_bytes())
    assert answer["error"]["code"] == "invalid_image" and "kind" not in answer
