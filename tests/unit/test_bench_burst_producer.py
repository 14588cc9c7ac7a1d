"""The benchmarks' burst producer: a request's CreateTime is taken when produce() is called and the figures
count from the first one, so the producer must be connected, know the topic's leaders and hold its producer
id before then.

A new producer used to take about 0.5 s to send its first batch, which every job's measured window included
(5 % of a 1600-request burst at L=50 ms, P=8; docs/BENCHMARKS.md)."""

from __future__ import annotations

import json

import pytest

from bench import common


class FakeTopicMetadata:
    def __init__(self, error: object = None) -> None:
        self.error = error


class FakeMetadata:
    def __init__(self, topic: str, error: object = None) -> None:
        self.topics = {topic: FakeTopicMetadata(error)}


class FakeMessage:
    def __init__(self, key: bytes) -> None:
        self._key = key

    def key(self) -> bytes:
        return self._key

    def timestamp(self) -> tuple[int, int]:
        return (1, 1700000000000)


class FakeProducer:
    """librdkafka's order of events: statistics (served by poll) say WaitTransport, then Assigned after
    `polls_to_pid` polls."""

    def __init__(self, conf: dict, calls: list[str], topic_error: object = None, polls_to_pid: int = 3) -> None:
        self.stats_cb = conf["stats_cb"]
        assert conf["statistics.interval.ms"] > 0
        self.calls = calls
        self.topic_error = topic_error
        self.polls_to_pid = polls_to_pid
        self.pending: list = []

    def list_topics(self, topic: str, timeout: float) -> FakeMetadata:
        self.calls.append(f"list_topics {topic}")
        return FakeMetadata(topic, self.topic_error)

    def produce(self, topic: str, key: bytes, value: bytes, on_delivery) -> None:
        self.calls.append(f"produce {key.decode()}")
        self.pending.append((key, on_delivery))

    def poll(self, timeout: float) -> int:
        self.polls_to_pid -= 1
        state = "Assigned" if self.polls_to_pid <= 0 else "WaitTransport"
        if state == "Assigned" and "pid assigned" not in self.calls:
            self.calls.append("pid assigned")
        self.stats_cb(json.dumps({"name": "rdkafka#producer-1", "eos": {"idemp_state": state, "producer_id": -1}}))
        return 0

    def flush(self, timeout: float) -> int:
        for key, on_delivery in self.pending:
            on_delivery(None, FakeMessage(key))
        self.pending.clear()
        return 0


def test_the_producer_learns_the_topic_before_the_first_request_is_stamped(monkeypatch) -> None:
    calls: list[str] = []
    monkeypatch.setattr(common, "Producer", lambda conf: FakeProducer(conf, calls))
    sent = common.produce_requests("broker:9092", "requests", [("k1", b"{}"), ("k2", b"{}")], linger_ms=5)
    assert calls == ["list_topics requests", "pid assigned", "produce k1", "produce k2"]
    assert sorted(sent) == ["k1", "k2"]


def test_a_topic_the_broker_does_not_know_stops_the_burst(monkeypatch) -> None:
    calls: list[str] = []
    monkeypatch.setattr(common, "Producer",
                        lambda conf: FakeProducer(conf, calls, topic_error="UNKNOWN_TOPIC_OR_PART"))
    with pytest.raises(RuntimeError, match="UNKNOWN_TOPIC_OR_PART"):
        common.produce_requests("broker:9092", "requests", [("k1", b"{}")])
    assert calls == ["list_topics requests"]


def test_a_producer_that_never_gets_its_id_stops_the_burst(monkeypatch) -> None:
    calls: list[str] = []
    monkeypatch.setattr(common, "Producer", lambda conf: FakeProducer(conf, calls, polls_to_pid=10**9))
    monkeypatch.setattr(common.ProducerReadiness.wait, "__defaults__", (0.05,))
    with pytest.raises(RuntimeError, match="no producer id"):
        common.produce_requests("broker:9092", "requests", [("k1", b"{}")])
    assert calls == ["list_topics requests"]
