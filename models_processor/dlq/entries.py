"""Reading the DLQ topic: each record as a `DlqEntry`, with the headers the dispatcher wrote (kafka/routing.py)
parsed, and the request's own headers separated from them so a replay can restore the original request."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from typing import Any, Protocol

from confluent_kafka import OFFSET_BEGINNING, KafkaError, TopicPartition
from pydantic import BaseModel, ConfigDict

Headers = list[tuple[str, bytes]]

# Headers the dispatcher adds to a DLQ copy after the request's own (kafka/routing.py, kafka/dispatcher.py).
DLQ_HEADERS = frozenset({
    "x-error-code", "x-error-message", "x-attempts", "x-original-topic", "x-original-partition",
    "x-original-offset", "x-original-timestamp", "x-value-dropped",
})
REPLAY_COUNT_HEADER = "x-replay-count"


class DlqReadError(Exception):
    """The DLQ topic is missing or could not be read to its end."""


class DlqConsumer(Protocol):
    """The parts of confluent_kafka.Consumer used here."""

    def list_topics(self, topic: str | None = None, timeout: float = -1) -> Any: ...
    def get_watermark_offsets(self, partition: TopicPartition, timeout: float = -1,
                              cached: bool = False) -> tuple[int, int] | None: ...
    def assign(self, partitions: list[TopicPartition]) -> None: ...
    def consume(self, num_messages: int = 1, timeout: float = -1) -> list[Any]: ...
    def close(self) -> None: ...


class DlqEntry(BaseModel):
    """One DLQ record. `error_code` is a plain string: copies written by other versions still count."""

    model_config = ConfigDict(frozen=True)

    partition: int
    offset: int
    timestamp_ms: int  # when the copy was written to the DLQ
    key: bytes | None
    value: bytes | None
    request_headers: Headers  # the request's own headers, as the producer of the request sent them
    request_id: str
    error_code: str
    error_message: str
    attempts: int
    original_topic: str | None
    original_partition: int | None
    original_offset: int | None
    original_timestamp_ms: int | None
    replay_count: int
    value_dropped: bool

    def age_s(self, now_s: float) -> float:
        return max(0.0, now_s - self.timestamp_ms / 1000)


def _int(value: bytes | None) -> int | None:
    try:
        return int(value.decode()) if value is not None else None
    except (UnicodeDecodeError, ValueError):
        return None


def _text(value: bytes | None) -> str:
    return value.decode("utf-8", errors="replace") if value is not None else ""


def split_headers(headers: Sequence[tuple[str, bytes | None]]) -> tuple[Headers, dict[str, bytes]]:
    """(the request's own headers, the DLQ headers). The dispatcher appends its block, ending with a
    `request_id` header, after the request's headers: everything from the first x-error-code on is ours."""
    pairs = [(k, v if v is not None else b"") for k, v in headers]
    start = next((i for i, (k, _) in enumerate(pairs) if k == "x-error-code"), len(pairs))
    own, block = pairs[:start], pairs[start:]
    added = {k: v for k, v in block if k in DLQ_HEADERS or k == "request_id"}
    own += [(k, v) for k, v in block if k not in DLQ_HEADERS and k != "request_id"]
    return own, added


def entry_of(message: Any) -> DlqEntry:
    own, added = split_headers(message.headers() or [])
    key = message.key()
    request_id = _text(added.get("request_id")) or (_text(key) if key else "")
    replay_count = next((_int(v) for k, v in own if k == REPLAY_COUNT_HEADER), None) or 0
    return DlqEntry(
        partition=message.partition(), offset=message.offset(), timestamp_ms=message.timestamp()[1],
        key=key, value=message.value(), request_headers=own, request_id=request_id,
        error_code=_text(added.get("x-error-code")) or "unknown", error_message=_text(added.get("x-error-message")),
        attempts=_int(added.get("x-attempts")) or 1, original_topic=_text(added.get("x-original-topic")) or None,
        original_partition=_int(added.get("x-original-partition")),
        original_offset=_int(added.get("x-original-offset")),
        original_timestamp_ms=_int(added.get("x-original-timestamp")),
        replay_count=replay_count, value_dropped="x-value-dropped" in added)


def read_entries(consumer: DlqConsumer, topic: str, *, timeout_s: float = 60.0) -> Iterator[DlqEntry]:
    """Every record of `topic` from its beginning to its end as of the start (read_committed, so aborted
    copies of an exactly-once transaction are not counted). The consumer needs enable.partition.eof."""
    metadata = consumer.list_topics(topic, timeout=10)
    described = metadata.topics.get(topic)
    if described is None or described.error is not None:
        raise DlqReadError(f"DLQ topic {topic} does not exist or cannot be described")
    ends: dict[int, int] = {}
    for partition in sorted(described.partitions):
        marks = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
        if marks is None:
            raise DlqReadError(f"no watermark offsets for {topic}[{partition}]")
        low, high = marks
        if high > low:
            ends[partition] = high
    if not ends:
        return
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in ends])
    remaining = set(ends)
    until = time.monotonic() + timeout_s
    while remaining:
        if time.monotonic() > until:
            raise DlqReadError(f"DLQ partitions {sorted(remaining)} not read to their end within {timeout_s:g} s")
        for message in consumer.consume(500, 0.5):
            error = message.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    remaining.discard(message.partition())
                    continue
                raise DlqReadError(f"reading the DLQ failed: {error.str()}")
            if message.partition() not in remaining:
                continue  # written after we started: not part of this read
            yield entry_of(message)
            if message.offset() + 1 >= ends[message.partition()]:
                remaining.discard(message.partition())
