"""Regression tests of the Ollama client defects of issue 10, against the stand-in corrected to behave as
the real v0.17.4 server (testkit/fakes/ollama_server.py says where, with the Go source file). The same
defects are checked against the real server in tests/ollama/test_conformance.py where it can show them."""

import json

import pytest
from prometheus_client import CollectorRegistry

from models_processor.config import ConfigError, load_settings
from models_processor.deadline import Deadline
from models_processor.errors import ErrorCode
from models_processor.llm.api import CallDefaults, GenerateRequest, Options
from models_processor.llm.base import ModelCallError
from models_processor.llm.client import OllamaClient
from models_processor.llm.factory import build_models
from models_processor.llm.failures import FailureReason, OllamaCallError
from models_processor.llm.prompts import FOOD_INSTRUCTION
from models_processor.llm.readiness import ModelCapabilities
from models_processor.llm.structured import OllamaVisionModel
from models_processor.metrics import Metrics
from models_processor.schemas import FoodResult
from testkit.concurrent_calls import call_at_once
from testkit.fakes.ollama_server import ERR_NO_VISION, ERR_OUT_OF_MEMORY, OllamaStandIn, Reply

JPEG = b"\xff\xd8\xff\xe0" + b"\x05" * 64
PIZZA = {"dish_name": "Pizza", "estimated_avg_calories": 285, "ingredients": ["cheese"], "total_avg_weight": 200,
         "contains": {"protein": 12.0, "carbs": 36.0, "fat": 10.0}}


def settings(url, **env):
    return load_settings({"OLLAMA_HOST": url, "OLLAMA_REQUEST_TIMEOUT": "5", "OLLAMA_HEALTH_TIMEOUT": "1",
                          "RESULT_CACHE_SIZE": "0", **env})


def metrics():
    return Metrics(CollectorRegistry())


def calls(srv, path):
    return [r for r in srv.requests if r.path == path]


def client(url, m, **kw):
    kw.setdefault("connect_timeout", 1)
    kw.setdefault("read_timeout", 5)
    return OllamaClient(url, metrics=m, backoff_initial=0.01, backoff_max=0.05, **kw)


# 1 ---------------------------------------------------------------------------------------------------
def test_warm_up_sends_the_runner_options_of_the_calls_so_the_model_loads_once():
    with OllamaStandIn(models=("llava:7b",), default_num_ctx=2048) as srv:
        models = build_models(settings(srv.url, OLLAMA_NUM_CTX="8192"), metrics())
        assert models.servers[0].prepare(pull_on_start=False, warm_up=True) is True
        models.text.generate_text("hello", deadline=Deadline.after(3))
        warm, call = calls(srv, "/api/generate")
        assert warm.body.get("prompt") is None and warm.body["options"] == call.body["options"]
        assert warm.body["options"]["num_ctx"] == 8192 and warm.body["think"] is False
        # Without options the warm-up loads the server's default context and the call reloads it.
        assert srv.stats.loads == 1
        assert srv.requests[-1].path == "/api/generate"


# 2 ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("setting,sent", [("-1", -1), ("300", 300), ("30m", "30m"), ("-1m", "-1m")])
def test_keep_alive_numbers_go_as_json_numbers_and_durations_as_strings(setting, sent):
    with OllamaStandIn(models=("llava:7b",)) as srv:
        models = build_models(settings(srv.url, OLLAMA_KEEP_ALIVE=setting), metrics())
        assert models.text.generate_text("hello", deadline=Deadline.after(3)).text
        body = calls(srv, "/api/generate")[0].body
        assert body["keep_alive"] == sent and type(body["keep_alive"]) is type(sent)


def test_a_keep_alive_the_server_cannot_read_stops_the_start_naming_the_variable():
    with pytest.raises(ConfigError) as info:
        load_settings({"OLLAMA_KEEP_ALIVE": "forever"})
    assert "OLLAMA_KEEP_ALIVE" in str(info.value)


# 3 ---------------------------------------------------------------------------------------------------
def test_repeat_guard_cut_is_invalid_output_not_transient():
    m = metrics()
    with OllamaStandIn(models=("llava:7b",)) as srv:
        srv.enqueue(Reply(text="0" * 64, fault="repeat_cut"))
        with pytest.raises(OllamaCallError) as info:
            client(srv.url, m).generate(GenerateRequest(model="llava:7b", prompt="x"), deadline=Deadline.after(3))
        assert len(calls(srv, "/api/generate")) == 1  # not retried: the identical call loops again
    err = info.value
    assert err.code == ErrorCode.MODEL_OUTPUT_INVALID and not err.transient
    assert err.reason is FailureReason.STREAM_CUT and err.partial_text == "0" * 64


def test_repeat_guard_cut_without_streaming_is_seen_too():
    with OllamaStandIn(models=("llava:7b",)) as srv:
        srv.enqueue(Reply(text="0" * 64, fault="repeat_cut"))
        with pytest.raises(OllamaCallError) as info:
            client(srv.url, metrics()).generate(GenerateRequest(model="llava:7b", prompt="x", stream=False),
                                                deadline=Deadline.after(3))
    assert info.value.reason is FailureReason.STREAM_CUT


def test_text_answer_cut_by_the_repeat_guard_is_asked_again_with_feedback():
    with OllamaStandIn(models=("llava:7b",)) as srv:
        srv.enqueue(Reply(text="0" * 64, fault="repeat_cut"), Reply(text="Lentil soup."))
        gen = build_models(settings(srv.url), metrics()).text.generate_text("Suggest", deadline=Deadline.after(3))
        first, second = calls(srv, "/api/generate")
    assert gen.text == "Lentil soup."
    assert first.body["prompt"] == "Suggest" and second.body["prompt"] != "Suggest"
    assert "repeated itself" in second.body["prompt"] and "0000" in second.body["prompt"]


def test_text_answer_cut_every_time_is_model_output_invalid_after_the_feedback_budget():
    with OllamaStandIn(models=("llava:7b",)) as srv:
        srv.enqueue(*[Reply(text="0" * 64, fault="repeat_cut") for _ in range(5)])
        with pytest.raises(ModelCallError) as info:
            build_models(settings(srv.url, LLM_VALIDATION_RETRIES="1"), metrics()).text.generate_text(
                "Suggest", deadline=Deadline.after(3))
        assert len(calls(srv, "/api/generate")) == 2  # 1 + LLM_VALIDATION_RETRIES, not 8 identical retries
    assert info.value.code == ErrorCode.MODEL_OUTPUT_INVALID and not info.value.retryable


def test_vision_answer_cut_by_the_repeat_guard_goes_down_the_feedback_path():
    with OllamaStandIn(models=("llava:7b",)) as srv:
        srv.enqueue(Reply(text='{"dish_name": "' + "0" * 64, fault="repeat_cut"), Reply(text=json.dumps(PIZZA)))
        result, _ = build_models(settings(srv.url), metrics()).vision.extract(
            image_jpeg=JPEG, result_model=FoodResult, instruction=FOOD_INSTRUCTION, deadline=Deadline.after(3))
        second = calls(srv, "/api/chat")[1].body["messages"]
    assert result.dish_name == "Pizza"
    assert second[-2]["role"] == "assistant" and second[-2]["content"].startswith('{"dish_name": "000')
    assert "repeated the same text" in second[-1]["content"]


# 4 ---------------------------------------------------------------------------------------------------
def test_a_model_load_longer_than_the_token_gap_is_not_aborted():
    m = metrics()
    with OllamaStandIn(models=("llava:7b",), cold_start_s=1.0) as srv:
        out = client(srv.url, m, read_timeout=0.3, first_byte_timeout=10).generate(
            GenerateRequest(model="llava:7b", prompt="x"), deadline=Deadline.after(5))
        assert out.text and out.attempts == 1
        assert srv.stats.loads == 1 and len(calls(srv, "/api/generate")) == 1
    assert out.load_duration_ns and out.load_duration_ns >= 0.9e9


def test_warm_up_waits_for_a_cold_load_beyond_the_token_gap():
    with OllamaStandIn(models=("llava:7b",), cold_start_s=1.0) as srv:
        out = client(srv.url, metrics(), read_timeout=0.3, first_byte_timeout=10).warm_up(
            "llava:7b", options=Options(num_ctx=4096), keep_alive="30m")
        assert out.done_reason == "load" and srv.stats.loads == 1


# 5 ---------------------------------------------------------------------------------------------------
def test_think_is_off_unless_asked_so_a_thinking_model_answers():
    with OllamaStandIn(models=("qwen3:1b",), thinking_models=("qwen3:1b",)) as srv:
        models = build_models(settings(srv.url, OLLAMA_MODEL="qwen3:1b"), metrics())
        gen = models.text.generate_text("Suggest a dinner", deadline=Deadline.after(3))
        assert gen.text.startswith("stand-in answer") and gen.thinking == ""
        assert calls(srv, "/api/generate")[0].body["think"] is False


def test_thinking_when_asked_is_read_from_the_thinking_field():
    with OllamaStandIn(models=("qwen3:1b",), thinking_models=("qwen3:1b",)) as srv:
        models = build_models(settings(srv.url, OLLAMA_MODEL="qwen3:1b", LLM_THINK="true"), metrics())
        with pytest.raises(ModelCallError) as info:
            models.text.generate_text("Suggest a dinner", deadline=Deadline.after(3))
    # The stand-in's thinking model spends num_predict on thinking: the client says so.
    assert info.value.code == ErrorCode.MODEL_OUTPUT_INVALID and "only thought" in info.value.message


# 6 ---------------------------------------------------------------------------------------------------
def vision_model(url, m, *, num_ctx, retries=2):
    c = client(url, m)
    defaults = CallDefaults(options=Options(num_ctx=num_ctx, num_predict=128), keep_alive="30m")
    return OllamaVisionModel(c, "llava:7b", defaults, retries, None, m, ModelCapabilities(c, timeout=1))


def test_a_re_ask_over_num_ctx_is_a_clear_error_not_an_answer_without_the_image():
    with OllamaStandIn(models=("llava:7b",)) as srv:
        srv.enqueue(Reply(text='{"dish_name": 1, "x": "' + "y" * 3900 + '"}', prompt_eval_count=900),
                    Reply(text=json.dumps(PIZZA)))
        with pytest.raises(ModelCallError) as info:
            vision_model(srv.url, metrics(), num_ctx=2048).extract(
                image_jpeg=JPEG, result_model=FoodResult, instruction=FOOD_INSTRUCTION, deadline=Deadline.after(3))
        chats = calls(srv, "/api/chat")
        assert all(c.body["truncate"] is False for c in chats)
        assert srv.stats.truncated_messages == 0  # the message with the image was never dropped
    assert info.value.code in (ErrorCode.MODEL_UNAVAILABLE, ErrorCode.MODEL_OUTPUT_INVALID)
    assert "num_ctx" in info.value.message


def test_the_feedback_budget_stops_before_a_turn_that_cannot_fit():
    with OllamaStandIn(models=("llava:7b",)) as srv:
        srv.enqueue(Reply(text="not json at all", prompt_eval_count=1900, eval_count=100))
        with pytest.raises(ModelCallError) as info:
            vision_model(srv.url, metrics(), num_ctx=2048).extract(
                image_jpeg=JPEG, result_model=FoodResult, instruction=FOOD_INSTRUCTION, deadline=Deadline.after(3))
        assert len(calls(srv, "/api/chat")) == 1
    assert info.value.code == ErrorCode.MODEL_OUTPUT_INVALID and "would not fit in num_ctx" in info.value.message


# 7 ---------------------------------------------------------------------------------------------------
def test_a_text_only_vision_model_fails_readiness_naming_the_variable():
    with OllamaStandIn(models=("gemma3-tiny:latest",), vision_models=()) as srv:
        models = build_models(settings(srv.url, OLLAMA_MODEL="gemma3-tiny"), metrics())
        assert models.servers[0].prepare(pull_on_start=False, warm_up=False) is False
        reasons = [r for p in models.probes for r in p.not_ready_reasons()]
    assert len(reasons) == 1 and "cannot read images" in reasons[0] and "OLLAMA_VISION_MODEL" in reasons[0]


def test_a_photo_for_a_text_only_model_is_model_unavailable_saying_why_never_invalid_image():
    with OllamaStandIn(models=("gemma3-tiny:latest",), vision_models=()) as srv:
        models = build_models(settings(srv.url, OLLAMA_MODEL="gemma3-tiny"), metrics())
        with pytest.raises(ModelCallError) as info:
            models.vision.extract(image_jpeg=JPEG, result_model=FoodResult, instruction="x",
                                  deadline=Deadline.after(3))
        assert calls(srv, "/api/chat") == []  # refused from the capability check, before the call
    assert info.value.code == ErrorCode.MODEL_UNAVAILABLE and not info.value.retryable
    assert "cannot read images" in info.value.message and "OLLAMA_VISION_MODEL" in info.value.message


def test_the_servers_missing_image_data_500_is_not_blamed_on_the_photo():
    with OllamaStandIn(models=("gemma3-tiny:latest",), vision_models=()) as srv:
        with pytest.raises(OllamaCallError) as info:
            client(srv.url, metrics()).generate(GenerateRequest(model="gemma3-tiny", prompt="x", images=[JPEG]),
                                                deadline=Deadline.after(3))
        assert len(calls(srv, "/api/generate")) == 1
    err = info.value
    assert err.code == ErrorCode.MODEL_UNAVAILABLE and not err.transient and err.reason is FailureReason.NO_VISION
    assert ERR_NO_VISION in err.message


# 8 ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("error", [
    ERR_OUT_OF_MEMORY,
    "llama runner process has terminated: this model may be incompatible with your version of Ollama. If you "
    "previously pulled this model, try updating it by running `ollama pull gemma3`",
    "failed to load model vocabulary required for format",
    "Failed to create new sequence: entire prompt removed by truncation",
    ERR_NO_VISION,
])
@pytest.mark.parametrize("fault", ["status_500", "error_before"])
def test_permanent_500s_are_not_retried(error, fault):
    m = metrics()
    with OllamaStandIn(models=("llava:7b",)) as srv:
        srv.enqueue(*[Reply(fault=fault, error=error) for _ in range(3)])
        with pytest.raises(OllamaCallError) as info:
            client(srv.url, m).generate(GenerateRequest(model="llava:7b", prompt="x"), deadline=Deadline.after(3))
        assert len(calls(srv, "/api/generate")) == 1
    assert not info.value.transient and info.value.code != ErrorCode.INVALID_IMAGE
    assert m.registry.get_sample_value("models_processor_retries_total",
                                       {"target": "ollama", "reason": info.value.reason.value}) is None


# 9 ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("cap,first_byte,peak_sent,waited_inside", [("0", "300", 2, 3), ("0", "200", 1, 0),
                                                                     ("4", "300", 4, 3)])
def test_one_server_slot_and_four_workers_nobody_times_out_waiting(cap, first_byte, peak_sent, waited_inside):
    """OLLAMA_NUM_PARALLEL=1: each call takes 0.6 s; 4 at once wait up to 1.8 s for their turn, far beyond
    the 0.5 s token-gap timeout. By default one call waits inside the server (the first-byte timeout, 300 s,
    outlasts the 240 s request deadline) and the others in the client; with a first-byte timeout below the
    deadline all wait in the client; with a cap of 4 all wait in the server. The first-byte budget covers
    every wait inside the server."""
    with OllamaStandIn(models=("llava:7b",), num_parallel=1, latency_s=0.6) as srv:
        models = build_models(settings(srv.url, OLLAMA_NUM_PARALLEL="1", CONCURRENT_REQUESTS="4",
                                       OLLAMA_REQUEST_TIMEOUT="0.5", OLLAMA_MAX_IN_FLIGHT=cap,
                                       OLLAMA_FIRST_BYTE_TIMEOUT=first_byte), metrics())
        results, errors = call_at_once(
            lambda i: models.text.generate_text(f"q{i}", deadline=Deadline.after(10)), 4, timeout_s=15)
        assert errors == [] and len(results) == 4
        assert all(r.attempts == 1 for r in results)
        assert srv.stats.total_generations == 4 and len(calls(srv, "/api/generate")) == 4  # no retries
        assert srv.stats.max_concurrent_generations == 1
        recs = [r for r in srv.settled_requests() if r.path == "/api/generate"]
        peak = max(sum(1 for o in recs if o.started_at <= r.started_at < o.ended_at) for r in recs)
        assert peak == peak_sent  # calls sent while others were in the server
        # ... and the answers' own accounting says which of them waited there for the slot
        assert sum(1 for r in results if (r.slot_wait_ns or 0) > 0.3e9) == waited_inside


# 10 --------------------------------------------------------------------------------------------------
def test_a_digest_in_the_model_name_stops_the_start_naming_the_variable():
    with pytest.raises(ConfigError) as info:
        build_models(settings("http://127.0.0.1:9", OLLAMA_MODEL="llava:7b@sha256:" + "a" * 64), metrics())
    assert "OLLAMA_VISION_MODEL" in str(info.value) and "digest" in str(info.value)


def test_a_server_side_alias_is_ready_and_answers():
    with OllamaStandIn(models=("llava:7b",), aliases={"vision": "llava:7b"}) as srv:
        models = build_models(settings(srv.url, OLLAMA_MODEL="vision"), metrics())
        assert [p.not_ready_reasons() for p in models.probes] == [[]]
        assert models.text.generate_text("hi", deadline=Deadline.after(3)).text
