"""Wire models: requests read from Kafka, responses and error answers written back (docs/contracts.md)."""

from __future__ import annotations

import json
import re
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, StrictStr, ValidationError, model_validator
from pydantic_core import PydanticSerializationError

from . import SCHEMA_VERSION
from .errors import ErrorCode, ProcessingError
from .schemas import ResultKind as ResultKind  # re-exported: part of the wire contract (Response fields)
from .schemas import Source as Source
from .validation import describe_validation_error

# JSON may escape a lone UTF-16 surrogate ("\ud800"); Python decodes it into a str that UTF-8 cannot encode.
_SURROGATES = re.compile("[\ud800-\udfff]")


class RequestKind(StrEnum):
    """The `kind` a request may ask for; `auto` lets the classifier decide."""

    AUTO = "auto"
    RECIPE = "recipe"
    NUTRITION_LABEL = "nutrition_label"
    FOOD = "food"


class MessageKind(StrEnum):
    """What a request message is, read before (or without) validating it: the `kind` label of the metrics."""

    PHOTO = "photo"
    TEXT = "text"
    INVALID = "invalid"


class Request(BaseModel):
    """A request value. `photo` makes it a photo request; `message` is the earlier service's `prompt`."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    user_email: StrictStr = ""
    prompt: StrictStr | None = None
    message: StrictStr | None = None
    photo: StrictStr | None = None
    kind: RequestKind = RequestKind.AUTO
    request_id: StrictStr | None = None
    model: StrictStr | None = None
    reply_topic: StrictStr | None = None

    @model_validator(mode="after")
    def _prompt_or_photo(self) -> Request:
        if self.prompt is None and self.message is not None:
            self.prompt = self.message
        if self.photo is None and not (self.prompt and self.prompt.strip()):
            raise ValueError("a text request needs a non-empty 'prompt' (or 'message')")
        return self

    @property
    def is_photo(self) -> bool:
        return self.photo is not None


def decode_request(value: bytes | None, *, max_bytes: int) -> Request:
    """Bytes of a Kafka value -> Request, or a ProcessingError with the code docs/contracts.md names."""
    if value is None or len(value) == 0:
        raise ProcessingError(ErrorCode.INVALID_JSON, "empty message value")
    if len(value) > max_bytes:
        raise ProcessingError(
            ErrorCode.INVALID_REQUEST, f"message is {len(value)} bytes, above MAX_MESSAGE_BYTES={max_bytes}"
        )
    try:
        # One step for the common valid request (no dict in between). Anything it refuses is read again
        # below, which names the error (invalid_json or invalid_request) and accepts what Python's json
        # accepts and pydantic's parser does not (a BOM, UTF-16, lone surrogates).
        return Request.model_validate_json(value)
    except ValidationError:
        pass
    try:
        data = json.loads(value)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProcessingError(ErrorCode.INVALID_JSON, f"value is not JSON: {exc}") from None
    except RecursionError:
        raise ProcessingError(ErrorCode.INVALID_JSON, "value is not JSON: nested too deeply") from None
    if not isinstance(data, dict):
        raise ProcessingError(ErrorCode.INVALID_JSON, f"value is JSON {type(data).__name__}, not an object")
    try:
        return Request.model_validate(data)
    except ValidationError as exc:
        raise ProcessingError(ErrorCode.INVALID_REQUEST,
                              describe_validation_error(exc, limit=5, root="request", max_chars=None)) from None


def peek_identity(value: bytes | None) -> tuple[str, str]:
    """Best-effort (user_email, request_id) from a value that failed validation, for the error answer."""
    try:
        data = json.loads(value or b"")
    except Exception:
        return "", ""
    if not isinstance(data, dict):
        return "", ""
    email = data.get("user_email")
    rid = data.get("request_id")
    return _wire_text(email), _wire_text(rid)


def _wire_text(value: Any) -> str:
    """A string that can go into a Kafka key or header (UTF-8): a lone surrogate makes it unusable."""
    return value if isinstance(value, str) and not _SURROGATES.search(value) else ""


def peek_kind(value: bytes | None) -> MessageKind:
    """What a value is, without validating it (metrics and routing of errors)."""
    try:
        data = json.loads(value or b"")
    except Exception:
        return MessageKind.INVALID
    if not isinstance(data, dict):
        return MessageKind.INVALID
    return MessageKind.PHOTO if "photo" in data else MessageKind.TEXT


class ErrorBody(BaseModel):
    code: ErrorCode
    message: str
    retryable: bool = False


class Response(BaseModel):
    """A response value. Fields that do not apply are left out of the JSON (exclude_none)."""

    user_email: str = ""
    request_id: str
    status: str = "ok"  # "ok" | "error"
    kind: ResultKind | None = None
    analysis: str | None = None  # `result` as a JSON string, read by the earlier service's consumers
    result: dict[str, Any] | None = None
    sources: dict[str, Source] | None = None
    response: str | None = None  # text results: the generated text
    model: str | None = None
    timings_ms: dict[str, int] | None = None
    warnings: list[str] | None = None  # additive: why a photo result is partial (e.g. model unreachable)
    error: ErrorBody | None = None

    def to_bytes(self) -> bytes:
        try:
            return self.model_dump_json(exclude_none=True).encode()
        except PydanticSerializationError:
            # A lone surrogate (a prompt echoed back, a model's JSON) cannot be UTF-8: answer with U+FFFD
            # in its place rather than fail to answer at all.
            text = json.dumps(self.model_dump(mode="json", exclude_none=True), ensure_ascii=False)
            return _SURROGATES.sub("\ufffd", text).encode()

    @classmethod
    def ok_photo(cls, *, user_email: str, request_id: str, kind: ResultKind, result: dict[str, Any],
                 sources: dict[str, Source], model: str | None, timings_ms: dict[str, int]) -> Response:
        return cls(user_email=user_email, request_id=request_id, kind=kind, result=result,
                   analysis=json.dumps(result, ensure_ascii=False), sources=sources, model=model,
                   timings_ms=timings_ms)

    @classmethod
    def ok_text(cls, *, user_email: str, request_id: str, text: str, model: str,
                timings_ms: dict[str, int]) -> Response:
        return cls(user_email=user_email, request_id=request_id, kind=ResultKind.TEXT, response=text,
                   model=model, timings_ms=timings_ms)

    @classmethod
    def failure(cls, *, user_email: str, request_id: str, error: ProcessingError,
                kind: ResultKind | None = None) -> Response:
        return cls(user_email=user_email, request_id=request_id, status="error", kind=kind,
                   error=ErrorBody(code=error.code, message=error.message, retryable=error.retryable))


def response_headers(request_id: str, trace: list[tuple[str, bytes]] | None = None) -> list[tuple[str, bytes]]:
    """`trace`: the traceparent/tracestate headers of the request's trace (tracecontext.answer_headers)."""
    return [
        ("request_id", request_id.encode()),
        ("content-type", b"application/json"),
        ("schema-version", SCHEMA_VERSION.encode()),
        *(trace or []),
    ]
