"""Where released offsets go: the at-least-once twin of the exactly-once checkpoint (transactions.py).

Both have one life cycle, driven by the dispatcher: start() once, release() for each contiguous done
prefix of a partition, commit() every loop iteration (it keeps its own cadence), revoke()/lose() on a
rebalance, close() at shutdown. At-least-once, the answers are already delivered when their offsets are
released: storing the offset is all that is left, and librdkafka's auto-commit commits it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol

from confluent_kafka import KafkaException, TopicPartition

from ..metrics import Metrics
from .clients import ConsumerClient
from .routing import OutputRecord

log = logging.getLogger(__name__)

TP = tuple[str, int]


class FatalKafkaError(Exception):
    """The producer cannot go on (fenced, or a fatal librdkafka error): stop, and let a restart recover."""


class Checkpoint(Protocol):
    def start(self) -> None: ...

    def release(self, tp: TP, next_offset: int, records: Sequence[OutputRecord]) -> None: ...

    def commit(self, *, force: bool = False) -> None: ...

    def revoke(self, partitions: set[TP]) -> None: ...

    def lose(self, partitions: set[TP]) -> None: ...

    def queued(self) -> tuple[int, int]: ...

    def pending(self) -> bool: ...

    def uncommitted_ages(self, now: float) -> dict[TP, float]: ...

    def close(self) -> None: ...


class AtLeastOnceCheckpoint:
    def __init__(self, consumer: ConsumerClient, metrics: Metrics) -> None:
        self._consumer = consumer
        self._metrics = metrics

    def start(self) -> None:
        pass

    def release(self, tp: TP, next_offset: int, records: Sequence[OutputRecord]) -> None:
        try:
            self._consumer.store_offsets(offsets=[TopicPartition(tp[0], tp[1], next_offset)])
            self._metrics.commits.labels("store").inc()
        except KafkaException as exc:
            # _STATE: the partition was revoked meanwhile. The answer is out; its next owner may answer
            # again, which at-least-once allows.
            log.info("offset not stored", extra={"partition": tp[1], "kafka_error": str(exc)})

    def commit(self, *, force: bool = False) -> None:
        pass  # enable.auto.commit: librdkafka commits the stored offsets every second (client_config), on revoke and close

    def revoke(self, partitions: set[TP]) -> None:
        pass

    def lose(self, partitions: set[TP]) -> None:
        pass

    def queued(self) -> tuple[int, int]:
        return 0, 0

    def pending(self) -> bool:
        return False

    def uncommitted_ages(self, now: float) -> dict[TP, float]:
        return {}  # librdkafka commits the stored offsets on its own

    def close(self) -> None:
        pass
