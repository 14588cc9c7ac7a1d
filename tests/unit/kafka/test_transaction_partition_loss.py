"""Exactly-once: what a transaction under way commits when things change under it (docs/guarantees.md,
"Exactly-once"). The fake producer keeps librdkafka's transactional contract (testkit/fakes/kafka_clients.py):
send_offsets_to_transaction is retriable but not resumable, an empty offset list is a no-op, and a failed
transaction refuses produce() with _STATE until it is aborted.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from confluent_kafka import KafkaError

from models_processor.kafka import transactions
from testkit.fake_kafka_run import P0, P1, Running, settings, text_request
from testkit.fakes.kafka_clients import FakeProducer, Transaction, error

_TIMED_OUT = error(KafkaError._TIMED_OUT, "Local: Timed out", retriable=True)


def _answered(txn: Transaction) -> list[str]:
    return [json.loads(m.value() or b"{}")["request_id"] for m in txn.records if m.topic() == "answers"]


def _partition_of(request_id: str) -> Any:
    return P0 if request_id.startswith("p0") else P1


def test_a_partition_lost_before_its_offsets_were_sent_aborts_the_transaction() -> None:
    """The broker-restart duplicate: a transaction held its answers for P0 while send_offsets_to_transaction
    kept timing out; the session ran out and P0 was lost. lose() dropped P0's offset from the open
    transaction but not its answer (already produced into it): the resumed send_offsets sent no offset for
    P0 and the commit made the answer visible without it. P0's next owner (here this member again, after the
    group gave it back) read the request from the old committed offset and answered it a second time."""
    with Running(settings(PROCESSING_GUARANTEE="exactly_once")) as run:
        run.producer.fail_next("send_offsets_to_transaction", _TIMED_OUT, times=1000)
        run.consumer.schedule("assign", [P0, P1])
        # p0 alone first, so the transaction whose offsets keep failing is the one holding p0's answer (read
        # together, p1's answer could open the transaction before p0's was released into it).
        run.consumer.append(P0, text_request("p0"), key=b"p0")
        run.wait_for(lambda: run.producer.calls["send_offsets_to_transaction"] >= 2, what="the offsets retried")
        run.consumer.append(P1, text_request("p1"), key=b"p1")
        run.consumer.schedule("lost", [P0])
        run.wait_for(lambda: P0 in run.consumer.revoked, what="the loss")
        run.producer.faults["send_offsets_to_transaction"].clear()
        run.consumer.schedule("assign", [P0])  # handed back: its committed offset is still 0
        run.wait_for(lambda: dict(run.producer.committed_offsets()).get(P0) == 1, timeout=10,
                     what="P0's offset committed")
        run.wait_for(lambda: dict(run.producer.committed_offsets()).get(P1) == 1, timeout=10,
                     what="P1's offset committed")
        # Every committed answer rides with its request's offset, and each request is answered once.
        for txn in run.producer.transactions:
            offsets = {tp for tp, _ in txn.offsets}
            assert all(_partition_of(rid) in offsets for rid in _answered(txn)), (txn.offsets, _answered(txn))
        assert sorted(a["request_id"] for a in run.answers()) == ["p0", "p1"]
        # The path: P0's answer was in the open transaction when P0 was lost, and that transaction was aborted.
        assert [t for t in run.producer.aborted if "p0" in _answered(t)], run.producer.aborted
        assert run.producer.calls["abort_transaction"] == 1


def test_a_partition_lost_while_its_commit_resumes_still_commits_answers_and_offsets_together() -> None:
    """Once send_offsets_to_transaction has returned, the offsets are in the transaction: a loss while
    commit_transaction resumes (it cannot be aborted then: _CONFLICT) commits both or neither."""
    with Running(settings(PROCESSING_GUARANTEE="exactly_once")) as run:
        run.producer.fail_next("commit_transaction", _TIMED_OUT, times=1000)
        run.consumer.schedule("assign", [P0])
        run.consumer.append(P0, text_request("p0"), key=b"p0")
        run.wait_for(lambda: run.producer.calls["commit_transaction"] >= 2, what="the commit resumed")
        run.consumer.schedule("lost", [P0])
        run.wait_for(lambda: P0 in run.consumer.revoked, what="the loss")
        run.producer.faults["commit_transaction"].clear()
        run.wait_for(lambda: bool(run.producer.transactions), timeout=10, what="the commit")
        [txn] = run.producer.transactions
        assert txn.offsets == [(P0, 1)] and _answered(txn) == ["p0"]
        assert run.producer.calls["abort_transaction"] == 0 and run.alive


def test_a_record_refused_because_the_transaction_already_failed_is_produced_again_not_dropped(monkeypatch: pytest.MonkeyPatch) -> None:
    """A delivery failure makes the transaction abortable while its batch is still being produced; librdkafka
    then refuses produce() with _STATE. That refusal was taken for the record's own fault (like a record too
    large): the answer was replaced by a DLQ copy, that copy refused the same way, and the record dropped
    from the batch for good, so the next transaction committed the request's offset without it."""
    monkeypatch.setattr(transactions, "QUEUE_FULL_WAIT_S", 2.0)
    producer = FakeProducer(transactional=True, queue_limit=1)
    producer.topic_errors["answers"] = error(KafkaError._MSG_TIMED_OUT, "Local: Message timed out",
                                             retriable=True)
    producer.topic_error_budget["answers"] = 1
    with Running(settings(PROCESSING_GUARANTEE="exactly_once"), producer=producer) as run:
        run.consumer.schedule("assign", [P0])
        # An answer and a DLQ copy: the copy waits for room, and meanwhile the answer's delivery fails.
        run.consumer.append(P0, b"not json", key=b"r0")
        run.wait_for(lambda: dict(producer.committed_offsets()).get(P0) == 1, timeout=10, what="committed")
        assert producer.delivery_failures["answers"] == 1 and producer.calls["abort_transaction"] == 1
        assert [a["request_id"] for a in run.answers()] == ["r0"]
        assert len(producer.records("dlq")) == 1
        assert run.metric("models_processor_produce_errors_total", topic="dlq") == 0
