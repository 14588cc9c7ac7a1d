"""What an Ollama failure means for us: the error code, and whether retrying the same call can help.

The markers are the server's own strings (v0.17.4: server/routes.go, server/sched.go, llm/server.go,
runner/ollamarunner/runner.go, model/model.go); docs/OLLAMA.md lists them with the reasoning.
"""

from __future__ import annotations

from enum import StrEnum

import requests
import urllib3

from ..deadline import Deadline
from ..errors import ErrorCode
from .base import ModelCallError


class FailureReason(StrEnum):
    """Closed set used as the retry-metric label and to tell callers what went wrong."""

    INVALID_IMAGE = "invalid_image"
    NO_VISION = "no_vision"
    CONTEXT_EXCEEDED = "context_exceeded"
    PERMANENT_SERVER = "permanent_server"
    STREAM_ERROR = "stream_error"
    STREAM_CUT = "stream_cut"
    NOT_FOUND = "not_found"
    BAD_REQUEST = "bad_request"
    AUTH = "auth"
    STATUS_503 = "status_503"
    STATUS_429 = "status_429"
    STATUS_5XX = "status_5xx"
    CONNECT_TIMEOUT = "connect_timeout"
    FIRST_BYTE_TIMEOUT = "first_byte_timeout"
    READ_TIMEOUT = "read_timeout"
    CONNECTION = "connection"
    BAD_RESPONSE = "bad_response"
    DEADLINE = "deadline"
    OTHER = "other"


class OllamaCallError(ModelCallError):
    """A ModelCallError that also says why (FailureReason)."""

    def __init__(self, code: ErrorCode, message: str, *, transient: bool, status: int | None = None,
                 reason: FailureReason = FailureReason.OTHER) -> None:
        super().__init__(code, message, transient=transient, status=status)
        self.reason = reason


# The runner cannot decode these image bytes (ollama #11320): the same bytes fail the same way.
_IMAGE_UNREADABLE = ("image: unknown format", "unable to make llava embedding")
# model/model.go ErrNoVisionModel: the model has no vision encoder. Not the requester's photo.
_NO_VISION = ("missing data required for image input",)
# runner errorInputTooLong (400 with truncate:false) and the runner's own give-up with truncate:true.
# vLLM: "This model's maximum context length is N tokens" (400); llama-server: "... exceeds the available
# context size ..." (400, type exceed_context_size_error).
_CONTEXT = ("exceeds the context length", "entire prompt removed by truncation",
            "exceeds the available context size", "maximum context length is")
# Failures of the server's set-up that the same call will meet again: an operator has to act.
_PERMANENT_SERVER = ("model requires more system memory (", "incompatible with your version of ollama",
                     "no longer compatible with your version of ollama", "not supported by your version of ollama",
                     "failed to load model vocabulary required for format", "does not support")
# Our request is malformed: a bug on our side, retrying cannot help.
_REQUEST_BUG = ("invalid format", "must be of type", "invalid json schema", "cannot unmarshal", "base64")


def _has(lower: str, markers: tuple[str, ...]) -> bool:
    return any(marker in lower for marker in markers)


def classify(status: int | None, text: str, *, model: str, role: str, base_url: str,
             streamed: bool = False) -> OllamaCallError:
    """An Ollama error (HTTP status, or None for an `{"error"}` line in a 200 stream) as an OllamaCallError."""
    said = f"Ollama ({role} server {base_url})" + (f" answered {status}" if status else "")
    known = known_failure(status, text, said, model=model, role=role, base_url=base_url)
    if known is not None:
        return known
    lower = text.lower()
    if status is None:
        when = "after partial output" if streamed else "before any output"
        return OllamaCallError(ErrorCode.MODEL_UNAVAILABLE, f"{said} error in stream {when}: {text}",
                               transient=True, reason=FailureReason.STREAM_ERROR)
    return _by_status(status, text, lower, said, model=model, role=role, base_url=base_url)


def known_failure(status: int | None, text: str, said: str, *, model: str, role: str, base_url: str,
                  context_setting: str = "num_ctx, OLLAMA_NUM_CTX") -> OllamaCallError | None:
    """A failure told by its message whatever the HTTP status: Ollama's markers, which its /v1 endpoints
    send too, and the context-length wording of vLLM and llama.cpp's server (openai_errors.py)."""
    lower = text.lower()
    if _has(lower, _NO_VISION):
        return OllamaCallError(ErrorCode.MODEL_UNAVAILABLE, f"{role} model '{model}' on {base_url} cannot read "
                               f"images (a text-only model): {text}", transient=False, status=status,
                               reason=FailureReason.NO_VISION)
    if _has(lower, _IMAGE_UNREADABLE):
        return OllamaCallError(ErrorCode.INVALID_IMAGE, f"the model server could not read the image: {text}",
                               transient=False, status=status, reason=FailureReason.INVALID_IMAGE)
    if _has(lower, _CONTEXT):
        return OllamaCallError(ErrorCode.INVALID_REQUEST, f"the prompt does not fit in the context of {role} "
                               f"model '{model}' ({context_setting}): {text}", transient=False,
                               status=status, reason=FailureReason.CONTEXT_EXCEEDED)
    if _has(lower, _PERMANENT_SERVER):
        return OllamaCallError(ErrorCode.MODEL_UNAVAILABLE, f"{said}: {text}", transient=False, status=status,
                               reason=FailureReason.PERMANENT_SERVER)
    return None


def _by_status(status: int, text: str, lower: str, said: str, *, model: str, role: str,
               base_url: str) -> OllamaCallError:
    if status == 404:
        if "not found" in lower and "model" in lower:
            return OllamaCallError(ErrorCode.MODEL_NOT_FOUND, f"model '{model}' not found on the {role} model "
                                   f"server {base_url} ({text}); pull it first", transient=False,
                                   status=status, reason=FailureReason.NOT_FOUND)
        return OllamaCallError(ErrorCode.MODEL_UNAVAILABLE, f"{said}: {text or 'not found'}; is it an Ollama "
                               "server?", transient=False, status=status, reason=FailureReason.NOT_FOUND)
    if status in (429, 503):
        reason = FailureReason.STATUS_503 if status == 503 else FailureReason.STATUS_429
        return OllamaCallError(ErrorCode.MODEL_UNAVAILABLE, f"{said}: {text}", transient=True, status=status,
                               reason=reason)
    if status >= 500 and not _has(lower, _REQUEST_BUG):
        return OllamaCallError(ErrorCode.MODEL_UNAVAILABLE, f"{said}: {text}", transient=True, status=status,
                               reason=FailureReason.STATUS_5XX)
    why = " (the service sent bad base64: a bug)" if "base64" in lower else ""
    return OllamaCallError(ErrorCode.INTERNAL, f"{said}: {text}{why}", transient=False, status=status,
                           reason=FailureReason.BAD_REQUEST)


class RepeatGuardCut(OllamaCallError):
    """The stream ended without its final chunk: Ollama's runner stops a generation after more than 30
    identical tokens in a row (llm/server.go) and ends the response cleanly. The model's output is
    invalid (a loop); the identical call would loop again, so this is not transient."""

    def __init__(self, model: str, partial_text: str) -> None:
        super().__init__(ErrorCode.MODEL_OUTPUT_INVALID, f"model '{model}' fell into a repeat of the same token "
                         "and Ollama's repeat guard cut the answer off", transient=False,
                         reason=FailureReason.STREAM_CUT)
        self.partial_text = partial_text


def _is_read_timeout(exc: BaseException) -> bool:
    """requests wraps a read timeout during body iteration in ConnectionError(ReadTimeoutError)."""
    if isinstance(exc, requests.ReadTimeout):
        return True
    return any(isinstance(arg, urllib3.exceptions.ReadTimeoutError) for arg in getattr(exc, "args", ()))


def deadline_failure(model: str, role: str, base_url: str, when: str) -> OllamaCallError:
    return OllamaCallError(ErrorCode.DEADLINE_EXCEEDED, f"request deadline passed {when} ({role} model "
                           f"'{model}' at {base_url})", transient=False, reason=FailureReason.DEADLINE)


def transport_failure(exc: requests.RequestException, *, model: str, role: str, base_url: str,
                      deadline: Deadline | None, capped: bool, got_headers: bool, first_byte_timeout: float,
                      read_timeout: float) -> OllamaCallError:
    """A failed exchange: `capped` = the read timeout was the deadline's remainder; `got_headers` = the
    first byte had arrived, so a timeout is a stalled stream, not a long load or slot wait."""
    where = f"Ollama at {base_url}"
    if isinstance(exc, requests.ConnectTimeout):
        if capped and (deadline is None or deadline.remaining() < 0.05):
            return deadline_failure(model, role, base_url, "while connecting")
        return OllamaCallError(ErrorCode.MODEL_UNAVAILABLE, f"connect timeout to {where}", transient=True,
                               reason=FailureReason.CONNECT_TIMEOUT)
    if _is_read_timeout(exc):
        # Our read timeout was the deadline's remaining time: the request is out of time, not Ollama.
        if (capped and not got_headers) or (deadline is not None and deadline.remaining() < 0.05):
            return deadline_failure(model, role, base_url, "waiting for the model's answer")
        if not got_headers:
            return OllamaCallError(ErrorCode.MODEL_UNAVAILABLE, f"{where} sent no first byte in "
                                   f"{first_byte_timeout}s (model load, slot wait and prompt)", transient=True,
                                   reason=FailureReason.FIRST_BYTE_TIMEOUT)
        return OllamaCallError(ErrorCode.MODEL_UNAVAILABLE, f"{where} sent nothing for {read_timeout}s between "
                               "tokens (read timeout)", transient=True, reason=FailureReason.READ_TIMEOUT)
    if isinstance(exc, (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError)):
        return OllamaCallError(ErrorCode.MODEL_UNAVAILABLE, f"connection to {where} broke during the answer",
                               transient=True, reason=FailureReason.CONNECTION)
    if isinstance(exc, requests.ConnectionError):
        detail = "connection refused" if "refused" in str(exc).lower() else "connection failed"
        return OllamaCallError(ErrorCode.MODEL_UNAVAILABLE, f"cannot reach {where}: {detail}", transient=True,
                               reason=FailureReason.CONNECTION)
    return OllamaCallError(ErrorCode.INTERNAL, f"HTTP client error talking to {where}: {type(exc).__name__}",
                           transient=False, reason=FailureReason.OTHER)
