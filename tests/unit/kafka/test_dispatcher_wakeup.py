"""The dispatcher's loop sleeps while its work is in flight and wakes when a worker finishes (issue 16).

The earlier loop woke every 5 ms while anything was in flight, whether or not anything had happened: about
200 iterations a second, each a whole round of backpressure, reading, producing and bookkeeping. The loop
now blocks on the workers' queue (kafka/loop_wait.py). One loop iteration is one producer.poll(0) call,
which these tests count.
"""

from __future__ import annotations

import threading
import time

import pytest

from models_processor.kafka import loop_wait
from testkit.fake_kafka_run import P0, Running, settings, text_request
from testkit.fakes.kafka_clients import FakeProducer


class CountingProducer(FakeProducer):
    """The in-memory producer, counting poll() calls: the loop makes one per iteration."""

    def __init__(self) -> None:
        super().__init__()
        self.polls = 0
        self._count_lock = threading.Lock()

    def poll(self, timeout: float = -1) -> int:
        with self._count_lock:
            self.polls += 1
        return super().poll(timeout)


def _iterations_during(run: Running, producer: CountingProducer, seconds: float) -> int:
    before = producer.polls
    time.sleep(seconds)
    return producer.polls - before


def _quiet(producer: CountingProducer, window: float, timeout: float) -> int:
    """The poll count once a whole `window` passed without a loop iteration; fails after `timeout`."""
    until = time.monotonic() + timeout
    while True:
        before = producer.polls
        time.sleep(window)
        if producer.polls == before:
            return before
        assert time.monotonic() < until, "the loop never went to sleep"


def test_the_loop_sleeps_at_the_in_flight_limit_while_nothing_finishes():
    producer = CountingProducer()
    # One worker: in-flight limit 2. Three requests that wait: two are read, one stays in the topic.
    with Running(settings(CONCURRENT_REQUESTS="1"), producer=producer) as run:
        run.consumer.schedule("assign", [P0])
        for i in range(3):
            run.consumer.append(P0, text_request(f"wait:{i}"), key=f"r{i}".encode())
        run.wait_for(lambda: run.consumer.in_hand() == 2 and len(run.model.started) == 1, what="limit reached")
        iterations = _iterations_during(run, producer, 1.0)
        # Woken only by its timers (every TIMER_WAIT_S): about 10 iterations; the earlier loop made ~200.
        assert 1 <= iterations <= 2 / loop_wait.TIMER_WAIT_S, iterations
        run.model.release.set()
        run.wait_for(lambda: run.consumer.stored.get(P0) == 3, what="all answered")


def test_the_loop_waits_no_longer_than_its_intake_cap_when_there_is_room():
    producer = CountingProducer()
    with Running(settings(CONCURRENT_REQUESTS="4"), producer=producer) as run:
        run.consumer.schedule("assign", [P0])
        run.consumer.append(P0, text_request("wait:0"), key=b"r0")
        run.wait_for(lambda: len(run.model.started) == 1, what="request started")
        iterations = _iterations_during(run, producer, 1.0)
        # Room for more: it looks for new messages every INTAKE_WAIT_S (fetched messages cannot wake it).
        assert iterations <= 1.5 / loop_wait.INTAKE_WAIT_S, iterations
        run.consumer.append(P0, text_request("fast"), key=b"r1")
        run.wait_for(lambda: len(run.model.started) == 2, what="a request fetched meanwhile is read")
        run.model.release.set()
        run.wait_for(lambda: run.consumer.stored.get(P0) == 2, what="all answered")


def test_a_finishing_worker_wakes_the_sleeping_loop(monkeypatch: pytest.MonkeyPatch):
    # The timers far away: only the worker's result on the queue can wake the loop in time.
    monkeypatch.setattr(loop_wait, "TIMER_WAIT_S", 60.0)
    producer = CountingProducer()
    with Running(settings(CONCURRENT_REQUESTS="1"), producer=producer) as run:
        run.consumer.schedule("assign", [P0])
        run.consumer.append(P0, text_request("wait:0"), key=b"r0")
        run.consumer.append(P0, text_request("wait:1"), key=b"r1")
        run.wait_for(lambda: run.consumer.in_hand() == 2 and len(run.model.started) == 1, what="limit reached")
        # The loop goes to sleep (in-flight limit reached, nothing in the air): a quiet 0.3 s is waited
        # for rather than assumed after a fixed sleep, then it must stay asleep.
        asleep_at = _quiet(producer, 0.3, timeout=5)
        time.sleep(0.3)
        assert producer.polls == asleep_at, "the loop kept waking with nothing to do"
        run.model.release.set()
        run.wait_for(lambda: run.consumer.stored.get(P0) == 2, timeout=5, what="both answered")
        assert [a["request_id"] for a in run.answers()] == ["r0", "r1"]
