"""The OpenAI-compatible backend against a real server: the local Ollama 0.17.4's own /v1 endpoints (tiny
text-only Gemma 3). A 503 with Retry-After, which the real server gives only under a load we cannot make
on demand, comes from a one-shot proxy in front of it that answers as Ollama does when its queue is full."""

from __future__ import annotations

import base64
import io
import json
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from PIL import Image
from pydantic import BaseModel

from models_processor.config import load_settings
from models_processor.deadline import Deadline
from models_processor.errors import ErrorCode
from models_processor.llm.api import ChatRequest, Message, Options
from models_processor.llm.base import ModelCallError
from models_processor.llm.factory import build_models
from models_processor.llm.openai_compat import OpenAICompatClient, OpenAICompatReadiness, chat_body
from models_processor.metrics import Metrics


class Dish(BaseModel):
    name: str
    minutes: int


def _settings(ollama_real, **extra: str):
    return load_settings({"OLLAMA_HOST": ollama_real.base_url, "OLLAMA_MODEL": ollama_real.model,
                          "LLM_VISION_BACKEND": "openai", "LLM_TEXT_BACKEND": "openai", "LLM_NUM_PREDICT": "24",
                          "RESULT_CACHE_SIZE": "0", **extra})


def _client(ollama_real, metrics: Metrics, base_url: str | None = None) -> OpenAICompatClient:
    return OpenAICompatClient(base_url or ollama_real.base_url, connect_timeout=5, read_timeout=120, metrics=metrics,
                              role="text", backoff_initial=0.2)


def test_text_model_streams_over_v1_with_usage_tokens_and_is_ready(ollama_real):
    metrics = Metrics()
    models = build_models(_settings(ollama_real), metrics)
    assert [type(p).__name__ for p in models.probes] == ["OpenAICompatReadiness", "OpenAICompatReadiness"]
    assert models.servers == []  # no Ollama pull/warm-up for openai roles
    assert all(p.not_ready_reasons() == [] for p in models.probes)
    generation = models.text.generate_text("Lentil soup is", deadline=Deadline.after(120))
    assert generation.text.strip() and generation.model.startswith(ollama_real.model)
    assert generation.eval_count and generation.prompt_eval_count  # usage from the last SSE chunk
    assert metrics.registry.get_sample_value(
        "models_processor_model_tokens_total", {"role": "text", "model": ollama_real.model, "type": "eval"}
    ) == generation.eval_count


def test_json_schema_strict_answer_follows_the_schema(ollama_real):
    schema = Dish.model_json_schema()
    request = ChatRequest(model=ollama_real.model, format=schema, options=Options(num_predict=60, temperature=0),
                          messages=[Message(role="user", content="A dish as JSON:")])
    assert chat_body(request)["response_format"] == {
        "type": "json_schema", "json_schema": {"name": "result", "schema": schema, "strict": True}}
    client = _client(ollama_real, Metrics())
    generation = client.chat(request, deadline=Deadline.after(120))
    client.close()
    assert generation.done_reason == "stop"  # the grammar closed the object within num_predict
    dish = Dish.model_validate_json(generation.text)  # a base model that only continues text, held to the schema
    assert isinstance(dish.minutes, int)


def test_unknown_model_is_permanent_not_found_and_not_ready(ollama_real):
    metrics = Metrics()
    client = _client(ollama_real, metrics)
    request = ChatRequest(model="no-such-model:1b", messages=[Message(role="user", content="hi")])
    with pytest.raises(ModelCallError) as raised:
        client.chat(request, deadline=Deadline.after(30))
    assert raised.value.code is ErrorCode.MODEL_NOT_FOUND and not raised.value.transient
    assert raised.value.status == 404
    assert metrics.registry.get_sample_value("models_processor_retries_total",
                                             {"target": "openai", "reason": "not_found"}) is None  # no retry
    [reason] = OpenAICompatReadiness(client, "no-such-model:1b", "text", "OLLAMA_TEXT_MODEL").not_ready_reasons()
    assert "not served by" in reason and ollama_real.model in reason


def test_image_goes_as_a_data_url_and_a_text_only_model_says_it_cannot_see(ollama_real):
    jpeg = io.BytesIO()
    Image.new("RGB", (32, 32), (200, 30, 30)).save(jpeg, "JPEG")
    models = build_models(_settings(ollama_real), Metrics())
    body = chat_body(ChatRequest(model="m", messages=[Message(role="user", content="what?",
                                                              images=[base64.b64encode(jpeg.getvalue()).decode()])]))
    assert body["messages"][0]["content"][1]["image_url"]["url"].startswith("data:image/jpeg;base64,/9j/")
    with pytest.raises(ModelCallError) as raised:
        models.vision.extract(image_jpeg=jpeg.getvalue(), result_model=Dish, instruction="Describe the dish.",
                              deadline=Deadline.after(60))
    assert raised.value.code is ErrorCode.MODEL_UNAVAILABLE and "cannot read images" in raised.value.message


class _BusyOnce(ThreadingHTTPServer):
    """Answers the first chat call 503 with Retry-After (Ollama's queue-full answer), forwards the rest."""

    def __init__(self, upstream: str, retry_after: str) -> None:
        self.calls: list[float] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                proxy.calls.append(time.monotonic())
                if len(proxy.calls) == 1:
                    payload = json.dumps({"error": {"message": "server busy, please try again.  maximum pending "
                                                    "requests exceeded", "type": "api_error"}}).encode()
                    self.send_response(503)
                    self.send_header("Retry-After", retry_after)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                forward = urllib.request.Request(upstream + self.path, data=body, method="POST",
                                                 headers={"Content-Type": "application/json"})
                with urllib.request.urlopen(forward, timeout=120) as answer:
                    data = answer.read()
                    self.send_response(answer.status)
                    self.send_header("Content-Type", answer.headers["Content-Type"])
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()


def test_503_is_retried_after_retry_after(ollama_real):
    proxy = _BusyOnce(ollama_real.base_url, retry_after="1")
    metrics = Metrics()
    client = _client(ollama_real, metrics, base_url=f"http://127.0.0.1:{proxy.server_address[1]}")
    try:
        generation = client.chat(ChatRequest(model=ollama_real.model, options=Options(num_predict=8),
                                             messages=[Message(role="user", content="Beans are")]),
                                 deadline=Deadline.after(120))
    finally:
        client.close()
        proxy.shutdown()
    assert generation.attempts == 2 and generation.text
    assert len(proxy.calls) == 2 and proxy.calls[1] - proxy.calls[0] >= 1.0  # Retry-After, not the 0.2 s backoff
    assert metrics.registry.get_sample_value("models_processor_retries_total",
                                             {"target": "openai", "reason": "status_503"}) == 1
