"""The Kafka loop on a real broker, with a scripted text model: routing, bad input, offsets, backpressure."""

from __future__ import annotations

import json
import os
import time

import pytest

from models_processor.llm.base import UnconfiguredModel
from testkit.fakes.models import ScriptedTextModel
from testkit.harness import (
    InProcessService,
    ResponseReader,
    committed,
    create_output_topics,
    make_settings,
    produce,
    text_request,
    wait_for,
)

pytestmark = pytest.mark.broker


@pytest.fixture(autouse=True)
def _close_readers(monkeypatch):
    opened = []
    original = ResponseReader.__init__

    def tracking_init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        opened.append(self)

    monkeypatch.setattr(ResponseReader, "__init__", tracking_init)
    yield
    for reader in opened:
        reader.close()


@pytest.fixture
def setup(kafka_bootstrap, kafka_topic_factory):
    def build(partitions: int = 1, **extra):
        topic = kafka_topic_factory(partitions=partitions, prefix="req")
        settings = make_settings(kafka_bootstrap, topic, **extra)
        create_output_topics(kafka_bootstrap, settings)
        return topic, settings
    return build


def test_text_request_round_trip(kafka_bootstrap, setup):
    topic, settings = setup()
    with InProcessService(settings, ScriptedTextModel()):
        produce(kafka_bootstrap, topic, [(b"r-1", text_request("Suggest a dinner with lentils")),
                                         (b"", text_request("legacy", request_id="r-2")),
                                         (b"r-3", json.dumps({"user_email": "u@x", "message": "old field"}).encode())])
        reader = ResponseReader(kafka_bootstrap, [settings.text_response_topic])
        reader.read_until(lambda ms: len(ms) >= 3)
    answers = {k: v[0] for k, v in reader.by_key().items()}
    assert answers["r-1"]["status"] == "ok"
    assert answers["r-1"]["response"] == "echo: Suggest a dinner with lentils"
    assert answers["r-1"]["model"] == "scripted-text" and answers["r-1"]["user_email"] == "user@example.com"
    assert answers["r-2"]["response"] == "echo: legacy"       # empty key: request_id from the value
    assert answers["r-3"]["response"] == "echo: old field"    # `message` alias
    headers = dict(reader.messages[0].headers())
    assert headers["content-type"] == b"application/json" and headers["request_id"] and headers["schema-version"]


def test_bad_input_gets_error_answers_and_dlq_copies_without_stopping_the_loop(kafka_bootstrap, setup):
    topic, settings = setup(MAX_MESSAGE_BYTES="4096")
    cases = {
        "bad-json": b"{not json",
        "bad-array": b"[1,2,3]",
        "bad-type": json.dumps({"user_email": "u@x", "prompt": 17}).encode(),
        "no-prompt": json.dumps({"user_email": "u@x"}).encode(),
        "too-big": text_request("x" * 8000),
        "bad-kind": json.dumps({"user_email": "u@x", "prompt": "p", "kind": "poem"}).encode(),
        "model-not-allowed": text_request("p", model="some-other-model"),
    }
    with InProcessService(settings, ScriptedTextModel()) as service:
        produce(kafka_bootstrap, topic, [(k.encode(), v) for k, v in cases.items()]
                + [(None, text_request("no key, no id")), (b"good", text_request("still alive"))])
        reader = ResponseReader(kafka_bootstrap, [settings.text_response_topic])
        reader.read_until(lambda ms: len(ms) >= len(cases) + 2)
        dlq = ResponseReader(kafka_bootstrap, [settings.dlq_topic])
        dlq.read_until(lambda ms: len(ms) >= 7)
        wait_for(lambda: committed(kafka_bootstrap, settings.consumer_group, topic, 1)[0] == len(cases) + 2,
                 30, "offsets not committed past the bad messages")
    answers = {k: v[0] for k, v in reader.by_key().items()}
    codes = {k: answers[k]["error"]["code"] for k in cases}
    assert codes == {"bad-json": "invalid_json", "bad-array": "invalid_json", "bad-type": "invalid_request",
                     "no-prompt": "invalid_request", "too-big": "invalid_request", "bad-kind": "invalid_request",
                     "model-not-allowed": "invalid_request"}
    assert all(answers[k]["status"] == "error" and "result" not in answers[k] for k in cases)
    assert answers["good"]["response"] == "echo: still alive"
    no_key = [v[0] for k, v in reader.by_key().items() if k.startswith(topic)]
    assert no_key and no_key[0]["error"]["code"] == "invalid_request"
    # The DLQ holds the original bytes, unchanged, with the error and the original position in headers.
    copies = {m.key(): m for m in dlq.messages}
    bad = copies[b"bad-json"]
    assert bad.value() == cases["bad-json"]
    headers = dict(bad.headers())
    assert headers["x-error-code"] == b"invalid_json"
    assert headers["x-original-topic"] == topic.encode() and headers["x-original-offset"] == b"0"
    assert {"x-original-partition", "x-original-timestamp", "x-attempts", "x-error-message"} <= set(headers)
    assert service.metric("models_processor_dlq_messages_total", code="invalid_json") == 2  # not JSON, and a JSON array


def test_expected_user_email_skips_other_users_and_commits(kafka_bootstrap, setup):
    topic, settings = setup(EXPECTED_USER_EMAIL="me@example.com")
    with InProcessService(settings, ScriptedTextModel()) as service:
        produce(kafka_bootstrap, topic, [(b"other", text_request("hi", email="other@example.com")),
                                         (b"mine", text_request("hi", email="me@example.com"))])
        reader = ResponseReader(kafka_bootstrap, [settings.text_response_topic])
        reader.read_until(lambda ms: len(ms) >= 1)
        wait_for(lambda: committed(kafka_bootstrap, settings.consumer_group, topic, 1)[0] == 2, 30,
                 "skipped message not committed")
        reader.drain(quiet_s=1.0)
        assert service.metric("models_processor_messages_skipped_total", reason="user_email") == 1
    assert list(reader.by_key()) == ["mine"]


def test_no_model_server_configured_answers_model_unavailable(kafka_bootstrap, setup):
    topic, settings = setup()
    with InProcessService(settings, UnconfiguredModel("text", "OLLAMA_TEXT_HOST or OLLAMA_HOST", "llava:7b")):
        produce(kafka_bootstrap, topic, [(b"r", text_request("hello"))])
        reader = ResponseReader(kafka_bootstrap, [settings.text_response_topic])
        reader.read_until(lambda ms: len(ms) >= 1)
    answer = reader.by_key()["r"][0]
    assert answer["error"]["code"] == "model_unavailable"
    assert "OLLAMA_HOST" in answer["error"]["message"]


def test_out_of_order_completion_never_commits_past_an_unfinished_request(kafka_bootstrap, setup):
    topic, settings = setup(CONCURRENT_REQUESTS="4")
    model = ScriptedTextModel()
    with InProcessService(settings, model):
        produce(kafka_bootstrap, topic, [(b"slow", text_request("block: slow one"))]
                + [(f"fast-{i}".encode(), text_request(f"fast {i}")) for i in range(3)])
        reader = ResponseReader(kafka_bootstrap, [settings.text_response_topic])
        reader.read_until(lambda ms: len(ms) >= 3)
        assert sorted(reader.by_key()) == ["fast-0", "fast-1", "fast-2"]
        time.sleep(6)  # well past auto.commit.interval.ms (5 s): a wrong store would have been committed
        assert committed(kafka_bootstrap, settings.consumer_group, topic, 1)[0] < 0 or \
            committed(kafka_bootstrap, settings.consumer_group, topic, 1)[0] == 0
        model.release.set()
        reader.read_until(lambda ms: len(ms) >= 4)
        wait_for(lambda: committed(kafka_bootstrap, settings.consumer_group, topic, 1)[0] == 4, 30,
                 "offset did not advance once the slow request finished")


def test_slow_model_pauses_partitions_and_keeps_the_group_past_max_poll_interval(kafka_bootstrap, setup):
    # 12 requests x 2 s through one slot = 24 s of work, far past max.poll.interval.ms = 10 s.
    topic, settings = setup(partitions=2, CONCURRENT_REQUESTS="1", MAX_POLL_INTERVAL_MS="10000",
                            REQUEST_DEADLINE_SECONDS="8")
    model = ScriptedTextModel(latency_s=2.0)
    with InProcessService(settings, model) as service:
        service.wait_joined()
        produce(kafka_bootstrap, topic, [(f"r{i}".encode(), text_request(f"p{i}")) for i in range(12)])
        wait_for(lambda: service.metric("models_processor_paused_partitions") > 0, 20, "partitions never paused")
        reader = ResponseReader(kafka_bootstrap, [settings.text_response_topic])
        reader.read_until(lambda ms: len(ms) >= 12, timeout=60)
        assert service.metric("models_processor_rebalances_total", event="lost") == 0
        assert service.metric("models_processor_rebalances_total", event="revoke") == 0
        assert service.metric("models_processor_rebalances_total", event="assign") == 1
    answers = reader.by_key()
    assert len(answers) == 12 and all(v[0]["status"] == "ok" for v in answers.values())
    assert model.max_active == 1


def test_ready_reflects_group_membership(kafka_bootstrap, setup):
    from models_processor.http import create_app

    topic, settings = setup()
    service = InProcessService(settings, ScriptedTextModel())
    app = create_app(service.health, service.metrics, model_name="m", topic=topic).test_client()
    assert app.get("/ready").status_code == 503
    with service:
        service.wait_joined()
        response = app.get("/ready")
        assert response.status_code == 200 and response.json == {"status": "ready", "topic": topic}
        assert app.get("/health").json["status"] == "ok"
        assert b"models_processor_in_flight_requests" in app.get("/metrics").data


def test_kip848_consumer_group_protocol(kafka_bootstrap, setup):
    """KAFKA_GROUP_PROTOCOL=consumer (KIP-848) instead of the default cooperative-sticky protocol."""
    topic, settings = setup(partitions=2)
    with InProcessService(settings, ScriptedTextModel(), kafka_env={"KAFKA_GROUP_PROTOCOL": "consumer"}) as service:
        service.wait_joined()
        produce(kafka_bootstrap, topic, [(f"k{i}".encode(), text_request(f"p{i}")) for i in range(6)])
        reader = ResponseReader(kafka_bootstrap, [settings.text_response_topic])
        reader.read_until(lambda ms: len(ms) >= 6)
        wait_for(lambda: sum(committed(kafka_bootstrap, settings.consumer_group, topic, 2).values()) == 6, 30,
                 "offsets not committed under KIP-848")
    assert sorted(reader.by_key()) == [f"k{i}" for i in range(6)]


def test_dlq_copy_too_large_for_the_dlq_topic_is_sent_without_its_value(kafka_bootstrap, kafka_topic_factory, setup):
    small_dlq = kafka_topic_factory(partitions=1, prefix="dlq", config={"max.message.bytes": "2048"})
    topic, settings = setup(DLQ_TOPIC=small_dlq)
    big_bad = b"{not json" + os.urandom(10_000)  # incompressible: lz4 must not shrink it under the limit
    with InProcessService(settings, ScriptedTextModel()):
        produce(kafka_bootstrap, topic, [(b"big-bad", big_bad), (b"next", text_request("after it"))])
        reader = ResponseReader(kafka_bootstrap, [settings.text_response_topic])
        reader.read_until(lambda ms: len(ms) >= 2)
        dlq = ResponseReader(kafka_bootstrap, [small_dlq])
        dlq.read_until(lambda ms: len(ms) >= 1)
        wait_for(lambda: committed(kafka_bootstrap, settings.consumer_group, topic, 1)[0] == 2, 30,
                 "the partition was held by the failed DLQ copy")
    assert reader.by_key()["big-bad"][0]["error"]["code"] == "invalid_json"
    copy = dlq.messages[0]
    headers = dict(copy.headers())
    assert copy.value() is None and b"max.message.bytes" in headers["x-value-dropped"]
    assert headers["x-original-offset"] == b"0" and headers["x-error-code"] == b"invalid_json"
