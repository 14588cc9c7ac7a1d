"""The dispatcher under conditions users of such a service expect handled (issue 11, weaknesses):
hung workers, bytes in flight, a partition that makes no progress, crash loops, lost partitions."""

from __future__ import annotations

import json
import time
from pathlib import Path

from confluent_kafka import KafkaError

from models_processor.kafka.attempts import AttemptLog
from testkit.fake_kafka_run import P0, Running, header, settings, text_request
from testkit.fakes.kafka_clients import error

KiB = 1024


def test_a_hung_worker_is_replaced_so_the_next_request_is_still_processed():
    with Running(settings(CONCURRENT_REQUESTS="1", REQUEST_DEADLINE_SECONDS="1")) as run:
        run.consumer.schedule("assign", [P0])
        run.consumer.append(P0, text_request("hang:stuck"), key=b"r0")
        run.wait_for(lambda: run.consumer.stored.get(P0) == 1, timeout=8, what="r0 answered at its deadline")
        run.consumer.append(P0, text_request("next"), key=b"r1")  # the only worker is still stuck in r0
        run.wait_for(lambda: run.consumer.stored.get(P0) == 2, timeout=8, what="r1 answered")
        answers = {a["request_id"]: a for a in run.answers()}
        assert answers["r0"]["error"]["code"] == "deadline_exceeded"
        assert answers["r1"]["status"] == "ok", answers["r1"]  # processed by the replacement worker
        assert "next" in run.model.finished
        assert run.metric("models_processor_abandoned_workers") == 1


def test_bytes_in_flight_are_bounded_as_well_as_records():
    with Running(settings(CONCURRENT_REQUESTS="8", MAX_IN_FLIGHT_BYTES=str(1024 * KiB))) as run:
        run.consumer.schedule("assign", [P0])
        for i in range(12):
            value = json.dumps({"prompt": f"wait:{i}", "padding": "x" * (300 * KiB)}).encode()
            run.consumer.append(P0, value, key=f"r{i}".encode())
        run.wait_for(lambda: len(run.model.started) >= 3, what="first requests started")
        peak = 0
        until = time.monotonic() + 1.5
        while time.monotonic() < until:
            peak = max(peak, run.consumer.bytes_in_hand())
            time.sleep(0.005)
        assert 900 * KiB <= peak <= 1024 * KiB, peak  # three of 300 KiB fit, the fourth does not
        assert run.metric("models_processor_paused_partitions") == 1
        run.model.release.set()
        run.wait_for(lambda: run.consumer.stored.get(P0) == 12, timeout=10, what="all answered")


def test_a_partition_without_progress_turns_health_red_and_is_exported():
    with Running(settings(PROGRESS_STALL_SECONDS="1")) as run:
        run.consumer.schedule("assign", [P0])
        run.consumer.append(P0, text_request("wait:slow"), key=b"r0")
        run.wait_for(lambda: not run.health.live()[0], timeout=5, what="/health red")
        assert "requests[0]" in run.health.live()[1]
        age = run.metric("models_processor_oldest_unfinished_offset_age_seconds", topic="requests", partition="0")
        assert age > 1
        run.model.release.set()
        run.wait_for(lambda: run.health.live()[0], timeout=5, what="/health green again")


def test_at_least_once_answers_that_cannot_be_delivered_turn_health_red():
    """Defect 5: /health reflects a partition held by an answer the broker keeps refusing (retriable)."""
    with Running(settings(PROGRESS_STALL_SECONDS="1")) as run:
        run.producer.topic_errors["answers"] = error(KafkaError._MSG_TIMED_OUT, "Local: Message timed out",
                                                     retriable=True)
        run.consumer.schedule("assign", [P0])
        run.consumer.append(P0, text_request("fast"), key=b"r0")
        run.wait_for(lambda: not run.health.live()[0], timeout=5, what="/health red")
        calls = run.producer.produce_calls["answers"]
        assert 2 <= calls <= 20, f"{calls} produce calls in about 2 s: retries not backed off"


def test_a_request_that_crashed_the_process_repeatedly_goes_to_the_dlq(tmp_path: Path):
    # Two earlier processes read offset 0 and died while processing it (nothing marked it finished).
    for _ in range(2):
        crashed = AttemptLog(tmp_path, "unit")
        crashed.assigned(P0)
        crashed.start(P0, 0)
    with Running(settings(STATE_DIR=str(tmp_path), MAX_ATTEMPTS="2")) as run:
        run.consumer.schedule("assign", [P0])
        run.consumer.append(P0, text_request("poison"), key=b"r0")
        run.consumer.append(P0, text_request("fine"), key=b"r1")
        run.wait_for(lambda: run.consumer.stored.get(P0) == 2, what="both answered")
        assert "poison" not in run.model.started
        answers = {a["request_id"]: a for a in run.answers()}
        assert answers["r0"]["error"]["code"] == "internal" and answers["r1"]["status"] == "ok"
        [copy] = run.producer.records("dlq")
        assert header(copy, "x-attempts") == b"3" and copy.key() == b"r0"
    assert not list(tmp_path.glob("*.attempts")), "a clean shutdown leaves no attempts behind"


def test_attempt_log_counts_only_reads_that_never_finished(tmp_path: Path):
    first = AttemptLog(tmp_path, "g")
    first.assigned(P0)
    assert first.earlier(P0, 5) == 0
    first.start(P0, 5)
    first.start(P0, 6)
    first.finish(P0, 5)
    first.flush()
    with open(next(tmp_path.glob("*.attempts")), "a") as handle:
        handle.write("+7")  # a torn last line from a crash mid-write still counts
    second = AttemptLog(tmp_path, "g")
    second.assigned(P0)
    assert second.earlier(P0, 5) == 0  # finished before the crash: a fresh read
    assert second.earlier(P0, 6) == 1
    assert second.earlier(P0, 7) == 1
    second.start(P0, 6)  # and the process dies again
    third = AttemptLog(tmp_path, "g")
    third.assigned(P0)
    assert third.earlier(P0, 6) == 2
    third.released(P0)
    fourth = AttemptLog(tmp_path, "g")
    fourth.assigned(P0)
    assert fourth.earlier(P0, 6) == 0  # a graceful hand-over is not a crash


def test_requests_in_flight_at_a_crash_run_alone_so_only_the_culprit_is_counted(tmp_path: Path):
    crashed = AttemptLog(tmp_path, "unit")  # a process died with offsets 0-2 in flight
    crashed.assigned(P0)
    for offset in range(3):
        crashed.start(P0, offset)
    with Running(settings(STATE_DIR=str(tmp_path), CONCURRENT_REQUESTS="4")) as run:
        run.consumer.schedule("assign", [P0])
        for i in range(6):
            run.consumer.append(P0, text_request(f"q{i}"), key=f"r{i}".encode())
        run.wait_for(lambda: run.consumer.stored.get(P0) == 6, what="all answered")
        assert run.model.max_active_during(["q0", "q1", "q2"]) == 1, run.model.overlaps
        assert all(a["status"] == "ok" for a in run.answers()) and run.producer.records("dlq") == []
    survivor = AttemptLog(tmp_path, "unit")
    survivor.assigned(P0)
    assert [survivor.earlier(P0, o) for o in range(6)] == [0] * 6


def test_lost_partition_work_in_flight_is_dropped_not_answered_or_stored():
    with Running(settings()) as run:
        run.consumer.schedule("assign", [P0])
        run.consumer.append(P0, text_request("wait:in flight"), key=b"r0")
        run.wait_for(lambda: len(run.model.started) == 1, what="processing")
        run.consumer.schedule("lost", [P0])
        run.wait_for(lambda: P0 in run.consumer.revoked, what="the loss")
        run.model.release.set()
        run.wait_for(lambda: run.metric("models_processor_messages_skipped_total", reason="superseded") == 1,
                     what="the late result dropped")
        assert run.answers() == [] and P0 not in run.consumer.stored


def test_exactly_once_commits_that_keep_failing_turn_health_red():
    with Running(settings(PROCESSING_GUARANTEE="exactly_once", PROGRESS_STALL_SECONDS="1")) as run:
        abortable = error(KafkaError.INVALID_TXN_STATE, "scripted", txn_requires_abort=True)
        run.producer.fail_next("commit_transaction", abortable, times=1000)
        run.consumer.schedule("assign", [P0])
        run.consumer.append(P0, text_request("done, never committed"), key=b"r0")
        run.wait_for(lambda: not run.health.live()[0], timeout=5, what="/health red")
        assert "requests[0]" in run.health.live()[1]
        assert run.metric("models_processor_oldest_unfinished_offset_age_seconds", topic="requests",
                          partition="0") > 1
        run.producer.faults["commit_transaction"].clear()
        run.wait_for(lambda: run.health.live()[0], timeout=10, what="/health green once committed")


def test_partitions_lost_while_paused_are_read_again_once_reassigned():
    """A broker restart longer than the session: the member loses every partition while backpressure has
    them paused, then the group assigns them again. librdkafka keeps a partition's pause flag across the
    loss; the loop must not stay paused (or stop polling) with nothing in flight."""
    with Running(settings()) as run:  # CONCURRENT_REQUESTS=2: 4 in flight at most
        run.consumer.schedule("assign", [P0])
        for i in range(6):
            run.consumer.append(P0, text_request(f"wait:r{i}"), key=f"r{i}".encode())
        run.wait_for(lambda: P0 in run.consumer.paused, what="P0 paused by backpressure")
        run.consumer.schedule("lost", [P0])
        run.wait_for(lambda: P0 in run.consumer.revoked, what="the loss")
        run.model.release.set()
        run.consumer.schedule("assign", [P0])
        run.consumer.append(P0, text_request("after the loss"), key=b"r6")
        run.wait_for(lambda: run.consumer.stored.get(P0) == 7, timeout=10, what="every request answered")
        assert P0 not in run.consumer.paused
        assert {a["request_id"] for a in run.answers()} >= {f"r{i}" for i in range(7)}
