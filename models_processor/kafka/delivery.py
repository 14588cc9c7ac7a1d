"""At-least-once: produce each job's records and settle every delivery report.

A job is done when each of its records (or the record sent in its place) is delivered. Retriable failures
are produced again after an exponential backoff; failures retrying cannot fix are replaced (see
undeliverable.py) so that no record holds its partition for ever.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import time
from collections.abc import Callable

from confluent_kafka import KafkaError, KafkaException, Message

from ..config import Settings
from ..metrics import Metrics
from ..tracecontext import of_headers
from ..tracing import span
from .clients import ProducerClient
from .jobs import Job, JobState
from .routing import OutputRecord
from .undeliverable import Failure, classify, replacement

log = logging.getLogger(__name__)

RETRY_BASE_S = 0.05
RETRY_MAX_S = 5.0


def backoff(attempt: int) -> float:
    return float(min(RETRY_MAX_S, RETRY_BASE_S * 2 ** max(0, attempt - 1)))


class AnswerSender:
    def __init__(self, producer: ProducerClient, settings: Settings, metrics: Metrics, *,
                 on_delivered: Callable[[Job], None], is_current: Callable[[Job], bool]) -> None:
        self._producer = producer
        self._settings = settings
        self._metrics = metrics
        self._on_delivered = on_delivered
        self._is_current = is_current
        self._retries: list[tuple[float, int, Job, OutputRecord, int]] = []  # (due, seq, job, record, attempt)
        self._seq = itertools.count()

    def send(self, job: Job) -> None:
        job.state = JobState.PRODUCING
        job.unacked = len(job.records)
        for record in job.records:
            with span("produce", {"topic": record.topic}, parent=of_headers(job.source.headers)):
                self._produce(job, record, attempt=1)

    def serve_retries(self) -> None:
        now = time.monotonic()
        while self._retries and self._retries[0][0] <= now:
            _, _, job, record, attempt = heapq.heappop(self._retries)
            if self._is_current(job) and job.state is JobState.PRODUCING:
                self._produce(job, record, attempt)

    def _produce(self, job: Job, record: OutputRecord, attempt: int) -> None:
        def on_delivery(err: KafkaError | None, _msg: Message) -> None:
            self._on_report(job, record, attempt, err)

        while True:
            try:
                self._producer.produce(record.topic, key=record.key, value=record.value, headers=record.headers,
                                       on_delivery=on_delivery)
                return
            except BufferError:  # local queue full: serve callbacks to make room, then try again
                self._producer.poll(0.05)
            except KafkaException as exc:  # refused before queueing: too large, unknown topic, bad argument
                self._on_report(job, record, attempt, exc.args[0])
                return

    def _on_report(self, job: Job, record: OutputRecord, attempt: int, err: KafkaError | None) -> None:
        if err is None:
            job.unacked -= 1
            if job.unacked == 0:
                self._on_delivered(job)
            return
        self._metrics.produce_errors.labels(record.topic).inc()
        failure = classify(err)
        extra = {"request_id": job.request_id, "topic": record.topic, "kafka_error": err.str(),
                 "attempt": attempt}
        if failure is Failure.RETRIABLE:
            # The idempotent producer already retried for delivery.timeout.ms; the broker is likely away.
            self._metrics.retries.labels("produce", "delivery_failed").inc()
            log.error("delivery failed, producing again after a backoff", extra=extra)
            heapq.heappush(self._retries, (time.monotonic() + backoff(attempt), next(self._seq), job, record,
                                           attempt + 1))
            return
        instead = replacement(self._settings, record, err)
        self._metrics.retries.labels("produce", failure.value).inc()
        if instead is None:
            log.error("record cannot be delivered and has no replacement; dropped", extra=extra)
            self._on_report(job, record, attempt, None)
            return
        log.error("record cannot be delivered; sending a replacement",
                  extra={**extra, "replacement_topic": instead.topic})
        self._produce(job, instead, attempt=1)
