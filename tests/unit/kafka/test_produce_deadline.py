"""The produce/commit phase has a deadline of its own (docs/guarantees.md, "Never stall"): a producer that
stops reporting, a local queue that stays full, or a transaction that keeps timing out end in a bounded
time with a stated action, instead of a partition stuck until /health turns red."""

from __future__ import annotations

import time

import pytest
from confluent_kafka import KafkaError

from models_processor.kafka import delivery, transactions
from models_processor.kafka.checkpoint import FatalKafkaError
from testkit.fake_kafka_run import P0, Running, settings, text_request
from testkit.fakes.kafka_clients import FakeProducer, error


def test_deadlines_follow_the_producers_delivery_timeout():
    margin = delivery.REPORT_MARGIN_S
    assert delivery.report_deadline_s({}) == 120 + margin  # client_config's default
    assert delivery.report_deadline_s({"KAFKA_DELIVERY_TIMEOUT_MS": "300000"}) == 300 + margin
    assert delivery.report_deadline_s({"KAFKA_MESSAGE_TIMEOUT_MS": "5000"}) == 5 + margin
    assert delivery.job_deadline_s({"KAFKA_DELIVERY_TIMEOUT_MS": "20000"}) == 40 + margin


def test_at_least_once_a_producer_that_never_reports_stops_the_service(monkeypatch):
    """librdkafka reports every message by delivery.timeout.ms; a report overdue past it means a stuck
    producer. Before: the answer waited for ever (the partition held, /health red only after
    PROGRESS_STALL_SECONDS, 8 min by default). Now: FatalKafkaError, the consumer closed, so a restart
    processes the request again from the committed offset."""
    monkeypatch.setenv("KAFKA_DELIVERY_TIMEOUT_MS", "500")
    monkeypatch.setattr(delivery, "REPORT_MARGIN_S", 0.5)
    with Running(settings()) as run:
        run.producer.hold_deliveries = True  # produce() accepts, no delivery report ever comes
        run.consumer.schedule("assign", [P0])
        run.consumer.append(P0, text_request("one"), key=b"r0")
        run.wait_for(lambda: run.producer.produce_calls["answers"] == 1, what="the answer produced")
        started = time.monotonic()
        run.wait_for(lambda: not run.alive, timeout=5, what="the loop to stop", error_expected=True)
        assert isinstance(run.error, FatalKafkaError) and "no delivery report" in str(run.error), run.error
        assert time.monotonic() - started < 3
        assert run.consumer.closed and P0 not in run.consumer.stored  # nothing committed for the answer


def test_at_least_once_an_answer_that_keeps_timing_out_stops_the_service(monkeypatch):
    """Every delivery fails with the retriable _MSG_TIMED_OUT (seen after a broker restart: the idempotent
    producer delivered nothing more while the consumer worked on). Before: produced again after a backoff,
    for ever, the partition held. Now: past twice delivery.timeout.ms (one retry) plus the margin,
    FatalKafkaError; the restarted process has a new producer."""
    monkeypatch.setenv("KAFKA_DELIVERY_TIMEOUT_MS", "300")
    monkeypatch.setattr(delivery, "REPORT_MARGIN_S", 0.4)
    with Running(settings()) as run:
        run.producer.topic_errors["answers"] = error(KafkaError._MSG_TIMED_OUT, "Local: Message timed out",
                                                     retriable=True)
        run.consumer.schedule("assign", [P0])
        run.consumer.append(P0, text_request("one"), key=b"r0")
        run.wait_for(lambda: run.producer.delivery_failures["answers"] >= 2, what="the answer retried")
        run.wait_for(lambda: not run.alive, timeout=5, what="the loop to stop", error_expected=True)
        assert isinstance(run.error, FatalKafkaError) and "cannot deliver" in str(run.error), run.error
        assert run.consumer.closed and P0 not in run.consumer.stored


def test_at_least_once_a_full_queue_does_not_hold_up_the_poll_loop():
    """Before: produce() was retried in a loop for as long as the local queue stayed full (up to
    delivery.timeout.ms with the broker away), and the consumer was not polled meanwhile."""
    producer = FakeProducer(queue_limit=1)
    with Running(settings(), producer=producer) as run:
        producer.hold_deliveries = True  # the broker is away: the one queued record stays queued
        run.consumer.schedule("assign", [P0])
        run.consumer.append(P0, b"not json", key=b"r0")  # an answer and a DLQ copy: the second finds it full
        run.wait_for(lambda: producer.buffer_errors > 0, what="the queue full")
        polls = run.consumer.poll_calls
        time.sleep(1.5)
        assert run.consumer.poll_calls - polls > 20, "the loop stopped polling while the queue was full"
        assert run.metric("models_processor_retries_total", target="produce", reason="queue_full") >= 1
        producer.hold_deliveries = False
        run.wait_for(lambda: run.consumer.stored.get(P0) == 1, what="answered once the queue drains")
        assert len(run.answers()) == 1 and len(producer.records("dlq")) == 1


def test_exactly_once_a_commit_that_keeps_timing_out_stops_the_service(monkeypatch):
    """A commit_transaction that keeps returning the retriable _TIMED_OUT was resumed for ever. It cannot
    be aborted (librdkafka refuses abort_transaction with _CONFLICT while the commit is in progress), and
    past transaction.timeout.ms the broker aborts it anyway: FatalKafkaError, and the restarted instance
    fences this producer and processes the requests again."""
    monkeypatch.setattr(transactions, "TXN_DEADLINE_MARGIN_S", 0.0)
    monkeypatch.setenv("KAFKA_TRANSACTION_TIMEOUT_MS", "1000")
    with Running(settings(PROCESSING_GUARANTEE="exactly_once")) as run:
        run.producer.fail_next("commit_transaction", error(KafkaError._TIMED_OUT, "Local: Timed out",
                                                           retriable=True), times=10_000)
        run.consumer.schedule("assign", [P0])
        run.consumer.append(P0, text_request("one"), key=b"r0")
        run.wait_for(lambda: run.producer.calls["commit_transaction"] >= 2, what="the commit resumed")
        run.wait_for(lambda: not run.alive, timeout=5, what="the loop to stop", error_expected=True)
        assert isinstance(run.error, FatalKafkaError) and "did not complete" in str(run.error), run.error
        assert run.consumer.closed and not run.producer.committed_offsets()


@pytest.mark.parametrize("stage", ["send_offsets_to_transaction", "commit_transaction"])
def test_exactly_once_a_transaction_that_recovers_within_its_deadline_commits(stage, monkeypatch):
    monkeypatch.setenv("KAFKA_TRANSACTION_TIMEOUT_MS", "60000")
    with Running(settings(PROCESSING_GUARANTEE="exactly_once")) as run:
        run.producer.fail_next(stage, error(KafkaError._TIMED_OUT, "Local: Timed out", retriable=True), times=3)
        run.consumer.schedule("assign", [P0])
        run.consumer.append(P0, text_request("one"), key=b"r0")
        run.wait_for(lambda: dict(run.producer.committed_offsets()).get(P0) == 1, timeout=8, what="committed")
        assert run.producer.calls[stage] == 4 and run.alive


def test_exactly_once_a_full_queue_aborts_the_transaction_instead_of_spinning(monkeypatch):
    """Producing a transaction's records into a queue that stays full spun in produce() for as long as it
    stayed full; now the transaction is aborted and its batch produced again in the next one."""
    monkeypatch.setattr(transactions, "QUEUE_FULL_WAIT_S", 0.2)
    producer = FakeProducer(transactional=True, queue_limit=1)
    with Running(settings(PROCESSING_GUARANTEE="exactly_once"), producer=producer) as run:
        producer.hold_deliveries = True
        run.consumer.schedule("assign", [P0])
        run.consumer.append(P0, b"not json", key=b"r0")  # an answer and a DLQ copy: the second finds it full
        run.wait_for(lambda: producer.calls["abort_transaction"] >= 1, what="the transaction aborted")
        polls = run.consumer.poll_calls
        time.sleep(1.0)
        assert run.consumer.poll_calls - polls > 10, "the loop stopped polling while the queue was full"
        producer.hold_deliveries = False
        run.wait_for(lambda: dict(producer.committed_offsets()).get(P0) == 1, timeout=8, what="committed")
        assert len(run.answers()) == 1 and len(producer.records("dlq")) == 1
