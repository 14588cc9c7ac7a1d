"""Backpressure: how much more the loop may read, and when to pause and resume the partitions.

Two bounds. The work in hand (requests read and not finished) is bounded in records, to keep the workers
fed without hoarding, and in bytes: requests carry photos of up to 10 MiB, so a record count alone does not
bound memory. The commit window (everything read and not yet committable, finished requests waiting
behind a slow one included) is bounded apart and much wider: counted against the first bound, a single slow
request stopped all reading once a few fast ones had finished behind it (docs/guarantees.md, "A slow request
does not hold the others"). Only a limit that holds pauses (pause() drops the prefetched messages and a
resume refetches them, which for short bursts costs more than it saves); while it holds, a newly assigned
partition starts paused too, or it would be read past the limit (see docs/guarantees.md).
"""

from __future__ import annotations

import time
from typing import NamedTuple

from confluent_kafka import TopicPartition

from ..metrics import Metrics
from .clients import ConsumerClient

TP = tuple[str, int]

# How long the in-flight limit must hold before partitions are paused.
PAUSE_AFTER_S = 1.0


class Load(NamedTuple):
    records: int  # requests in hand: read and not finished (exactly-once: and answers awaiting a transaction)
    nbytes: int  # their bytes
    window: int  # read and not yet committable: the above, and finished requests behind an unfinished one


class Backpressure:
    def __init__(self, consumer: ConsumerClient, metrics: Metrics, *, max_records: int, max_bytes: int,
                 max_window: int, resume_records: int, pause_after_s: float = PAUSE_AFTER_S) -> None:
        self._consumer = consumer
        self._metrics = metrics
        self.max_records = max_records
        self.max_bytes = max_bytes
        self.max_window = max(max_window, max_records)
        self._resume_records = resume_records
        self._resume_bytes = max_bytes * 3 // 4
        self._resume_window = max(resume_records, self.max_window * 3 // 4)
        self._pause_after_s = pause_after_s
        self._full_since: float | None = None
        self.paused: set[TP] = set()

    def room(self, load: Load) -> int:
        """How many more messages may be read now (0: full, in records, bytes or the commit window)."""
        if load.nbytes >= self.max_bytes:
            return 0
        return max(0, min(self.max_records - load.records, self.max_window - load.window))

    def admits(self, load: Load, size: int) -> bool:
        """Whether one more message of `size` bytes fits; an oversized one fits alone, so it can be answered."""
        return (load.records < self.max_records and load.window < self.max_window
                and (load.records == 0 or load.nbytes + size <= self.max_bytes))

    def update(self, assigned: set[TP], load: Load) -> None:
        now = time.monotonic()
        records, nbytes, window = load
        if records >= self.max_records or nbytes >= self.max_bytes or window >= self.max_window:
            if self._full_since is None:
                self._full_since = now
            if now - self._full_since >= self._pause_after_s:
                self.pause(assigned - self.paused)
        else:
            self._full_since = None
            if (self.paused and records <= self._resume_records and nbytes <= self._resume_bytes
                    and window <= self._resume_window):
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
