"""Error codes of the wire contract and the exception that carries one through the pipeline."""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    INVALID_JSON = "invalid_json"
    INVALID_REQUEST = "invalid_request"
    INVALID_IMAGE = "invalid_image"
    IMAGE_TOO_LARGE = "image_too_large"
    MODEL_UNAVAILABLE = "model_unavailable"
    MODEL_NOT_FOUND = "model_not_found"
    MODEL_OUTPUT_INVALID = "model_output_invalid"
    DEADLINE_EXCEEDED = "deadline_exceeded"
    EXPIRED = "expired"  # read after MAX_REQUEST_AGE_SECONDS: not processed (docs/contracts.md)
    INTERNAL = "internal"


# Codes whose original message is also copied to the DLQ: the request could not be processed at all
# (unparseable, malformed, oversized), ran out of time, or failed for a reason an operator can fix and
# replay (model server down or model missing, a bug). A bad photo or a model that keeps answering invalid
# JSON is the requester's answer, not an operator's task.
DLQ_CODES = frozenset({
    ErrorCode.INVALID_JSON, ErrorCode.INVALID_REQUEST, ErrorCode.DEADLINE_EXCEEDED, ErrorCode.EXPIRED, ErrorCode.INTERNAL,
    ErrorCode.MODEL_UNAVAILABLE, ErrorCode.MODEL_NOT_FOUND,
})


class ProcessingError(Exception):
    """A failure that becomes an error response. `retryable` tells the requester a retry may succeed."""

    def __init__(self, code: ErrorCode, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retryable = retryable
        # The result kind (a messages.ResultKind value) a photo was classified as before it failed: the error
        # answer carries it. None when the failure came first.
        self.result_kind: str | None = None

    def __repr__(self) -> str:
        return f"ProcessingError({self.code.value!r}, {self.message!r}, retryable={self.retryable})"
