"""Conformance of the Ollama client (models_processor/llm/) with a real Ollama v0.17.4 server.

The server is built by testkit/local_ollama (testkit/pytest_ollama.py fixtures) and runs the tiny text-only
Gemma 3 270M model (`gemma3-tiny`). Each test names the issue-10 defect it covers; the stand-in
(testkit/fakes/ollama_server.py) copies what these tests show, and test_standin_matches_the_real_server
checks that it still does. Answers are kept to a few tokens: on a shared 2-core machine the model makes
one to a few tokens a second.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime

import pytest
import requests
from prometheus_client import CollectorRegistry
from pydantic import BaseModel, Field

from models_processor.config import load_settings
from models_processor.deadline import Deadline
from models_processor.errors import ErrorCode
from models_processor.llm.api import ChatRequest, GenerateRequest, Message, Options
from models_processor.llm.base import ModelCallError
from models_processor.llm.client import OllamaClient, RepeatGuardCut
from models_processor.llm.factory import build_models
from models_processor.llm.failures import FailureReason, OllamaCallError
from models_processor.llm.names import is_valid_model_name
from models_processor.metrics import Metrics
from models_processor.schemas import FoodResult
from testkit.concurrent_calls import call_at_once
from testkit.fakes.ollama_server import OllamaStandIn
from testkit.harness import InProcessService, ResponseReader, create_output_topics, make_settings, produce, text_request

PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                    "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082")
PROMPTS = ["Suggest a dinner with lentils.", "Name a green vegetable."]


def settings(server, **env):
    return load_settings({"OLLAMA_HOST": server.base_url, "OLLAMA_MODEL": server.model, "OLLAMA_NUM_CTX": "2048",
                          "LLM_NUM_PREDICT": "16", "OLLAMA_HEALTH_TIMEOUT": "5", "RESULT_CACHE_SIZE": "0",
                          "OLLAMA_REQUEST_TIMEOUT": "60", **env})


def client(server, **kw):
    return OllamaClient(server.base_url, connect_timeout=5, read_timeout=kw.pop("read_timeout", 60),
                        metrics=Metrics(CollectorRegistry()), backoff_initial=0.2, backoff_max=1.0, **kw)


def loaded(server) -> list[dict]:
    return server.api("/api/ps")["models"]


# --------------------------------------------------------------------------- through Kafka


def test_text_requests_through_kafka_answered_by_the_real_model(kafka_bootstrap, kafka_topic_factory, ollama_real):
    topic = kafka_topic_factory(partitions=2, prefix="req")
    conf = make_settings(kafka_bootstrap, topic, OLLAMA_HOST=ollama_real.base_url, OLLAMA_MODEL=ollama_real.model,
                         OLLAMA_NUM_CTX="2048", LLM_NUM_PREDICT="16", RESULT_CACHE_SIZE="0",
                         OLLAMA_REQUEST_TIMEOUT="60")
    create_output_topics(kafka_bootstrap, conf)
    metrics = Metrics(CollectorRegistry())
    models = build_models(conf, metrics)
    with InProcessService(conf, models.text, metrics=metrics):
        produce(kafka_bootstrap, topic, [(f"t{i}".encode(), text_request(p)) for i, p in enumerate(PROMPTS)])
        reader = ResponseReader(kafka_bootstrap, [conf.text_response_topic])
        reader.read_until(lambda ms: len(ms) >= len(PROMPTS), timeout=300)
    answers = {key: values[0] for key, values in reader.by_key().items()}
    reader.close()
    assert sorted(answers) == [f"t{i}" for i in range(len(PROMPTS))]
    for answer in answers.values():
        assert answer["status"] == "ok", answer
        assert answer["model"] == ollama_real.model and answer["response"].strip()


def test_one_slot_and_four_workers_nobody_times_out_waiting(kafka_bootstrap, kafka_topic_factory,
                                                            ollama_real_factory):
    """Defect 9: OLLAMA_NUM_PARALLEL=1 and CONCURRENT_REQUESTS=4. Four answers of 128 tokens, one at a time,
    take longer together than OLLAMA_REQUEST_TIMEOUT=3 s (checked: the last answer came more than 3 s after
    the first, so the last call waited longer than that for its turn); before the fix the queued calls timed
    out inside the server's queue and rejoined its back. Now they wait in the client; nothing is retried."""
    server = ollama_real_factory({"OLLAMA_NUM_PARALLEL": "1"})
    topic = kafka_topic_factory(partitions=4, prefix="req")
    conf = make_settings(kafka_bootstrap, topic, OLLAMA_HOST=server.base_url, OLLAMA_MODEL=server.model,
                         OLLAMA_NUM_CTX="2048", LLM_NUM_PREDICT="128", RESULT_CACHE_SIZE="0",
                         OLLAMA_NUM_PARALLEL="1", CONCURRENT_REQUESTS="4", OLLAMA_REQUEST_TIMEOUT="3",
                         REQUEST_DEADLINE_SECONDS="1200", MAX_POLL_INTERVAL_MS="1500000")
    create_output_topics(kafka_bootstrap, conf, partitions=4)
    metrics = Metrics(CollectorRegistry())
    models = build_models(conf, metrics)
    prompts = [f"Write about recipe number {i} with beans." for i in range(4)]
    with InProcessService(conf, models.text, metrics=metrics) as service:
        produce(kafka_bootstrap, topic, [(f"q{i}".encode(), text_request(p)) for i, p in enumerate(prompts)])
        reader = ResponseReader(kafka_bootstrap, [conf.text_response_topic])
        reader.read_until(lambda ms: len(ms) >= len(prompts), timeout=600)
        retried = sum(service.metric("models_processor_retries_total", target="ollama", reason=r.value)
                      for r in FailureReason)
    stamps = sorted(m.timestamp()[1] for m in reader.messages)
    codes = [values[0].get("error", {}).get("code", "ok") for values in reader.by_key().values()]
    reader.close()
    assert len(codes) == len(prompts) and retried == 0
    assert not {"deadline_exceeded", "model_unavailable"} & set(codes), codes
    assert (stamps[-1] - stamps[0]) / 1000 > 3  # the last call's wait really exceeded the token-gap timeout


@pytest.mark.parametrize("first_byte,waited_inside", [("300", 2), ("200", 0)])
def test_by_default_one_call_per_slot_waits_inside_the_real_server(ollama_real_factory, first_byte, waited_inside):
    """Three calls at once on one slot. With the defaults (first-byte timeout 300 s above the 240 s request
    deadline) the client sends two calls per slot: the second waits inside the server, and the third, sent
    when the first ends, waits there behind the second; the server's own accounting shows both waits
    (total_duration beyond load, prompt and eval). With a first-byte timeout below the deadline every call
    waits in the client, and none inside the server. Nothing times out or is retried either way."""
    server = ollama_real_factory({"OLLAMA_NUM_PARALLEL": "1"})
    models = build_models(settings(server, OLLAMA_NUM_PARALLEL="1", OLLAMA_FIRST_BYTE_TIMEOUT=first_byte,
                                   LLM_NUM_PREDICT="48"), Metrics(CollectorRegistry()))
    results, errors = call_at_once(
        lambda i: models.text.generate_text(f"Write a long story about vegetable number {i}.",
                                            deadline=Deadline.after(600)), 3, timeout_s=600)
    assert errors == [] and len(results) == 3 and all(r.attempts == 1 for r in results)
    # A call waiting behind another waits about that call's prompt and generation; the server's own gaps
    # (tokenizing, sampling, the runner's HTTP) stay far below half of one on a loaded machine.
    active = sorted((r.prompt_eval_duration_ns or 0) + (r.eval_duration_ns or 0) for r in results)
    assert active[0] > 0 and all(r.slot_wait_ns is not None for r in results)
    assert sum(1 for r in results if (r.slot_wait_ns or 0) > active[1] / 2) == waited_inside, \
        [(r.slot_wait_ns, r.prompt_eval_duration_ns, r.eval_duration_ns, r.eval_count) for r in results]


# --------------------------------------------------------------------------- runner options, keep_alive


def test_warm_up_and_calls_load_the_model_once_with_the_same_runner_options(ollama_real_factory):
    """Defects 1 and 2: the warm-up carries the calls' options, so the model is loaded once with num_ctx
    2048; OLLAMA_KEEP_ALIVE=-1 goes as the number -1 (the string "-1" is a 400 on this server)."""
    server = ollama_real_factory({})
    # The text role alone (the vision role on another host): the tiny model cannot see, and this test is
    # about loading, not about the capability check.
    models = build_models(settings(server, OLLAMA_KEEP_ALIVE="-1", OLLAMA_VISION_HOST="http://127.0.0.1:9"),
                          Metrics(CollectorRegistry()))
    text_probe = models.servers[-1]
    assert text_probe.role == "text"
    assert text_probe.prepare(pull_on_start=False, warm_up=True) is True
    after_warm_up = loaded(server)
    assert models.text.generate_text(PROMPTS[0], deadline=Deadline.after(300)).text
    after_calls = loaded(server)
    assert server.model_loads() == 1
    assert [m["context_length"] for m in after_warm_up] == [2048] == [m["context_length"] for m in after_calls]
    assert after_warm_up[0]["size"] == after_calls[0]["size"]
    expires = datetime.fromisoformat(after_calls[0]["expires_at"])
    assert expires.astimezone(UTC).year > 2100  # keep_alive -1: loaded for ever


def test_the_real_server_reloads_for_other_runner_options_and_refuses_a_string_minus_one(ollama_real_factory):
    """What defects 1 and 2 did, shown on the server: a warm-up without options loads its own context size,
    and the next call with num_ctx 2048 loads the model again; keep_alive "-1" as a string is a 400."""
    server = ollama_real_factory({})
    assert server.api("/api/generate", {"model": server.model, "stream": False})["done_reason"] == "load"
    default_ctx = loaded(server)[0]["context_length"]
    server.api("/api/generate", {"model": server.model, "prompt": "Hi", "stream": False,
                                 "options": {"num_ctx": 2048, "num_predict": 2}}, timeout=300)
    assert default_ctx != 2048 and server.model_loads() == 2
    r = requests.post(f"{server.base_url}/api/generate", json={"model": server.model, "keep_alive": "-1"}, timeout=30)
    assert r.status_code == 400 and r.json()["error"] == 'time: missing unit in duration "-1"'


# --------------------------------------------------------------------------- structured output


class Dish(BaseModel):
    name: str = Field(max_length=40)
    calories: int = Field(ge=0, le=5000)
    vegetarian: bool


def test_structured_output_with_a_json_schema_format_always_validates(ollama_real):
    c = client(ollama_real)
    schema = Dish.model_json_schema()
    for prompt in PROMPTS:
        out = c.chat(ChatRequest(model=ollama_real.model, format=schema, think=False, truncate=False,
                                 options=Options(temperature=0, seed=42, num_ctx=2048, num_predict=64),
                                 messages=[Message(role="user", content=f"{prompt} Answer as JSON with name, "
                                                   "calories and vegetarian.")]),
                     deadline=Deadline.after(300))
        assert out.done_reason == "stop", out
        Dish.model_validate_json(out.text)


# --------------------------------------------------------------------------- failures


def test_a_missing_model_is_model_not_found_and_a_readiness_failure(ollama_real):
    models = build_models(settings(ollama_real, OLLAMA_MODEL="llava:7b"), Metrics(CollectorRegistry()))
    reasons = [r for p in models.probes for r in p.not_ready_reasons()]
    assert reasons and all("'llava:7b'" in r and "not present" in r for r in reasons)
    with pytest.raises(ModelCallError) as info:
        models.text.generate_text("hi", deadline=Deadline.after(300))
    assert info.value.code == ErrorCode.MODEL_NOT_FOUND and "model 'llava:7b' not found" in info.value.message


def test_a_digest_name_is_not_a_model_name_to_the_server(ollama_real):
    """Defect 10: v0.17.4 has no `@sha256:` form; our name rules say the same as the server's 404."""
    digest = ollama_real.api("/api/tags")["models"][0]["digest"]
    name = f"{ollama_real.model}@sha256:{digest}"
    r = requests.post(f"{ollama_real.base_url}/api/generate", json={"model": name, "prompt": "hi", "stream": False},
                      timeout=60)
    assert r.status_code == 404 and not is_valid_model_name(name)


def test_a_server_killed_mid_generation_and_restarted(ollama_real_own):
    """A crash while streaming is transient: the call is retried and answered after the restart."""
    c = client(ollama_real_own, max_attempts=40)
    c.warm_up(ollama_real_own.model, options=Options(num_ctx=2048), keep_alive="30m")
    request = GenerateRequest(model=ollama_real_own.model, prompt="Count from 1 to 300, one number a line.",
                              think=False, truncate=False,
                              # Long enough (hundreds of tokens) that the kill lands mid-stream on a fast machine too.
                              options=Options(temperature=0, seed=1, num_ctx=2048, num_predict=400))
    outcome: list = []
    worker = threading.Thread(target=lambda: outcome.append(c.generate(request, deadline=Deadline.after(400))))
    worker.start()
    time.sleep(1.5)  # the model is warm: tokens are streaming now
    ollama_real_own.kill()
    time.sleep(1.0)
    ollama_real_own.restart()
    worker.join(420)
    assert outcome and outcome[0].text and outcome[0].attempts >= 2


def test_the_repeat_guard_cut_is_invalid_output_and_goes_down_the_feedback_path(ollama_real):
    """Defect 3: at temperature 0 the tiny model answers "0000000000" with zeros until the runner's repeat
    guard (more than 30 identical tokens) ends the stream without a final chunk. That is the model's output
    going wrong: one call, then the feedback re-ask, never the identical call again as a transient error."""
    c = client(ollama_real)
    request = GenerateRequest(model=ollama_real.model, prompt="0000000000", think=False, truncate=False,
                              options=Options(temperature=0, seed=42, num_ctx=2048, num_predict=64))
    with pytest.raises(RepeatGuardCut) as cut:
        c.generate(request, deadline=Deadline.after(300))
    assert cut.value.partial_text.startswith("0000") and not cut.value.transient
    metrics = Metrics(CollectorRegistry())
    models = build_models(settings(ollama_real, LLM_NUM_PREDICT="64", LLM_VALIDATION_RETRIES="1"), metrics)
    try:
        answer = models.text.generate_text("0000000000", deadline=Deadline.after(600))
        assert answer.text.strip()
    except ModelCallError as exc:
        assert exc.code == ErrorCode.MODEL_OUTPUT_INVALID and "repeat" in exc.message
    assert metrics.registry.get_sample_value("models_processor_model_validation_retries_total",
                                             {"role": "text"}) == 1  # the feedback re-ask, once
    assert not any(metrics.registry.get_sample_value("models_processor_retries_total",
                                                     {"target": "ollama", "reason": r.value}) for r in FailureReason)


# --------------------------------------------------------------------------- capabilities, think, truncate


def test_a_text_only_model_as_the_vision_model_is_a_readiness_failure_and_model_unavailable(ollama_real):
    """Defect 7: gemma3-tiny lists only `completion`. /ready names the variable; a photo gets
    model_unavailable saying why, and the server's own 500 is not read as the user's bad photo."""
    assert ollama_real.api("/api/show", {"model": ollama_real.model})["capabilities"] == ["completion"]
    models = build_models(settings(ollama_real), Metrics(CollectorRegistry()))
    assert models.servers[0].prepare(pull_on_start=False, warm_up=False) is False
    reasons = models.servers[0].not_ready_reasons()
    assert reasons and "cannot read images" in reasons[0] and "OLLAMA_VISION_MODEL" in reasons[0]
    with pytest.raises(ModelCallError) as info:
        models.vision.extract(image_jpeg=PNG, result_model=FoodResult, instruction="x", deadline=Deadline.after(300))
    assert info.value.code == ErrorCode.MODEL_UNAVAILABLE and "cannot read images" in info.value.message
    with pytest.raises(OllamaCallError) as raw:
        client(ollama_real).generate(GenerateRequest(model=ollama_real.model, prompt="what is this?", images=[PNG],
                                                     think=False), deadline=Deadline.after(300))
    assert raw.value.reason is FailureReason.NO_VISION and not raw.value.transient  # defect 8: not retried
    assert "missing data required for image input" in raw.value.message


def test_think_and_truncate_as_the_client_sends_them(ollama_real):
    """Defects 5 and 6: think:false is always accepted (think:true is a 400 on a model that cannot think);
    truncate:false turns a prompt over num_ctx into a clear error instead of a silently cut prompt."""
    c = client(ollama_real)
    opts = Options(temperature=0, seed=42, num_ctx=2048, num_predict=4)
    assert c.generate(GenerateRequest(model=ollama_real.model, prompt="Say hi.", think=False, options=opts),
                      deadline=Deadline.after(300)).text
    with pytest.raises(OllamaCallError) as thinking:
        c.generate(GenerateRequest(model=ollama_real.model, prompt="Say hi.", think=True, options=opts),
                   deadline=Deadline.after(300))
    assert "does not support thinking" in thinking.value.message and not thinking.value.transient
    long_prompt = "Tell me about lentils. " * 600  # ~3000 tokens, over num_ctx 2048
    with pytest.raises(OllamaCallError) as refused:
        c.generate(GenerateRequest(model=ollama_real.model, prompt=long_prompt, think=False, truncate=False,
                                   options=opts), deadline=Deadline.after(300))
    assert refused.value.reason is FailureReason.CONTEXT_EXCEEDED and not refused.value.transient


# --------------------------------------------------------------------------- the stand-in against the server


CASES = [
    ("unknown model", "/api/generate", {"model": "llava:7b", "prompt": "hi", "stream": False}),
    ("keep_alive string -1", "/api/generate", {"model": "{model}", "keep_alive": "-1"}),
    ("think on a model that cannot", "/api/generate", {"model": "{model}", "prompt": "hi", "think": True}),
    ("image to a text-only model", "/api/generate",
     {"model": "{model}", "prompt": "hi", "stream": False, "images": ["{png}"], "think": False}),
    ("digest name", "/api/generate", {"model": "{model}@sha256:" + "a" * 64, "prompt": "hi", "stream": False}),
    ("over num_ctx with truncate false", "/api/generate",
     {"model": "{model}", "prompt": "lentils " * 3000, "stream": False, "truncate": False,
      "options": {"num_ctx": 1024}}),
    ("show unknown model", "/api/show", {"model": "llava:7b"}),
]


def _ask(base_url: str, model: str, path: str, body: dict) -> tuple[int, str]:
    import base64

    text = json.dumps(body).replace("{model}", model).replace("{png}", base64.b64encode(PNG).decode())
    r = requests.post(base_url + path, data=text, headers={"Content-Type": "application/json"}, timeout=120)
    return r.status_code, r.json().get("error", "") if r.status_code != 200 else ""


def test_standin_matches_the_real_server(ollama_real):
    """Status and error text of the stand-in equal the real server's for the cases the client relies on."""
    with OllamaStandIn(models=(f"{ollama_real.model}:latest",), vision_models=()) as standin:
        for label, path, body in CASES:
            real = _ask(ollama_real.base_url, ollama_real.model, path, body)
            fake = _ask(standin.url, ollama_real.model, path, body)
            assert fake == real, f"{label}: stand-in {fake} vs real {real}"
