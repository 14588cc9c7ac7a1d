"""One request message in, one answer out: decode, filter, validate, route to the text or photo pipeline.

Knows nothing about Kafka offsets or producers: the dispatcher hands it the message's bytes and gets back
a `Processed` that says what to answer and whether the original belongs in the DLQ.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

from ..config import Settings
from ..deadline import Deadline
from ..errors import DLQ_CODES, ErrorCode, ProcessingError
from ..logs import request_context
from ..messages import MessageKind, Request, Response, decode_request, peek_identity, peek_kind
from ..metrics import Metrics
from ..schemas import ResultKind
from .text import TextPipeline

log = logging.getLogger(__name__)


class PhotoRunner(Protocol):
    def run(self, request: Request, *, request_id: str, deadline: Deadline) -> Response: ...


@dataclass(frozen=True)
class Inbound:
    """The parts of a Kafka message the pipeline needs."""

    key: bytes | None
    value: bytes | None
    topic: str
    partition: int
    offset: int


@dataclass(frozen=True)
class Processed:
    request_id: str
    kind: MessageKind               # the metrics label; which response topic
    response: Response | None    # None: skipped (EXPECTED_USER_EMAIL filter), nothing to answer
    reply_topic: str | None      # None: the default topic for the kind
    dlq_error: ProcessingError | None = None  # set: copy the original to the DLQ with this error


def failure_answer(request_id: str, email: str, kind: MessageKind, error: ProcessingError,
                   reply_topic: str | None = None) -> Processed:
    """The one place an error answer is built (by the processor, and by the dispatcher for a worker that
    could not answer); the original goes to the DLQ when the code says so."""
    result_kind = ResultKind(error.result_kind) if error.result_kind else None  # a photo's classified kind
    response = Response.failure(user_email=email, request_id=request_id, error=error,
                                kind=ResultKind.TEXT if kind is MessageKind.TEXT else result_kind)
    return Processed(request_id, kind, response, reply_topic, dlq_error=error if error.code in DLQ_CODES else None)


def request_id_of(message: Inbound) -> str:
    """The key is the request id; an empty key falls back to the value's request_id, else the position."""
    if message.key:
        try:
            key = message.key.decode("utf-8").strip()
        except UnicodeDecodeError:
            key = ""
        if key:
            return key
    _, rid = peek_identity(message.value)
    return rid or f"{message.topic}-{message.partition}-{message.offset}"


class RequestProcessor:
    def __init__(self, settings: Settings, text: TextPipeline, photo: PhotoRunner, metrics: Metrics) -> None:
        self._settings = settings
        self._text = text
        self._photo = photo
        self._metrics = metrics

    def process(self, message: Inbound, deadline: Deadline) -> Processed:
        request_id = request_id_of(message)
        with request_context(request_id):
            return self._process(message, request_id, deadline)

    def _process(self, message: Inbound, request_id: str, deadline: Deadline) -> Processed:
        settings = self._settings
        try:
            request = decode_request(message.value, max_bytes=settings.max_message_bytes)
        except ProcessingError as error:
            email, _ = peek_identity(message.value)
            kind = peek_kind(message.value)  # a JSON object that fails validation still has a kind
            self._metrics.consumed.labels(kind).inc()
            if email and self._filtered_out(email):
                return self._skipped(request_id, kind)
            log.warning("request rejected", extra={"code": error.code.value, "reason": error.message})
            return self._failure(request_id, email, kind, error, reply_topic=None)

        kind = MessageKind.PHOTO if request.is_photo else MessageKind.TEXT
        self._metrics.child(self._metrics.consumed, kind).inc()
        if self._filtered_out(request.user_email):
            return self._skipped(request_id, kind)
        if not message.key and not request.request_id:
            no_id = ProcessingError(ErrorCode.INVALID_REQUEST,
                                    "message key is empty and the value has no request_id: the key must be the request id")
            return self._failure(request_id, request.user_email, kind, no_id, reply_topic=None)

        try:
            reply_topic = self._check_overrides(request)
            if request.is_photo:
                response = self._photo.run(request, request_id=request_id, deadline=deadline)
            else:
                response = self._text.run(request, request_id=request_id, deadline=deadline)
        except ProcessingError as error:
            log.warning("request failed", extra={"code": error.code.value, "reason": error.message})
            return self._failure(request_id, request.user_email, kind, error,
                                 reply_topic=request.reply_topic if request.reply_topic in settings.allowed_reply_topics else None)
        except Exception:  # a bug must answer `internal`, never kill the worker or lose the request
            log.exception("unexpected error while processing")
            internal = ProcessingError(ErrorCode.INTERNAL, "internal error while processing the request")
            return self._failure(request_id, request.user_email, kind, internal, reply_topic=None)

        metrics = self._metrics
        metrics.child(metrics.processed, kind, "ok").inc()
        timings = response.timings_ms or {}
        for stage, ms in timings.items():
            metrics.child(metrics.stage_seconds, stage).observe(ms / 1000)
        if log.isEnabledFor(logging.INFO):
            result_kind = response.kind.value if response.kind else None
            log.info("request answered", extra={"kind": kind, "result_kind": result_kind, "timings_ms": timings})
        return Processed(request_id, kind, response, reply_topic)

    def _filtered_out(self, email: str) -> bool:
        expected = self._settings.expected_user_email
        return bool(expected) and email != expected

    def _skipped(self, request_id: str, kind: MessageKind) -> Processed:
        self._metrics.skipped.labels("user_email").inc()
        log.info("request skipped: user_email does not match EXPECTED_USER_EMAIL")
        return Processed(request_id, kind, None, None)

    def _check_overrides(self, request: Request) -> str | None:
        settings = self._settings
        if request.model is not None and request.model not in settings.allowed_models:
            raise ProcessingError(ErrorCode.INVALID_REQUEST, f"model {request.model!r} is not on MODEL_ALLOWLIST")
        if request.reply_topic is not None:
            if request.reply_topic not in settings.allowed_reply_topics:
                raise ProcessingError(
                    ErrorCode.INVALID_REQUEST, f"reply_topic {request.reply_topic!r} is not on REPLY_TOPIC_ALLOWLIST"
                )
            return request.reply_topic
        return None

    def _failure(self, request_id: str, email: str, kind: MessageKind, error: ProcessingError,
                 reply_topic: str | None) -> Processed:
        self._metrics.processed.labels(kind, "error").inc()
        self._metrics.failed.labels(kind, error.code.value).inc()
        return failure_answer(request_id, email, kind, error, reply_topic)
