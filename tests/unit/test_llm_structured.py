"""OllamaVisionModel / OllamaTextModel over real HTTP against the stand-in."""

import json
import logging
import time

import pytest
from prometheus_client import CollectorRegistry

from models_processor.deadline import Deadline
from models_processor.errors import ErrorCode
from models_processor.llm.api import CallDefaults, Options
from models_processor.llm.base import ModelCallError
from models_processor.llm.cache import ResultCache
from models_processor.llm.client import OllamaClient
from models_processor.llm.prompts import FOOD_INSTRUCTION
from models_processor.llm.readiness import ModelCapabilities
from models_processor.llm.structured import OllamaTextModel, OllamaVisionModel
from models_processor.metrics import Metrics
from models_processor.schemas import FoodResult, RecipeResult
from testkit.fakes.ollama_server import OllamaStandIn, Reply

pytestmark = pytest.mark.ollama

JPEG = b"\xff\xd8\xff\xe0" + b"\x01" * 64
OPTIONS = {"temperature": 0.0, "num_predict": 256, "seed": 42, "num_ctx": 4096}
DEFAULTS = CallDefaults(options=Options(**OPTIONS), keep_alive="30m")
PIZZA = {"dish_name": "Pizza", "estimated_avg_calories": 285, "ingredients": ["cheese", "tomato sauce", "dough"],
         "total_avg_weight": 200, "contains": {"protein": 12.0, "carbs": 36.0, "fat": 10.0}}


@pytest.fixture
def srv():
    with OllamaStandIn(models=("llava:7b", "llama3.2:3b")) as server:
        yield server


@pytest.fixture
def metrics():
    return Metrics(CollectorRegistry())


def sample(metrics, name, labels):
    return metrics.registry.get_sample_value(name, labels) or 0


def vision(url, metrics, *, retries=2, cache=None, **client_kw):
    client = OllamaClient(url, connect_timeout=1, read_timeout=5, backoff_initial=0.01, backoff_max=0.05,
                          metrics=metrics, **client_kw)
    return OllamaVisionModel(client, "llava:7b", DEFAULTS, retries, cache, metrics, ModelCapabilities(client, timeout=1))


def chats(srv):
    return [r for r in srv.requests if r.path == "/api/chat"]


def test_valid_answer_with_schema_format_and_constant_options(srv, metrics):
    srv.enqueue(Reply(text=json.dumps(PIZZA), eval_count=33, prompt_eval_count=700))
    result, gen = vision(srv.url, metrics).extract(image_jpeg=JPEG, result_model=FoodResult,
                                                   instruction=FOOD_INSTRUCTION, deadline=Deadline.after(2))
    assert result == FoodResult.model_validate(PIZZA)
    assert (gen.model, gen.eval_count, gen.prompt_eval_count, gen.cached) == ("llava:7b", 33, 700, False)
    body = chats(srv)[0].body
    assert body["format"] == FoodResult.model_json_schema()
    assert body["options"] == OPTIONS and body["keep_alive"] == "30m"
    assert json.dumps(FoodResult.model_json_schema(), separators=(",", ":"), sort_keys=True) in \
        body["messages"][-1]["content"]
    assert sample(metrics, "models_processor_model_tokens_total",
                  {"role": "vision", "model": "llava:7b", "type": "eval"}) == 33
    assert sample(metrics, "models_processor_model_requests_total",
                  {"role": "vision", "model": "llava:7b", "outcome": "ok"}) == 1
    assert sample(metrics, "models_processor_model_load_seconds_count", {"role": "vision"}) == 1


def test_invalid_then_valid_json_succeeds_after_one_validation_retry(srv, metrics):
    srv.enqueue(Reply(fault="invalid_json"), Reply(text=json.dumps(PIZZA)))  # '{"answer": "stand-in", "broken": }'
    result, _ = vision(srv.url, metrics).extract(image_jpeg=JPEG, result_model=FoodResult,
                                                 instruction=FOOD_INSTRUCTION, deadline=Deadline.after(3))
    assert result.dish_name == "Pizza"
    first, second = chats(srv)
    messages = second.body["messages"]
    assert len(messages) == len(first.body["messages"]) + 2
    assert messages[-2] == {"role": "assistant", "content": '{"answer": "stand-in", "broken": }'}
    assert messages[-1]["role"] == "user" and "failed validation" in messages[-1]["content"]
    assert "dish_name" in messages[-1]["content"]  # the validation error itself
    assert sample(metrics, "models_processor_model_validation_retries_total", {"role": "vision"}) == 1


def test_schema_violation_is_fed_back(srv, metrics):
    srv.enqueue(Reply(text=json.dumps({**PIZZA, "estimated_avg_calories": -5})), Reply(text=json.dumps(PIZZA)))
    result, _ = vision(srv.url, metrics).extract(image_jpeg=JPEG, result_model=FoodResult,
                                                 instruction=FOOD_INSTRUCTION, deadline=Deadline.after(3))
    assert result.estimated_avg_calories == 285
    assert "estimated_avg_calories" in chats(srv)[1].body["messages"][-1]["content"]


def test_invalid_after_the_retry_budget_is_model_output_invalid(srv, metrics):
    srv.enqueue(*[Reply(text="I cannot see any food.") for _ in range(3)])
    with pytest.raises(ModelCallError) as info:
        vision(srv.url, metrics, retries=1).extract(image_jpeg=JPEG, result_model=FoodResult,
                                                    instruction=FOOD_INSTRUCTION, deadline=Deadline.after(3))
    assert info.value.code == ErrorCode.MODEL_OUTPUT_INVALID and not info.value.transient
    assert len(chats(srv)) == 2
    assert sample(metrics, "models_processor_model_errors_total",
                  {"role": "vision", "code": "model_output_invalid"}) == 1


@pytest.mark.parametrize("result_model", [FoodResult, RecipeResult])
def test_empty_object_plus_whitespace_is_asked_again(srv, metrics, result_model):
    good = PIZZA if result_model is FoodResult else {"title": "Pie", "instructions": ["Bake"]}
    srv.enqueue(Reply(fault="empty_ws"), Reply(text=json.dumps(good)))
    result, _ = vision(srv.url, metrics).extract(image_jpeg=JPEG, result_model=result_model,
                                                 instruction="Read it.", deadline=Deadline.after(3))
    assert result == result_model.model_validate(good)
    assert len(chats(srv)) == 2
    assert chats(srv)[1].body["messages"][-2]["content"] == "{}"  # the whitespace flood is not fed back


def test_truncated_answer_is_accepted_only_when_the_repair_validates(srv, metrics):
    text = json.dumps({"title": "Pumpkin pie", "instructions": ["Mix", "Bake"], "notes": ["Serve cold", "x" * 200]})
    srv.enqueue(Reply(text=text, fault="truncated"))
    result, gen = vision(srv.url, metrics).extract(image_jpeg=JPEG, result_model=RecipeResult,
                                                   instruction="Read it.", deadline=Deadline.after(3))
    assert gen.done_reason == "length" and result.title == "Pumpkin pie"
    assert len(chats(srv)) == 1


def test_truncated_answer_that_does_not_validate_is_retried_with_a_cut_off_note(srv, metrics):
    text = json.dumps({"ingredients": ["cheese", "tomato", "dough", "basil"], "dish_name": "Pizza"})
    srv.enqueue(Reply(text=text, fault="truncated"), Reply(text=json.dumps(PIZZA)))
    result, gen = vision(srv.url, metrics).extract(image_jpeg=JPEG, result_model=FoodResult,
                                                   instruction=FOOD_INSTRUCTION, deadline=Deadline.after(3))
    assert result.dish_name == "Pizza" and gen.done_reason == "stop"
    assert "cut off" in chats(srv)[1].body["messages"][-1]["content"]


def test_cache_serves_a_repeat_without_a_second_model_call(srv, metrics):
    cache = ResultCache(16, 60, metrics=metrics)
    model = vision(srv.url, metrics, cache=cache)
    first, gen1 = model.extract(image_jpeg=JPEG, result_model=FoodResult, instruction=FOOD_INSTRUCTION,
                                deadline=Deadline.after(2))
    second, gen2 = model.extract(image_jpeg=JPEG, result_model=FoodResult, instruction=FOOD_INSTRUCTION,
                                 deadline=Deadline.after(2))
    assert first == second and not gen1.cached and gen2.cached
    assert srv.stats.total_generations == 1
    assert sample(metrics, "models_processor_result_cache_total", {"result": "hit"}) == 1
    # A different image is a different key.
    model.extract(image_jpeg=JPEG + b"\x02", result_model=FoodResult, instruction=FOOD_INSTRUCTION,
                  deadline=Deadline.after(2))
    assert srv.stats.total_generations == 2


def test_hung_vision_call_ends_at_the_deadline(srv, metrics):
    srv.enqueue(Reply(fault="hang"))
    started = time.monotonic()
    with pytest.raises(ModelCallError) as info:
        vision(srv.url, metrics).extract(image_jpeg=JPEG, result_model=FoodResult, instruction="x",
                                         deadline=Deadline.after(0.5))
    # Ended by the 0.5 s deadline, not the 5 s read timeout (the bound leaves room for a loaded machine).
    assert time.monotonic() - started < 4
    assert info.value.code == ErrorCode.DEADLINE_EXCEEDED


def test_prompts_and_images_are_not_logged_at_info(srv, metrics, caplog):
    srv.enqueue(Reply(fault="invalid_json", text="SECRET-ANSWER"), Reply(text=json.dumps(PIZZA)))
    with caplog.at_level(logging.INFO, logger="models_processor"):
        vision(srv.url, metrics).extract(image_jpeg=JPEG, result_model=FoodResult,
                                         instruction="SECRET-INSTRUCTION", deadline=Deadline.after(3))
    logged = " ".join(r.getMessage() for r in caplog.records if r.levelno >= logging.INFO)
    assert "SECRET" not in logged and "/+" not in logged


def text_model(url, metrics, cache=None):
    client = OllamaClient(url, connect_timeout=1, read_timeout=5, metrics=metrics, role="text",
                          backoff_initial=0.01)
    return OllamaTextModel(client, "llama3.2:3b", DEFAULTS, cache, metrics)


def test_text_generation_streams_and_returns_counts(srv, metrics):
    srv.enqueue(Reply(text="Lentil soup with cumin and lemon.", eval_count=9, prompt_eval_count=14))
    gen = text_model(srv.url, metrics).generate_text("Suggest a dinner with lentils", deadline=Deadline.after(2))
    assert gen.text == "Lentil soup with cumin and lemon."
    assert (gen.model, gen.eval_count, gen.prompt_eval_count) == ("llama3.2:3b", 9, 14)
    body = next(r for r in srv.requests if r.path == "/api/generate").body
    assert body["prompt"] == "Suggest a dinner with lentils" and body["system"]
    assert body.get("stream", True) is True
    assert sample(metrics, "models_processor_model_tokens_total",
                  {"role": "text", "model": "llama3.2:3b", "type": "prompt"}) == 14


def test_text_model_override_and_cache(srv, metrics):
    model = text_model(srv.url, metrics, ResultCache(8, 60, metrics=metrics))
    a = model.generate_text("hello", deadline=Deadline.after(2), model="LLaVA:7B")
    b = model.generate_text("hello", deadline=Deadline.after(2), model="LLaVA:7B")
    assert a.model == "LLaVA:7B" and b.cached and b.text == a.text
    assert srv.stats.total_generations == 1
    with pytest.raises(ModelCallError) as info:
        model.generate_text("hello", deadline=Deadline.after(2), model="not a model!")
    assert info.value.code == ErrorCode.INVALID_REQUEST


def test_text_model_not_found(srv, metrics):
    client = OllamaClient(srv.url, connect_timeout=1, read_timeout=5, role="text", metrics=metrics)
    model = OllamaTextModel(client, "qwen:1b", DEFAULTS, None, metrics)
    with pytest.raises(ModelCallError) as info:
        model.generate_text("hello", deadline=Deadline.after(2))
    assert info.value.code == ErrorCode.MODEL_NOT_FOUND and "qwen:1b" in info.value.message


def test_a_disabled_cache_hashes_no_key(srv, metrics, monkeypatch):
    """RESULT_CACHE_SIZE=0: the key (canonical JSON + sha256 of the prompt, and of the image) is not built
    for a cache that cannot hold it; it cost about 5 % of the service's CPU per text request."""
    keys: list[str] = []
    monkeypatch.setattr(ResultCache, "key", staticmethod(lambda *a, **k: keys.append("built") or "k"))
    off = ResultCache(0, 60, metrics=metrics)
    srv.enqueue(Reply(text="a"), Reply(text=json.dumps(PIZZA)))
    assert text_model(srv.url, metrics, off).generate_text("hello", deadline=Deadline.after(2)).text == "a"
    vision(srv.url, metrics, cache=off).extract(image_jpeg=JPEG, result_model=FoodResult,
                                                instruction=FOOD_INSTRUCTION, deadline=Deadline.after(2))
    assert keys == []
    on = ResultCache(8, 60, metrics=metrics)
    srv.enqueue(Reply(text="b"))
    text_model(srv.url, metrics, on).generate_text("hello", deadline=Deadline.after(2))
    assert keys == ["built"]
