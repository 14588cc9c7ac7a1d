"""Where each answer goes: the response topic of its kind (or an allowed reply topic), and the DLQ copy."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum

from ..config import Settings
from ..errors import ProcessingError
from ..messages import response_headers
from ..pipeline.requests import Processed
from ..tracecontext import answer_headers

Headers = list[tuple[str, bytes]]


class RecordRole(Enum):
    ANSWER = "answer"
    DLQ_COPY = "dlq_copy"


@dataclass(frozen=True)
class SourceInfo:
    """The original message, as the DLQ copy must carry it: unchanged value and key, plus where it was."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes]]


@dataclass(frozen=True)
class OutputRecord:
    topic: str
    key: bytes | None
    value: bytes | None
    headers: Headers
    role: RecordRole = RecordRole.ANSWER
    request_id: str = ""
    # the request it answers: what a replacement needs when this record cannot be delivered
    source: SourceInfo | None = field(default=None, compare=False, repr=False)

    @property
    def size(self) -> int:
        return len(self.value or b"") + len(self.key or b"") + sum(len(k) + len(v) for k, v in self.headers)


def response_topic(settings: Settings, processed: Processed) -> str:
    if processed.reply_topic:
        return processed.reply_topic
    if processed.kind == "photo":
        return settings.photo_response_topic
    if processed.kind == "text":
        return settings.text_response_topic
    return settings.error_topic  # unparseable: we cannot tell what kind it was


def outputs_for(settings: Settings, processed: Processed, source: SourceInfo, attempts: int = 1) -> list[OutputRecord]:
    records: list[OutputRecord] = []
    if processed.response is not None:
        records.append(OutputRecord(
            topic=response_topic(settings, processed),
            key=processed.request_id.encode(),
            value=processed.response.to_bytes(),
            headers=response_headers(processed.request_id,
                                     answer_headers(source.headers, (source.topic, source.partition, source.offset))),
            request_id=processed.request_id,
            source=source,
        ))
    if processed.dlq_error is not None:
        records.append(dlq_copy(settings, source, processed.dlq_error, processed.request_id, attempts))
    return records


def dlq_copy(settings: Settings, source: SourceInfo, error: ProcessingError, request_id: str,
             attempts: int) -> OutputRecord:
    """The original request, unchanged, with headers saying why it is here (docs/contracts.md)."""
    headers: Headers = [(k, v) for k, v in (source.headers or [])]
    headers += [
        ("x-error-code", error.code.value.encode()),
        ("x-error-message", error.message[:1000].encode()),
        ("x-attempts", str(attempts).encode()),
        ("x-original-topic", source.topic.encode()),
        ("x-original-partition", str(source.partition).encode()),
        ("x-original-offset", str(source.offset).encode()),
        ("x-original-timestamp", str(source.timestamp_ms).encode()),
        ("request_id", request_id.encode()),
    ]
    return OutputRecord(topic=settings.dlq_topic, key=source.key, value=source.value, headers=headers,
                        role=RecordRole.DLQ_COPY, request_id=request_id, source=source)
