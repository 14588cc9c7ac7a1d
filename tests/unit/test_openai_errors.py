"""The OpenAI-compatible client's own error classification (llm/openai_errors.py): what vLLM, llama.cpp's server
and an OpenAI-style gateway answer (testkit/fakes/openai_server.py, from their source and docs, not run) becomes
the right error code, retried or not, in words that name the server kind, never "Ollama"."""

from __future__ import annotations

import email.utils
import time
from collections.abc import Iterator

import pytest
import requests

from models_processor.deadline import Deadline
from models_processor.errors import ErrorCode
from models_processor.llm.api import ChatRequest, Message
from models_processor.llm.failures import FailureReason, OllamaCallError
from models_processor.llm.openai_compat import OpenAICompatClient
from models_processor.llm.openai_errors import ServerError, classify_openai, retry_after
from models_processor.metrics import Metrics
from testkit.fakes.openai_server import Flavor, OpenAIStandIn

MODEL = "served-model"


@pytest.fixture
def standin(request: pytest.FixtureRequest) -> Iterator[OpenAIStandIn]:
    server = OpenAIStandIn(**request.param).start()
    yield server
    server.stop()


def _call(standin: OpenAIStandIn, model: str = MODEL, content: str = "hi",
          metrics: Metrics | None = None) -> OllamaCallError:
    client = OpenAICompatClient(standin.base_url, connect_timeout=2, read_timeout=5, metrics=metrics or Metrics(),
                                role="text", max_attempts=4, backoff_initial=0.05)
    try:
        client.models()  # as readiness does: the server kind is learnt from /v1/models
        with pytest.raises(OllamaCallError) as raised:
            client.chat(ChatRequest(model=model, messages=[Message(role="user", content=content)]),
                        deadline=Deadline.after(10))
    finally:
        client.close()
    return raised.value


def _chat_calls(standin: OpenAIStandIn) -> int:
    return sum(path == "/v1/chat/completions" for path, _ in standin.requests)


@pytest.mark.parametrize("standin", [{"flavor": Flavor.VLLM}], indirect=True)
def test_vllm_unknown_model_404_is_model_not_found_in_vllms_words(standin: OpenAIStandIn) -> None:
    error = _call(standin, model="no-such-model")
    assert error.code is ErrorCode.MODEL_NOT_FOUND and not error.transient and error.status == 404
    assert error.reason is FailureReason.NOT_FOUND
    assert "vLLM (text server" in error.message and "The model `no-such-model` does not exist." in error.message
    assert "Ollama" not in error.message
    assert _chat_calls(standin) == 1  # permanent: not retried


@pytest.mark.parametrize("standin", [{"flavor": Flavor.LLAMACPP, "router": True}], indirect=True)
def test_llamacpp_router_unknown_model_400_is_model_not_found(standin: OpenAIStandIn) -> None:
    error = _call(standin, model="no-such-model")
    assert error.code is ErrorCode.MODEL_NOT_FOUND and error.status == 400 and not error.transient
    assert "llama.cpp server (text server" in error.message and "Ollama" not in error.message
    assert _chat_calls(standin) == 1


@pytest.mark.parametrize("standin", [{"flavor": Flavor.LLAMACPP}], indirect=True)
def test_single_model_llamacpp_answers_any_model_name(standin: OpenAIStandIn) -> None:
    client = OpenAICompatClient(standin.base_url, connect_timeout=2, read_timeout=5, metrics=Metrics(), role="text")
    generation = client.chat(ChatRequest(model="whatever", messages=[Message(role="user", content="hi")]),
                             deadline=Deadline.after(10))
    client.close()
    assert generation.text and standin.statuses == [200]


@pytest.mark.parametrize("standin", [{"flavor": Flavor.VLLM, "max_model_len": 8},
                                     {"flavor": Flavor.LLAMACPP, "max_model_len": 8}], indirect=True)
def test_prompt_over_the_context_is_a_permanent_invalid_request(standin: OpenAIStandIn) -> None:
    error = _call(standin, content="a prompt far longer than eight tokens of four characters each")
    assert error.code is ErrorCode.INVALID_REQUEST and error.reason is FailureReason.CONTEXT_EXCEEDED
    assert not error.transient and error.status == 400
    assert "--max-model-len" in error.message and "--ctx-size" in error.message
    assert _chat_calls(standin) == 1


@pytest.mark.parametrize("standin", [{"flavor": Flavor.VLLM, "busy": [(429, 0.4)]}], indirect=True)
def test_429_is_retried_after_its_retry_after(standin: OpenAIStandIn) -> None:
    metrics = Metrics()
    client = OpenAICompatClient(standin.base_url, connect_timeout=2, read_timeout=5, metrics=metrics, role="text",
                                backoff_initial=0.01)
    started = time.monotonic()
    generation = client.chat(ChatRequest(model=MODEL, messages=[Message(role="user", content="hi")]),
                             deadline=Deadline.after(10))
    client.close()
    assert generation.attempts == 2 and standin.statuses == [429, 200]
    assert time.monotonic() - started >= 0.4  # Retry-After, not the 0.01 s backoff
    assert metrics.registry.get_sample_value("models_processor_retries_total",
                                             {"target": "openai", "reason": "status_429"}) == 1


@pytest.mark.parametrize("standin", [{"flavor": Flavor.LLAMACPP, "busy": [(503, 30.0)]}], indirect=True)
def test_a_retry_after_beyond_the_deadline_fails_at_once_as_transient(standin: OpenAIStandIn) -> None:
    error = _call(standin)
    assert error.code is ErrorCode.MODEL_UNAVAILABLE and error.transient and error.status == 503
    assert error.reason is FailureReason.STATUS_503 and "llama.cpp server" in error.message
    assert _chat_calls(standin) == 1  # 30 s > the 10 s deadline: no pointless wait


def _classify(status: int | None, payload: object, kind: str = "vLLM") -> OllamaCallError:
    return classify_openai(status, ServerError.of(payload), kind=kind, model="m", role="vision",
                           base_url="http://vllm:8000")


def test_earlier_vllm_top_level_error_shape_is_read_too() -> None:
    error = _classify(404, {"object": "error", "message": "The model `m` does not exist.", "type": "NotFoundError",
                            "param": None, "code": 404})
    assert error.code is ErrorCode.MODEL_NOT_FOUND and "does not exist" in error.message


@pytest.mark.parametrize(("status", "payload", "code", "transient", "reason", "words"), [
    (401, {"error": "Unauthorized"}, ErrorCode.MODEL_UNAVAILABLE, False, FailureReason.AUTH, "OPENAI_API_KEY"),
    (404, {"error": {"message": "File Not Found", "type": "not_found_error", "code": 404}},
     ErrorCode.MODEL_UNAVAILABLE, False, FailureReason.NOT_FOUND, "without /v1"),
    (404, {"error": {"message": "The model `gpt-x` does not exist or you do not have access to it.",
                     "type": "invalid_request_error", "code": "model_not_found"}},
     ErrorCode.MODEL_NOT_FOUND, False, FailureReason.NOT_FOUND, "not served"),
    (429, {"error": {"message": "You exceeded your current quota", "type": "insufficient_quota",
                     "code": "insufficient_quota"}}, ErrorCode.MODEL_UNAVAILABLE, False,
     FailureReason.PERMANENT_SERVER, "quota"),
    (400, {"error": {"message": "bad field", "type": "BadRequestError", "code": 400}}, ErrorCode.INTERNAL, False,
     FailureReason.BAD_REQUEST, "vLLM (vision server http://vllm:8000) answered 400"),
    (500, {"error": {"message": "Internal server error", "type": "InternalServerError", "code": 500}},
     ErrorCode.MODEL_UNAVAILABLE, True, FailureReason.STATUS_5XX, "answered 500"),
    (501, {"error": {"message": "This server does not support embeddings", "type": "not_supported_error",
                     "code": 501}}, ErrorCode.MODEL_UNAVAILABLE, False, FailureReason.PERMANENT_SERVER, "501"),
    (502, "<html>Bad Gateway</html>", ErrorCode.MODEL_UNAVAILABLE, True, FailureReason.STATUS_5XX, "Bad Gateway"),
    # Error events inside a 200 stream: vLLM puts the status in `code`.
    (None, {"error": {"message": "Internal server error", "type": "InternalServerError", "code": 500}},
     ErrorCode.MODEL_UNAVAILABLE, True, FailureReason.STATUS_5XX, "error in stream (500)"),
    (None, {"error": {"message": "something broke", "type": "api_error"}}, ErrorCode.MODEL_UNAVAILABLE, True,
     FailureReason.STREAM_ERROR, "error in stream before any output"),
])
def test_classification_by_status_and_body(status: int | None, payload: object, code: ErrorCode, transient: bool,
                                           reason: FailureReason, words: str) -> None:
    error = _classify(status, payload)
    assert (error.code, error.transient, error.reason) == (code, transient, reason)
    assert words in error.message and "Ollama" not in error.message


def _response(headers: dict[str, str]) -> requests.Response:
    resp = requests.Response()
    resp.headers.update(headers)
    return resp


def test_retry_after_in_seconds_as_an_http_date_and_in_openais_milliseconds() -> None:
    now = time.time()
    assert retry_after(_response({"Retry-After": "2"})) == 2.0
    date = email.utils.formatdate(now + 5, usegmt=True)
    assert 3.5 <= (retry_after(_response({"Retry-After": date}), now=now) or 0) <= 5.0
    assert retry_after(_response({"retry-after-ms": "250", "Retry-After": "1"})) == 0.25
    assert retry_after(_response({})) is None and retry_after(_response({"Retry-After": "soon"})) is None
