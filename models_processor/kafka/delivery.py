"""At-least-once: produce each job's records and settle every delivery report.

A job is done when each of its records (or the record sent in its place) is delivered. Retriable failures
are produced again after an exponential backoff; failures retrying cannot fix are replaced (see
undeliverable.py) so that no record holds its partition for ever.

The produce phase is bounded (docs/guarantees.md): a full local queue is waited out for at most
QUEUE_FULL_WAIT_S before the record goes to the retry queue (the loop keeps polling meanwhile), and
FatalKafkaError stops the service when
  - a delivery report has not come within the producer's delivery.timeout.ms plus REPORT_MARGIN_S:
    librdkafka reports every message by then (delivered, or failed with _MSG_TIMED_OUT), so the producer
    is stuck;
  - a job's answer is still undelivered twice delivery.timeout.ms plus REPORT_MARGIN_S after it was first
    produced, its retry included: an idempotent producer was seen failing every message with
    _MSG_TIMED_OUT after a broker restart while the consumer worked on (docs/guarantees.md).
A new process has a new producer; the answers not delivered are processed again from the committed offsets.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import os
import time
from collections.abc import Callable, Mapping

from confluent_kafka import KafkaError, KafkaException, Message

from ..config import Settings, librdkafka_overrides
from ..metrics import Metrics
from ..tracecontext import of_headers
from ..tracing import span
from .checkpoint import FatalKafkaError
from .client_config import DELIVERY_TIMEOUT_MS_DEFAULT
from .clients import ProducerClient
from .jobs import Job, JobState
from .routing import OutputRecord
from .undeliverable import Failure, classify, replacement

log = logging.getLogger(__name__)

RETRY_BASE_S = 0.05
RETRY_MAX_S = 5.0
# How long produce() may wait for room in a full local queue before the record goes to the retry queue.
QUEUE_FULL_WAIT_S = 0.5
# Beyond delivery.timeout.ms, how late a delivery report may be before the producer is taken for stuck.
REPORT_MARGIN_S = 30.0


def backoff(attempt: int) -> float:
    return float(min(RETRY_MAX_S, RETRY_BASE_S * 2 ** max(0, attempt - 1)))


def delivery_timeout_s(environ: Mapping[str, str] | None = None) -> float:
    """The producer's delivery.timeout.ms (or its alias message.timeout.ms) as KAFKA_* variables set it."""
    overrides = librdkafka_overrides(os.environ if environ is None else environ)
    value = overrides.get("delivery.timeout.ms", overrides.get("message.timeout.ms", DELIVERY_TIMEOUT_MS_DEFAULT))
    try:
        return int(value) / 1000
    except ValueError:  # librdkafka refuses the producer's configuration before this matters
        return DELIVERY_TIMEOUT_MS_DEFAULT / 1000


def report_deadline_s(environ: Mapping[str, str] | None = None) -> float:
    """How long after produce() its delivery report may take."""
    return delivery_timeout_s(environ) + REPORT_MARGIN_S


def job_deadline_s(environ: Mapping[str, str] | None = None) -> float:
    """How long a job's answer may take to be delivered, one retry after a retriable failure included."""
    return 2 * delivery_timeout_s(environ) + REPORT_MARGIN_S


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
        self._report_deadline_s = report_deadline_s()
        self._job_deadline_s = job_deadline_s()
        self._awaiting: dict[int, tuple[float, str]] = {}  # produce seq -> (when produced, request id)
        self._producing: dict[Job, float] = {}  # job -> when its records were first produced
        self._next_check = 0.0

    def send(self, job: Job) -> None:
        job.state = JobState.PRODUCING
        job.unacked = len(job.records)
        self._producing[job] = time.monotonic()
        for record in job.records:
            with span("produce", {"topic": record.topic}, parent=of_headers(job.source.headers)):
                self._produce(job, record, attempt=1)

    def serve_retries(self) -> None:
        """Produce the records whose retry is due, and check that no delivery report is overdue (called
        every loop iteration)."""
        now = time.monotonic()
        if now >= self._next_check:
            self._next_check = now + 1.0
            self._check_deadlines(now)
        while self._retries and self._retries[0][0] <= now:
            _, _, job, record, attempt = heapq.heappop(self._retries)
            if self._is_current(job) and job.state is JobState.PRODUCING and not self._produce(job, record, attempt):
                return  # the queue is still full: the other due retries wait for the next iteration

    def _check_deadlines(self, now: float) -> None:
        if self._awaiting:
            produced_at, request_id = min(self._awaiting.values())
            if now - produced_at > self._report_deadline_s:
                raise FatalKafkaError(f"no delivery report for an answer of request {request_id} "
                                      f"{now - produced_at:.0f} s after it was produced (limit "
                                      f"{self._report_deadline_s:.0f} s): the producer is stuck")
        for job, since in list(self._producing.items()):
            if job.state is not JobState.PRODUCING or not self._is_current(job):
                del self._producing[job]  # delivered, or its partition left us
            elif now - since > self._job_deadline_s:
                raise FatalKafkaError(f"the answer of request {job.request_id} is undelivered {now - since:.0f} s "
                                      f"after it was produced (limit {self._job_deadline_s:.0f} s), retries "
                                      "included: the producer cannot deliver")

    def _produce(self, job: Job, record: OutputRecord, attempt: int) -> bool:
        """Hand the record to the producer; False when the local queue stayed full (then it is retried)."""
        seq = next(self._seq)

        def on_delivery(err: KafkaError | None, _msg: Message) -> None:
            self._awaiting.pop(seq, None)
            self._on_report(job, record, attempt, err)

        until = time.monotonic() + QUEUE_FULL_WAIT_S
        while True:
            try:
                self._producer.produce(record.topic, key=record.key, value=record.value, headers=record.headers,
                                       on_delivery=on_delivery)
                self._awaiting[seq] = (time.monotonic(), job.request_id)
                return True
            except BufferError:  # local queue full: serve callbacks to make room, then try again
                if time.monotonic() >= until:
                    # Still full (the broker is away): retry later rather than hold up the poll loop.
                    self._metrics.retries.labels("produce", "queue_full").inc()
                    heapq.heappush(self._retries, (time.monotonic() + backoff(attempt), next(self._seq), job,
                                                   record, attempt + 1))
                    return False
                self._producer.poll(0.05)
            except KafkaException as exc:  # refused before queueing: too large, unknown topic, bad argument
                self._on_report(job, record, attempt, exc.args[0])
                return True

    def _on_report(self, job: Job, record: OutputRecord, attempt: int, err: KafkaError | None) -> None:
        if err is None:
            job.unacked -= 1
            if job.unacked == 0:
                self._producing.pop(job, None)
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
