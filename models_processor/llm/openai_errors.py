"""What an OpenAI-compatible server's error means for us: the error code, whether retrying can help, and the
words an operator reads, naming the server kind (vLLM, llama.cpp's server, Ollama's /v1, a cloud API).

The bodies differ by server (docs/openai-compat.md lists them with their sources):
- OpenAI, current vLLM, llama-server and Ollama's /v1: {"error": {"message", "type", "param"?, "code"}};
- earlier vLLM releases: the same fields at the top level, {"object": "error", "message", ...};
- anything else (a proxy's HTML page): the text itself.
An unknown model is vLLM's 404 NotFoundError "The model `x` does not exist." (param "model"), llama-server's
400 "model not found" in router mode (a single-model llama-server serves any name), Ollama's 404
"model \"x\" not found", OpenAI's 404 with code model_not_found: all model_not_found, never retried.
429 and 503 are transient (Retry-After honoured by the client), except OpenAI's insufficient_quota 429.
"""

from __future__ import annotations

import email.utils
import time
from dataclasses import dataclass
from typing import Any

import requests

from ..errors import ErrorCode
from .failures import FailureReason, OllamaCallError, known_failure

# Image refusals that come from how the server was started: vLLM's 400 over its per-prompt image limit,
# llama-server's 500 without a multimodal projector. Ollama's own markers would call the first a bug of
# ours and retry the second.
_CANNOT_TAKE_IMAGES = (
    ("image(s) may be provided in one", "vLLM: raise --limit-mm-per-prompt image=N"),
    ("image input is not supported", "llama-server: start it with --mmproj for this model"),
)
# /v1/models owned_by -> the server kind named in messages (vLLM: "vllm", llama-server: "llamacpp"; Ollama
# names the model's namespace, "library" for local and library models, as seen from Ollama 0.17.4).
_KINDS = {"vllm": "vLLM", "llamacpp": "llama.cpp server", "library": "Ollama /v1", "openai": "OpenAI API",
          "system": "OpenAI API"}
GENERIC_KIND = "OpenAI-compatible server"


def server_kind(owned_by: str) -> str:
    return _KINDS.get(owned_by.lower(), GENERIC_KIND)


@dataclass(frozen=True)
class ServerError:
    """One error answer, read whatever its shape."""

    message: str
    type: str = ""
    param: str = ""
    code: str = ""  # OpenAI's code is a string (model_not_found); vLLM's and llama-server's the status

    @classmethod
    def of(cls, payload: Any, fallback: str = "") -> ServerError:
        detail = payload.get("error", payload) if isinstance(payload, dict) else payload
        if isinstance(detail, dict) and ("message" in detail or "type" in detail):
            return cls(message=str(detail.get("message") or ""), type=str(detail.get("type") or ""),
                       param=str(detail.get("param") or ""), code=str(detail.get("code") or ""))
        if isinstance(detail, str):
            return cls(message=detail)
        return cls(message=fallback[:500])

    @classmethod
    def from_response(cls, resp: requests.Response) -> ServerError:
        try:
            return cls.of(resp.json(), resp.text)
        except ValueError:
            return cls(message=resp.text[:500])


def _is_unknown_model(status: int, error: ServerError) -> bool:
    lower = error.message.lower()
    if error.code == "model_not_found" or (error.param == "model" and "does not exist" in lower):
        return True
    if status == 404:
        return "model" in lower and ("does not exist" in lower or "not found" in lower)
    return status == 400 and lower.strip(" .") == "model not found"  # llama-server in router mode


def classify_openai(status: int | None, error: ServerError, *, kind: str, model: str, role: str, base_url: str,
                    streamed: bool = False) -> OllamaCallError:
    """An OpenAI-compatible server's error (HTTP status, or None for an error event in a 200 stream)."""
    said = f"{kind} ({role} server {base_url})" + (f" answered {status}" if status else "")
    text = error.message or error.type or "no message"
    lower = text.lower()
    for marker, fix in _CANNOT_TAKE_IMAGES:
        if marker in lower:  # the server's start options refuse photos: retrying cannot help
            return OllamaCallError(ErrorCode.MODEL_UNAVAILABLE, f"{said}: refuses images ({fix}): {text}",
                                   transient=False, status=status, reason=FailureReason.PERMANENT_SERVER)
    known = known_failure(status, text, said, model=model, role=role, base_url=base_url,
                          context_setting="the server's context: vLLM --max-model-len, llama-server --ctx-size")
    if known is not None:
        return known
    if status is None:  # vLLM and Ollama's /v1 put the status in the event's code
        if not error.code.isdigit():
            when = "after partial output" if streamed else "before any output"
            return OllamaCallError(ErrorCode.MODEL_UNAVAILABLE, f"{said} error in stream {when}: {text}",
                                   transient=True, reason=FailureReason.STREAM_ERROR)
        status, said = int(error.code), f"{said} error in stream ({error.code})"
    return _by_status(status, error, text, said, model=model, role=role, base_url=base_url)


def _by_status(status: int, error: ServerError, text: str, said: str, *, model: str, role: str,
               base_url: str) -> OllamaCallError:
    def failure(code: ErrorCode, message: str, transient: bool, reason: FailureReason) -> OllamaCallError:
        return OllamaCallError(code, message, transient=transient, status=status, reason=reason)

    if _is_unknown_model(status, error):
        return failure(ErrorCode.MODEL_NOT_FOUND, f"model '{model}' is not served by the {role} model server "
                       f"{base_url} ({said}: {text}); set the model name to one its /v1/models lists",
                       False, FailureReason.NOT_FOUND)
    if status in (401, 403):
        return failure(ErrorCode.MODEL_UNAVAILABLE, f"{said}: {text}; check OPENAI_API_KEY", False,
                       FailureReason.AUTH)
    if status == 404:
        return failure(ErrorCode.MODEL_UNAVAILABLE, f"{said}: {text}; is the host the server's base URL without "
                       "/v1?", False, FailureReason.NOT_FOUND)
    if status == 429 and error.code == "insufficient_quota":
        return failure(ErrorCode.MODEL_UNAVAILABLE, f"{said}: {text} (the account's quota is spent)", False,
                       FailureReason.PERMANENT_SERVER)
    if status in (429, 503):
        reason = FailureReason.STATUS_503 if status == 503 else FailureReason.STATUS_429
        return failure(ErrorCode.MODEL_UNAVAILABLE, f"{said}: {text}", True, reason)
    if status == 501:  # llama-server's not_supported_error: a feature the server was not started with
        return failure(ErrorCode.MODEL_UNAVAILABLE, f"{said}: {text}", False, FailureReason.PERMANENT_SERVER)
    if status >= 500:
        return failure(ErrorCode.MODEL_UNAVAILABLE, f"{said}: {text}", True, FailureReason.STATUS_5XX)
    return failure(ErrorCode.INTERNAL, f"{said}: {text} (the request was refused as sent: a bug of ours or an "
                   "option this server does not take)", False, FailureReason.BAD_REQUEST)


def retry_after(resp: requests.Response, *, now: float | None = None) -> float | None:
    """Seconds to wait from Retry-After (seconds or an HTTP date) or OpenAI's retry-after-ms; None if absent."""
    ms = resp.headers.get("retry-after-ms", "")
    try:
        return max(0.0, float(ms) / 1000)
    except ValueError:
        pass
    value = resp.headers.get("Retry-After", "").strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))
