"""HTTP client of one Ollama server: generate/chat (streaming or not), tags, show, pull, warm-up, version.

Owns the wire details (ollama-api.md): explicit (connect, read) timeouts never beyond the request's
Deadline, images as strict std base64, NDJSON streams, and the three failure shapes of §3.2 (HTTP error
status; an `{"error": ...}` line inside a 200 stream; `done_reason: "length"`, which is returned, not raised,
so the caller decides). Failures become ModelCallError; transient ones are retried here with tenacity
(exponential backoff with jitter) while the deadline allows. urllib3 never retries: retries are ours.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import threading
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Optional

import requests
import urllib3
from requests.adapters import HTTPAdapter
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt
from tenacity.stop import stop_base
from tenacity import wait_exponential_jitter

from ..deadline import Deadline
from ..errors import ErrorCode
from ..metrics import Metrics
from .base import Generation, ModelCallError

log = logging.getLogger(__name__)

# Ollama's runner cannot decode the image bytes (§3.1; issue #11320). Retrying the same bytes fails the same.
_IMAGE_ERRORS = ("image: unknown format", "unable to make llava embedding", "failed to process inputs")
# 500s that describe our request, not the server's state: retrying cannot help.
_REQUEST_BUG_ERRORS = ("invalid format", "must be of type", "invalid json schema")


class OllamaCallError(ModelCallError):
    """A ModelCallError that also says why, in a small closed set used as the retry-metric label."""

    def __init__(self, code: ErrorCode, message: str, *, transient: bool, status: Optional[int] = None,
                 reason: str = "other") -> None:
        super().__init__(code, message, transient=transient, status=status)
        self.reason = reason


@dataclass(frozen=True)
class GenerateOutcome:
    """A finished generate/chat answer: concatenated text plus the final chunk's accounting (ns)."""

    text: str
    model: str
    done_reason: str
    prompt_eval_count: Optional[int] = None
    eval_count: Optional[int] = None
    load_duration_ns: Optional[int] = None
    total_duration_ns: Optional[int] = None
    eval_duration_ns: Optional[int] = None
    attempts: int = 1

    @classmethod
    def from_final(cls, text: str, final: dict[str, Any], model: str, attempts: int = 1) -> "GenerateOutcome":
        return cls(
            text=text, model=str(final.get("model") or model), done_reason=str(final.get("done_reason") or "stop"),
            prompt_eval_count=final.get("prompt_eval_count"), eval_count=final.get("eval_count"),
            load_duration_ns=final.get("load_duration"), total_duration_ns=final.get("total_duration"),
            eval_duration_ns=final.get("eval_duration"), attempts=attempts,
        )

    def generation(self, *, text: Optional[str] = None, cached: bool = False) -> Generation:
        return Generation(
            text=self.text if text is None else text, model=self.model, done_reason=self.done_reason,
            prompt_eval_count=self.prompt_eval_count, eval_count=self.eval_count,
            load_duration_ns=self.load_duration_ns, total_duration_ns=self.total_duration_ns, cached=cached,
        )


def _error_text(body: str) -> str:
    """Ollama's `{"error": "..."}` message, or the raw text (e.g. gin's `404 page not found`)."""
    try:
        data = json.loads(body)
    except ValueError:
        return body.strip()[:500]
    if isinstance(data, dict) and "error" in data:
        return str(data["error"]).strip()
    return body.strip()[:500]


def encode_image(image: bytes | str) -> str:
    """Strict std base64 (padding, no `data:` prefix): what Ollama's Go decoder accepts (§2.7)."""
    if isinstance(image, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(image)).decode("ascii")
    try:
        base64.b64decode(image, validate=True)
    except (binascii.Error, ValueError):
        # A data: URI or URL-safe alphabet would get 400 `illegal base64 data` from Ollama: our bug.
        raise OllamaCallError(ErrorCode.INTERNAL, "image passed to the Ollama client is not strict base64",
                              transient=False, reason="bad_request") from None
    return image


def _is_read_timeout(exc: BaseException) -> bool:
    """requests wraps a read timeout during body iteration in ConnectionError(ReadTimeoutError)."""
    if isinstance(exc, requests.ReadTimeout):
        return True
    return any(isinstance(arg, urllib3.exceptions.ReadTimeoutError) for arg in getattr(exc, "args", ()))


class _StopBeforeDeadline(stop_base):
    """Stop retrying when the next backoff sleep would end after the deadline (no time for an attempt)."""

    def __init__(self, deadline: Deadline) -> None:
        self._deadline = deadline

    def __call__(self, retry_state: RetryCallState) -> bool:
        return retry_state.upcoming_sleep >= self._deadline.remaining()


class OllamaClient:
    """One Ollama base URL. Thread-safe: share one instance between the worker threads of a process."""

    def __init__(self, base_url: str, *, connect_timeout: float, read_timeout: float,
                 session: Optional[requests.Session] = None, metrics: Optional[Metrics] = None,
                 role: str = "vision", max_in_flight: int = 0, pool_size: int = 10, max_attempts: int = 8,
                 backoff_initial: float = 0.25, backoff_max: float = 5.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.role = role
        self._metrics = metrics
        self._max_attempts = max(1, max_attempts)
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        if session is None:
            session = requests.Session()
            # The model server is a sidecar or a cluster service reached directly: no proxy variables or
            # ~/.netrc to consult, which requests would otherwise look up on every call.
            session.trust_env = False
            # Pool at least as large as the calls we may have open at once, so no call waits for (or
            # discards) a pooled connection; max_retries=0: urllib3 must not retry behind our backoff.
            size = max(pool_size, max_in_flight, 1)
            adapter = HTTPAdapter(pool_connections=2, pool_maxsize=size, max_retries=0)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
        self._session = session
        # Cap on concurrent generate/chat calls (P Ollama slots plus a small queue); 0 = no cap.
        self._slots = threading.BoundedSemaphore(max_in_flight) if max_in_flight > 0 else None

    # ------------------------------------------------------------------ public API
    def generate(self, body: dict[str, Any], *, deadline: Deadline, stream: bool) -> GenerateOutcome:
        """POST /api/generate. `body` as Ollama expects, except `images` may hold raw bytes."""
        payload = dict(body, stream=stream)
        if payload.get("images"):
            payload["images"] = [encode_image(i) for i in payload["images"]]
        return self._with_retries(lambda: self._complete("/api/generate", payload, deadline, stream,
                                                         _generate_piece), deadline, "generate")

    def chat(self, body: dict[str, Any], *, deadline: Deadline, stream: bool) -> GenerateOutcome:
        """POST /api/chat. Messages' `images` may hold raw bytes."""
        payload = dict(body, stream=stream)
        messages = []
        for message in payload.get("messages") or []:
            if message.get("images"):
                message = dict(message, images=[encode_image(i) for i in message["images"]])
            messages.append(message)
        payload["messages"] = messages
        return self._with_retries(lambda: self._complete("/api/chat", payload, deadline, stream, _chat_piece),
                                  deadline, "chat")

    def tags(self, *, timeout: Optional[float] = None) -> list[str]:
        """Names of the local models (`model`, else `name`), as /api/tags shows them (with the tag)."""
        data = self._get_json("/api/tags", timeout)
        models = data.get("models") or []
        return [str(m.get("model") or m.get("name")) for m in models if isinstance(m, dict)]

    def version(self, *, timeout: Optional[float] = None) -> str:
        return str(self._get_json("/api/version", timeout).get("version", ""))

    def show(self, model: str, *, timeout: Optional[float] = None) -> dict[str, Any]:
        """POST /api/show; 404 becomes model_not_found naming the model."""
        resp = self._send("POST", "/api/show", {"model": model}, self._fixed_timeout(timeout), model=model)
        try:
            return resp.json()
        finally:
            resp.close()

    def pull(self, model: str, on_progress: Optional[Callable[[dict[str, Any]], None]] = None, *,
             timeout: Optional[float] = None) -> None:
        """POST /api/pull, streaming: progress logged at INFO with percent (every 10 %), `on_progress`
        gets every progress line. An error line (e.g. unknown model) raises ModelCallError."""
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
                                          transient=False, reason="stream_error")
                if on_progress is not None:
                    on_progress(line)
                status = str(line.get("status", ""))
                total, completed = line.get("total"), line.get("completed") or 0
                # Percent in steps of 10 so a multi-GB pull logs a few lines, not thousands.
                percent = int(completed * 100 / total) // 10 * 10 if total else -1
                if (status, percent) != last_logged:
                    log.info("pull %s: %s%s", model, status, f" {percent}%" if percent >= 0 else "")
                    last_logged = (status, percent)
                if status == "success":
                    return
        except requests.RequestException as exc:
            raise self._transport_error(exc, None, False) from None
        finally:
            resp.close()
        raise OllamaCallError(ErrorCode.MODEL_UNAVAILABLE, f"pull of '{model}' ended without success",
                              transient=True, reason="stream_error")

    def warm_up(self, model: str, keep_alive: str | int, *, deadline: Optional[Deadline] = None) -> GenerateOutcome:
        """Load the model with an empty-prompt generate (Ollama answers done_reason "load"), so the first
        real request does not pay the load. The deadline must allow a cold load (seconds to minutes): a
        client that gives up aborts the load (ollama-api.md §5), so the default is Ollama's 5 min load limit."""
        if deadline is None:
            deadline = Deadline.after(max(self.read_timeout, 300.0))
        outcome = self.generate({"model": model, "keep_alive": keep_alive}, deadline=deadline, stream=False)
        if outcome.done_reason != "load":
            log.warning("warm-up of %s answered done_reason=%s, expected load", model, outcome.done_reason)
        return outcome

    def close(self) -> None:
        self._session.close()

    # ------------------------------------------------------------------ retries
    def _with_retries(self, attempt: Callable[[], GenerateOutcome], deadline: Deadline,
                      what: str) -> GenerateOutcome:
        retrying = Retrying(
            retry=retry_if_exception(lambda e: isinstance(e, ModelCallError) and e.transient),
            wait=wait_exponential_jitter(multiplier=self._backoff_initial, max=self._backoff_max,
                                         jitter=self._backoff_initial),
            stop=stop_after_attempt(self._max_attempts) | _StopBeforeDeadline(deadline),
            before_sleep=lambda rs: self._on_retry(rs, what),
            reraise=True,  # the caller sees the last ModelCallError, not tenacity's RetryError
        )
        return retrying(attempt)

    def _on_retry(self, retry_state: RetryCallState, what: str) -> None:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        reason = getattr(exc, "reason", "other")
        if self._metrics is not None:
            self._metrics.retries.labels(target="ollama", reason=reason).inc()
        log.warning("ollama %s at %s failed (%s), retry %d in %.2fs: %s", what, self.base_url, reason,
                    retry_state.attempt_number, retry_state.upcoming_sleep, getattr(exc, "message", exc))

    # ------------------------------------------------------------------ one attempt
    def _complete(self, path: str, payload: dict[str, Any], deadline: Deadline, stream: bool,
                  piece: Callable[[dict[str, Any]], str]) -> GenerateOutcome:
        model = str(payload.get("model", ""))
        self._acquire_slot(deadline, model)
        try:
            timeout, capped = self._deadline_timeout(deadline, model)
            resp = self._send("POST", path, payload, timeout, model=model, capped=capped)
            try:
                if stream:
                    return self._read_stream(resp, deadline, model, piece, capped)
                try:
                    data = resp.json()
                except ValueError:
                    raise OllamaCallError(ErrorCode.MODEL_UNAVAILABLE, "Ollama sent a body that is not JSON",
                                          transient=True, status=resp.status_code, reason="bad_response") from None
                if isinstance(data, dict) and "error" in data:
                    raise self._classify(None, str(data["error"]), model)
                return GenerateOutcome.from_final(piece(data), data, model)
            except requests.RequestException as exc:
                raise self._transport_error(exc, deadline, capped, model) from None
            finally:
                resp.close()
        finally:
            if self._slots is not None:
                self._slots.release()

    def _read_stream(self, resp: requests.Response, deadline: Deadline, model: str,
                     piece: Callable[[dict[str, Any]], str], capped: bool) -> GenerateOutcome:
        parts: list[str] = []
        for chunk in self._lines(resp, deadline):
            if "error" in chunk:
                # §3.2: an error line in a 200 stream, before content (<= v0.12.5) or after it.
                raise self._classify(None, str(chunk["error"]), model, streamed=bool(parts))
            parts.append(piece(chunk))
            if chunk.get("done"):
                # Read the end of the chunked body (the terminating chunk): a fully read response returns
                # its keep-alive connection to the pool; one closed early costs a new TCP connect per call.
                for _ in resp.iter_content(chunk_size=None):
                    pass
                return GenerateOutcome.from_final("".join(parts), chunk, model)
            if deadline.expired():
                raise self._deadline_error(model, "while the model was still generating")
        raise OllamaCallError(ErrorCode.MODEL_UNAVAILABLE, "Ollama stream ended before its final chunk",
                              transient=True, reason="stream_error")

    def _lines(self, resp: requests.Response, deadline: Optional[Deadline] = None) -> Iterator[dict[str, Any]]:
        # chunk_size=None yields each HTTP chunk as it arrives (Ollama flushes one chunk per token).
        for raw in resp.iter_lines(chunk_size=None):
            if not raw or not raw.strip():
                continue
            try:
                obj = json.loads(raw)
            except ValueError:
                raise OllamaCallError(ErrorCode.MODEL_UNAVAILABLE, "Ollama sent a malformed NDJSON line",
                                      transient=True, reason="bad_response") from None
            if not isinstance(obj, dict):
                raise OllamaCallError(ErrorCode.MODEL_UNAVAILABLE, "Ollama sent an NDJSON line that is not an "
                                      "object", transient=True, reason="bad_response")
            yield obj
            if deadline is not None:
                self._tighten_read_timeout(resp, deadline)

    def _tighten_read_timeout(self, resp: requests.Response, deadline: Deadline) -> None:
        """The read timeout is per socket read; shrink it as the deadline nears so a stream that hangs
        after some content still ends at the deadline, not a whole read timeout later."""
        conn = getattr(resp.raw, "connection", None) or getattr(resp.raw, "_connection", None)
        sock = getattr(conn, "sock", None)
        if sock is not None:
            sock.settimeout(max(0.001, min(self.read_timeout, deadline.remaining())))

    def _acquire_slot(self, deadline: Deadline, model: str) -> None:
        if deadline.expired():
            raise self._deadline_error(model, "before the call")
        if self._slots is not None and not self._slots.acquire(timeout=deadline.remaining()):
            raise self._deadline_error(model, "waiting for a free slot of the model server")

    def _deadline_timeout(self, deadline: Deadline, model: str) -> tuple[tuple[float, float], bool]:
        remaining = deadline.remaining()
        if remaining <= 0:
            raise self._deadline_error(model, "before the call")
        read = min(self.read_timeout, remaining)
        return (min(self.connect_timeout, remaining), read), read < self.read_timeout

    def _fixed_timeout(self, timeout: Optional[float]) -> tuple[float, float]:
        return (self.connect_timeout, timeout) if timeout is not None else (self.connect_timeout, self.read_timeout)

    def _get_json(self, path: str, timeout: Optional[float]) -> dict[str, Any]:
        connect = min(self.connect_timeout, timeout) if timeout is not None else self.connect_timeout
        read = timeout if timeout is not None else self.read_timeout
        resp = self._send("GET", path, None, (connect, read))
        try:
            data = resp.json()
        except (ValueError, requests.RequestException):
            raise OllamaCallError(ErrorCode.MODEL_UNAVAILABLE, f"{self.base_url}{path} did not answer JSON",
                                  transient=True, reason="bad_response") from None
        finally:
            resp.close()
        return data if isinstance(data, dict) else {}

    def _send(self, method: str, path: str, payload: Optional[dict[str, Any]], timeout: tuple[float, float], *,
              model: str = "", capped: bool = False) -> requests.Response:
        """One HTTP exchange up to the response headers; a non-200 status becomes a ModelCallError."""
        log.debug("ollama %s %s%s model=%s timeout=%s", method, self.base_url, path, model, timeout)
        try:
            resp = self._session.request(method, self.base_url + path, json=payload, timeout=timeout, stream=True)
        except requests.RequestException as exc:
            raise self._transport_error(exc, None, capped, model) from None
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
    def _deadline_error(self, model: str, when: str) -> OllamaCallError:
        return OllamaCallError(ErrorCode.DEADLINE_EXCEEDED, f"request deadline passed {when} ({self.role} model "
                               f"'{model}' at {self.base_url})", transient=False, reason="deadline")

    def _transport_error(self, exc: requests.RequestException, deadline: Optional[Deadline],
                         capped: bool, model: str = "") -> OllamaCallError:
        where = f"Ollama at {self.base_url}"
        if isinstance(exc, requests.ConnectTimeout):
            if capped and (deadline is None or deadline.remaining() < 0.05):
                return self._deadline_error(model, "while connecting")
            return OllamaCallError(ErrorCode.MODEL_UNAVAILABLE, f"connect timeout to {where}", transient=True,
                                   reason="connect_timeout")
        if _is_read_timeout(exc):
            # Our read timeout was the deadline's remaining time: the request is out of time, not Ollama.
            if capped or (deadline is not None and deadline.remaining() < 0.05):
                return self._deadline_error(model, "waiting for the model's answer")
            return OllamaCallError(ErrorCode.MODEL_UNAVAILABLE, f"{where} sent nothing for {self.read_timeout}s "
                                   "(read timeout)", transient=True, reason="read_timeout")
        if isinstance(exc, (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError)):
            return OllamaCallError(ErrorCode.MODEL_UNAVAILABLE, f"connection to {where} broke during the answer",
                                   transient=True, reason="connection")
        if isinstance(exc, requests.ConnectionError):
            detail = "connection refused" if "refused" in str(exc).lower() else "connection failed"
            return OllamaCallError(ErrorCode.MODEL_UNAVAILABLE, f"cannot reach {where}: {detail}", transient=True,
                                   reason="connection")
        return OllamaCallError(ErrorCode.INTERNAL, f"HTTP client error talking to {where}: {type(exc).__name__}",
                               transient=False, reason="other")

    def _classify(self, status: Optional[int], text: str, model: str, *, streamed: bool = False) -> OllamaCallError:
        """Map an Ollama error (HTTP status, or None for an error line in a 200 stream) to a ModelCallError."""
        lower = text.lower()
        said = f"Ollama ({self.role} server {self.base_url})" + (f" answered {status}" if status else "")
        if any(marker in lower for marker in _IMAGE_ERRORS):
            # The bytes were valid base64 but the runner cannot decode them as an image: the same bytes
            # fail the same way every time, so this is the requester's image, not a transient fault.
            return OllamaCallError(ErrorCode.INVALID_IMAGE, f"the model server could not read the image: {text}",
                                   transient=False, status=status, reason="invalid_image")
        if status is None:
            when = "after partial output" if streamed else "before any output"
            return OllamaCallError(ErrorCode.MODEL_UNAVAILABLE, f"{said} error in stream {when}: {text}",
                                   transient=True, reason="stream_error")
        if status == 404:
            if "not found" in lower and "model" in lower:
                return OllamaCallError(ErrorCode.MODEL_NOT_FOUND, f"model '{model}' not found on the {self.role} "
                                       f"model server {self.base_url} ({text}); pull it first", transient=False,
                                       status=status, reason="not_found")
            return OllamaCallError(ErrorCode.MODEL_UNAVAILABLE, f"{said}: {text or 'not found'}; is it an Ollama "
                                   "server?", transient=False, status=status, reason="not_found")
        if status == 400:
            why = " (the service sent bad base64: a bug)" if "base64" in lower else ""
            return OllamaCallError(ErrorCode.INTERNAL, f"{said}: {text}{why}", transient=False, status=status,
                                   reason="bad_request")
        if status == 429 or status == 503:
            return OllamaCallError(ErrorCode.MODEL_UNAVAILABLE, f"{said}: {text}", transient=True, status=status,
                                   reason=f"status_{status}")
        if status >= 500:
            if any(marker in lower for marker in _REQUEST_BUG_ERRORS):
                return OllamaCallError(ErrorCode.INTERNAL, f"{said}: {text}", transient=False, status=status,
                                       reason="bad_request")
            return OllamaCallError(ErrorCode.MODEL_UNAVAILABLE, f"{said}: {text}", transient=True, status=status,
                                   reason="status_5xx")
        return OllamaCallError(ErrorCode.INTERNAL, f"{said}: {text}", transient=False, status=status,
                               reason="bad_request")


def _generate_piece(chunk: dict[str, Any]) -> str:
    return str(chunk.get("response") or "")


def _chat_piece(chunk: dict[str, Any]) -> str:
    message = chunk.get("message")
    return str(message.get("content") or "") if isinstance(message, dict) else ""
