"""Exactly-once: released answers and offsets, written and committed together in Kafka transactions.

One transaction per interval (or per this many answers), not one per message: each commit is a broker
round trip. The life cycle is the at-least-once twin's (checkpoint.py). Errors follow librdkafka's
transactional contract (rdkafka.h): a retriable error resumes the same call later (any other call would
be refused with _CONFLICT); an abortable one aborts, puts the batch back and retries it after a backoff,
with every record the broker refused replaced first (undeliverable.py), so one unsendable record cannot
stall every partition; a fatal one (fenced) stops the service. See docs/guarantees.md. A transaction whose
answers for a partition are produced but whose offsets are not yet sent is aborted if that partition is
lost meanwhile: committed, it would carry the answers without their offsets, and the partition's next
owner would answer the requests again (the repeat seen after a broker restart).

Each transaction has a deadline: its producer's transaction.timeout.ms (past which the broker aborts it)
plus TXN_DEADLINE_MARGIN_S. A transaction still held open by retriable errors then cannot be aborted (a
resumable call is in progress: librdkafka refuses abort_transaction with _CONFLICT) nor committed any
more: FatalKafkaError stops the service, and the restarted instance fences this producer and processes
the requests again. Producing a transaction's records into a local queue that stays full for
QUEUE_FULL_WAIT_S aborts the transaction, and the batch is produced again in the next one.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum

from confluent_kafka import KafkaError, KafkaException, Message, TopicPartition

from ..config import Settings, librdkafka_overrides
from ..metrics import Metrics
from ..tracecontext import of_headers
from ..tracing import span
from ..watchdog import HangWatchdog
from .checkpoint import FatalKafkaError
from .client_config import TRANSACTION_TIMEOUT_MS_DEFAULT
from .clients import ConsumerClient, ProducerClient
from .delivery import backoff
from .routing import OutputRecord
from .undeliverable import Failure, classify, replacement

log = logging.getLogger(__name__)

TP = tuple[str, int]

# init_transactions is not retried (a failure stops the process), and a new instance waits in it for its
# predecessor's open transaction to be aborted: it keeps a long timeout.
TXN_INIT_TIMEOUT_S = 30.0
# The calls of each transaction (send_offsets_to_transaction, commit_transaction, abort_transaction) take
# milliseconds on a healthy broker. Past their timeout librdkafka returns a retriable _TIMED_OUT and the
# same call, made again, resumes where it was (rdkafka.h): a short timeout loses nothing, it only returns
# control sooner. librdkafka caps it at transaction.timeout.ms anyway.
TXN_CALL_TIMEOUT_S = 10.0
# librdkafka can block in a transactional call past its timeout: send_offsets_to_transaction after a broker
# restart waits for a connection state change (confluentinc/librdkafka#5456, #5511), which the producer's
# idle-connection close (client_config.py) now brings within seconds; the margin leaves room for that late
# return. Past the call's own timeout plus this margin the process exits; the new instance's
# init_transactions fences this one and aborts its open transaction, so nothing it wrote reaches
# read_committed readers (docs/guarantees.md).
TXN_HANG_MARGIN_S = 20.0
TXN_HANG_EXIT_CODE = 70
TXN_DEADLINE_MARGIN_S = 5.0
QUEUE_FULL_WAIT_S = 0.5
TXN_INTERVAL_S = 0.05
TXN_MAX_RECORDS = 200
_PURGED = frozenset({KafkaError._PURGE_QUEUE, KafkaError._PURGE_INFLIGHT})
_ABORT_ATTEMPTS = 3


def transaction_deadline_s(environ: Mapping[str, str] | None = None) -> float:
    """How long a transaction may stay open: transaction.timeout.ms as KAFKA_* variables set it, plus
    TXN_DEADLINE_MARGIN_S."""
    value = librdkafka_overrides(os.environ if environ is None else environ).get("transaction.timeout.ms")
    try:
        timeout_ms = int(value) if value is not None else TRANSACTION_TIMEOUT_MS_DEFAULT
    except ValueError:  # librdkafka refuses the producer's configuration before this matters
        timeout_ms = TRANSACTION_TIMEOUT_MS_DEFAULT
    return timeout_ms / 1000 + TXN_DEADLINE_MARGIN_S


class _Stage(Enum):
    BEGIN = "begin_transaction"
    OFFSETS = "send_offsets_to_transaction"
    COMMIT = "commit_transaction"


@dataclass
class _Batch:
    records: dict[TP, list[OutputRecord]] = field(default_factory=dict)
    offsets: dict[TP, int] = field(default_factory=dict)
    since: float | None = None  # when its oldest offset was released

    def count(self) -> int:
        return sum(len(r) for r in self.records.values())

    def nbytes(self) -> int:
        return sum(r.size for rs in self.records.values() for r in rs)

    def drop(self, partitions: set[TP]) -> None:
        for tp in partitions:
            self.records.pop(tp, None)
            self.offsets.pop(tp, None)

    def then(self, later: _Batch) -> _Batch:
        """This batch followed by `later` (a failed transaction goes back in front of what came since)."""
        merged = _Batch({tp: list(rs) for tp, rs in self.records.items()}, dict(self.offsets), self.since)
        for tp, rs in later.records.items():
            merged.records.setdefault(tp, []).extend(rs)
        merged.offsets.update(later.offsets)
        merged.since = self.since if self.since is not None else later.since
        return merged


class ExactlyOnceCheckpoint:
    def __init__(self, producer: ProducerClient, consumer: ConsumerClient, settings: Settings,
                 metrics: Metrics) -> None:
        self._producer = producer
        self._consumer = consumer
        self._settings = settings
        self._metrics = metrics
        self._watchdog = HangWatchdog(TXN_CALL_TIMEOUT_S + TXN_HANG_MARGIN_S, exit_code=TXN_HANG_EXIT_CODE)
        self._queued = _Batch()
        self._open: _Batch | None = None  # the batch of the transaction under way
        self._stage = _Stage.BEGIN
        self._refused: dict[tuple[TP, int], KafkaError] = {}  # (partition, index) -> delivery error
        self._failures = 0
        self._next_attempt = 0.0
        self._last_commit = 0.0
        self._deadline_s = transaction_deadline_s()
        self._opened_at = 0.0  # when the transaction under way was begun
        self._doomed = False  # the transaction under way must be aborted, not committed (lose())

    def start(self) -> None:
        with self._watchdog.guard("init_transactions", TXN_INIT_TIMEOUT_S + TXN_HANG_MARGIN_S):
            self._producer.init_transactions(TXN_INIT_TIMEOUT_S)

    def release(self, tp: TP, next_offset: int, records: Sequence[OutputRecord]) -> None:
        self._queued.records.setdefault(tp, []).extend(records)
        self._queued.offsets[tp] = next_offset
        if self._queued.since is None:
            self._queued.since = time.monotonic()

    def queued(self) -> tuple[int, int]:
        """What of the records waiting for a transaction counts against the in-flight limits: their bytes,
        and their number beyond one transaction's batch (a batch of small answers is what makes exactly-once
        fast; more than that only piles up while transactions fail)."""
        batches = [self._queued] + ([self._open] if self._open else [])
        return max(0, sum(b.count() for b in batches) - TXN_MAX_RECORDS), sum(b.nbytes() for b in batches)

    def pending(self) -> bool:
        return self._open is not None or bool(self._queued.offsets)

    def uncommitted_ages(self, now: float) -> dict[TP, float]:
        """Per partition, seconds since its oldest released offset has been waiting for a commit."""
        ages: dict[TP, float] = {}
        for batch in (self._open, self._queued):
            if batch is not None and batch.since is not None:
                for tp in batch.offsets:
                    ages[tp] = max(ages.get(tp, 0.0), now - batch.since)
        return ages

    def commit(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now < self._next_attempt:
            return
        if self._open is None:
            if not self._queued.offsets:
                return
            due = now - self._last_commit >= TXN_INTERVAL_S or self._queued.count() >= TXN_MAX_RECORDS
            if not (force or due):
                return
            self._open, self._queued, self._stage = self._queued, _Batch(), _Stage.BEGIN
            self._opened_at = now
        try:
            if self._doomed:
                self._abort_and_put_back()
                return
            self._advance(self._open)
        except KafkaException as exc:
            self._on_error(exc.args[0])
            return
        self._metrics.commits.labels("transaction").inc()
        self._open, self._stage, self._failures, self._last_commit = None, _Stage.BEGIN, 0, time.monotonic()

    def revoke(self, partitions: set[TP]) -> None:
        """Commit what is done before the partitions go; whatever cannot be committed now is dropped for
        them (their next owner processes it again) and never committed later for a partition not ours."""
        for _ in range(_ABORT_ATTEMPTS):
            self.commit(force=True)
            if self._open is None:
                break
            time.sleep(backoff(self._failures))
        if self._open is not None and set(self._open.offsets) & partitions:
            # A transaction with their offsets is still under way (retriable errors): it cannot be
            # finished or aborted in time, and must not commit later.
            raise FatalKafkaError("transaction for revoked partitions could not be completed")
        self._queued.drop(partitions)

    def lose(self, partitions: set[TP]) -> None:
        """Another member may own them already: nothing more is committed for them. A transaction under
        way whose offsets are sent keeps them (the group generation in them fences a stale commit, and the
        answers and offsets commit or abort together). One whose answers for them are produced but whose
        offsets are not yet sent would commit those answers without their offsets, and their next owner
        would answer the requests again: it is aborted instead (docs/guarantees.md)."""
        self._queued.drop(partitions)
        if self._open is None:
            return
        touched = partitions & (set(self._open.offsets) | set(self._open.records))
        self._open.drop(partitions)
        if touched and self._stage is _Stage.OFFSETS:
            log.warning("partitions lost while their answers wait for their offsets; aborting the transaction",
                        extra={"partitions": [f"{t}[{p}]" for t, p in sorted(touched)]})
            self._doomed = True

    def close(self) -> None:
        self.commit(force=True)
        if self._open is not None or self._queued.offsets:
            log.warning("final transaction not committed; its requests will be processed again")

    # ------------------------------------------------------------------ one transaction
    def _advance(self, batch: _Batch) -> None:
        """Run the transaction from its current stage; a retriable failure resumes at the same stage."""
        if self._stage is _Stage.BEGIN:
            self._producer.begin_transaction()
            self._refused = {}
            self._produce_all(batch)
            self._stage = _Stage.OFFSETS
        if self._stage is _Stage.OFFSETS:
            offsets = [TopicPartition(t, p, o) for (t, p), o in batch.offsets.items()]
            with self._guard(_Stage.OFFSETS.value):
                self._producer.send_offsets_to_transaction(offsets, self._consumer.consumer_group_metadata(),
                                                           TXN_CALL_TIMEOUT_S)
            self._stage = _Stage.COMMIT
        with self._guard(_Stage.COMMIT.value):
            self._producer.commit_transaction(TXN_CALL_TIMEOUT_S)

    @contextlib.contextmanager
    def _guard(self, call: str) -> Iterator[None]:
        """The hang watchdog around a transactional call; a call that returned past its own timeout is
        logged (librdkafka#5456: the timeout is not enforced while the group coordinator is looked up)."""
        started = time.monotonic()
        with self._watchdog.guard(call):
            yield
        took = time.monotonic() - started
        if took > TXN_CALL_TIMEOUT_S:
            log.warning("transactional call returned past its timeout", extra={"call": call, "seconds": round(took, 1)})

    def _produce_all(self, batch: _Batch) -> None:
        for tp, records in batch.records.items():
            sent: list[OutputRecord] = []
            for position, record in enumerate(records):
                request = of_headers(record.source.headers if record.source else None)
                try:
                    with span("produce", {"topic": record.topic}, parent=request):
                        produced = self._produce(tp, len(sent), record)
                except KafkaException:
                    # The transaction is over: the batch goes back whole, what was replaced as replaced.
                    batch.records[tp] = sent + records[position:]
                    raise
                if produced is not None:
                    sent.append(produced)
            batch.records[tp] = sent

    def _produce(self, tp: TP, index: int, record: OutputRecord) -> OutputRecord | None:
        def on_delivery(err: KafkaError | None, _msg: Message) -> None:
            if err is not None and err.code() not in _PURGED:
                self._refused[(tp, index)] = err

        candidate: OutputRecord | None = record
        until = time.monotonic() + QUEUE_FULL_WAIT_S
        while candidate is not None:
            try:
                self._producer.produce(candidate.topic, key=candidate.key, value=candidate.value,
                                       headers=candidate.headers, on_delivery=on_delivery)
                return candidate
            except BufferError:
                if time.monotonic() >= until:  # the broker is away: abort, and produce the batch again later
                    raise KafkaException(KafkaError(KafkaError._QUEUE_FULL, "Local: Queue full",
                                                    txn_requires_abort=True)) from None
                self._producer.poll(0.05)
            except KafkaException as exc:
                error = exc.args[0]
                if error.fatal() or error.txn_requires_abort():
                    raise
                if error.code() == KafkaError._STATE:  # not the record's fault: abort, produce it again
                    raise KafkaException(KafkaError(error.code(), error.str(), txn_requires_abort=True)) from None
                # Refused before queueing (too large): replace it at once.
                self._metrics.produce_errors.labels(candidate.topic).inc()
                log.error("record refused by the producer; sending its replacement",
                          extra={"request_id": candidate.request_id, "topic": candidate.topic,
                                 "kafka_error": exc.args[0].str()})
                candidate = replacement(self._settings, candidate, exc.args[0])
        return None

    def _on_error(self, error: KafkaError) -> None:
        if error.fatal():
            raise FatalKafkaError(f"{self._stage.value}: {error.str()}")
        self._failures += 1
        self._next_attempt = time.monotonic() + backoff(self._failures)
        resumable = error.retriable() and not error.txn_requires_abort()
        self._metrics.retries.labels("transaction", "retriable" if resumable else "abortable").inc()
        log.warning("transaction call failed", extra={"call": self._stage.value, "kafka_error": error.str(),
                                                      "retriable": resumable, "failures": self._failures})
        if resumable:
            open_s = time.monotonic() - self._opened_at
            if open_s > self._deadline_s:
                # Neither abortable (the call is in progress) nor committable any more (the broker aborts
                # it at transaction.timeout.ms): a restart fences this producer and reprocesses the batch.
                raise FatalKafkaError(f"{self._stage.value}: transaction did not complete in {open_s:.0f} s "
                                      f"(limit {self._deadline_s:.0f} s): {error.str()}")
            return  # the same call is made again after the backoff (librdkafka resumes it)
        if self._stage is not _Stage.BEGIN or error.txn_requires_abort():
            self._abort_and_put_back()
        else:
            self._put_back()

    def _abort_and_put_back(self) -> None:
        self._abort()
        self._put_back()

    def _put_back(self) -> None:
        """The transaction under way is over uncommitted: its batch goes in front of what came since."""
        assert self._open is not None
        self._replace_refused(self._open)
        self._queued = self._open.then(self._queued)
        self._open, self._stage, self._doomed = None, _Stage.BEGIN, False

    def _abort(self) -> None:
        for _ in range(_ABORT_ATTEMPTS):
            try:
                with self._guard("abort_transaction"):
                    self._producer.abort_transaction(TXN_CALL_TIMEOUT_S)
                return
            except KafkaException as exc:
                error = exc.args[0]
                if error.fatal():
                    raise FatalKafkaError(f"abort_transaction: {error.str()}")
                if not error.retriable():
                    return  # _STATE: no transaction to abort
                time.sleep(backoff(1))
        raise FatalKafkaError("abort_transaction kept failing")

    def _replace_refused(self, batch: _Batch) -> None:
        for tp, records in batch.records.items():
            kept: list[OutputRecord] = []
            for index, record in enumerate(records):
                error = self._refused.get((tp, index))
                if error is None or classify(error) is Failure.RETRIABLE:
                    kept.append(record)
                    continue
                instead = replacement(self._settings, record, error)
                log.error("record refused by the broker; replaced", extra={
                    "request_id": record.request_id, "topic": record.topic, "kafka_error": error.str(),
                    "replacement_topic": instead.topic if instead else None})
                if instead is not None:
                    kept.append(instead)
            batch.records[tp] = kept
        self._refused = {}
