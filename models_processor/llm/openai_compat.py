"""An OpenAI-compatible model server (vLLM, llama.cpp's server, Ollama's own /v1, a cloud fallback) behind
the calls the Ollama client offers: chat() and generate() take the same typed requests (api.py) and return
the same Generation, so the structured and text models (structured.py), their validation retries, the
result cache and the token metrics work unchanged. README.md, "OpenAI-compatible backend".

Wire: POST /v1/chat/completions, streamed as server-sent events with usage in the last chunk; a JSON Schema
result as response_format {type: json_schema, json_schema: {name, schema, strict: true}}; images as
data: URLs in content parts. Errors are classified by openai_errors.py, in the server kind's words: 429 and
503 are transient and retried after Retry-After (within the request deadline), 400 and 404 are permanent,
an unknown model is model_not_found. Readiness lists /v1/models.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import time
from collections.abc import Iterator
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from ..deadline import Deadline
from ..errors import ErrorCode
from ..metrics import Metrics
from ..tracing import span
from .api import ChatRequest, GenerateRequest, Message, ShowResponse
from .base import Generation, ModelCallError
from .failures import FailureReason, OllamaCallError, deadline_failure
from .limiter import ConcurrencyLimit, FixedLimit, Outcome
from .openai_errors import GENERIC_KIND, ServerError, classify_openai, retry_after, server_kind

log = logging.getLogger(__name__)

# Answers that mean the server is overloaded: an adaptive in-flight limit backs off (limiter.py).
_OVERLOAD = frozenset({FailureReason.STATUS_429, FailureReason.STATUS_503, FailureReason.FIRST_BYTE_TIMEOUT})

def _content(message: Message) -> str | list[dict[str, Any]]:
    if not message.images:
        return message.content
    parts: list[dict[str, Any]] = [{"type": "text", "text": message.content}] if message.content else []
    for image in message.images:  # api.py keeps images as base64 text
        parts.append({"type": "image_url", "image_url": {"url": f"data:image/jpeg;base64,{image}"}})
    return parts


def chat_body(request: ChatRequest | GenerateRequest) -> dict[str, Any]:
    """The /v1/chat/completions body for one of our Ollama-shaped requests."""
    if isinstance(request, ChatRequest):
        messages = request.messages
    else:
        messages = ([Message(role="system", content=request.system)] if request.system else []) + [
            Message(role="user", content=request.prompt or "", images=request.images)]
    body: dict[str, Any] = {"model": request.model, "stream": True, "stream_options": {"include_usage": True},
                            "messages": [{"role": m.role, "content": _content(m)} for m in messages]}
    options = request.options
    if options is not None:
        for ours, theirs in (("temperature", "temperature"), ("num_predict", "max_tokens"), ("seed", "seed"),
                             ("top_p", "top_p"), ("stop", "stop")):
            value = getattr(options, ours)
            if value is not None:
                body[theirs] = value
    if isinstance(request.format, dict):
        body["response_format"] = {"type": "json_schema",
                                   "json_schema": {"name": "result", "schema": request.format, "strict": True}}
    elif request.format == "json":
        body["response_format"] = {"type": "json_object"}
    return body


class OpenAICompatClient:
    """One OpenAI-compatible base URL (without /v1). Thread-safe like requests.Session. `limit` caps the calls
    in flight (OPENAI_MAX_IN_FLIGHT; shared by the clients of one server); each attempt holds a slot, a retry's
    wait does not."""

    def __init__(self, base_url: str, *, api_key: str = "", connect_timeout: float, read_timeout: float,
                 metrics: Metrics, role: str = "vision", max_attempts: int = 4, backoff_initial: float = 0.5,
                 session: requests.Session | None = None, limit: ConcurrencyLimit | None = None,
                 pool_size: int = 10) -> None:
        self.base_url = base_url.rstrip("/")
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.role = role
        self._metrics = metrics
        self._max_attempts = max(1, max_attempts)
        self._backoff_initial = backoff_initial
        self.limit: ConcurrencyLimit = limit or FixedLimit(0)
        if session is None:  # one kept-alive connection per call in flight, not urllib3's default 10
            session = requests.Session()
            adapter = HTTPAdapter(pool_connections=1, pool_maxsize=max(1, pool_size))
            session.mount("http://", adapter)
            session.mount("https://", adapter)
        self._session = session
        self._session.trust_env = False
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.server_kind = GENERIC_KIND  # named once /v1/models has answered

    # ------------------------------------------------------------------ the calls structured.py makes
    def chat(self, request: ChatRequest, *, deadline: Deadline) -> Generation:
        return self._complete(request, deadline)

    def generate(self, request: GenerateRequest, *, deadline: Deadline) -> Generation:
        return self._complete(request, deadline)

    def show(self, model: str, *, timeout: float | None = None) -> ShowResponse:
        """The OpenAI API does not say what a model can do: unknown (ModelCapabilities then checks nothing)."""
        raise ModelCallError(ErrorCode.MODEL_UNAVAILABLE, f"{self.base_url} is OpenAI-compatible: capabilities "
                             "are not published", transient=False)

    def models(self, *, timeout: float | None = None) -> list[str]:
        """GET /v1/models: the model ids the server serves."""
        try:
            resp = self._session.get(f"{self.base_url}/v1/models", headers=self._headers,
                                     timeout=timeout or self.connect_timeout)
        except requests.RequestException as exc:
            raise OllamaCallError(ErrorCode.MODEL_UNAVAILABLE, f"{self.role} model server {self.base_url} not "
                                  f"reachable: {exc}", transient=True, reason=FailureReason.CONNECTION) from None
        if resp.status_code != 200:
            raise self._error(resp, "(models)")
        data = resp.json().get("data", [])
        owners = {str(m.get("owned_by", "")) for m in data}
        if len(owners) == 1:  # the server kind its messages name (openai_errors.py)
            self.server_kind = server_kind(owners.pop())
        return [str(m.get("id", "")) for m in data]

    def close(self) -> None:
        self._session.close()

    # ------------------------------------------------------------------ one call, with retries
    def _complete(self, request: ChatRequest | GenerateRequest, deadline: Deadline) -> Generation:
        body = chat_body(request)
        with span("model call", {"model": request.model, "server": self.base_url, "path": "/v1/chat/completions"}):
            for attempt in range(1, self._max_attempts + 1):
                try:
                    outcome = self._attempt_in_slot(body, request.model, deadline)
                    return dataclasses.replace(outcome, attempts=attempt)
                except _Retry as retry:
                    if attempt == self._max_attempts or retry.wait >= deadline.remaining():
                        raise retry.error from None
                    self._metrics.retries.labels(target="openai", reason=retry.error.reason.value).inc()
                    log.warning("openai-compatible call to %s failed (%s), retry %d in %.2fs", self.base_url,
                                retry.error.message, attempt, retry.wait)
                    time.sleep(retry.wait)
        raise AssertionError("unreachable")

    def _attempt_in_slot(self, body: dict[str, Any], model: str, deadline: Deadline) -> Generation:
        """One attempt holding a slot of the in-flight limit, which learns its time to first token."""
        permit = self.limit.acquire(deadline.remaining())
        if permit is None:
            raise deadline_failure(model, self.role, self.base_url,
                                   f"waiting for one of the server's {self.limit.limit} call slots")
        outcome, latency = Outcome.IGNORED, None
        try:
            started = time.monotonic()
            generation, first_token_at = self._attempt(body, model, deadline)
            outcome, latency = Outcome.SUCCESS, first_token_at - started
            return generation
        except _Retry as retry:
            if retry.error.reason in _OVERLOAD:
                outcome = Outcome.DROPPED
            raise
        finally:
            self.limit.release(permit, outcome, latency)

    def _attempt(self, body: dict[str, Any], model: str, deadline: Deadline) -> tuple[Generation, float]:
        """The answer and when its first token arrived (monotonic)."""
        if deadline.expired():
            raise deadline_failure(model, self.role, self.base_url, "before the call")
        read = min(self.read_timeout, max(0.1, deadline.remaining()))
        try:
            resp = self._session.post(f"{self.base_url}/v1/chat/completions", json=body, headers=self._headers,
                                      timeout=(self.connect_timeout, read), stream=True)
        except requests.RequestException as exc:
            if deadline.expired():
                raise deadline_failure(model, self.role, self.base_url, "waiting for the answer") from None
            # No status line within the read timeout: the server is queueing us (or loading), not refusing.
            reason = FailureReason.FIRST_BYTE_TIMEOUT if isinstance(exc, requests.ReadTimeout) else \
                FailureReason.CONNECTION
            error = OllamaCallError(ErrorCode.MODEL_UNAVAILABLE, f"{self.role} model server {self.base_url}: {exc}",
                                    transient=True, reason=reason)
            raise _Retry(error, self._backoff_initial) from None
        try:
            if resp.status_code != 200:
                error = self._error(resp, model)
                if error.transient:
                    wait = retry_after(resp)
                    raise _Retry(error, self._backoff_initial if wait is None else wait)
                raise error
            return self._read_events(resp, model, deadline)
        except requests.RequestException as exc:
            if deadline.expired():
                raise deadline_failure(model, self.role, self.base_url, "while the answer streamed") from None
            error = OllamaCallError(ErrorCode.MODEL_UNAVAILABLE, f"{self.role} model server {self.base_url}: "
                                    f"stream broke: {exc}", transient=True, reason=FailureReason.STREAM_CUT)
            raise _Retry(error, self._backoff_initial) from None
        finally:
            resp.close()

    def _error(self, resp: requests.Response, model: str) -> OllamaCallError:
        return classify_openai(resp.status_code, ServerError.from_response(resp), kind=self.server_kind,
                               model=model, role=self.role, base_url=self.base_url)

    def _events(self, resp: requests.Response, deadline: Deadline) -> Iterator[dict[str, Any]]:
        lines = resp.iter_lines()
        for raw in lines:
            if deadline.expired():
                raise requests.ReadTimeout("request deadline passed")
            line = raw.decode("utf-8", "replace").strip() if raw else ""
            if not line.startswith("data:"):
                continue  # blank separators, comments (": keep-alive"), event names
            data = line[5:].strip()
            if data == "[DONE]":
                break
            yield json.loads(data)
        else:
            return
        # Read on to the body's end (the servers end it right after [DONE]): leaving the line iterator early
        # makes urllib3 close the socket, and every call would connect anew. A stall here costs the read
        # timeout, never the answer.
        with contextlib.suppress(requests.RequestException):
            for _ in lines:
                pass

    def _read_events(self, resp: requests.Response, model: str, deadline: Deadline) -> tuple[Generation, float]:
        text: list[str] = []
        first_token_at: float | None = None
        finish, served = "", model
        usage: dict[str, Any] = {}
        for event in self._events(resp, deadline):
            if "error" in event or event.get("object") == "error":  # after the stream started (Ollama, vLLM)
                raise classify_openai(None, ServerError.of(event), kind=self.server_kind, model=model,
                                      role=self.role, base_url=self.base_url, streamed=bool(text))
            served = str(event.get("model") or served)
            usage = event.get("usage") or usage
            for choice in event.get("choices") or []:
                piece = str((choice.get("delta") or {}).get("content") or "")
                if piece and first_token_at is None:
                    first_token_at = time.monotonic()
                text.append(piece)
                finish = str(choice.get("finish_reason") or finish)
        if not finish:
            raise OllamaCallError(ErrorCode.MODEL_UNAVAILABLE, f"{self.role} model server {self.base_url}: the "
                                  "stream ended without a finish_reason", transient=True,
                                  reason=FailureReason.STREAM_CUT)
        generation = Generation(text="".join(text), model=served,
                                done_reason="length" if finish == "length" else "stop",
                                prompt_eval_count=usage.get("prompt_tokens"), eval_count=usage.get("completion_tokens"))
        return generation, first_token_at if first_token_at is not None else time.monotonic()


class _Retry(Exception):
    def __init__(self, error: OllamaCallError, wait: float) -> None:
        super().__init__(error.message)
        self.error = error
        self.wait = wait


class OpenAICompatReadiness:
    """ModelServerProbe: the server answers /v1/models and lists the model."""

    def __init__(self, client: OpenAICompatClient, model: str, role: str, variable: str) -> None:
        self.client = client
        self.model = model
        self.role = role
        self.variable = variable

    def not_ready_reasons(self) -> list[str]:
        try:
            served = self.client.models()
        except ModelCallError as exc:
            return [f"{self.role} model server {self.client.base_url} (OpenAI-compatible) not ready: {exc.message}"]
        wanted = {self.model, self.model + ":latest"} if ":" not in self.model else {self.model}
        if not wanted & set(served):
            return [f"{self.role} model '{self.model}' ({self.variable}) not served by {self.client.base_url} "
                    f"(models: {', '.join(served[:10]) or 'none'})"]
        return []
