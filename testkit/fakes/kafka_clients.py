"""Fault-injecting stand-ins for confluent-kafka's Consumer and Producer, for unit tests of the dispatcher.

They keep librdkafka's observable semantics where the dispatcher depends on them (checked against
librdkafka's src/rdkafka_msg.c, src/rdkafka_txnmgr.c and rdkafka.h):
  - produce() raises KafkaException(MSG_SIZE_TOO_LARGE) synchronously when key + value + headers exceed the
    producer's message.max.bytes, and BufferError when the local queue is full; a topic's own (smaller)
    max.message.bytes is only reported later, in the delivery report;
  - delivery reports are served by poll()/flush() (and by commit_transaction, which flushes);
  - a delivery failure inside a transaction makes the transaction abortable: commit_transaction raises an
    error with txn_requires_abort(); abort_transaction purges what is queued (_PURGE_QUEUE reports);
  - a resumable transactional call (init_transactions, commit_transaction, abort_transaction) that failed
    retriably stays "in progress": calling a different one raises a retriable _CONFLICT ("Conflicting
    commit_transaction API call is already in progress"), calling the same one again resumes it;
    begin_transaction and send_offsets_to_transaction are not resumable (rd_kafka_txn_curr_api_return
    with resumable false), so any call may follow their failure;
  - once the transaction has failed (a delivery failed), produce() raises _STATE ("Producing not allowed
    in transactional state AbortableError", rd_kafka_check_produce) until it is aborted;
  - send_offsets_to_transaction with no offsets does nothing and succeeds;
  - rebalance callbacks run inside poll()/consume(), on the caller's thread; a partition's pause flag
    survives a revoke-and-reassign; store_offsets() of a partition not assigned raises _STATE.
Messages and errors are confluent_kafka's own Message and KafkaError objects.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, TopicPartition

from models_processor.kafka.clients import DeliveryCallback, RebalanceCallback

TP = tuple[str, int]


def error(code: int, reason: str = "", *, retriable: bool = False, fatal: bool = False,
          txn_requires_abort: bool = False) -> KafkaError:
    return KafkaError(code, reason or None, fatal=fatal, retriable=retriable,
                      txn_requires_abort=txn_requires_abort)


def _wire(headers: list[tuple[str, bytes]] | None) -> list[tuple[str, str | bytes | None]] | None:
    return None if headers is None else list(headers)


def _tp(p: TopicPartition) -> TP:
    return (p.topic, p.partition)


class FakeConsumer:
    """Partition logs the test appends to; assignment changes scheduled by the test, served on poll."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self.logs: dict[TP, list[Message]] = defaultdict(list)
        self.assigned: list[TP] = []
        self.paused: set[TP] = set()
        self.position: dict[TP, int] = {}
        self.stored: dict[TP, int] = {}
        self.committed: dict[TP, int] = {}
        self.handed_out: dict[tuple[TP, int], int] = {}  # (tp, offset) -> bytes, until rewound by seek
        self.revoked: list[TP] = []
        self.seeks: list[tuple[TP, int]] = []
        self.closed = False
        self.poll_calls = 0
        self._events: deque[tuple[str, list[TP]]] = deque()
        self._callbacks: dict[str, RebalanceCallback | None] = {}
        self._next_index = 0
        self._errors: deque[Message] = deque()

    # --- test side ---
    def append(self, tp: TP, value: bytes | None, key: bytes | None = None,
               headers: list[tuple[str, bytes]] | None = None) -> int:
        with self._lock:
            offset = len(self.logs[tp])
            self.logs[tp].append(Message(topic=tp[0], partition=tp[1], offset=offset, key=key, value=value,
                                         headers=_wire(headers), timestamp=(1, int(time.time() * 1000))))
            return offset

    def inject_error(self, err: KafkaError) -> None:
        """The next poll()/consume() returns a message carrying `err` (how librdkafka reports consumer
        errors, fatal ones included)."""
        with self._lock:
            self._errors.append(Message(error=err))

    def schedule(self, event: str, partitions: list[TP]) -> None:
        """event: "assign", "revoke" or "lost"; served inside the next poll()/consume()."""
        with self._lock:
            self._events.append((event, partitions))

    def events_pending(self) -> bool:
        with self._lock:
            return bool(self._events)

    def in_hand(self) -> int:
        with self._lock:
            return len(self.handed_out)

    def bytes_in_hand(self) -> int:
        with self._lock:
            return sum(self.handed_out.values())

    # --- the Consumer API ---
    def subscribe(self, topics: list[str], on_assign: RebalanceCallback | None = None,
                  on_revoke: RebalanceCallback | None = None,
                  on_lost: RebalanceCallback | None = None) -> None:
        self._callbacks = {"assign": on_assign, "revoke": on_revoke, "lost": on_lost}

    def poll(self, timeout: float = -1) -> Message | None:
        messages = self.consume(1, timeout)
        return messages[0] if messages else None

    def consume(self, num_messages: int = 1, timeout: float = -1) -> list[Message]:
        with self._lock:
            self.poll_calls += 1
            self._serve_events()
            out = [self._errors.popleft()] if self._errors else []
            out += self._take(num_messages - len(out))
        if not out and timeout and timeout > 0:
            time.sleep(min(timeout, 0.002))  # nothing to read: do not let an idle loop spin
        return out

    def pause(self, partitions: list[TopicPartition]) -> None:
        with self._lock:
            self.paused |= {_tp(p) for p in partitions}

    def resume(self, partitions: list[TopicPartition]) -> None:
        with self._lock:
            self.paused -= {_tp(p) for p in partitions}

    def seek(self, partition: TopicPartition) -> None:
        with self._lock:
            tp = _tp(partition)
            if tp not in self.assigned:
                raise KafkaException(error(KafkaError._STATE, "Erroneous state"))
            self.position[tp] = partition.offset
            self.seeks.append((tp, partition.offset))
            for key in [k for k in self.handed_out if k[0] == tp and k[1] >= partition.offset]:
                del self.handed_out[key]

    def store_offsets(self, message: Message | None = None,
                      offsets: list[TopicPartition] | None = None) -> None:
        with self._lock:
            for p in offsets or []:
                if _tp(p) not in self.assigned:
                    raise KafkaException(error(KafkaError._STATE, "Local: Erroneous state"))
                self.stored[_tp(p)] = p.offset

    def consumer_group_metadata(self) -> Any:
        return ("group-metadata", id(self))

    def close(self) -> None:
        with self._lock:
            self.committed.update(self.stored)  # enable.auto.commit commits the stored offsets on close
            self.closed = True

    # --- internals ---
    def _serve_events(self) -> None:
        while self._events:
            event, partitions = self._events.popleft()
            tps = [TopicPartition(t, p) for t, p in partitions]
            if event == "assign":
                for tp in partitions:
                    self.position[tp] = self.committed.get(tp, 0)
                    self.assigned.append(tp)
            callback = self._callbacks.get(event)
            if callback is not None:
                callback(self, tps)
            if event in ("revoke", "lost"):
                for tp in partitions:
                    if event == "revoke" and tp in self.stored:
                        self.committed[tp] = self.stored[tp]  # auto-commit of stored offsets on revoke
                    self.assigned.remove(tp)
                    self.revoked.append(tp)
                    self.stored.pop(tp, None)
                    for key in [k for k in self.handed_out if k[0] == tp]:
                        del self.handed_out[key]

    def _take(self, limit: int) -> list[Message]:
        out: list[Message] = []
        readable = [tp for tp in self.assigned if tp not in self.paused]
        while readable and len(out) < limit:
            tp = readable[self._next_index % len(readable)]
            self._next_index += 1
            position = self.position[tp]
            if position >= len(self.logs[tp]):
                readable.remove(tp)
                continue
            message = self.logs[tp][position]
            self.position[tp] = position + 1
            self.handed_out[(tp, position)] = len(message.value() or b"")
            out.append(message)
        return out


# The calls librdkafka resumes after a retriable error (rdkafka_txnmgr.c: curr_api_return(rk, rd_true, ...)).
_RESUMABLE = frozenset({"init_transactions", "commit_transaction", "abort_transaction"})


@dataclass
class _Queued:
    topic: str
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]
    on_delivery: DeliveryCallback | None
    in_transaction: bool = False


@dataclass
class Transaction:
    records: list[Message] = field(default_factory=list)
    offsets: list[tuple[TP, int]] = field(default_factory=list)


class FakeProducer:
    """An idempotent (optionally transactional) producer writing to in-memory topics."""

    def __init__(self, *, message_max_bytes: int = 11 * 1024 * 1024, queue_limit: int = 100_000,
                 transactional: bool = False) -> None:
        self._lock = threading.RLock()
        self.message_max_bytes = message_max_bytes
        self.queue_limit = queue_limit
        self.transactional = transactional
        self.topic_max_bytes: dict[str, int] = {}  # the topic's max.message.bytes, reported on delivery
        self.topic_errors: dict[str, KafkaError] = {}  # every delivery to the topic fails with this
        self.topic_error_budget: dict[str, int] = {}  # ...only this many times, when set
        self.hold_deliveries = False  # keep delivery reports back (a slow broker) until released
        self.written: list[Message] = []  # delivered (at-least-once) or committed (exactly-once)
        self.produce_calls: dict[str, int] = defaultdict(int)
        self.delivery_failures: dict[str, int] = defaultdict(int)
        self.buffer_errors = 0
        self.transactions: list[Transaction] = []  # committed ones
        self.aborted: list[Transaction] = []
        self.offsets_sent: list[list[tuple[TP, int]]] = []  # each successful send_offsets_to_transaction
        self.calls: dict[str, int] = defaultdict(int)
        self.faults: dict[str, deque[KafkaError]] = defaultdict(deque)  # next results of a txn call
        self._queue: list[_Queued] = []
        self._txn: Transaction | None = None
        self._txn_error: KafkaError | None = None
        self._current_api = ""

    # --- test side ---
    def fail_next(self, call: str, err: KafkaError, times: int = 1) -> None:
        with self._lock:
            self.faults[call].extend([err] * times)

    def records(self, topic: str) -> list[Message]:
        with self._lock:
            return [m for m in self.written if m.topic() == topic]

    def committed_offsets(self) -> list[tuple[TP, int]]:
        with self._lock:
            return [o for t in self.transactions for o in t.offsets]

    # --- the Producer API ---
    def produce(self, topic: str, value: str | bytes | None = None, key: str | bytes | None = None,
                partition: int = -1, callback: DeliveryCallback | None = None,
                on_delivery: DeliveryCallback | None = None, timestamp: int = 0,
                headers: Any = None) -> None:
        value_b = value.encode() if isinstance(value, str) else value
        key_b = key.encode() if isinstance(key, str) else key
        header_list = list(headers or [])
        with self._lock:
            self.produce_calls[topic] += 1
            size = len(value_b or b"") + len(key_b or b"") + sum(len(k) + len(v or b"") for k, v in header_list)
            if size > self.message_max_bytes:
                raise KafkaException(error(KafkaError.MSG_SIZE_TOO_LARGE, "Broker: Message size too large"))
            if self.transactional and self._txn is None:
                raise KafkaException(error(KafkaError._STATE, "Local: Erroneous state: no transaction"))
            if self.transactional and self._txn_error is not None:
                raise KafkaException(error(KafkaError._STATE, "Producing not allowed in transactional state "
                                           "AbortableError"))
            if len(self._queue) >= self.queue_limit:
                self.buffer_errors += 1
                raise BufferError("Local: Queue full")
            self._queue.append(_Queued(topic, key_b, value_b, header_list, on_delivery or callback,
                                       in_transaction=self._txn is not None))

    def poll(self, timeout: float = -1) -> int:
        with self._lock:
            if self.hold_deliveries:
                return 0
            queued, self._queue = self._queue, []
            reports = [(q, self._outcome(q)) for q in queued]
        for q, err in reports:  # callbacks run outside the lock, as librdkafka's do on the caller's thread
            if q.on_delivery is not None:
                q.on_delivery(err, Message(topic=q.topic, key=q.key, value=q.value, headers=_wire(q.headers),
                                           error=err))
        return len(reports)

    def flush(self, timeout: float = -1) -> int:
        self.poll(0)
        with self._lock:
            return len(self._queue)

    def init_transactions(self, timeout: float = -1) -> None:
        self._api("init_transactions")
        self._api_done()

    def begin_transaction(self) -> None:
        self._api("begin_transaction")
        with self._lock:
            if self._txn is not None:
                self._api_done()
                raise KafkaException(error(KafkaError._STATE, "Operation not valid in state InTransaction"))
            self._txn = Transaction()
            self._txn_error = None
        self._api_done()

    def send_offsets_to_transaction(self, positions: list[TopicPartition], group_metadata: Any,
                                    timeout: float = -1) -> None:
        self._api("send_offsets_to_transaction")
        with self._lock:
            self._require_txn()
            if self._txn_error is not None:  # the failed transaction's error, flagged abortable (require_state)
                self._api_done()
                raise KafkaException(error(self._txn_error.code(), self._txn_error.str(), txn_requires_abort=True))
            assert self._txn is not None
            # Not resumable: a retry sends the offsets given now; none at all is a no-op (librdkafka).
            self._txn.offsets = [((p.topic, p.partition), p.offset) for p in positions]
            self.offsets_sent.append(list(self._txn.offsets))
        self._api_done()

    def commit_transaction(self, timeout: float = -1) -> None:
        self._api("commit_transaction")
        self.poll(0)  # commit flushes: delivery reports of the transaction's records are served here
        with self._lock:
            self._require_txn()
            if self._txn_error is not None:
                self._api_done()
                raise KafkaException(error(self._txn_error.code(), f"transaction failed: {self._txn_error.str()}",
                                           txn_requires_abort=True))
            assert self._txn is not None
            self.transactions.append(self._txn)
            self.written.extend(self._txn.records)
            self._txn = None
        self._api_done()

    def abort_transaction(self, timeout: float = -1) -> None:
        self._api("abort_transaction")
        with self._lock:
            self._require_txn()
            purged = [q for q in self._queue if q.in_transaction]
            self._queue = [q for q in self._queue if not q.in_transaction]
            assert self._txn is not None
            self.aborted.append(self._txn)
            self._txn = None
            self._txn_error = None
        for q in purged:
            if q.on_delivery is not None:
                err = error(KafkaError._PURGE_QUEUE, "Local: Purged in queue")
                q.on_delivery(err, Message(topic=q.topic, key=q.key, value=q.value, error=err))
        self._api_done()

    # --- internals ---
    def _api(self, name: str) -> None:
        """Begin (or resume) a transactional call, as rd_kafka_txn_curr_api_begin does; scripted faults."""
        with self._lock:
            self.calls[name] += 1
            if self._current_api and self._current_api != name:
                raise KafkaException(error(KafkaError._CONFLICT, f"Conflicting {self._current_api} API call is "
                                           "already in progress", retriable=True))
            self._current_api = name
            if self.faults[name]:
                err = self.faults[name].popleft()
                if not err.retriable() or name not in _RESUMABLE:
                    self._current_api = ""  # only a retriable failure of a resumable call stays in progress
                if err.txn_requires_abort():
                    self._txn_error = err
                raise KafkaException(err)

    def _api_done(self) -> None:
        with self._lock:
            self._current_api = ""

    def _require_txn(self) -> None:
        if self._txn is None:
            self._current_api = ""
            raise KafkaException(error(KafkaError._STATE, "Operation not valid in state Ready"))

    def _outcome(self, q: _Queued) -> KafkaError | None:
        err = self._delivery_error(q)
        if err is not None:
            self.delivery_failures[q.topic] += 1
            if q.in_transaction and self._txn is not None and self._txn_error is None:
                self._txn_error = err  # a failed message makes the whole transaction abortable
            return err
        message = Message(topic=q.topic, partition=0, offset=len(self.written), key=q.key, value=q.value,
                          headers=_wire(q.headers))
        if q.in_transaction and self._txn is not None:
            self._txn.records.append(message)
        else:
            self.written.append(message)
        return None

    def _delivery_error(self, q: _Queued) -> KafkaError | None:
        limit = self.topic_max_bytes.get(q.topic)
        if limit is not None and len(q.value or b"") > limit:
            return error(KafkaError.MSG_SIZE_TOO_LARGE, "Broker: Message size too large")
        err = self.topic_errors.get(q.topic)
        if err is None:
            return None
        budget = self.topic_error_budget.get(q.topic)
        if budget is not None:
            if budget <= 0:
                return None
            self.topic_error_budget[q.topic] = budget - 1
        return err
