"""The original request of a DLQ copy that was sent without its value (too large for the DLQ topic): read
back from where the copy's headers say it is (x-original-topic/partition/offset), while retention keeps it."""

from __future__ import annotations

import time
from typing import Any, Protocol

from confluent_kafka import TopicPartition

from .entries import DlqEntry


class OriginalsConsumer(Protocol):
    def assign(self, partitions: list[TopicPartition]) -> None: ...
    def consume(self, num_messages: int = 1, timeout: float = -1) -> list[Any]: ...


class OriginalReader:
    def __init__(self, consumer: OriginalsConsumer, timeout_s: float = 10.0) -> None:
        self._consumer = consumer
        self._timeout_s = timeout_s

    def __call__(self, entry: DlqEntry) -> bytes | None:
        """The original value, or None when it is gone (retention, compaction) or cannot be read in time."""
        topic, partition, offset = entry.original_topic, entry.original_partition, entry.original_offset
        if topic is None or partition is None or offset is None:
            return None
        self._consumer.assign([TopicPartition(topic, partition, offset)])
        until = time.monotonic() + self._timeout_s
        while time.monotonic() < until:
            for message in self._consumer.consume(1, 0.5):
                if message.error() is not None:
                    continue
                # A later offset means the record was deleted and the position reset past it.
                return message.value() if message.offset() == offset else None
        return None
