"""Trace context through a real broker: a request's W3C traceparent comes back on its answer and its DLQ
copy, with the same trace id on the service's log lines; a request without one gets a new trace."""

from __future__ import annotations

import io
import json
import logging

import pytest
from confluent_kafka import Producer

from models_processor import tracecontext
from models_processor.logs import JsonFormatter
from testkit.fakes.models import ScriptedTextModel
from testkit.harness import InProcessService, ResponseReader, create_output_topics, make_settings, text_request

pytestmark = pytest.mark.broker

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01".encode()
BAD_TRACE_ID = "0af7651916cd43dd8448eb211c80319c"


def _trace_id(message) -> str:
    parsed = tracecontext.of_headers(message.headers() or [])
    assert parsed is not None, message.headers()
    return parsed.trace_id


def test_traceparent_is_carried_to_the_answer_the_dlq_copy_and_the_logs(kafka_bootstrap, kafka_topic_factory):
    topic = kafka_topic_factory(prefix="trace-req")
    settings = make_settings(kafka_bootstrap, topic)
    create_output_topics(kafka_bootstrap, settings)
    logs = io.StringIO()
    handler = logging.StreamHandler(logs)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)  # "request answered" is an INFO line
    try:
        with InProcessService(settings, ScriptedTextModel()):
            producer = Producer({"bootstrap.servers": kafka_bootstrap})
            producer.produce(topic, key=b"traced", value=text_request("lentils"),
                             headers=[("traceparent", TRACEPARENT)])
            producer.produce(topic, key=b"untraced", value=text_request("beans"))
            producer.produce(topic, key=b"bad", value=b"{not json",
                             headers=[("traceparent", f"00-{BAD_TRACE_ID}-b7ad6b7169203331-00".encode())])
            assert producer.flush(30) == 0
            reader = ResponseReader(kafka_bootstrap, [settings.text_response_topic, settings.dlq_topic])
            reader.read_until(lambda ms: len(ms) >= 4)
            reader.close()
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    by = {(m.topic(), m.key()): m for m in reader.messages}
    traced = by[(settings.text_response_topic, b"traced")]
    assert json.loads(traced.value())["status"] == "ok"
    assert _trace_id(traced) == TRACE_ID
    assert dict(traced.headers())["traceparent"] != TRACEPARENT  # the service is the parent now

    untraced = _trace_id(by[(settings.text_response_topic, b"untraced")])
    assert untraced not in (TRACE_ID, BAD_TRACE_ID) and len(untraced) == 32

    assert _trace_id(by[(settings.text_response_topic, b"bad")]) == BAD_TRACE_ID  # the error answer
    dlq = by[(settings.dlq_topic, b"bad")]
    assert dict(dlq.headers())["traceparent"].decode() == f"00-{BAD_TRACE_ID}-b7ad6b7169203331-00"

    lines = [json.loads(line) for line in logs.getvalue().splitlines()]
    answered = {line["request_id"]: line.get("trace_id") for line in lines if line["msg"] == "request answered"}
    assert answered["traced"] == TRACE_ID and answered["untraced"] == untraced
    rejected = [line for line in lines if line["msg"] == "request rejected" and line["request_id"] == "bad"]
    assert rejected and rejected[0]["trace_id"] == BAD_TRACE_ID
