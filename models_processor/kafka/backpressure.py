"""Backpressure: how much more the loop may read, and when to pause and resume the partitions.

Bounded in records and in bytes: requests carry photos of up to 10 MiB, so a record count alone does not
bound memory. Only a limit that holds pauses (pause() drops the prefetched messages and a resume refetches
them, which for short bursts costs more than it saves); while it holds, a newly assigned partition starts
paused too, or it would be read past the limit (see docs/guarantees.md).
"""

from __future__ import annotations

import time

from confluent_kafka import TopicPartition

from ..metrics import Metrics
from .clients import ConsumerClient

TP = tuple[str, int]

# How long the in-flight limit must hold before partitions are paused.
PAUSE_AFTER_S = 1.0


class Backpressure:
    def __init__(self, consumer: ConsumerClient, metrics: Metrics, *, max_records: int, max_bytes: int,
                 resume_records: int, pause_after_s: float = PAUSE_AFTER_S) -> None:
        self._consumer = consumer
        self._metrics = metrics
        self.max_records = max_records
        self.max_bytes = max_bytes
        self._resume_records = resume_records
        self._resume_bytes = max_bytes * 3 // 4
        self._pause_after_s = pause_after_s
        self._full_since: float | None = None
        self.paused: set[TP] = set()

    def room(self, records: int, nbytes: int) -> int:
        """How many more messages may be read now (0: full, in records or in bytes)."""
        if nbytes >= self.max_bytes:
            return 0
        return max(0, self.max_records - records)

    def admits(self, records: int, nbytes: int, size: int) -> bool:
        """Whether one more message of `size` bytes fits; an oversized one fits alone, so it can be answered."""
        return records < self.max_records and (records == 0 or nbytes + size <= self.max_bytes)

    def update(self, assigned: set[TP], records: int, nbytes: int) -> None:
        now = time.monotonic()
        if records >= self.max_records or nbytes >= self.max_bytes:
            if self._full_since is None:
                self._full_since = now
            if now - self._full_since >= self._pause_after_s:
                self.pause(assigned - self.paused)
        else:
            self._full_since = None
            if self.paused and records <= self._resume_records and nbytes <= self._resume_bytes:
                self._consumer.resume([TopicPartition(t, p) for t, p in sorted(self.paused)])
                self.paused.clear()
        self._metrics.paused_partitions.set(len(self.paused))

    def pause(self, partitions: set[TP]) -> None:
        if partitions:
            self._consumer.pause([TopicPartition(t, p) for t, p in sorted(partitions)])
            self.paused |= partitions

    def on_assign(self, partitions: list[TopicPartition]) -> None:
        """librdkafka keeps a partition's pause flag across a revoked-then-reassigned cycle: start each
        assignment resumed, or paused when the loop is holding back (it would be read past the limit)."""
        if self.paused:
            self.pause({(p.topic, p.partition) for p in partitions})
        else:
            self._consumer.resume(partitions)

    def forget(self, partitions: set[TP]) -> None:
        self.paused -= partitions
