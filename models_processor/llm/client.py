"""HTTP client of one Ollama server: generate/chat (streaming or not), tags, show, ps, pull, warm-up.

Owns the wire details (docs/OLLAMA.md): typed bodies (api.py), explicit timeouts never beyond the
request's Deadline, NDJSON streams, and the failure shapes (an HTTP error status; an `{"error"}` line in a
200 stream; a stream the repeat guard ends without its final chunk; `done_reason: "length"`, returned for
the caller to judge). Two read budgets: the first byte may take a model load plus the wait for a parallel
slot (`first_byte_timeout`); after it, `read_timeout` bounds the silence between tokens. Calls beyond
`max_in_flight` (concurrency.in_flight_cap: by default one waiting inside the server per slot) wait on this
client's semaphore, bounded only by the deadline. Transient failures
are retried (retries.py) while the deadline allows; urllib3 never retries. generate/chat, the calls every
request makes, go through transport.py (the Session's own connection pool, without requests' per-call
work); the other calls through the requests Session.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from typing import TypeVar

import requests
import urllib3
from pydantic import BaseModel, ValidationError
from requests.adapters import HTTPAdapter
from tenacity import RetryCallState

from ..deadline import Deadline
from ..errors import ErrorCode
from ..metrics import Metrics
from ..tracing import span
from .api import (
    AliasListResponse,
    ChatRequest,
    ChatResponse,
    ErrorResponse,
    GenerateRequest,
    GenerateResponse,
    KeepAlive,
    ListResponse,
    Options,
    ProcessResponse,
    ProgressResponse,
    ShowResponse,
    VersionResponse,
)
from .base import Generation
from .failures import FailureReason, OllamaCallError, RepeatGuardCut, classify, deadline_failure, transport_failure
from .limiter import FixedLimit, LimitGauges, Outcome, Permit
from .retries import RetryPolicy
from .transport import StreamingPost, body_lines, body_text, finish, socket_of

__all__ = ["OllamaClient", "RepeatGuardCut"]

log = logging.getLogger(__name__)

ResponseT = TypeVar("ResponseT", bound=BaseModel)
Completion = GenerateResponse | ChatResponse


def _error_text(body: str) -> str:
    """Ollama's `{"error": "..."}` message, or the raw text (e.g. gin's `404 page not found`)."""
    try:
        return ErrorResponse.model_validate_json(body).error.strip()
    except ValidationError:
        return body.strip()[:500]


def _generation(final: Completion, text: str, thinking: str, model: str) -> Generation:
    return Generation(
        text=text, thinking=thinking, model=final.model or model, done_reason=final.done_reason or "stop",
        prompt_eval_count=final.prompt_eval_count, eval_count=final.eval_count,
        load_duration_ns=final.load_duration, total_duration_ns=final.total_duration,
        eval_duration_ns=final.eval_duration, prompt_eval_duration_ns=final.prompt_eval_duration,
    )


class OllamaClient:
    """One Ollama base URL. Thread-safe: share one instance between the worker threads of a process."""

    def __init__(self, base_url: str, *, connect_timeout: float, read_timeout: float, metrics: Metrics,
                 first_byte_timeout: float = 300.0, session: requests.Session | None = None,
                 role: str = "vision", max_in_flight: int = 0, pool_size: int = 10, max_attempts: int = 8,
                 backoff_initial: float = 0.25, backoff_max: float = 5.0, gauges: LimitGauges | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.first_byte_timeout = max(first_byte_timeout, read_timeout)
        self.role = role
        self.max_in_flight = max_in_flight
        self._metrics = metrics
        self._retry = RetryPolicy(max(1, max_attempts), backoff_initial, backoff_max)
        if session is None:
            session = requests.Session()
            # A sidecar or cluster service reached directly: no proxy variables or ~/.netrc to consult.
            session.trust_env = False
            # Pool at least as large as the calls we may have open at once; max_retries=0: urllib3 must
            # not retry behind our backoff.
            size = max(pool_size, max_in_flight, 1)
            adapter = HTTPAdapter(pool_connections=2, pool_maxsize=size, max_retries=0)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
        self._session = session
        # generate/chat, the calls of every request: on the same pool, without requests' per-call work.
        self._post = StreamingPost(session, self.base_url)
        # Calls beyond the cap wait here, in arrival order, where only the deadline bounds the wait; the cap
        # lets a call wait inside the server only where the first-byte timeout cannot cut that wait short
        # (concurrency.py). The OpenAI-compatible client's gate, with the same gauges (limiter.py).
        self._slots = FixedLimit(max_in_flight, gauges) if max_in_flight > 0 else None

    # ------------------------------------------------------------------ generation
    def generate(self, request: GenerateRequest, *, deadline: Deadline) -> Generation:
        """POST /api/generate (streamed when request.stream)."""
        with span("model call", {"model": request.model, "server": self.base_url, "path": "/api/generate"}):
            return self._with_retries(lambda: self._complete("/api/generate", request, deadline, GenerateResponse),
                                      deadline, "generate")

    def chat(self, request: ChatRequest, *, deadline: Deadline) -> Generation:
        """POST /api/chat (streamed when request.stream)."""
        with span("model call", {"model": request.model, "server": self.base_url, "path": "/api/chat"}):
            return self._with_retries(lambda: self._complete("/api/chat", request, deadline, ChatResponse),
                                      deadline, "chat")

    def warm_up(self, model: str, *, options: Options | None, keep_alive: KeepAlive | None,
                think: bool | None = False, deadline: Deadline | None = None) -> Generation:
        """Load the model with an empty-prompt generate (answered done_reason "load"). It carries the same
        runner options as the real calls: without them the server loads its own num_ctx and the first real
        call reloads the model. A client that gives up aborts the load, so the default deadline is the
        first-byte budget."""
        if deadline is None:
            deadline = Deadline.after(self.first_byte_timeout)
        request = GenerateRequest(model=model, stream=False, options=options, keep_alive=keep_alive, think=think)
        outcome = self.generate(request, deadline=deadline)
        if outcome.done_reason != "load":
            log.warning("warm-up of %s answered done_reason=%s, expected load", model, outcome.done_reason)
        return outcome

    # ------------------------------------------------------------------ model information
    def tags(self, *, timeout: float | None = None) -> list[str]:
        """Names of the local models as /api/tags shows them (with the tag)."""
        listing = self._get("/api/tags", ListResponse, timeout)
        return [m.shown_name for m in listing.models]

    def ps(self, *, timeout: float | None = None) -> ProcessResponse:
        return self._get("/api/ps", ProcessResponse, timeout)

    def version(self, *, timeout: float | None = None) -> str:
        return self._get("/api/version", VersionResponse, timeout).version

    def aliases(self, *, timeout: float | None = None) -> AliasListResponse:
        """Server-side aliases (v0.17); a server without the route has none."""
        try:
            return self._get("/api/experimental/aliases", AliasListResponse, timeout)
        except OllamaCallError as exc:
            if exc.status in (404, 405):
                return AliasListResponse(aliases=[])
            raise

    def show(self, model: str, *, timeout: float | None = None) -> ShowResponse:
        """POST /api/show; 404 becomes model_not_found naming the model."""
        resp = self._send("POST", "/api/show", {"model": model}, self._fixed_timeout(timeout), model=model)
        try:
            return ShowResponse.model_validate_json(resp.content)
        except ValidationError:
            raise self._bad_response("/api/show") from None
        finally:
            resp.close()

    def pull(self, model: str, on_progress: Callable[[ProgressResponse], None] | None = None, *,
             timeout: float | None = None) -> None:
        """POST /api/pull, streaming: progress logged at INFO every 10 %, `on_progress` gets every line.
        An error line (e.g. unknown model) raises ModelCallError."""
        read = timeout if timeout is not None else self.read_timeout
        resp = self._send("POST", "/api/pull", {"model": model, "stream": True}, (self.connect_timeout, read),
                          model=model)
        last_logged: tuple[str, int] = ("", -1)
        try:
            for line in self._lines(resp):
                if "error" in line:
                    text = str(line["error"])
                    code = ErrorCode.MODEL_NOT_FOUND if "file does not exist" in text else ErrorCode.MODEL_UNAVAILABLE
                    raise OllamaCallError(code, f"pulling model '{model}' from {self.base_url} failed: {text}",
                                          transient=False, reason=FailureReason.STREAM_ERROR)
                progress = ProgressResponse.model_validate(line)
                if on_progress is not None:
                    on_progress(progress)
                # Percent in steps of 10 so a multi-GB pull logs a few lines, not thousands.
                total, done = progress.total, progress.completed or 0
                percent = int(done * 100 / total) // 10 * 10 if total else -1
                if (progress.status, percent) != last_logged:
                    log.info("pull %s: %s%s", model, progress.status, f" {percent}%" if percent >= 0 else "")
                    last_logged = (progress.status, percent)
                if progress.status == "success":
                    return
        except requests.RequestException as exc:
            raise self._transport_error(exc, None, False, False) from None
        finally:
            resp.close()
        raise OllamaCallError(ErrorCode.MODEL_UNAVAILABLE, f"pull of '{model}' ended without success",
                              transient=True, reason=FailureReason.STREAM_ERROR)

    def close(self) -> None:
        self._session.close()

    # ------------------------------------------------------------------ retries
    def _with_retries(self, attempt: Callable[[], Generation], deadline: Deadline, what: str) -> Generation:
        return self._retry.run(attempt, deadline, lambda rs: self._on_retry(rs, what))

    def _on_retry(self, retry_state: RetryCallState, what: str) -> None:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        reason = exc.reason if isinstance(exc, OllamaCallError) else FailureReason.OTHER
        self._metrics.retries.labels(target="ollama", reason=reason.value).inc()
        log.warning("ollama %s at %s failed (%s), retry %d in %.2fs: %s", what, self.base_url, reason.value,
                    retry_state.attempt_number, retry_state.upcoming_sleep, getattr(exc, "message", exc))

    # ------------------------------------------------------------------ one attempt
    def _complete(self, path: str, request: GenerateRequest | ChatRequest, deadline: Deadline,
                  shape: type[Completion]) -> Generation:
        model = request.model
        permit = self._acquire_slot(deadline, model)
        try:
            timeout, capped = self._first_byte_timeout(deadline, model)
            resp = self._post_completion(path, request.body(), timeout, model, capped)
            try:
                if request.stream:
                    return self._read_stream(resp, deadline, model, shape)
                return self._read_whole(resp, model, shape)
            except requests.RequestException as exc:
                raise self._transport_error(exc, deadline, capped, True, model) from None
            finally:
                finish(resp)
        finally:
            if self._slots is not None and permit is not None:
                self._slots.release(permit, Outcome.SUCCESS)

    def _post_completion(self, path: str, body: bytes, timeout: tuple[float, float], model: str,
                         capped: bool) -> urllib3.BaseHTTPResponse:
        """_send for generate/chat (transport.py): up to the headers; a non-200 status becomes an error."""
        if log.isEnabledFor(logging.DEBUG):
            log.debug("ollama POST %s%s model=%s timeout=%s", self.base_url, path, model, timeout)
        try:
            resp = self._post.post(path, body, timeout)
        except requests.RequestException as exc:
            raise self._transport_error(exc, None, capped, False, model) from None
        if resp.status != 200:
            try:
                text = _error_text(body_text(resp))
            except requests.RequestException:
                text = ""
            finally:
                finish(resp)
            raise self._classify(resp.status, text, model)
        return resp

    def _read_whole(self, resp: urllib3.BaseHTTPResponse, model: str, shape: type[Completion]) -> Generation:
        try:
            data = json.loads(body_text(resp))
        except ValueError:
            raise self._bad_response("a generate/chat answer", resp.status) from None
        if isinstance(data, dict) and "error" in data:
            raise self._classify(None, str(data["error"]), model)
        final = self._parse(shape, data)
        text, thinking = final.piece()
        if not final.done:
            # stream:false collects the chunks; without a final one (the repeat guard) done stays false.
            raise RepeatGuardCut(model, text)
        return _generation(final, text, thinking, model)

    def _read_stream(self, resp: urllib3.BaseHTTPResponse, deadline: Deadline, model: str,
                     shape: type[Completion]) -> Generation:
        """One line per token: the lines before the final one are read without a pydantic model
        (raw_piece); the final one, with the accounting, and anything unexpected are validated."""
        # The first chunk arrived with the headers: from here on, silence is a stalled stream. The read
        # timeout is per socket read (the gap allowed between tokens), shrunk as the deadline nears so a
        # stream that hangs after some content still ends at the deadline.
        read_timeout = self.read_timeout
        sock = socket_of(resp)
        if sock is not None:
            sock.settimeout(max(0.001, min(read_timeout, deadline.remaining())))
        parts: list[str] = []
        thoughts: list[str] = []
        lines = body_lines(resp)
        for raw in lines:
            line = self._json_object(raw)
            if "error" in line:
                # An error line in a 200 stream, before content (<= v0.12.5) or after it.
                raise self._classify(None, str(line["error"]), model, streamed=bool(parts))
            piece = shape.raw_piece(line)
            if piece is None:
                chunk = self._parse(shape, line)
                text, thinking = chunk.piece()
                if chunk.done:
                    parts.append(text)
                    if thinking:
                        thoughts.append(thinking)
                    # Read the end of the chunked body: a fully read response returns its keep-alive
                    # connection to the pool; one closed early costs a new TCP connect per call.
                    for _ in lines:
                        pass
                    return _generation(chunk, "".join(parts), "".join(thoughts), model)
                piece = text, thinking
            parts.append(piece[0])
            if piece[1]:
                thoughts.append(piece[1])
            remaining = deadline.remaining()
            if remaining <= 0:
                raise self._deadline_error(model, "while the model was still generating")
            if remaining < read_timeout and sock is not None:
                sock.settimeout(max(0.001, remaining))
        raise RepeatGuardCut(model, "".join(parts))

    def _json_object(self, raw: bytes) -> dict[str, object]:
        try:
            obj = json.loads(raw.decode())
        except ValueError:
            raise self._bad_response("a malformed NDJSON line") from None
        if type(obj) is not dict:
            raise self._bad_response("an NDJSON line that is not an object")
        return obj

    def _parse(self, shape: type[ResponseT], data: object) -> ResponseT:
        try:
            return shape.model_validate(data)
        except ValidationError:
            raise self._bad_response(f"a {shape.__name__} line") from None

    def _lines(self, resp: requests.Response) -> Iterator[dict[str, object]]:
        """The NDJSON lines of a pull (chunk_size=None: each HTTP chunk as it arrives)."""
        for raw in resp.iter_lines(chunk_size=None):
            if raw and raw.strip():
                yield self._json_object(raw)

    def _acquire_slot(self, deadline: Deadline, model: str) -> Permit | None:
        """A slot under the cap (None: no cap)."""
        if deadline.expired():
            raise self._deadline_error(model, "before the call")
        if self._slots is None:
            return None
        permit = self._slots.acquire(max(0.0, deadline.remaining()))
        if permit is None:
            raise self._deadline_error(model, "waiting for a free slot of the model server")
        return permit

    def _first_byte_timeout(self, deadline: Deadline, model: str) -> tuple[tuple[float, float], bool]:
        """(connect, read) for the exchange up to the first byte: model load + slot wait + prompt eval."""
        remaining = deadline.remaining()
        if remaining <= 0:
            raise self._deadline_error(model, "before the call")
        read = min(self.first_byte_timeout, remaining)
        return (min(self.connect_timeout, remaining), read), read < self.first_byte_timeout

    def _fixed_timeout(self, timeout: float | None) -> tuple[float, float]:
        return (self.connect_timeout, timeout if timeout is not None else self.read_timeout)

    def _get(self, path: str, shape: type[ResponseT], timeout: float | None) -> ResponseT:
        connect = min(self.connect_timeout, timeout) if timeout is not None else self.connect_timeout
        read = timeout if timeout is not None else self.read_timeout
        resp = self._send("GET", path, None, (connect, read))
        try:
            return shape.model_validate_json(resp.content)
        except (ValidationError, requests.RequestException):
            raise self._bad_response(f"{path}") from None
        finally:
            resp.close()

    def _send(self, method: str, path: str, payload: dict[str, object] | None, timeout: tuple[float, float],
              *, model: str = "", capped: bool = False) -> requests.Response:
        """One HTTP exchange up to the response headers; a non-200 status becomes a ModelCallError."""
        log.debug("ollama %s %s%s model=%s timeout=%s", method, self.base_url, path, model, timeout)
        try:
            resp = self._session.request(method, self.base_url + path, json=payload, timeout=timeout, stream=True)
        except requests.RequestException as exc:
            raise self._transport_error(exc, None, capped, False, model) from None
        if resp.status_code != 200:
            try:
                text = _error_text(resp.text)
            except requests.RequestException:
                text = ""
            finally:
                resp.close()
            raise self._classify(resp.status_code, text, model)
        return resp

    # ------------------------------------------------------------------ error mapping
    def _classify(self, status: int | None, text: str, model: str, *, streamed: bool = False) -> OllamaCallError:
        return classify(status, text, model=model, role=self.role, base_url=self.base_url, streamed=streamed)

    def _bad_response(self, what: str, status: int | None = None) -> OllamaCallError:
        return OllamaCallError(ErrorCode.MODEL_UNAVAILABLE, f"Ollama at {self.base_url} sent {what} we cannot "
                               "read", transient=True, status=status, reason=FailureReason.BAD_RESPONSE)

    def _deadline_error(self, model: str, when: str) -> OllamaCallError:
        return deadline_failure(model, self.role, self.base_url, when)

    def _transport_error(self, exc: requests.RequestException, deadline: Deadline | None, capped: bool,
                         got_headers: bool, model: str = "") -> OllamaCallError:
        return transport_failure(exc, model=model, role=self.role, base_url=self.base_url, deadline=deadline,
                                 capped=capped, got_headers=got_headers, first_byte_timeout=self.first_byte_timeout,
                                 read_timeout=self.read_timeout)
