"""The consumer loop: one thread owns the Kafka clients; worker threads only process.

Reading top to bottom, one iteration of `run`:
  1. backpressure: how many more messages fit (records and bytes in hand, answers awaiting their transaction
     included, and the commit window); pause every partition while a limit holds, resume below the low mark
  2. read no more than that, and hand each message to the worker pool (a request read too often without
     finishing goes to the DLQ; requests in flight when the process last died run alone: isolation.py)
  3. take finished work back from the workers and produce its answer (and DLQ copy); with work in flight and
     nothing new read, the loop blocks here until a worker finishes (loop_wait.py)
  4. serve producer callbacks: a delivered answer marks its source offset done; the offset tracker
     releases only the contiguous done prefix of each partition to the checkpoint, which stores it for
     commit (at-least-once) or commits it with the answers in a transaction (exactly-once)
  5. answer, on the workers' behalf, any request that has overrun its deadline (and replace the worker)
  6. report progress: the age of each partition's oldest unfinished offset, to /metrics and /health

Workers never touch the consumer or the producer: they put (job, processed) on a queue that step 3 reads,
the way Dramatiq's consumer thread acknowledges the messages its workers finish. See docs/guarantees.md.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Any, Protocol

from confluent_kafka import KafkaError, KafkaException, Message, TopicPartition

from ..concurrency import worker_count
from ..config import ProcessingGuarantee, Settings
from ..deadline import Deadline
from ..errors import ErrorCode, ProcessingError
from ..health_state import HealthState
from ..logs import request_context
from ..metrics import Metrics
from ..pipeline.requests import Inbound, Processed, request_id_of
from ..tracecontext import trace_scope, with_traceparent
from ..workers import WorkerPool
from .attempts import AttemptLog, default_directory
from .backpressure import Backpressure, Load
from .checkpoint import AtLeastOnceCheckpoint, Checkpoint, FatalKafkaError
from .clients import ConsumerClient, ProducerClient
from .delivery import AnswerSender
from .expiry import admit
from .isolation import Isolation
from .jobs import TP, Job, JobState, headers_of, position_of
from .loop_wait import wait_budget
from .offsets import OffsetTracker
from .progress import ProgressReport
from .routing import SourceInfo, outputs_for
from .transactions import ExactlyOnceCheckpoint

log = logging.getLogger(__name__)

# Idle, the loop blocks in poll(), which returns at once when a message arrives; with work in flight it
# blocks on the workers' queue instead (loop_wait.py).
_IDLE_POLL_S = 0.1
# A worker gets this long past its deadline to answer by itself before the dispatcher answers for it;
# the loop looks for such workers this often, not every iteration.
_DEADLINE_GRACE_S = 2.0
_OVERDUE_CHECK_S = 0.1


class Processor(Protocol):
    def process(self, message: Inbound, deadline: Deadline) -> Processed: ...


class Dispatcher:
    def __init__(self, settings: Settings, processor: Processor, consumer: ConsumerClient,
                 producer: ProducerClient, metrics: Metrics, health: HealthState, *,
                 max_in_flight: int | None = None) -> None:
        self._settings = settings
        self._processor = processor
        self._consumer = consumer
        self._producer = producer
        self._metrics = metrics
        self._health = health
        self._eos = settings.processing_guarantee is ProcessingGuarantee.EXACTLY_ONCE
        # A small queue in front of the workers keeps them busy between polls without hoarding messages.
        self._workers = worker_count(settings)  # CONCURRENT_REQUESTS, or auto from the model slots
        limit = max_in_flight or self._workers * 2
        self._backpressure = Backpressure(consumer, metrics, max_records=limit, max_bytes=settings.max_in_flight_bytes,
                                          max_window=settings.max_uncommitted_records,
                                          resume_records=max(0, limit - max(1, self._workers // 2)))
        self._checkpoint: Checkpoint = (ExactlyOnceCheckpoint(producer, consumer, settings, metrics) if self._eos
                                        else AtLeastOnceCheckpoint(consumer, metrics))
        self._sender = AnswerSender(producer, settings, metrics, on_delivered=self._mark_done,
                                    is_current=self._is_current)
        self._attempts = AttemptLog(default_directory(settings.state_dir), settings.consumer_group)
        self._isolation = Isolation(self._submit, self._running)
        self._tracker = OffsetTracker()
        self._jobs: dict[tuple[TP, int], Job] = {}
        self._done_queue: queue.SimpleQueue[tuple[Job, Processed]] = queue.SimpleQueue()
        self._assigned: set[TP] = set()
        self._epochs: dict[TP, int] = {}
        self._next_epoch = 0
        self._pool: WorkerPool | None = None
        self._next_overdue_check = 0.0
        self._progress = ProgressReport(self._tracker, self._checkpoint, metrics, health,
                                        stall_limit_s=settings.progress_stall_seconds
                                        or 2 * settings.request_deadline_seconds)

    # ------------------------------------------------------------------ the loop
    def run(self, stop: threading.Event) -> None:
        self._pool = WorkerPool(self._workers)
        try:
            self._checkpoint.start()
            self._consumer.subscribe([self._settings.local_model_kafka_topic], on_assign=self._on_assign,
                                     on_revoke=self._on_revoke, on_lost=self._on_lost)
            log.info("dispatcher started", extra={"topic": self._settings.local_model_kafka_topic,
                                                  "guarantee": self._settings.processing_guarantee.value,
                                                  "workers": self._workers,
                                                  "max_in_flight": self._backpressure.max_records})
            while not stop.is_set():
                self._iteration()
            self._shutdown()
        except FatalKafkaError as exc:
            log.critical("unrecoverable Kafka error; stopping", extra={"kafka_error": str(exc)})
            self._health.mark_stopping()
            self._release(set(self._assigned))
            self._consumer.close()  # leave the group now: a restarted instance takes over at once
            raise
        finally:
            self._pool.shutdown()

    def _iteration(self) -> None:
        load = self._load()
        self._backpressure.update(self._assigned, load)
        room = self._backpressure.room(load)
        busy = bool(self._jobs) or self._checkpoint.pending()
        messages = self._read(room, busy=busy)
        self._health.mark_poll()
        self._metrics.last_poll.set_to_current_time()
        self._intake(messages, load)
        # With work in flight and nothing new read, block until a worker finishes (loop_wait.py).
        self._take_finished(wait_s=self._wait_budget(room) if busy and not messages else 0.0)
        self._isolation.release()
        self._producer.poll(0)
        self._sender.serve_retries()
        if time.monotonic() >= self._next_overdue_check:
            self._answer_overdue()
        self._checkpoint.commit()
        self._attempts.flush()
        self._progress.report(self._load)

    def _wait_budget(self, room: int) -> float:
        return wait_budget(room=room > 0 and not self._backpressure.paused,
                           delivering=any(job.state is JobState.PRODUCING for job in self._jobs.values()),
                           transaction_pending=self._checkpoint.pending())

    def _load(self) -> Load:
        """Requests in hand (with answers that pile up waiting for a transaction) and the commit window."""
        queued_records, queued_bytes = self._checkpoint.queued()
        return Load(self._tracker.unfinished() + queued_records, self._tracker.unfinished_bytes() + queued_bytes,
                    self._tracker.in_flight() + queued_records)

    def _read(self, room: int, *, busy: bool) -> list[Message]:
        if room <= 0:
            if not self._backpressure.paused:
                return []  # briefly full: wait for workers, without pausing (a resume refetches)
            # Paused: polling keeps the group and serves rebalance callbacks; whatever it returns beyond
            # the room is rewound by _intake.
            message = self._consumer.poll(0)
            return [message] if message is not None else []
        count = min(room, self._settings.batch_size)
        if busy:
            return self._consumer.consume(num_messages=count, timeout=0)
        # Idle: poll() returns at the first message (consume() would wait out its whole timeout for a
        # batch), then take whatever else is already fetched.
        first = self._consumer.poll(_IDLE_POLL_S)
        if first is None:
            return []
        return [first, *(self._consumer.consume(num_messages=count - 1, timeout=0) if count > 1 else [])]

    # ------------------------------------------------------------------ intake
    def _intake(self, messages: list[Message], load: Load) -> None:
        """Accept what fits (`load`: what is in flight so far); rewind the rest."""
        rewound: set[TP] = set()
        for message in messages:
            if self._is_error(message):
                continue
            tp, offset = position_of(message)
            if tp not in self._assigned or tp in rewound:
                continue  # revoked meanwhile (the new owner reads it), or refetched after the rewind
            size = len(message.value() or b"")
            if not self._backpressure.admits(load, size):
                self._rewind(tp, offset)
                rewound.add(tp)
                continue
            self._accept(message, tp, offset)
            load = Load(load.records + 1, load.nbytes + size, load.window + 1)

    def _is_error(self, message: Message) -> bool:
        error = message.error()
        if error is None:
            return False
        if error.fatal():
            raise FatalKafkaError(f"consumer: {error.str()}")
        if error.code() != KafkaError._PARTITION_EOF:
            log.warning("consumer error", extra={"kafka_error": error.str()})
        return True

    def _rewind(self, tp: TP, offset: int) -> None:
        """Read past the limit (a partition that was not paused yet): give it back, to be read again."""
        try:
            self._consumer.seek(TopicPartition(tp[0], tp[1], offset))
        except KafkaException as exc:
            log.warning("rewind failed", extra={"partition": tp[1], "kafka_error": str(exc)})
        self._backpressure.pause({tp})

    def _accept(self, message: Message, tp: TP, offset: int) -> None:
        _, timestamp_ms = message.timestamp()
        source = SourceInfo(topic=tp[0], partition=tp[1], offset=offset, timestamp_ms=timestamp_ms,
                            key=message.key(), value=message.value(), headers=with_traceparent(headers_of(message)))
        inbound = Inbound(key=source.key, value=source.value, topic=tp[0], partition=tp[1], offset=offset)
        request_id = request_id_of(inbound)
        admission = admit(message.timestamp(), request_deadline_s=self._settings.request_deadline_seconds,
                          max_age_s=self._settings.max_request_age_seconds, request_id=request_id)
        job = Job(tp=tp, offset=offset, epoch=self._epochs[tp], source=source, deadline=admission.deadline,
                  request_id=request_id, attempts=self._attempts.earlier(tp, offset) + 1)
        self._tracker.track(tp, offset, job.size)
        self._jobs[(tp, offset)] = job
        if admission.expired is not None:  # too old to be worth processing: answered at once (expiry.py)
            processed = job.failed(admission.expired)
            self._metrics.failed.labels(processed.kind, admission.expired.code.value).inc()
            self._finish(job, processed)
            return
        if job.attempts > self._settings.max_attempts:
            # Read this often without finishing: it crashed the process each time. Answer, DLQ, move on.
            with request_context(job.request_id):
                log.error("request read too often without finishing; sending it to the DLQ",
                          extra={"attempts": job.attempts})
            self._finish(job, job.failed(ProcessingError(
                ErrorCode.INTERNAL, f"read {job.attempts} times without finishing: the processor stopped "
                "while processing it each time")))
            return
        self._isolation.offer(job, inbound)

    def _submit(self, job: Job, inbound: Inbound) -> None:
        job.state = JobState.RUNNING
        self._attempts.start(job.tp, job.offset)
        assert self._pool is not None
        self._pool.submit(lambda: self._work(job, inbound), token=job)

    def _running(self) -> int:
        return sum(1 for job in self._jobs.values() if job.state is JobState.RUNNING)

    def _work(self, job: Job, inbound: Inbound) -> None:
        """Runs on a worker thread: process, then hand the result back. Never touches Kafka."""
        try:
            with trace_scope(job.source.headers, job.tp, job.offset):
                processed = self._processor.process(inbound, job.deadline)
        except BaseException:  # the processor answers its own errors; anything else is a bug
            log.exception("processor raised", extra={"request_id": job.request_id})
            processed = job.failed(ProcessingError(ErrorCode.INTERNAL, "internal error"))
        self._done_queue.put((job, processed))

    # ------------------------------------------------------------------ completion
    def _take_finished(self, wait_s: float = 0.0) -> None:
        while True:
            try:
                job, processed = self._done_queue.get(timeout=wait_s) if wait_s else self._done_queue.get_nowait()
            except queue.Empty:
                return
            wait_s = 0.0  # only the first get waits
            if not self._is_current(job) or job.state is not JobState.RUNNING:
                self._metrics.skipped.labels("superseded").inc()  # revoked, or answered at its deadline
                continue
            self._finish(job, processed)

    def _finish(self, job: Job, processed: Processed) -> None:
        self._attempts.finish(job.tp, job.offset)
        job.records = outputs_for(self._settings, processed, job.source, attempts=job.attempts)
        if processed.dlq_error is not None:
            self._metrics.dlq.labels(processed.dlq_error.code.value).inc()
        if self._eos or not job.records:
            self._mark_done(job)  # exactly-once: the records ride in the next transaction
        else:
            self._sender.send(job)

    def _mark_done(self, job: Job) -> None:
        job.state = JobState.DONE
        if self._jobs.get((job.tp, job.offset)) is job:  # not a newer job for the same offset
            del self._jobs[(job.tp, job.offset)]
        if not self._is_current(job):
            return  # delivered after its partition left us: nothing of ours to commit
        released = self._tracker.complete(job.tp, job.offset, job.records)
        if released:
            self._checkpoint.release(job.tp, released[-1][0] + 1, [r for _, records in released for r in records])

    def _answer_overdue(self) -> None:
        """A worker stuck past its deadline (a hung call that ignored its timeout) must not hold its
        partition: answer deadline_exceeded on its behalf, drop whatever it returns later, and let a new
        worker take its place."""
        now = time.monotonic()
        self._next_overdue_check = now + _OVERDUE_CHECK_S
        for job in list(self._jobs.values()):
            if job.state is JobState.RUNNING and now > job.deadline.expires_at + _DEADLINE_GRACE_S:
                with request_context(job.request_id):
                    log.error("worker overran its deadline; answering deadline_exceeded for it")
                error = ProcessingError(ErrorCode.DEADLINE_EXCEEDED, "request deadline exceeded", retryable=True)
                processed = job.failed(error)
                self._metrics.failed.labels(processed.kind, error.code.value).inc()
                self._finish(job, processed)
                if self._pool is not None and self._pool.replace(job):
                    self._metrics.abandoned_workers.set(self._pool.abandoned())

    # ------------------------------------------------------------------ rebalances
    def _is_current(self, job: Job) -> bool:
        return self._epochs.get(job.tp) == job.epoch

    def _on_assign(self, consumer: Any, partitions: list[TopicPartition]) -> None:
        for p in partitions:
            tp = (p.topic, p.partition)
            self._next_epoch += 1
            self._epochs[tp] = self._next_epoch
            self._assigned.add(tp)
            self._attempts.assigned(tp)
        self._backpressure.on_assign(partitions)
        self._health.mark_joined(True)
        self._metrics.rebalances.labels("assign").inc()
        self._metrics.assigned_partitions.set(len(self._assigned))
        log.info("partitions assigned", extra={"partitions": [f"{t.topic}[{t.partition}]" for t in partitions]})

    def _on_revoke(self, consumer: Any, partitions: list[TopicPartition]) -> None:
        revoked = {(p.topic, p.partition) for p in partitions}
        in_flight = sum(1 for (tp, _) in self._jobs if tp in revoked)  # logged: tests assert a mid-flight revoke
        self._metrics.rebalances.labels("revoke").inc()
        self._drain(revoked, self._settings.revoke_drain_seconds)
        self._checkpoint.revoke(revoked)
        self._release(revoked)
        log.info("partitions revoked", extra={"partitions": [f"{t}[{p}]" for t, p in sorted(revoked)],
                                              "in_flight_at_revoke": in_flight})

    def _on_lost(self, consumer: Any, partitions: list[TopicPartition]) -> None:
        lost = {(p.topic, p.partition) for p in partitions}
        self._metrics.rebalances.labels("lost").inc()
        self._checkpoint.lose(lost)  # another member may own them already: commit nothing for them
        self._release(lost)
        log.warning("partitions lost", extra={"partitions": [f"{t}[{p}]" for t, p in sorted(lost)]})

    def _release(self, partitions: set[TP]) -> None:
        for tp in partitions:
            abandoned = self._tracker.forget(tp)
            if abandoned:
                self._metrics.skipped.labels("revoked").inc(abandoned)
            self._epochs.pop(tp, None)
            self._assigned.discard(tp)
            self._attempts.released(tp)  # handed over in order: nothing crashed
            self._progress.forget(tp)
        self._backpressure.forget(partitions)
        for key in [k for k in self._jobs if k[0] in partitions]:
            self._jobs.pop(key).state = JobState.ABANDONED
        self._metrics.assigned_partitions.set(len(self._assigned))

    def _drain(self, partitions: set[TP] | None, budget_s: float) -> None:
        """Keep finishing and delivering work (of `partitions`, or all) until none is left or time is up."""
        until = time.monotonic() + budget_s

        def outstanding() -> int:
            return sum(1 for (tp, _) in self._jobs if partitions is None or tp in partitions)

        while outstanding() and time.monotonic() < until:
            self._settle(producer_poll_s=0.01)
            time.sleep(0.005)
        self._producer.flush(max(0.0, until - time.monotonic()))
        if outstanding():
            log.warning("drain budget spent with work unfinished; it will be processed again",
                        extra={"unfinished": outstanding()})

    def _settle(self, producer_poll_s: float) -> None:
        """One step of a drain or the shutdown: finished work on, deliver, retry, answer the overdue, commit."""
        self._take_finished()
        self._isolation.release()
        self._producer.poll(producer_poll_s)
        self._sender.serve_retries()
        self._answer_overdue()
        self._checkpoint.commit()

    # ------------------------------------------------------------------ shutdown
    def _shutdown(self) -> None:
        log.info("stopping: finishing in-flight work", extra={"in_flight": self._tracker.in_flight(),
                                                               "grace_s": self._settings.shutdown_grace_seconds})
        self._health.mark_stopping()
        self._backpressure.pause(self._assigned - self._backpressure.paused)
        until = time.monotonic() + self._settings.shutdown_grace_seconds
        while self._jobs and time.monotonic() < until:
            # Keep polling: it serves the group (and delivers nothing new: every partition is paused).
            self._consumer.poll(0.01)
            self._health.mark_poll()
            self._settle(producer_poll_s=0.0)
        self._producer.flush(max(1.0, until - time.monotonic()))
        self._checkpoint.close()
        if self._jobs:
            log.warning("grace period over with work unfinished; it will be processed again",
                        extra={"unfinished": len(self._jobs)})
        for tp in self._assigned:
            self._attempts.released(tp)
        log.info("closing consumer (commits stored offsets, leaves the group)")
        self._consumer.close()

