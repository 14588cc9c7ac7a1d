"""PhotoPipeline end to end without Kafka: real RapidOCR on the samples (or recorded OCR where a test needs
to take a line away), the real Ollama client against the stand-in server over HTTP."""

from __future__ import annotations

import base64
import json
import struct
import subprocess
import sys
import zlib

import pytest

from models_processor.deadline import Deadline
from models_processor.errors import ErrorCode, ProcessingError
from models_processor.messages import Request, Response, Source
from models_processor.pipeline.requests import Inbound, RequestProcessor
from models_processor.pipeline.text import TextPipeline
from models_processor.schemas import FoodResult, NutritionLabelResult, RecipeResult
from testkit.fakes.models import ScriptedTextModel
from testkit.fakes.ollama_server import Reply
from tests.unit.photo_support import (
    REPO,
    SAMPLES,
    CachingOcr,
    DumpOcr,
    chat_requests,
    ground_truth,
    make_pipeline,
    pipeline_settings,
    sample_b64,
    shared_rapid_engine,
)

pytestmark = [pytest.mark.ocr, pytest.mark.ollama]

SNACK = "nutrition_snack_label.jpg"
FOOD = "food_zucchine_dish.jpg"
FOOD_ANSWER = {"dish_name": "Zucchine alla scapece", "estimated_avg_calories": 180,
               "ingredients": ["courgette", "mint", "vinegar"], "total_avg_weight": 200,
               "contains": {"protein": 3.0, "carbs": 10.0, "fat": 14.0}}


@pytest.fixture(scope="module")
def ocr():
    return CachingOcr(shared_rapid_engine())


def run(pipeline, photo: str, kind: str = "auto", seconds: float = 60.0, prompt=None) -> Response:
    request = Request(user_email="u@example.com", photo=photo, kind=kind, prompt=prompt)
    return pipeline.run(request, request_id="r-1", deadline=Deadline.after(seconds))


def no_calories_line(text: str) -> bool:
    return text == "Calories 155"


def assert_response_shape(response: Response, result_model) -> None:
    assert response.status == "ok"
    assert set(response.sources) == set(result_model.model_fields)
    assert response.analysis == json.dumps(response.result, ensure_ascii=False)
    assert json.loads(response.analysis) == response.result
    result_model.model_validate(response.result)


# ----------------------------------------------------------------------------- no fallback needed

def test_complete_label_needs_no_model_call(standin, ocr):
    response = run(make_pipeline(standin.url, ocr), sample_b64(SNACK))
    assert standin.stats.total_generations == 0 and chat_requests(standin) == []
    assert_response_shape(response, NutritionLabelResult)
    assert response.kind.value == "nutrition_label"
    expected = ground_truth()[SNACK]["expected"]
    for field, value in expected.items():
        assert response.result[field] == value, field
        assert response.sources[field] is Source.OCR, field
    for field in set(NutritionLabelResult.model_fields) - set(expected):
        assert response.sources[field] is Source.MISSING and response.result[field] is None
    assert response.model is None and response.warnings is None
    assert set(response.timings_ms) == {"decode", "ocr", "parse", "total"}
    assert response.timings_ms["total"] >= response.timings_ms["ocr"]


@pytest.mark.parametrize("name", sorted(ground_truth()))
def test_each_sample_is_classified_with_kind_auto(name, standin, ocr):
    truth = ground_truth()[name]
    if truth["kind"] == "food":
        standin.enqueue(Reply(text=json.dumps(FOOD_ANSWER)))
    response = run(make_pipeline(standin.url, ocr), sample_b64(name))
    assert response.status == "ok"
    assert response.kind.value == truth["kind"]
    model = {"recipe": RecipeResult, "nutrition_label": NutritionLabelResult, "food": FoodResult}[truth["kind"]]
    assert_response_shape(response, model)
    expected = truth.get("expected", {})
    if truth["kind"] == "nutrition_label":
        # Every ground-truth number read by OCR; no model call was needed.
        assert standin.stats.total_generations == 0
        assert {k: response.result[k] for k in expected} == expected
    elif truth["kind"] == "recipe" and expected:
        assert response.result["title"] == expected["title"] and response.sources["title"] is Source.OCR
        for k, v in expected["times"].items():
            assert response.result["times"][k] == v
    elif truth["kind"] == "food":
        assert standin.stats.total_generations == 1


# ----------------------------------------------------------------------------- the vision fallback

def test_missing_critical_field_calls_the_vision_model_once(standin):
    # The model answers calories (a gap) and values for fields OCR did read: those must not win.
    standin.enqueue(Reply(text=json.dumps({"calories": 160, "total_fat_g": 40, "sodium_mg": 5,
                                           "potassium_mg": 90})))
    ocr = DumpOcr(SNACK, drop=no_calories_line)
    response = run(make_pipeline(standin.url, ocr), sample_b64(SNACK))

    calls = chat_requests(standin)
    assert len(calls) == 1 and standin.stats.total_generations == 1
    body = calls[0].body
    images = [img for m in body["messages"] for img in m.get("images") or []]
    assert len(images) == 1 and base64.b64decode(images[0])[:3] == b"\xff\xd8\xff"  # a JPEG of the photo
    assert isinstance(body["format"], dict) and "calories" in body["format"]["properties"]
    assert body["model"] == "llava:7b"

    assert_response_shape(response, NutritionLabelResult)
    assert response.result["calories"] == 160 and response.sources["calories"] is Source.LLM_VISION
    assert response.result["total_fat_g"] == 11 and response.sources["total_fat_g"] is Source.OCR
    assert response.result["sodium_mg"] == 148 and response.sources["sodium_mg"] is Source.OCR
    assert response.result["potassium_mg"] == 90 and response.sources["potassium_mg"] is Source.LLM_VISION
    assert response.sources["added_sugars_g"] is Source.MISSING
    assert response.model == "llava:7b" and response.warnings is None
    assert set(response.timings_ms) == {"decode", "ocr", "parse", "llm", "llm_vision", "total"}
    assert ocr.calls == 1


def test_model_calories_contradicting_the_ocr_macros_are_dropped(standin):
    standin.enqueue(Reply(text=json.dumps({"calories": 900})))  # OCR macros say ~163 kcal
    response = run(make_pipeline(standin.url, DumpOcr(SNACK, drop=no_calories_line)), sample_b64(SNACK))
    assert standin.stats.total_generations == 1
    assert response.status == "ok"
    assert response.result["calories"] is None and response.sources["calories"] is Source.MISSING
    assert response.result["total_fat_g"] == 11 and response.sources["total_fat_g"] is Source.OCR


def test_no_llm_leaves_missing_fields_missing_with_a_warning(standin):
    pipeline = make_pipeline(standin.url, DumpOcr(SNACK, drop=no_calories_line), use_llm=False)
    response = run(pipeline, sample_b64(SNACK))
    assert standin.stats.total_generations == 0 and standin.requests == []
    assert response.status == "ok" and response.sources["calories"] is Source.MISSING
    assert response.warnings and "calories" in response.warnings[0]


def test_kind_override_recipe_on_a_label_photo(standin):
    # The classifier would say nutrition_label; the request's kind wins and the recipe parser runs.
    response = run(make_pipeline(standin.url, DumpOcr(SNACK)), sample_b64(SNACK), kind="recipe")
    assert response.kind.value == "recipe"
    assert_response_shape(response, RecipeResult)


def test_kind_override_recipe_on_a_food_photo_uses_the_recipe_fallback(standin):
    # With kind auto this photo is food (vision-first, FoodResult); as a recipe it is OCR'd, nothing is
    # read, and the fallback asks for a RecipeResult.
    answer = {"title": "Zucchine", "ingredients": [{"original_text": "2 courgettes", "name": "courgettes",
                                                    "quantity": 2, "unit": None}],
              "instructions": ["Fry.", "Marinate."], "times": {"total_min": 30}}
    standin.enqueue(Reply(text=json.dumps(answer)))
    ocr = DumpOcr(FOOD)
    response = run(make_pipeline(standin.url, ocr), sample_b64(FOOD), kind="recipe")
    assert ocr.calls == 1 and response.kind.value == "recipe"
    assert_response_shape(response, RecipeResult)
    calls = chat_requests(standin)
    assert len(calls) == 1 and "instructions" in calls[0].body["format"]["properties"]
    assert response.result["title"] == "Zucchine" and response.sources["title"] is Source.LLM_VISION
    assert response.result["instructions"] == ["Fry.", "Marinate."]
    assert response.sources["ingredients"] is Source.LLM_VISION
    assert response.result["times"]["total_min"] == 30 and response.sources["times"] is Source.LLM_VISION
    assert response.sources["notes"] is Source.MISSING and response.sources["servings"] is Source.MISSING


def test_kind_override_nutrition_on_a_complete_label_reads_ocr_only(standin):
    response = run(make_pipeline(standin.url, DumpOcr(SNACK)), sample_b64(SNACK), kind="nutrition_label")
    assert response.kind.value == "nutrition_label" and standin.stats.total_generations == 0
    assert response.result["calories"] == 155


def test_invalid_model_output_falls_back_to_ocr_with_a_warning(standin):
    standin.enqueue(*[Reply(text="not json at all") for _ in range(3)])  # 1 + 2 validation retries
    response = run(make_pipeline(standin.url, DumpOcr(SNACK, drop=no_calories_line)), sample_b64(SNACK))
    assert standin.stats.total_generations == 3
    assert response.status == "ok" and response.sources["calories"] is Source.MISSING
    assert response.sources["total_fat_g"] is Source.OCR
    assert response.warnings and "model_output_invalid" in response.warnings[0]


# ----------------------------------------------------------------------------- model unreachable

def test_vision_model_down_answers_with_the_ocr_result(standin):
    standin.set_down(True)
    pipeline = make_pipeline(standin.url, DumpOcr(SNACK, drop=no_calories_line))
    response = run(pipeline, sample_b64(SNACK), seconds=3.0)
    assert response.status == "ok" and response.kind.value == "nutrition_label"
    assert response.result["total_fat_g"] == 11 and response.sources["total_fat_g"] is Source.OCR
    assert response.result["calories"] is None and response.sources["calories"] is Source.MISSING
    assert response.warnings and response.warnings[0].startswith("vision fallback failed (")
    assert response.model is None and "llm" in response.timings_ms


def test_no_model_server_configured_answers_with_the_ocr_result():
    response = run(make_pipeline(None, DumpOcr(SNACK, drop=no_calories_line)), sample_b64(SNACK))
    assert response.status == "ok" and response.sources["calories"] is Source.MISSING
    assert response.sources["protein_g"] is Source.OCR
    assert response.warnings and "model_unavailable" in response.warnings[0]
    assert "OLLAMA_HOST" in response.warnings[0]


# ----------------------------------------------------------------------------- food photos

def test_food_kind_goes_to_the_vision_model_first(standin):
    standin.enqueue(Reply(text=json.dumps(FOOD_ANSWER)))
    ocr = DumpOcr(FOOD)
    response = run(make_pipeline(standin.url, ocr), sample_b64(FOOD), kind="food", prompt="What is this?")
    assert ocr.calls == 0  # nothing to read: no OCR
    calls = chat_requests(standin)
    assert len(calls) == 1 and "dish_name" in calls[0].body["format"]["properties"]
    assert "What is this?" in json.dumps(calls[0].body["messages"])
    assert response.kind.value == "food"
    assert_response_shape(response, FoodResult)
    assert response.result == FoodResult.model_validate(FOOD_ANSWER).model_dump()
    assert all(s is Source.LLM_VISION for s in response.sources.values())
    assert response.model == "llava:7b"
    assert {"decode", "llm", "total"} <= set(response.timings_ms)


def test_food_fields_the_model_left_empty_are_missing(standin):
    standin.enqueue(Reply(text=json.dumps({"dish_name": "Soup"})))
    response = run(make_pipeline(standin.url, DumpOcr(FOOD)), sample_b64(FOOD), kind="food")
    assert response.sources["dish_name"] is Source.LLM_VISION
    assert response.sources["estimated_avg_calories"] is Source.MISSING
    assert response.sources["ingredients"] is Source.MISSING


@pytest.mark.parametrize("kind", ["food", "auto"])
def test_food_photo_without_a_model_is_model_unavailable(kind, ocr):
    with pytest.raises(ProcessingError) as err:
        run(make_pipeline(None, ocr), sample_b64(FOOD), kind=kind)
    assert err.value.code is ErrorCode.MODEL_UNAVAILABLE


def test_food_photo_with_no_llm_is_model_unavailable():
    with pytest.raises(ProcessingError) as err:
        run(make_pipeline(None, DumpOcr(FOOD), use_llm=False), sample_b64(FOOD), kind="food")
    assert err.value.code is ErrorCode.MODEL_UNAVAILABLE


# ----------------------------------------------------------------------------- bad images

def _png_header_only(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    idat = zlib.compress(b"\x00" * 64)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", idat) + chunk(b"IEND", b""))


def _bad_photos() -> dict[str, tuple[str, ErrorCode]]:
    jpeg = (SAMPLES / SNACK).read_bytes()
    b64 = lambda data: base64.b64encode(data).decode()  # noqa: E731
    return {
        "invalid_base64": ("not*base64!!", ErrorCode.INVALID_IMAGE),
        "not_an_image": (b64(b"hello, this is text and not a picture" * 10), ErrorCode.INVALID_IMAGE),
        "truncated_jpeg": (b64(jpeg[: len(jpeg) // 2]), ErrorCode.INVALID_IMAGE),
        "decompression_bomb_png": (b64(_png_header_only(30_000, 30_000)), ErrorCode.IMAGE_TOO_LARGE),
        "too_many_pixels_png": (b64(_png_header_only(5_000, 5_000)), ErrorCode.IMAGE_TOO_LARGE),
        "oversized_bytes": (b64(jpeg + b"\x00" * 300_000), ErrorCode.IMAGE_TOO_LARGE),
    }


@pytest.mark.parametrize("case", sorted(_bad_photos()))
def test_bad_images_map_to_error_codes(case, standin):
    photo, code = _bad_photos()[case]
    ocr = DumpOcr(SNACK)
    # MAX_IMAGE_BYTES 256 KiB: the sample (~30 KB) passes, the padded copy does not; 20 MP pixel cap.
    pipeline = make_pipeline(standin.url, ocr, MAX_IMAGE_BYTES=str(256 * 1024),
                             MAX_IMAGE_PIXELS="20000000")
    with pytest.raises(ProcessingError) as err:
        run(pipeline, photo)
    assert err.value.code is code, err.value.message
    assert ocr.calls == 0 and standin.requests == []

    # Through the request processor, the requester gets that code as an error answer.
    settings = pipeline_settings(standin.url, MAX_IMAGE_BYTES=str(256 * 1024),
                              MAX_IMAGE_PIXELS="20000000")
    from models_processor.metrics import Metrics
    processor = RequestProcessor(settings, TextPipeline(ScriptedTextModel(), max_prompt_chars=1000), pipeline,
                                 Metrics())
    value = json.dumps({"user_email": "u@example.com", "photo": photo}).encode()
    processed = processor.process(Inbound(b"r-bad", value, "t", 0, 0), Deadline.after(30))
    answer = json.loads(processed.response.to_bytes())
    assert answer["status"] == "error" and answer["error"]["code"] == code.value
    assert "result" not in answer and answer["request_id"] == "r-bad"


# ----------------------------------------------------------------------------- the analyze CLI

def test_analyze_cli_prints_the_ground_truth(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "ORT_DISABLE_TELEMETRY": "1", "HOME": str(tmp_path), "LOG_LEVEL": "WARNING"}
    proc = subprocess.run([sys.executable, "-m", "models_processor", "analyze", str(SAMPLES / SNACK), "--no-llm"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    answer = json.loads(proc.stdout)
    expected = ground_truth()[SNACK]["expected"]
    assert answer["status"] == "ok" and answer["kind"] == "nutrition_label"
    assert answer["result"]["calories"] == expected["calories"]
    assert {k: answer["result"][k] for k in expected} == expected
    assert answer["sources"]["calories"] == "ocr"
    assert json.loads(answer["analysis"]) == answer["result"]


def test_analyze_cli_food_with_no_llm_is_an_error_answer(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "ORT_DISABLE_TELEMETRY": "1", "HOME": str(tmp_path), "LOG_LEVEL": "WARNING"}
    proc = subprocess.run([sys.executable, "-m", "models_processor", "analyze", str(SAMPLES / FOOD), "--no-llm",
                           "--kind", "food"], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stderr
    answer = json.loads(proc.stdout)
    assert answer["status"] == "error" and answer["error"]["code"] == "model_unavailable"


def test_analyze_file_missing_is_an_error_answer(tmp_path):
    from models_processor.pipeline.analyze import analyze_file

    response = analyze_file(pipeline_settings(None), tmp_path / "nope.jpg", use_llm=False)
    assert response.status == "error" and response.error.code is ErrorCode.INVALID_REQUEST
    assert "nope.jpg" in response.error.message
