"""The last N answers' metadata, in memory, for the /inspect "recent" panel: never photos, prompts or results."""

from __future__ import annotations

import threading
import time
from collections import deque
from enum import StrEnum
from typing import Protocol

from pydantic import BaseModel

from ..deadline import Deadline
from ..messages import Response
from ..pipeline.requests import Inbound, Processed


class Origin(StrEnum):
    """Where a request came from."""

    KAFKA = "kafka"
    INSPECTOR = "inspector"


class AnswerSummary(BaseModel):
    """What the recent panel shows of one answer."""

    at: float                              # unix time the answer was made
    origin: Origin
    request_id: str
    kind: str | None                       # the result kind (recipe, nutrition_label, food, text), if known
    status: str                            # ok | error | skipped
    error_code: str | None = None
    sources: dict[str, str] | None = None  # field -> ocr | llm-vision | llm-text | missing
    timings_ms: dict[str, int] | None = None


def summarize(processed: Processed, origin: Origin) -> AnswerSummary:
    response: Response | None = processed.response
    if response is None:  # skipped by the EXPECTED_USER_EMAIL filter
        return AnswerSummary(at=time.time(), origin=origin, request_id=processed.request_id, kind=None,
                             status="skipped")
    return AnswerSummary(
        at=time.time(), origin=origin, request_id=processed.request_id,
        kind=response.kind.value if response.kind else None, status=response.status,
        error_code=response.error.code.value if response.error else None,
        sources={k: v.value for k, v in response.sources.items()} if response.sources else None,
        timings_ms=dict(response.timings_ms) if response.timings_ms else None,
    )


class RecentAnswers:
    """A bounded, thread-safe list of answer summaries, newest last."""

    def __init__(self, size: int) -> None:
        self._items: deque[AnswerSummary] = deque(maxlen=size)
        self._lock = threading.Lock()

    def record(self, summary: AnswerSummary) -> None:
        with self._lock:
            self._items.append(summary)

    def newest_first(self) -> list[AnswerSummary]:
        with self._lock:
            return list(reversed(self._items))


class Processor(Protocol):
    """What the dispatcher calls (the same shape as kafka.dispatcher.Processor)."""

    def process(self, message: Inbound, deadline: Deadline) -> Processed: ...


class ObservedProcessor:
    """Wraps the request processor the dispatcher calls: every answer's metadata goes to `recent` too."""

    def __init__(self, inner: Processor, recent: RecentAnswers) -> None:
        self._inner = inner
        self._recent = recent

    def process(self, message: Inbound, deadline: Deadline) -> Processed:
        processed = self._inner.process(message, deadline)
        self._recent.record(summarize(processed, Origin.KAFKA))
        return processed
