"""The dispatcher driven through Kafka faults by fake clients (no broker): one test per defect of issue 11.

Each test names the defect it reproduces; see docs/guarantees.md for the behaviour they pin down.
"""

from __future__ import annotations

import json
import time

from confluent_kafka import KafkaError

from models_processor.kafka.transactions import TXN_MAX_RECORDS
from testkit.fake_kafka_run import P0, P1, Running, header, settings, text_request
from testkit.fakes.kafka_clients import error

MiB = 1024 * 1024


def test_in_flight_limit_holds_when_a_backlogged_partition_is_assigned_while_paused():
    """Defect 1: paused at the limit, a newly assigned partition was resumed and read one message per
    poll(0) without any room check (in-flight reached 1384 in 1.5 s)."""
    with Running(settings(CONCURRENT_REQUESTS="4")) as run:  # in-flight limit 8, resumes at 6
        run.consumer.schedule("assign", [P0])
        run.consumer.append(P0, text_request("hang:0"), key=b"r0")
        for i in range(1, 12):
            run.consumer.append(P0, text_request(f"wait:{i}"), key=f"r{i}".encode())
        run.wait_for(lambda: run.metric("models_processor_paused_partitions") == 1, what="pause at the limit")
        run.model.unhang.set()  # one finishes: 7 of 8 in flight, still paused (above the low mark)
        run.wait_for(lambda: len(run.answers()) == 1, what="one answer")
        for i in range(300):
            run.consumer.append(P1, text_request(f"wait:b{i}"), key=f"b{i}".encode())
        run.consumer.schedule("assign", [P1])
        peak = 0
        until = time.monotonic() + 1.5
        while time.monotonic() < until:
            peak = max(peak, run.consumer.in_hand())
            time.sleep(0.005)
        assert not run.consumer.events_pending(), "the assignment was never served"
        assert peak <= 8, f"{peak} messages taken with an in-flight limit of 8"
        run.model.release.set()
        run.wait_for(lambda: len(run.answers()) == 312, timeout=20, what="every request answered")


def test_a_request_whose_dlq_copy_is_too_large_for_the_producer_is_answered_and_committed():
    """Defect 2: a 12 MiB request (above MAX_MESSAGE_BYTES, within the topic's 16 MiB) made produce() of its
    DLQ copy raise KafkaException(MSG_SIZE_TOO_LARGE) synchronously; it escaped the loop: crash loop."""
    with Running(settings()) as run:
        run.consumer.schedule("assign", [P0])
        run.consumer.append(P0, text_request("before"), key=b"r0")
        run.consumer.append(P0, b"x" * (12 * MiB), key=b"big")
        run.consumer.append(P0, text_request("after"), key=b"r2")
        run.wait_for(lambda: run.consumer.stored.get(P0) == 3, what="offsets stored past the big request")
        assert run.alive and run.error is None
        answers = {a["request_id"]: a for a in run.answers()}
        assert answers["big"]["error"]["code"] == "invalid_request"
        assert answers["r0"]["status"] == answers["r2"]["status"] == "ok"
        [copy] = run.producer.records("dlq")
        assert copy.value() is None and header(copy, "x-value-dropped") is not None
        assert header(copy, "x-original-offset") == b"1" and copy.key() == b"big"


def test_exactly_once_one_record_the_dlq_topic_refuses_does_not_stall_every_partition():
    """Defect 3: in a transaction a record the broker refuses (here the DLQ topic's smaller
    max.message.bytes) had no delivery callback: every transaction aborted, with no backoff, for ever."""
    with Running(settings(PROCESSING_GUARANTEE="exactly_once")) as run:
        run.producer.topic_max_bytes["dlq"] = 1 * MiB
        run.consumer.schedule("assign", [P0, P1])
        run.consumer.append(P0, b"{" * (2 * MiB), key=b"bad")
        run.consumer.append(P1, text_request("fine"), key=b"fine")
        run.wait_for(lambda: {"bad", "fine"} <= {a["request_id"] for a in run.answers()}, timeout=5,
                     what="both answers committed")
        committed = dict(run.producer.committed_offsets())
        assert committed[P0] == 1 and committed[P1] == 1
        [copy] = run.producer.records("dlq")
        assert copy.value() is None and header(copy, "x-value-dropped") is not None
        assert run.producer.calls["abort_transaction"] <= 3, run.producer.calls


def test_exactly_once_synchronous_size_error_in_a_transaction_is_handled():
    """Defect 2/3 under exactly-once: produce() inside the transaction raises MSG_SIZE_TOO_LARGE."""
    with Running(settings(PROCESSING_GUARANTEE="exactly_once")) as run:
        run.consumer.schedule("assign", [P0])
        run.consumer.append(P0, b"x" * (12 * MiB), key=b"big")
        run.consumer.append(P0, text_request("after"), key=b"r1")
        run.wait_for(lambda: dict(run.producer.committed_offsets()).get(P0) == 2, what="offset 2 committed")
        assert {a["request_id"] for a in run.answers()} == {"big", "r1"}
        [copy] = run.producer.records("dlq")
        assert copy.value() is None


def test_exactly_once_revoked_partition_is_never_committed_after_a_failed_forced_commit():
    """Defect 4: the forced commit in on_revoke failed abortably and the revoked partition's answers and
    offset stayed queued: the next transaction committed them for a partition another member owned."""
    with Running(settings(PROCESSING_GUARANTEE="exactly_once")) as run:
        abortable = error(KafkaError.INVALID_TXN_STATE, "scripted", txn_requires_abort=True)
        run.producer.fail_next("commit_transaction", abortable, times=1000)
        run.consumer.schedule("assign", [P0, P1])
        for i in range(3):
            run.consumer.append(P0, text_request(f"p0-{i}"), key=f"p0-{i}".encode())
        run.wait_for(lambda: len(run.model.finished) == 3 and run.producer.calls["commit_transaction"] >= 2,
                     what="p0 done, its commits failing")
        run.consumer.schedule("revoke", [P0])
        run.wait_for(lambda: P0 in run.consumer.revoked, what="the revoke")
        run.producer.faults["commit_transaction"].clear()
        run.consumer.append(P1, text_request("p1"), key=b"p1")
        run.wait_for(lambda: any(a["request_id"] == "p1" for a in run.answers()), timeout=10,
                     what="p1's answer committed")
        assert all(tp != P0 for tp, _ in run.producer.committed_offsets()), run.producer.committed_offsets()
        assert not [a for a in run.answers() if a["request_id"].startswith("p0-")]


def test_at_least_once_permanent_delivery_error_goes_to_the_dlq_and_the_partition_moves_on():
    """Defect 5: an allow-listed reply topic the producer may not write (ACL) failed delivery for ever, with
    no backoff; the offset never committed and done offsets behind it filled the in-flight limit."""
    with Running(settings(REPLY_TOPIC_ALLOWLIST="denied")) as run:
        run.producer.topic_errors["denied"] = error(KafkaError.TOPIC_AUTHORIZATION_FAILED,
                                                    "Broker: Topic authorization failed")
        run.consumer.schedule("assign", [P0])
        run.consumer.append(P0, text_request("to denied", reply_topic="denied"), key=b"r0")
        run.consumer.append(P0, text_request("normal"), key=b"r1")
        run.wait_for(lambda: run.consumer.stored.get(P0) == 2, what="both offsets stored")
        assert run.producer.produce_calls["denied"] <= 2, run.producer.produce_calls
        [copy] = run.producer.records("dlq")
        assert copy.key() == b"r0" and json.loads(copy.value() or b"")["prompt"] == "to denied"
        assert b"denied" in (header(copy, "x-error-message") or b"")


def test_at_least_once_retriable_delivery_errors_are_retried_with_backoff():
    """Defect 5: a retriable failure is produced again, but not in a tight loop."""
    with Running(settings()) as run:
        run.producer.topic_errors["answers"] = error(KafkaError._MSG_TIMED_OUT, "Local: Message timed out",
                                                     retriable=True)
        run.producer.topic_error_budget["answers"] = 4
        run.consumer.schedule("assign", [P0])
        started = time.monotonic()
        run.consumer.append(P0, text_request("slow broker"), key=b"r0")
        run.wait_for(lambda: run.consumer.stored.get(P0) == 1, timeout=10, what="delivered at last")
        assert run.producer.produce_calls["answers"] == 5
        assert time.monotonic() - started >= 0.3, "retries were not backed off"


def test_exactly_once_retriable_commit_error_retries_the_commit_instead_of_aborting():
    """Defect 6: a retriable commit_transaction error was answered with abort_transaction, which librdkafka
    refuses with _CONFLICT inside the except: the process crashed past its shutdown."""
    with Running(settings(PROCESSING_GUARANTEE="exactly_once")) as run:
        run.producer.fail_next("commit_transaction", error(KafkaError._TIMED_OUT, "Local: Timed out",
                                                           retriable=True))
        run.consumer.schedule("assign", [P0])
        run.consumer.append(P0, text_request("one"), key=b"r0")
        run.wait_for(lambda: dict(run.producer.committed_offsets()).get(P0) == 1, what="committed")
        assert run.error is None and run.alive
        assert [a["request_id"] for a in run.answers()] == ["r0"]
        assert run.producer.calls["abort_transaction"] == 0


def test_exactly_once_fatal_transaction_error_shuts_down_in_a_controlled_way():
    """Defect 6: a fatal error (fenced) stops the loop: consumer closed (leaves the group), error raised."""
    with Running(settings(PROCESSING_GUARANTEE="exactly_once")) as run:
        run.producer.fail_next("commit_transaction", error(KafkaError._FENCED, "Local: fenced", fatal=True))
        run.consumer.schedule("assign", [P0])
        run.consumer.append(P0, text_request("one"), key=b"r0")
        run.wait_for(lambda: not run.alive, what="the loop to stop", error_expected=True)
        assert run.error is not None and run.consumer.closed
        assert "shutting down" in run.health.not_ready_reasons()


def test_late_delivery_report_of_an_old_job_leaves_the_new_job_for_the_same_offset_alone():
    """Defect 7: after revoke-and-reassign a late delivery report of the old job popped the new job for the
    same (partition, offset): it lost its deadline, so a hung worker held the partition for ever."""
    with Running(settings(REQUEST_DEADLINE_SECONDS="1")) as run:
        run.producer.hold_deliveries = True
        run.consumer.schedule("assign", [P0])
        run.consumer.append(P0, text_request("hang:first"), key=b"r0")
        run.model.unhang.set()
        run.wait_for(lambda: run.producer.produce_calls["answers"] == 1, what="first answer produced")
        run.model.unhang.clear()
        run.consumer.schedule("revoke", [P0])
        run.consumer.schedule("assign", [P0])
        run.wait_for(lambda: len(run.model.started) == 2, what="the same offset read again")
        run.producer.hold_deliveries = False  # the old job's delivery report arrives now
        run.wait_for(lambda: run.consumer.stored.get(P0) == 1, timeout=8,
                     what="the new job answered at its deadline")
        codes = [a.get("error", {}).get("code") for a in run.answers()]
        assert "deadline_exceeded" in codes


def test_exactly_once_failing_transactions_back_off_and_stop_the_intake():
    """Defect 3: while every transaction aborts, retries back off and answers waiting for a transaction
    count against the in-flight limit (they grew without bound until BufferError)."""
    total = 400
    with Running(settings(PROCESSING_GUARANTEE="exactly_once")) as run:  # in-flight limit 4
        abortable = error(KafkaError.INVALID_TXN_STATE, "scripted", txn_requires_abort=True)
        run.producer.fail_next("commit_transaction", abortable, times=1000)
        run.consumer.schedule("assign", [P0])
        for i in range(total):
            run.consumer.append(P0, text_request(f"r{i}"), key=f"r{i}".encode())
        time.sleep(2.5)
        # one transaction's batch (TXN_MAX_RECORDS) may wait, plus the in-flight limit; no more is read
        assert run.consumer.in_hand() <= TXN_MAX_RECORDS + 4, f"{run.consumer.in_hand()} read, nothing committed"
        assert run.producer.calls["begin_transaction"] <= 15, run.producer.calls
        run.producer.faults["commit_transaction"].clear()
        run.wait_for(lambda: dict(run.producer.committed_offsets()).get(P0) == total, timeout=30,
                     what="everything committed once transactions succeed")
        assert sorted(a["request_id"] for a in run.answers()) == sorted(f"r{i}" for i in range(total))


def test_a_full_producer_queue_is_waited_out_not_fatal():
    """produce() raising BufferError (local queue full): serve delivery reports, then produce again."""
    from testkit.fakes.kafka_clients import FakeProducer

    with Running(settings(), producer=FakeProducer(queue_limit=1)) as run:
        run.consumer.schedule("assign", [P0])
        for i in range(6):
            run.consumer.append(P0, b"not json", key=f"r{i}".encode())  # an answer and a DLQ copy each
        run.wait_for(lambda: run.consumer.stored.get(P0) == 6, what="all answered")
        assert len(run.answers()) == 6 and len(run.producer.records("dlq")) == 6
        assert run.producer.buffer_errors > 0, "the queue never filled: the path was not taken"


def test_a_fatal_consumer_error_shuts_down_in_a_controlled_way_and_others_are_logged():
    with Running(settings()) as run:
        run.consumer.schedule("assign", [P0])
        run.consumer.inject_error(error(KafkaError._TRANSPORT, "Local: Broker transport failure"))
        run.consumer.append(P0, text_request("one"), key=b"r0")
        run.wait_for(lambda: run.consumer.stored.get(P0) == 1, what="answered despite a transport error")
        run.consumer.inject_error(error(KafkaError._FENCED, "Local: instance fenced", fatal=True))
        run.wait_for(lambda: not run.alive, what="the loop to stop", error_expected=True)
        assert run.error is not None and "fenced" in str(run.error) and run.consumer.closed


def test_exactly_once_lost_partition_is_not_committed_by_a_retried_transaction():
    """A partition lost while its transaction is stuck on retriable errors: when that transaction then
    aborts, the batch put back for the next one no longer carries the lost partition."""
    with Running(settings(PROCESSING_GUARANTEE="exactly_once")) as run:
        retriable = error(KafkaError._TIMED_OUT, "Local: Timed out", retriable=True)
        run.producer.fail_next("commit_transaction", retriable, times=1000)
        run.consumer.schedule("assign", [P0, P1])
        run.consumer.append(P0, text_request("p0"), key=b"p0")
        run.wait_for(lambda: run.producer.calls["commit_transaction"] >= 2, what="p0's commit retried")
        run.consumer.schedule("lost", [P0])
        run.wait_for(lambda: P0 in run.consumer.revoked, what="the loss")
        run.producer.faults["commit_transaction"].clear()
        run.producer.fail_next("commit_transaction",
                               error(KafkaError.INVALID_TXN_STATE, "scripted", txn_requires_abort=True))
        run.consumer.append(P1, text_request("p1"), key=b"p1")
        run.wait_for(lambda: any(a["request_id"] == "p1" for a in run.answers()), timeout=10, what="p1 committed")
        assert run.producer.calls["abort_transaction"] == 1
        assert all(tp != P0 for tp, _ in run.producer.committed_offsets()), run.producer.committed_offsets()
        assert [a["request_id"] for a in run.answers()] == ["p1"]
