"""The consumer loop: one thread owns the Kafka clients; worker threads only process.

Reading top to bottom, one iteration of `run`:
  1. apply backpressure (pause every assigned partition at the in-flight limit, resume below the low mark)
  2. consume a few messages (never more than there is room for) and hand each to the worker pool
  3. take finished work back from the workers and produce its answer (and DLQ copy)
  4. serve producer callbacks: a delivered answer marks its source offset done; the offset tracker
     releases only the contiguous done prefix of each partition, which is stored for commit
     (exactly-once: produced and committed together in a transaction instead)
  5. answer, on the workers' behalf, any request that has overrun its deadline

Workers never touch the consumer or the producer: they put (job, processed) on a queue that step 3 reads,
the way Dramatiq's consumer thread acknowledges the messages its workers finish.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Optional

from confluent_kafka import KafkaError, KafkaException, Message, TopicPartition

from ..config import ProcessingGuarantee, Settings
from ..deadline import Deadline
from ..errors import DLQ_CODES, ErrorCode, ProcessingError
from ..health_state import HealthState
from ..logs import request_context
from ..messages import Response, ResultKind, peek_identity, peek_kind
from ..metrics import Metrics
from ..pipeline.requests import Inbound, Processed, RequestProcessor, request_id_of
from ..watchdog import HangWatchdog
from ..workers import WorkerPool
from .expiry import admit
from .offsets import OffsetTracker
from .routing import OutputRecord, SourceInfo, outputs_for

log = logging.getLogger(__name__)

TP = tuple[str, int]

# While work is in flight the loop waits at most this long for a worker, so new messages are read and
# finished answers produced within milliseconds; when idle it blocks in poll(), which returns at once
# when a message arrives.
_BUSY_POLL_S = 0.005
_IDLE_POLL_S = 0.1
# How long the in-flight limit must hold before partitions are paused (see _apply_backpressure).
_PAUSE_AFTER_S = 1.0
# A worker gets this long past its deadline to answer by itself before the dispatcher answers for it.
_DEADLINE_GRACE_S = 2.0
_TXN_TIMEOUT_S = 30.0
# librdkafka can block in a transactional call past its timeout, for ever: send_offsets_to_transaction
# after a broker restart was seen stuck for minutes (confluentinc/librdkafka#5456, #5511). Nothing in this
# process can unblock it, and the poll loop and SIGTERM handling are stuck behind it (a stuck partition).
# Past the call's own timeout plus this margin the process exits; the orchestrator restarts it, and the
# new instance's init_transactions fences this one and aborts its open transaction: nothing is lost or
# duplicated for read_committed consumers.
_TXN_HANG_MARGIN_S = 5.0
_TXN_HANG_EXIT_CODE = 70
# Exactly-once: one transaction per interval (or per this many answers), not one per message: each commit
# is a broker round trip, and batching them keeps throughput close to at-least-once.
_TXN_INTERVAL_S = 0.05
_TXN_MAX_RECORDS = 200


@dataclass
class Job:
    tp: TP
    offset: int
    epoch: int
    source: SourceInfo
    deadline: Deadline
    request_id: str
    state: str = "running"  # running -> producing -> done | abandoned
    unacked: int = 0
    records: list[OutputRecord] = field(default_factory=list)


class Dispatcher:
    def __init__(self, settings: Settings, processor: RequestProcessor, consumer, producer, metrics: Metrics,
                 health: HealthState, *, max_in_flight: Optional[int] = None) -> None:
        self._settings = settings
        self._processor = processor
        self._consumer = consumer
        self._producer = producer
        self._metrics = metrics
        self._health = health
        self._eos = settings.processing_guarantee is ProcessingGuarantee.EXACTLY_ONCE
        # A small queue in front of the workers keeps them busy between polls without hoarding messages.
        self._limit = max_in_flight or settings.concurrent_requests * 2
        self._low_mark = max(0, self._limit - max(1, settings.concurrent_requests // 2))
        self._tracker = OffsetTracker()
        self._jobs: dict[tuple[TP, int], Job] = {}
        self._done_queue: queue.SimpleQueue = queue.SimpleQueue()
        self._assigned: set[TP] = set()
        self._paused: set[TP] = set()
        self._epochs: dict[TP, int] = {}
        self._next_epoch = 0
        # exactly-once: released answers and offsets waiting for the next transaction, per partition
        self._txn_records: dict[TP, list[OutputRecord]] = {}
        self._txn_offsets: dict[TP, int] = {}
        self._pool: Optional[WorkerPool] = None
        self._txn_watchdog = (HangWatchdog(_TXN_TIMEOUT_S + _TXN_HANG_MARGIN_S, exit_code=_TXN_HANG_EXIT_CODE)
                              if self._eos else None)
        self._last_commit = 0.0
        self._full_since: Optional[float] = None  # when the in-flight limit was last reached

    # ------------------------------------------------------------------ the loop
    def run(self, stop: threading.Event) -> None:
        self._pool = WorkerPool(self._settings.concurrent_requests)
        if self._eos:
            self._producer.init_transactions(_TXN_TIMEOUT_S)
        self._consumer.subscribe([self._settings.local_model_kafka_topic], on_assign=self._on_assign,
                                 on_revoke=self._on_revoke, on_lost=self._on_lost)
        log.info("dispatcher started", extra={"topic": self._settings.local_model_kafka_topic,
                                              "guarantee": self._settings.processing_guarantee.value,
                                              "max_in_flight": self._limit})
        try:
            while not stop.is_set():
                self._iteration()
            self._shutdown()
        finally:
            self._pool.shutdown()

    def _iteration(self) -> None:
        self._apply_backpressure()
        room = self._limit - self._tracker.in_flight()
        busy = bool(self._jobs) or bool(self._txn_offsets)
        if self._paused:
            # The limit has held for a while: partitions are paused, and polling keeps the group (and
            # serves rebalance callbacks) without fetching anything.
            message = self._consumer.poll(0)
            messages = [message] if message is not None else []
        elif room <= 0:
            messages = []  # briefly full: wait for workers below, without pausing (a resume refetches)
        elif busy:
            messages = self._consumer.consume(num_messages=min(room, self._settings.batch_size), timeout=0)
        else:
            # Idle: poll() returns at the first message (consume() would wait out its whole timeout for
            # a batch), then take whatever else is already fetched.
            first = self._consumer.poll(_IDLE_POLL_S)
            messages = [first] if first is not None else []
            if first is not None and room > 1:
                messages += self._consumer.consume(num_messages=min(room, self._settings.batch_size) - 1,
                                                   timeout=0)
        self._health.mark_poll()
        self._metrics.last_poll.set_to_current_time()
        for message in messages:
            self._accept(message)
        # With work in flight and nothing new read, wait briefly for a worker instead of spinning.
        self._take_finished(wait_s=_BUSY_POLL_S if self._jobs and not messages else 0.0)
        self._producer.poll(0)
        self._answer_overdue()
        if self._eos:
            self._commit_transaction()
        self._metrics.in_flight.set(self._tracker.in_flight())

    # ------------------------------------------------------------------ intake
    def _accept(self, message: Message) -> None:
        error = message.error()
        if error is not None:
            if error.code() == KafkaError._PARTITION_EOF:
                return
            if error.fatal():
                raise KafkaException(error)
            log.warning("consumer error", extra={"kafka_error": error.str()})
            return
        tp = (message.topic(), message.partition())
        if tp not in self._assigned:
            return  # arrived after its partition was revoked: the new owner reads it
        timestamp_type, timestamp_ms = message.timestamp()
        source = SourceInfo(topic=tp[0], partition=tp[1], offset=message.offset(), timestamp_ms=timestamp_ms,
                            key=message.key(), value=message.value(), headers=message.headers() or [])
        inbound = Inbound(key=source.key, value=source.value, topic=tp[0], partition=tp[1], offset=source.offset)
        request_id = request_id_of(inbound)
        admission = admit(message.timestamp(), request_deadline_s=self._settings.request_deadline_seconds,
                          max_age_s=self._settings.max_request_age_seconds, request_id=request_id)
        job = Job(tp=tp, offset=source.offset, epoch=self._epochs[tp], source=source,
                  deadline=admission.deadline, request_id=request_id)
        self._tracker.track(tp, job.offset)
        self._jobs[(tp, job.offset)] = job
        if admission.expired is not None:  # too old to be worth processing: answered at once (expiry.py)
            processed = _failed(job, admission.expired)
            self._metrics.failed.labels(processed.kind, admission.expired.code.value).inc()
            self._finish(job, processed)
            return
        assert self._pool is not None
        self._pool.submit(lambda: self._work(job, inbound))

    def _work(self, job: Job, inbound: Inbound) -> None:
        """Runs on a worker thread: process, then hand the result back. Never touches Kafka."""
        try:
            processed = self._processor.process(inbound, job.deadline)
        except BaseException:  # the processor answers its own errors; anything else is a bug
            log.exception("processor raised", extra={"request_id": job.request_id})
            processed = _failed(job, ProcessingError(ErrorCode.INTERNAL, "internal error"))
        self._done_queue.put((job, processed))

    # ------------------------------------------------------------------ completion
    def _take_finished(self, wait_s: float = 0.0) -> None:
        while True:
            try:
                job, processed = self._done_queue.get(timeout=wait_s) if wait_s else self._done_queue.get_nowait()
            except queue.Empty:
                return
            wait_s = 0.0  # only the first get waits
            if not self._is_current(job) or job.state != "running":
                self._metrics.skipped.labels("superseded").inc()  # revoked, or answered at its deadline
                continue
            self._finish(job, processed)

    def _finish(self, job: Job, processed: Processed) -> None:
        job.records = outputs_for(self._settings, processed, job.source)
        if processed.dlq_error is not None:
            self._metrics.dlq.labels(processed.dlq_error.code.value).inc()
        job.state = "producing"
        if self._eos or not job.records:
            self._mark_done(job)  # exactly-once: the records ride in the next transaction
            return
        job.unacked = len(job.records)
        for record in job.records:
            self._produce(job, record)

    def _produce(self, job: Job, record: OutputRecord) -> None:
        def on_delivery(err, _msg, job=job, record=record) -> None:
            self._on_delivery(job, record, err)

        while True:
            try:
                self._producer.produce(record.topic, key=record.key, value=record.value, headers=record.headers,
                                       on_delivery=on_delivery)
                return
            except BufferError:  # local queue full: serve callbacks to make room, then try again
                self._producer.poll(0.05)

    def _on_delivery(self, job: Job, record: OutputRecord, err) -> None:
        if err is not None and err.code() == KafkaError.MSG_SIZE_TOO_LARGE and record.topic == self._settings.dlq_topic \
                and record.value:
            # The DLQ topic takes smaller messages than the request topic (an existing cluster's limits):
            # retrying cannot succeed and would hold the partition. Send the copy without its value; the
            # headers say where the original still is.
            log.error("DLQ copy too large for the DLQ topic; sending it without the value",
                      extra={"request_id": job.request_id, "bytes": len(record.value)})
            note = (f"{len(record.value)} bytes, above the DLQ topic's max.message.bytes; the original is at "
                    "x-original-topic/partition/offset").encode()
            self._produce(job, dataclasses.replace(record, value=None,
                                                   headers=[*record.headers, ("x-value-dropped", note)]))
            return
        if err is not None:
            # The idempotent producer already retried for delivery.timeout.ms; the broker is likely down.
            # Produce again: the request stays in flight (and uncommitted) until its answer is written.
            self._metrics.produce_errors.labels(record.topic).inc()
            self._metrics.retries.labels("produce", "delivery_failed").inc()
            log.error("delivery failed, producing again",
                      extra={"request_id": job.request_id, "topic": record.topic, "kafka_error": str(err)})
            if self._is_current(job):
                self._produce(job, record)
            return
        job.unacked -= 1
        if job.unacked == 0:
            self._mark_done(job)

    def _mark_done(self, job: Job) -> None:
        job.state = "done"
        self._jobs.pop((job.tp, job.offset), None)
        if not self._is_current(job):
            return  # delivered after its partition left us: nothing of ours to commit
        released = self._tracker.complete(job.tp, job.offset, job.records)
        if not released:
            return
        next_offset = released[-1][0] + 1
        if self._eos:
            bucket = self._txn_records.setdefault(job.tp, [])
            for _, records in released:
                bucket.extend(records)
            self._txn_offsets[job.tp] = next_offset
            return
        try:
            self._consumer.store_offsets(offsets=[TopicPartition(job.tp[0], job.tp[1], next_offset)])
            self._metrics.commits.labels("store").inc()
        except KafkaException as exc:
            # _STATE: the partition was revoked meanwhile. The answer is out; its next owner may answer
            # again, which at-least-once allows.
            log.info("offset not stored", extra={"partition": job.tp[1], "kafka_error": str(exc)})

    def _answer_overdue(self) -> None:
        """A worker stuck past its deadline (a hung call that ignored its timeout) must not hold its
        partition: answer deadline_exceeded on its behalf and drop whatever it returns later."""
        for job in list(self._jobs.values()):
            if job.state == "running" and job.deadline.remaining() == 0 \
                    and time.monotonic() > job.deadline.expires_at + _DEADLINE_GRACE_S:
                with request_context(job.request_id):
                    log.error("worker overran its deadline; answering deadline_exceeded for it")
                error = ProcessingError(ErrorCode.DEADLINE_EXCEEDED, "request deadline exceeded",
                                        retryable=True)
                processed = _failed(job, error)
                self._metrics.failed.labels(processed.kind, error.code.value).inc()
                self._finish(job, processed)

    # ------------------------------------------------------------------ exactly-once transactions
    def _commit_transaction(self, force: bool = False) -> None:
        if not self._txn_offsets:
            return
        records = [r for tp in self._txn_offsets for r in self._txn_records.get(tp, [])]
        if not force and time.monotonic() - self._last_commit < _TXN_INTERVAL_S and len(records) < _TXN_MAX_RECORDS:
            return
        offsets = [TopicPartition(t, p, o) for (t, p), o in self._txn_offsets.items()]
        try:
            self._producer.begin_transaction()
            for record in records:
                self._producer.produce(record.topic, key=record.key, value=record.value, headers=record.headers)
            with self._txn_guard("send_offsets_to_transaction"):
                self._producer.send_offsets_to_transaction(offsets, self._consumer.consumer_group_metadata(),
                                                           _TXN_TIMEOUT_S)
            with self._txn_guard("commit_transaction"):
                self._producer.commit_transaction(_TXN_TIMEOUT_S)
        except KafkaException as exc:
            error = exc.args[0]
            if error.fatal():
                raise  # fenced or unrecoverable: exit; the orchestrator restarts us with a new producer
            # Abort whatever part was written (read_committed consumers never see it) and try the whole
            # transaction again on the next iteration: records and offsets stay queued until then.
            log.warning("transaction failed, aborting and retrying", extra={"kafka_error": error.str()})
            self._metrics.retries.labels("transaction", "abortable" if error.txn_requires_abort() else "other").inc()
            with self._txn_guard("abort_transaction"):
                self._producer.abort_transaction(_TXN_TIMEOUT_S)
            return
        self._metrics.commits.labels("transaction").inc()
        self._last_commit = time.monotonic()
        self._txn_records.clear()
        self._txn_offsets.clear()

    def _txn_guard(self, call: str):
        return self._txn_watchdog.guard(call) if self._txn_watchdog else contextlib.nullcontext()

    # ------------------------------------------------------------------ backpressure
    def _apply_backpressure(self) -> None:
        in_flight = self._tracker.in_flight()
        now = time.monotonic()
        if in_flight >= self._limit:
            # Only a limit that holds (a slow model) pauses: pause() drops the prefetched messages and a
            # resume refetches them, which for short bursts costs more than it saves.
            if self._full_since is None:
                self._full_since = now
            to_pause = self._assigned - self._paused if now - self._full_since >= _PAUSE_AFTER_S else set()
            if to_pause:
                self._consumer.pause([TopicPartition(t, p) for t, p in to_pause])
                self._paused |= to_pause
        else:
            self._full_since = None
            if in_flight <= self._low_mark and self._paused:
                self._consumer.resume([TopicPartition(t, p) for t, p in self._paused])
                self._paused.clear()
        self._metrics.paused_partitions.set(len(self._paused))

    # ------------------------------------------------------------------ rebalances
    def _is_current(self, job: Job) -> bool:
        return self._epochs.get(job.tp) == job.epoch

    def _on_assign(self, consumer, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            key = (tp.topic, tp.partition)
            self._next_epoch += 1
            self._epochs[key] = self._next_epoch
            self._assigned.add(key)
        # librdkafka keeps a partition's pause flag across a lost/revoked-then-reassigned cycle, while
        # _release forgot it: a partition paused at the in-flight limit when the group lost it (broker
        # restart) came back paused for ever. Start every assignment unpaused.
        consumer.resume(partitions)
        self._health.mark_joined(True)
        self._metrics.rebalances.labels("assign").inc()
        self._metrics.assigned_partitions.set(len(self._assigned))
        log.info("partitions assigned", extra={"partitions": [f"{t.topic}[{t.partition}]" for t in partitions]})

    def _on_revoke(self, consumer, partitions: list[TopicPartition]) -> None:
        revoked = {(tp.topic, tp.partition) for tp in partitions}
        self._metrics.rebalances.labels("revoke").inc()
        self._drain(revoked, self._settings.revoke_drain_seconds)
        if self._eos:
            self._commit_transaction(force=True)
        self._release(revoked)
        log.info("partitions revoked", extra={"partitions": [f"{t}[{p}]" for t, p in sorted(revoked)]})

    def _on_lost(self, consumer, partitions: list[TopicPartition]) -> None:
        lost = {(tp.topic, tp.partition) for tp in partitions}
        self._metrics.rebalances.labels("lost").inc()
        # Another member may own these already: commit nothing for them, drop their queued outputs.
        for tp in lost:
            self._txn_records.pop(tp, None)
            self._txn_offsets.pop(tp, None)
        self._release(lost)
        log.warning("partitions lost", extra={"partitions": [f"{t}[{p}]" for t, p in sorted(lost)]})

    def _release(self, partitions: set[TP]) -> None:
        for tp in partitions:
            abandoned = self._tracker.forget(tp)
            if abandoned:
                self._metrics.skipped.labels("revoked").inc(abandoned)
            self._epochs.pop(tp, None)
            self._assigned.discard(tp)
            self._paused.discard(tp)
        for key in [k for k in self._jobs if k[0] in partitions]:
            self._jobs.pop(key).state = "abandoned"
        self._metrics.assigned_partitions.set(len(self._assigned))

    def _drain(self, partitions: Optional[set[TP]], budget_s: float) -> None:
        """Keep finishing and delivering work (of `partitions`, or all) until none is left or time is up."""
        until = time.monotonic() + budget_s

        def outstanding() -> int:
            return sum(1 for (tp, _), job in self._jobs.items() if partitions is None or tp in partitions)

        while outstanding() and time.monotonic() < until:
            self._take_finished()
            self._producer.poll(0.01)
            self._answer_overdue()
            if self._eos:
                self._commit_transaction()
            time.sleep(0.005)
        self._producer.flush(max(0.0, until - time.monotonic()))
        if outstanding():
            log.warning("drain budget spent with work unfinished; it will be processed again",
                        extra={"unfinished": outstanding()})

    # ------------------------------------------------------------------ shutdown
    def _shutdown(self) -> None:
        log.info("stopping: finishing in-flight work", extra={"in_flight": self._tracker.in_flight(),
                                                               "grace_s": self._settings.shutdown_grace_seconds})
        self._health.mark_stopping()
        if self._assigned:
            self._consumer.pause([TopicPartition(t, p) for t, p in self._assigned])
            self._paused |= self._assigned
        until = time.monotonic() + self._settings.shutdown_grace_seconds
        while self._jobs and time.monotonic() < until:
            # Keep polling: it serves the group (and delivers nothing new: every partition is paused).
            self._consumer.poll(0.01)
            self._health.mark_poll()
            self._take_finished()
            self._producer.poll(0)
            self._answer_overdue()
            if self._eos:
                self._commit_transaction()
        self._producer.flush(max(1.0, until - time.monotonic()))
        if self._eos:
            self._commit_transaction(force=True)
        if self._jobs:
            log.warning("grace period over with work unfinished; it will be processed again",
                        extra={"unfinished": len(self._jobs)})
        log.info("closing consumer (commits stored offsets, leaves the group)")
        self._consumer.close()


def _failed(job: Job, error: ProcessingError) -> Processed:
    """The answer the dispatcher gives for a job whose worker could not (a crash, a hung call)."""
    email, _ = peek_identity(job.source.value)
    kind = peek_kind(job.source.value)
    response = Response.failure(user_email=email, request_id=job.request_id, error=error,
                                kind=ResultKind.TEXT if kind == "text" else None)
    return Processed(job.request_id, kind, response, None, dlq_error=error if error.code in DLQ_CODES else None)
