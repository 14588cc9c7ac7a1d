"""The OpenAI-compatible client (llm/openai_compat.py, built by the factory as the service builds it) against
the vLLM and llama.cpp flavors of the stand-in (testkit/fakes/openai_server.py). Neither server was run here:
the stand-in follows their documentation, named in its docstring."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from PIL import Image
from pydantic import BaseModel

from models_processor.config import load_settings
from models_processor.deadline import Deadline
from models_processor.errors import ErrorCode
from models_processor.llm.api import ChatRequest, Message
from models_processor.llm.base import ModelCallError
from models_processor.llm.factory import ModelSet, build_models
from models_processor.llm.openai_compat import OpenAICompatClient
from models_processor.metrics import Metrics
from testkit.fakes.openai_server import (
    ERR_LLAMACPP_LOADING,
    ERR_LLAMACPP_NO_MMPROJ,
    ERR_LLAMACPP_SCHEMA_AND_GRAMMAR,
    Flavor,
    OpenAIStandIn,
)

MODEL = "served-model"


class Receipt(BaseModel):
    shop: str
    total: float
    items: list[str]


def _photo() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (32, 32), "white").save(out, "JPEG")
    return out.getvalue()


@pytest.fixture
def standin(request: pytest.FixtureRequest) -> Iterator[OpenAIStandIn]:
    server = OpenAIStandIn(**request.param).start()
    yield server
    server.stop()


def _models(standin: OpenAIStandIn, metrics: Metrics) -> ModelSet:
    return build_models(load_settings({"OLLAMA_HOST": standin.base_url, "OLLAMA_MODEL": MODEL,
                                       "LLM_VISION_BACKEND": "openai", "LLM_TEXT_BACKEND": "openai",
                                       "RESULT_CACHE_SIZE": "0"}), metrics)


def _chat_bodies(standin: OpenAIStandIn) -> list[dict[str, Any]]:
    return [body for path, body in standin.requests if path == "/v1/chat/completions"]


@pytest.mark.parametrize("standin", [{"flavor": Flavor.VLLM, "image_limit": 1},
                                     {"flavor": Flavor.LLAMACPP, "mmproj": True}], indirect=True)
def test_structured_photo_answer_validates_with_usage_and_readiness(standin: OpenAIStandIn) -> None:
    metrics = Metrics()
    models = _models(standin, metrics)
    assert all(p.not_ready_reasons() == [] for p in models.probes)
    receipt, generation = models.vision.extract(image_jpeg=_photo(), result_model=Receipt,
                                                instruction="Read the receipt.", deadline=Deadline.after(10))
    assert isinstance(receipt, Receipt) and generation.attempts == 1
    assert generation.eval_count and generation.prompt_eval_count  # from the include_usage chunk
    body = _chat_bodies(standin)[0]
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["schema"]["title"] == "Receipt"
    parts = body["messages"][-1]["content"]
    assert [p["type"] for p in parts] == ["text", "image_url"]
    assert parts[1]["image_url"]["url"].startswith("data:image/jpeg;base64,")


@pytest.mark.parametrize("standin", [{"flavor": Flavor.VLLM, "image_limit": 0}], indirect=True)
def test_vllm_image_over_the_per_prompt_limit_is_a_permanent_model_unavailable(standin: OpenAIStandIn) -> None:
    models = _models(standin, Metrics())
    with pytest.raises(ModelCallError) as raised:
        models.vision.extract(image_jpeg=_photo(), result_model=Receipt, instruction="Read it.",
                              deadline=Deadline.after(10))
    error = raised.value
    assert error.code is ErrorCode.MODEL_UNAVAILABLE and not error.transient and error.status == 400
    assert "--limit-mm-per-prompt" in error.message and "At most 0 image(s)" in error.message
    assert len(_chat_bodies(standin)) == 1  # not retried


@pytest.mark.parametrize("standin", [{"flavor": Flavor.LLAMACPP, "mmproj": False}], indirect=True)
def test_llamacpp_image_without_mmproj_is_a_permanent_model_unavailable(standin: OpenAIStandIn) -> None:
    models = _models(standin, Metrics())
    with pytest.raises(ModelCallError) as raised:
        models.vision.extract(image_jpeg=_photo(), result_model=Receipt, instruction="Read it.",
                              deadline=Deadline.after(10))
    error = raised.value
    assert error.code is ErrorCode.MODEL_UNAVAILABLE and not error.transient and error.status == 500
    assert "--mmproj" in error.message and ERR_LLAMACPP_NO_MMPROJ in error.message
    assert len(_chat_bodies(standin)) == 1  # a 500 is usually retried; this one cannot succeed
    assert standin.statuses == [500]


@pytest.mark.parametrize("standin", [{"flavor": Flavor.LLAMACPP, "loading_s": 60}], indirect=True)
def test_llamacpp_503_while_loading_is_retried_until_loaded(standin: OpenAIStandIn) -> None:
    # Loaded once the first call was refused: a fixed loading time raced the first call's arrival.
    loader = standin.finish_loading_once_refused()
    metrics = Metrics()
    client = OpenAICompatClient(standin.base_url, connect_timeout=2, read_timeout=5, metrics=metrics,
                                role="text", max_attempts=8, backoff_initial=0.2)
    request = ChatRequest(model=MODEL, messages=[Message(role="user", content="hi")],
                          format=Receipt.model_json_schema())
    generation = client.chat(request, deadline=Deadline.after(10))
    client.close()
    loader.join(10)
    Receipt.model_validate_json(generation.text)
    assert generation.attempts >= 2 and standin.statuses[:-1] == [503] * (generation.attempts - 1)
    assert standin.statuses[-1] == 200
    assert metrics.registry.get_sample_value("models_processor_retries_total",
                                             {"target": "openai", "reason": "status_503"}) == generation.attempts - 1


@pytest.mark.parametrize("standin", [{"flavor": Flavor.LLAMACPP, "loading_s": 30}], indirect=True)
def test_llamacpp_loading_answers_503_on_models_so_readiness_says_not_ready(standin: OpenAIStandIn) -> None:
    models = _models(standin, Metrics())
    reasons = [r for p in models.probes for r in p.not_ready_reasons()]
    assert reasons and all(ERR_LLAMACPP_LOADING in r for r in reasons)


@pytest.mark.parametrize("standin", [{"flavor": Flavor.LLAMACPP}], indirect=True)
def test_llamacpp_refuses_a_schema_and_a_grammar_together_and_takes_its_native_json_schema(
        standin: OpenAIStandIn) -> None:
    url = standin.base_url + "/v1/chat/completions"
    base = {"model": MODEL, "messages": [{"role": "user", "content": "x"}]}
    schema = Receipt.model_json_schema()
    both = requests.post(url, json={**base, "json_schema": schema, "grammar": "root ::= \"a\""}, timeout=5)
    assert both.status_code == 400
    assert both.json()["error"] == {"message": ERR_LLAMACPP_SCHEMA_AND_GRAMMAR, "type": "invalid_request_error",
                                    "code": 400}
    native = requests.post(url, json={**base, "json_schema": schema}, timeout=5)  # not streamed
    assert native.status_code == 200
    Receipt.model_validate_json(native.json()["choices"][0]["message"]["content"])
    assert native.json()["usage"]["completion_tokens"] > 0


@pytest.mark.parametrize("standin", [{"flavor": Flavor.VLLM}], indirect=True)
def test_vllm_takes_structured_outputs_json_and_no_longer_honours_guided_json(standin: OpenAIStandIn) -> None:
    url = standin.base_url + "/v1/chat/completions"
    base = {"model": MODEL, "messages": [{"role": "user", "content": "x"}]}
    native = requests.post(url, json={**base, "structured_outputs": {"json": Receipt.model_json_schema()}}, timeout=5)
    Receipt.model_validate_json(native.json()["choices"][0]["message"]["content"])
    removed = requests.post(url, json={**base, "guided_json": Receipt.model_json_schema()}, timeout=5)
    assert json.loads(removed.json()["choices"][0]["message"]["content"]) == "ok"  # removed in v0.12.0
