"""`dlq stats` and `dlq replay` on a real broker, with a DLQ filled by the real dispatcher; and a request
read after MAX_REQUEST_AGE_SECONDS answered `expired` without reaching the model."""

from __future__ import annotations

import argparse
import base64
import json
import os
import threading
import time

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from models_processor import tracecontext
from models_processor.dlq.command import add_arguments, run
from models_processor.errors import ErrorCode
from models_processor.llm.base import ModelCallError
from testkit.fakes.models import ScriptedTextModel
from testkit.harness import InProcessService, ResponseReader, create_output_topics, make_settings, text_request

pytestmark = pytest.mark.broker


# A valid W3C traceparent: the service keeps it (an invalid one is replaced by a new trace).
_TRACEPARENT = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def _dlq(settings, capsys, *argv: str) -> tuple[int, dict]:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    code = run(settings, parser.parse_args(list(argv)))
    return code, json.loads(capsys.readouterr().out)


def _read_topic(bootstrap: str, topic: str, expect: int, timeout: float = 20.0) -> list:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"check-{time.monotonic_ns()}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, 0, 0)])
    out: list = []
    until = time.monotonic() + timeout
    while len(out) < expect and time.monotonic() < until:
        out += [m for m in consumer.consume(100, 0.2) if m.error() is None]
    consumer.close()
    return out


def _end_offset(bootstrap: str, topic: str) -> int:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "watermarks"})
    try:
        return consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)[1]
    finally:
        consumer.close()


class _ModelDown:
    """The scripted model, unreachable while `down` is set (model_unavailable, copied to the DLQ)."""

    def __init__(self) -> None:
        self.down = threading.Event()
        self.down.set()

    def __call__(self, prompt: str) -> None:
        if self.down.is_set():
            raise ModelCallError(ErrorCode.MODEL_UNAVAILABLE, "model server down (scripted)", transient=False)


def test_dlq_stats_and_replay_bring_failed_requests_back(kafka_bootstrap, kafka_topic_factory, capsys):
    topic = kafka_topic_factory(partitions=1, prefix="req")
    # A DLQ topic that takes 8 KiB at most, as on a cluster whose DLQ limits are smaller than the request
    # topic's: the copy of the 16 KiB request below goes without its value.
    dlq_topic = kafka_topic_factory(partitions=2, prefix="dlq", config={"max.message.bytes": "8192"})
    settings = make_settings(kafka_bootstrap, topic, MAX_REQUEST_AGE_SECONDS="600", DLQ_TOPIC=dlq_topic)
    create_output_topics(kafka_bootstrap, settings, partitions=2)
    switch = _ModelDown()
    model = ScriptedTextModel(on_call=switch)
    old_ms = int((time.time() - 7200) * 1000)
    long_prompt = "long question " + base64.b64encode(os.urandom(12_000)).decode()  # 16 KiB, incompressible  # produced two hours ago: read after the 600 s age limit

    with InProcessService(settings, model) as service:
        service.wait_joined()
        producer = Producer({"bootstrap.servers": kafka_bootstrap, "enable.idempotence": True})
        for i in range(4):
            producer.produce(topic, key=f"down-{i}".encode(), value=text_request(f"question {i}"),
                             headers=[("traceparent", _TRACEPARENT), ("origin", f"app-{i}".encode())])
        producer.produce(topic, key=b"down-big", value=text_request(long_prompt),
                         headers=[("origin", b"app-big")])
        producer.produce(topic, key=b"stale-1", value=text_request("stale question"), timestamp=old_ms)
        producer.produce(topic, key=b"garbage-1", value=b"{not json")
        assert producer.flush(30) == 0
        reader = ResponseReader(kafka_bootstrap, [settings.text_response_topic])
        reader.read_until(lambda ms: len(ms) >= 7)
        answers = {k: v[0] for k, v in reader.by_key().items()}
        reader.close()

        # The stale request is answered `expired` and never reached the model.
        assert answers["stale-1"]["status"] == "error" and answers["stale-1"]["error"]["code"] == "expired"
        assert "MAX_REQUEST_AGE_SECONDS" in answers["stale-1"]["error"]["message"]
        assert not [c for c in model.calls if c == "stale question"]
        assert service.metric("models_processor_messages_failed_total", kind="text", code="expired") == 1
        assert {answers[f"down-{i}"]["error"]["code"] for i in range(4)} == {"model_unavailable"}

        # stats: every DLQ copy, by code and age.
        dlq = ResponseReader(kafka_bootstrap, [settings.dlq_topic], isolation="read_uncommitted")
        assert len(dlq.read_until(lambda ms: len(ms) >= 7)) == 7
        assert next(m for m in dlq.messages if m.key() == b"down-big").value() is None  # sent without its value
        dlq.close()
        code, stats = _dlq(settings, capsys, "stats", "--timeout", "30")
        assert code == 0 and stats["total"] == 7, stats
        assert stats["by_code"]["model_unavailable"]["count"] == 5, stats
        assert stats["by_code"]["expired"]["count"] == 1 and stats["by_code"]["invalid_json"]["count"] == 1
        # Copies in the same producer batch as the big one can be refused with it (the broker checks whole
        # batches): at least the big one is without its value.
        assert stats["by_age"]["<1h"] == 7 and stats["replayed_before"] == 0 and stats["value_dropped"] >= 1

        # A dry run reports and sends nothing; filters narrow it down.
        before = _end_offset(kafka_bootstrap, topic)
        code, dry = _dlq(settings, capsys, "replay", "--code", "model_unavailable", "--dry-run")
        assert code == 0 and dry["dry_run"] and dry["matched"] == 5 and dry["replayed"] == 0
        assert sorted(dry["request_ids"]) == [*(f"down-{i}" for i in range(4)), "down-big"]
        _, one = _dlq(settings, capsys, "replay", "--request-id", "down-2", "--dry-run")
        assert one["request_ids"] == ["down-2"]
        _, none = _dlq(settings, capsys, "replay", "--until", "2000-01-01T00:00:00", "--dry-run")
        assert none["matched"] == 0
        assert _end_offset(kafka_bootstrap, topic) == before

        # The model is back: replay the model_unavailable ones at 8/s; the processor answers them. The copy
        # without a value is replayed from the original record, which the request topic still holds.
        switch.down.clear()
        started = time.monotonic()
        code, done = _dlq(settings, capsys, "replay", "--code", "model_unavailable", "--rate", "8")
        elapsed = time.monotonic() - started
        assert code == 0 and done["replayed"] == 5 and done["failed"] == 0, done
        assert done["restored_from_source"] >= 1 and done["skipped_value_dropped"] == 0
        assert elapsed >= 4 / 8, f"5 records at 8/s took {elapsed:.2f} s: the rate limit was not applied"

        replayed = _read_topic(kafka_bootstrap, topic, before + 5)[before:]
        assert len(replayed) == 5
        big = next(m for m in replayed if m.key() == b"down-big")
        assert json.loads(big.value())["prompt"] == long_prompt
        # It came without a traceparent: the trace the service started for it travels with the replay.
        origin, started, count = big.headers()
        assert origin == ("origin", b"app-big") and count == ("x-replay-count", b"1")
        assert started[0] == "traceparent" and tracecontext.parse(started[1]) is not None
        for message in (m for m in replayed if m.key() != b"down-big"):
            i = message.key().decode().split("-")[1]
            headers = message.headers()
            # The original key, value and headers, in order, plus the replay count; no DLQ headers.
            assert headers == [("traceparent", _TRACEPARENT), ("origin", f"app-{i}".encode()),
                               ("x-replay-count", b"1")]
            assert json.loads(message.value())["prompt"] == f"question {i}"

        reader = ResponseReader(kafka_bootstrap, [settings.text_response_topic])
        reader.read_until(lambda ms: sum(1 for m in ms if json.loads(m.value()).get("status") == "ok") >= 5)
        ok = {m.key().decode() for m in reader.messages if json.loads(m.value()).get("status") == "ok"}
        reader.close()
        assert ok == {f"down-{i}" for i in range(4)} | {"down-big"}


def test_dlq_stats_fails_clearly_when_the_topic_is_missing(kafka_bootstrap, capsys):
    settings = make_settings(kafka_bootstrap, "no-such-request-topic", DLQ_TOPIC="no-such-dlq-topic-x1")
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    assert run(settings, parser.parse_args(["stats", "--timeout", "5"])) == 1
    assert "no-such-dlq-topic-x1" in capsys.readouterr().err
