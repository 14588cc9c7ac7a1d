"""A stand-in OpenAI-compatible model server with the documented habits of vLLM or llama.cpp's `llama-server`
(a fixture; the product never imports it). Neither server was run here: every behaviour below is taken from
the project's documentation (or its source/issue tracker where the docs are silent), with the source named.

A real HTTP/1.1 server on loopback (TCP_NODELAY, headers sent with the first body bytes, chunked SSE) that
answers GET /v1/models and POST /v1/chat/completions, streamed (server-sent events, `data: [DONE]`, a last
chunk with empty `choices` and the `usage` when `stream_options.include_usage` is set) or not.
https://platform.openai.com/docs/api-reference/chat/streaming

Flavor "vllm":
- Structured output: `response_format: {type: json_schema, json_schema: {schema}}` and vLLM's own
  `structured_outputs: {json: schema}`; the old `guided_json` field was removed in v0.12.0 and is not honoured.
  https://docs.vllm.ai/en/latest/features/structured_outputs/
- Images per prompt are capped by `--limit-mm-per-prompt` (`image_limit` here): more images answer 400
  `At most N image(s) may be provided in one prompt.` (vllm/entrypoints/chat_utils.py, mapped to HTTP 400).
  https://docs.vllm.ai/en/latest/configuration/engine_args/ (--limit-mm-per-prompt)
- Errors as `{"error": {"message", "type": "BadRequestError", "param", "code"}}`
  (vllm/entrypoints/openai/engine/protocol.py ErrorResponse/ErrorInfo). An unknown model answers 404
  `The model `x` does not exist.`, type NotFoundError, param "model" (engine/serving.py `_check_model`); a
  prompt over `--max-model-len` (`max_model_len` here) answers 400 `This model's maximum context length is N
  tokens. However, your request has M input tokens. ...` (engine/serving.py `_validate_input`).
  https://docs.vllm.ai/en/latest/serving/openai_compatible_server/
- `--max-num-seqs` caps the sequences it runs at once; more wait in its scheduler queue (`slots` here, with
  `latency_s` per answer: a queue in front of a fixed per-call time, which is what an adaptive limit sees).

Flavor "llamacpp" (tools/server/README.md, https://github.com/ggml-org/llama.cpp/tree/master/tools/server):
- `response_format` `json_schema` (or `json_object` with `schema`) is turned into a grammar, as is the
  native top-level `json_schema` field; a request that also carries `grammar` answers 400 `Either
  "json_schema" or "grammar" can be specified, but not both` (https://github.com/ggml-org/llama.cpp/issues/11847).
- Images need a multimodal projector (`--mmproj`, `mmproj` here); without one an image answers 500
  `image input is not supported - hint: if this is unexpected, you may need to provide the mmproj`
  (type server_error; https://github.com/ggml-org/llama.cpp/issues/15377, README "Multimodal support").
- While the model loads (`loading_s` after start) every endpoint answers 503
  `{"error": {"code": 503, "message": "Loading model", "type": "unavailable_error"}}` (README, GET /health),
  without Retry-After.
- Errors as `{"error": {"code", "message", "type"}}` (server-common.cpp format_error_response). A single-model
  server answers whatever `model` is asked; in router mode (`router` here: `--models-dir`/`--models-preset`)
  an unknown model answers 400 `model not found`, type invalid_request_error
  (https://github.com/ggml-org/llama.cpp/issues/17968). A prompt over the context (`max_model_len` here)
  answers 400 `request (M tokens) exceeds the available context size (N tokens), try increasing it`, type
  exceed_context_size_error. `--parallel N` slots (`slots` here): more requests wait for a free slot.

Both: `busy` holds answers to give the next chat calls instead of a completion, as (status, Retry-After or
None): a gateway or cloud API in front of the server answering 429/503 (OpenAI's rate limit answer carries
Retry-After; https://platform.openai.com/docs/guides/error-codes).

Not modelled: vLLM closing its port until the model is loaded (a connection refused, not a status), tool
calls, logprobs, n > 1, and the servers' real token counts (4 characters make a token here).
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from http.server import BaseHTTPRequestHandler
from typing import Any

from testkit.fakes.ollama_http import _Server
from testkit.fakes.ollama_wire import schema_instance

ERR_VLLM_IMAGES = "At most {limit} image(s) may be provided in one prompt."
ERR_LLAMACPP_NO_MMPROJ = "image input is not supported - hint: if this is unexpected, you may need to provide the mmproj"
ERR_LLAMACPP_SCHEMA_AND_GRAMMAR = 'Either "json_schema" or "grammar" can be specified, but not both'
ERR_LLAMACPP_LOADING = "Loading model"


class _BacklogServer(_Server):
    # socketserver's listen backlog is 5: a burst of new connections (32 workers starting at once) would be
    # refused or reset, which uvicorn (vLLM, backlog 2048) and cpp-httplib do not do.
    request_queue_size = 256


class Flavor(StrEnum):
    VLLM = "vllm"
    LLAMACPP = "llamacpp"


class _Refusal(Exception):
    def __init__(self, status: int, message: str, kind: str, *, param: str | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.kind = status, message, kind
        self.param, self.retry_after = param, retry_after


@dataclass
class OpenAIStandIn:
    """Start with start(), stop with stop(); `requests` holds every (path, body) it was sent."""

    flavor: Flavor
    models: tuple[str, ...] = ("served-model",)
    image_limit: int = 1  # vLLM --limit-mm-per-prompt image=N
    mmproj: bool = False  # llama-server started with --mmproj
    loading_s: float = 0.0  # llama-server answers 503 "Loading model" this long after start()
    responder: Callable[[dict[str, Any]], str] | None = None  # the answer text; default: a schema instance
    router: bool = False  # llama-server in router mode: an unknown model is refused (single-model: any name)
    max_model_len: int = 0  # context in (4-character) tokens; 0 = unlimited
    slots: int = 0  # sequences run at once (vLLM --max-num-seqs, llama-server --parallel); 0 = unlimited
    latency_s: float = 0.0  # time each completion takes once it has a slot
    busy: list[tuple[int, float | None]] = field(default_factory=list)  # next chat answers: (status, Retry-After)
    requests: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._server: _BacklogServer | None = None
        self._loaded_at = 0.0
        self._slots = threading.BoundedSemaphore(self.slots) if self.slots else None
        self.running = 0  # completions holding a slot now
        self.running_peak = 0
        self.arrived_peak = 0  # completions inside the server at once (running or queued for a slot)
        self._arrived = 0

    @property
    def base_url(self) -> str:
        assert self._server is not None, "start() first"
        return f"http://127.0.0.1:{self._server.server_port}"

    def start(self) -> OpenAIStandIn:
        handler = type("_BoundHandler", (_Handler,), {"standin": self})
        self._server = _BacklogServer(("127.0.0.1", 0), handler)
        self._loaded_at = time.monotonic() + self.loading_s
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def finish_loading(self) -> None:
        """The model is loaded from now on (llama-server's `loading_s` cut short)."""
        self._loaded_at = time.monotonic()

    def finish_loading_once_refused(self, timeout_s: float = 10.0) -> threading.Thread:
        """Ends the load as soon as one call was answered 503 "Loading model", on a thread (returned, to
        join): a test then sees both answers whatever the machine's speed, instead of racing `loading_s`
        against the time its first call takes to arrive."""
        def watch() -> None:
            until = time.monotonic() + timeout_s
            while 503 not in self.statuses and time.monotonic() < until:
                time.sleep(0.01)
            self.finish_loading()

        thread = threading.Thread(target=watch, daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    # ------------------------------------------------------------------ behaviour
    def answer(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any] | None, str | None]:
        """(status, JSON body) or (200, None, answer text) for a chat completion to stream or return."""
        with self._lock:
            self.requests.append((path, body))
            busy = self.busy.pop(0) if self.busy and path == "/v1/chat/completions" else None
        try:
            if busy is not None:
                kind = "rate_limit_exceeded" if busy[0] == 429 else "unavailable_error"
                raise _Refusal(busy[0], "Rate limit reached, please try again later" if busy[0] == 429
                               else "server overloaded", kind, retry_after=busy[1])
            if self.flavor is Flavor.LLAMACPP and time.monotonic() < self._loaded_at:
                raise _Refusal(503, ERR_LLAMACPP_LOADING, "unavailable_error")
            if path == "/v1/models":
                owner = "vllm" if self.flavor is Flavor.VLLM else "llamacpp"
                return 200, {"object": "list", "data": [{"id": m, "object": "model", "created": 0, "owned_by": owner}
                                                        for m in self.models]}, None
            if path != "/v1/chat/completions":
                raise _Refusal(404, "File Not Found", "not_found_error")
            self._check_model(body)
            self._check_images(body)
            self._check_context(body)
            schema = self._schema(body)
            text = self.responder(body) if self.responder else json.dumps(schema_instance(schema) if schema else "ok")
            return 200, None, text
        except _Refusal as refusal:
            error: dict[str, Any] = {"message": refusal.message, "type": refusal.kind, "code": refusal.status}
            if self.flavor is Flavor.VLLM:
                error["param"] = refusal.param
            payload: dict[str, Any] = {"error": error}
            if refusal.retry_after is not None:
                payload["retry_after"] = refusal.retry_after  # carried to the header by the handler
            return refusal.status, payload, None

    def run_completion(self) -> None:
        """Hold a slot for latency_s (queueing for one when all are busy), as the server's scheduler does."""
        with self._lock:
            self._arrived += 1
            self.arrived_peak = max(self.arrived_peak, self._arrived)
        if self._slots is not None:
            self._slots.acquire()
        try:
            with self._lock:
                self.running += 1
                self.running_peak = max(self.running_peak, self.running)
            if self.latency_s:
                time.sleep(self.latency_s)
        finally:
            with self._lock:
                self.running -= 1
                self._arrived -= 1
            if self._slots is not None:
                self._slots.release()

    def _check_model(self, body: dict[str, Any]) -> None:
        model = body.get("model")
        if model in self.models:
            return
        if self.flavor is Flavor.VLLM:
            raise _Refusal(404, f"The model `{model}` does not exist.", "NotFoundError", param="model")
        if self.router:
            raise _Refusal(400, "model not found", "invalid_request_error")

    def _check_context(self, body: dict[str, Any]) -> None:
        tokens = sum(len(json.dumps(m.get("content"))) for m in body.get("messages") or []) // 4 + 1
        if not self.max_model_len or tokens < self.max_model_len:
            return
        if self.flavor is Flavor.VLLM:
            raise _Refusal(400, f"This model's maximum context length is {self.max_model_len} tokens. However, "
                           f"your request has {tokens} input tokens. Please reduce the length of the input "
                           "messages.", "BadRequestError", param="input_tokens")
        raise _Refusal(400, f"request ({tokens} tokens) exceeds the available context size "
                       f"({self.max_model_len} tokens), try increasing it", "exceed_context_size_error")

    def _check_images(self, body: dict[str, Any]) -> None:
        images = sum(1 for m in body.get("messages") or [] if isinstance(m.get("content"), list)
                     for part in m["content"] if part.get("type") == "image_url")
        if self.flavor is Flavor.VLLM and images > self.image_limit:
            raise _Refusal(400, ERR_VLLM_IMAGES.format(limit=self.image_limit), "BadRequestError")
        if self.flavor is Flavor.LLAMACPP and images and not self.mmproj:
            raise _Refusal(500, ERR_LLAMACPP_NO_MMPROJ, "server_error")

    def _schema(self, body: dict[str, Any]) -> dict[str, Any] | None:
        fmt = body.get("response_format") or {}
        from_format = None
        if fmt.get("type") == "json_schema":
            from_format = (fmt.get("json_schema") or {}).get("schema")
        elif fmt.get("type") == "json_object":
            from_format = fmt.get("schema") if self.flavor is Flavor.LLAMACPP else None
        if self.flavor is Flavor.VLLM:
            return from_format or (body.get("structured_outputs") or {}).get("json")
        schema = from_format or body.get("json_schema")
        if schema is not None and body.get("grammar"):
            raise _Refusal(400, ERR_LLAMACPP_SCHEMA_AND_GRAMMAR, "invalid_request_error")
        return schema


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    standin: OpenAIStandIn  # set on the per-server subclass

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as uvicorn and cpp-httplib do

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._dispatch({})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return self._send(400, {"error": {"message": "invalid JSON body", "type": "BadRequestError", "code": 400}})
        self._dispatch(body)

    def _dispatch(self, body: dict[str, Any]) -> None:
        status, payload, text = self.standin.answer(self.path.split("?", 1)[0], body)
        if text is None:
            payload = dict(payload or {})
            wait = payload.pop("retry_after", None)
            return self._send(status, payload, {"Retry-After": f"{wait:g}"} if wait is not None else {})
        self.standin.run_completion()
        model, max_tokens = str(body["model"]), body.get("max_tokens")
        tokens = [text[i:i + 4] for i in range(0, len(text), 4)]
        finish = "stop"
        if isinstance(max_tokens, int) and len(tokens) > max_tokens:
            tokens, finish = tokens[:max_tokens], "length"
        prompt_chars = sum(len(json.dumps(m.get("content"))) for m in body.get("messages") or [])
        usage = {"prompt_tokens": prompt_chars // 4 + 1, "completion_tokens": len(tokens),
                 "total_tokens": prompt_chars // 4 + 1 + len(tokens)}
        if not body.get("stream"):
            return self._send(200, {"id": "chatcmpl-standin", "object": "chat.completion", "created": int(time.time()),
                                    "model": model, "usage": usage, "choices": [
                                        {"index": 0, "message": {"role": "assistant", "content": "".join(tokens)},
                                         "finish_reason": finish}]})
        self._stream(model, tokens, finish, usage if (body.get("stream_options") or {}).get("include_usage") else None)

    def _stream(self, model: str, tokens: list[str], finish: str, usage: dict[str, int] | None) -> None:
        def chunk(choices: list[dict[str, Any]], **extra: Any) -> bytes:
            event = {"id": "chatcmpl-standin", "object": "chat.completion.chunk", "created": int(time.time()),
                     "model": model, "choices": choices, **extra}
            return f"data: {json.dumps(event)}\n\n".encode()

        events = [chunk([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}])]
        events += [chunk([{"index": 0, "delta": {"content": t}, "finish_reason": None}]) for t in tokens]
        events.append(chunk([{"index": 0, "delta": {}, "finish_reason": finish}]))
        if usage is not None:
            events.append(chunk([], usage=usage))
        events.append(b"data: [DONE]\n\n")
        self.standin.statuses.append(200)  # before the client can see the answer
        head = (b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n")
        for i, data in enumerate(events):  # the headers leave with the first event, in one write
            self.wfile.write((head if i == 0 else b"") + f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.write(b"0\r\n\r\n")

    def _send(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        reason = self.responses.get(status, ("",))[0]
        extra = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
        self.standin.statuses.append(status)  # before the client can see the answer
        self.wfile.write(f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n{extra}"
                         f"Content-Length: {len(data)}\r\n\r\n".encode() + data)
