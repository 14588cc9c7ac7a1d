"""One request taken from Kafka, from the moment it is read until its offset is released."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from confluent_kafka import Message

from ..deadline import Deadline
from ..errors import ProcessingError
from ..messages import peek_identity, peek_kind
from ..pipeline.requests import Processed, failure_answer
from .routing import OutputRecord, SourceInfo

TP = tuple[str, int]


class JobState(Enum):
    HELD = "held"  # read, waiting to run alone (it was in flight when the process died; isolation.py)
    RUNNING = "running"  # a worker has it
    PRODUCING = "producing"  # answered; its records are on their way (at-least-once)
    DONE = "done"  # its records are delivered (or queued for the transaction): the offset may be released
    ABANDONED = "abandoned"  # its partition left us; whatever it returns is dropped


@dataclass(eq=False)
class Job:
    """Identity is the object: a redelivered offset after a revoke-and-reassign is a different Job."""

    tp: TP
    offset: int
    epoch: int  # which assignment of the partition read it (see Dispatcher._is_current)
    source: SourceInfo
    deadline: Deadline
    request_id: str
    attempts: int = 1
    state: JobState = JobState.RUNNING
    unacked: int = 0
    records: list[OutputRecord] = field(default_factory=list)

    @property
    def size(self) -> int:
        return len(self.source.value or b"")

    def failed(self, error: ProcessingError) -> Processed:
        """The answer for a job its worker could not answer (a crash, a hung call, a crash loop)."""
        email, _ = peek_identity(self.source.value)
        return failure_answer(self.request_id, email, peek_kind(self.source.value), error)


def position_of(message: Message) -> tuple[TP, int]:
    topic, partition, offset = message.topic(), message.partition(), message.offset()
    assert topic is not None and partition is not None and offset is not None, "a consumed message has all three"
    return (topic, partition), offset


def headers_of(message: Message) -> list[tuple[str, bytes]]:
    raw = message.headers() or []
    items = list(raw.items()) if isinstance(raw, dict) else raw
    return [(k, v if isinstance(v, bytes) else (v or "").encode()) for k, v in items]
