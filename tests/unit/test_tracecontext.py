"""W3C traceparent: parsing by the spec, a new trace when absent, carried to the answer, the DLQ copy and
the log lines."""

from __future__ import annotations

import io
import json
import logging
import re

from models_processor import tracecontext
from models_processor.config import load_settings
from models_processor.errors import ErrorCode, ProcessingError
from models_processor.kafka.routing import SourceInfo, dlq_copy
from models_processor.logs import JsonFormatter
from models_processor.messages import response_headers

VALID = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"  # the spec's own example
W3C = re.compile(r"^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")


def test_parse_accepts_the_spec_example_and_rejects_invalid_values():
    parsed = tracecontext.parse(VALID.encode())
    assert parsed == tracecontext.TraceParent("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", 1)
    assert parsed.header == VALID
    for bad in ["", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",  # no flags
                "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  # version ff
                "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  # zero trace id
                "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",  # zero parent id
                "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",  # upper case
                VALID + "-extra",  # version 00 has exactly four fields
                b"\xff\xfe"]:
        assert tracecontext.parse(bad) is None, bad
    # A later version may add fields: the four known ones are read.
    assert tracecontext.parse("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-xyz").flags == 0


def test_a_new_trace_is_started_when_absent_or_invalid_and_kept_when_valid():
    started = tracecontext.with_traceparent([("x", b"1")])
    [(_, value)] = [h for h in started if h[0] == "traceparent"]
    assert W3C.match(value.decode()) and tracecontext.parse(value) is not None
    assert ("x", b"1") in started
    other = tracecontext.with_traceparent([("x", b"1")])
    assert tracecontext.of_headers(other).trace_id != tracecontext.of_headers(started).trace_id

    kept = [("traceparent", VALID.encode()), ("tracestate", b"vendor=1")]
    assert tracecontext.with_traceparent(kept) is kept

    replaced = tracecontext.with_traceparent([("traceparent", b"garbage"), ("tracestate", b"vendor=1"),
                                              ("origin", b"app")])
    assert [k for k, _ in replaced] == ["traceparent", "origin"] and tracecontext.of_headers(replaced) is not None
    # Two traceparents are invalid (the spec): one new trace in place of the first.
    doubled = tracecontext.with_traceparent([("traceparent", VALID.encode()), ("traceparent", VALID.encode())])
    assert len(doubled) == 1 and tracecontext.of_headers(doubled).trace_id != "4bf92f3577b34da6a3ce929d0e0e4736"


def test_answer_keeps_the_trace_id_with_the_service_as_parent():
    source = [("traceparent", VALID.encode()), ("tracestate", b"vendor=1")]
    headers = dict(response_headers("r-1", tracecontext.answer_headers(source)))
    answer = tracecontext.parse(headers["traceparent"])
    assert answer.trace_id == "4bf92f3577b34da6a3ce929d0e0e4736" and answer.flags == 1
    assert answer.parent_id != "00f067aa0ba902b7"
    assert headers["tracestate"] == b"vendor=1" and headers["request_id"] == b"r-1"


def test_answer_parent_is_the_records_consume_span():
    source = [("traceparent", VALID.encode())]
    first = tracecontext.parse(dict(tracecontext.answer_headers(source, ("req", 3, 41)))["traceparent"])
    again = tracecontext.parse(dict(tracecontext.answer_headers(source, ("req", 3, 41)))["traceparent"])
    other = tracecontext.parse(dict(tracecontext.answer_headers(source, ("req", 3, 42)))["traceparent"])
    assert first.parent_id == again.parent_id == tracecontext.consume_span_id(first.trace_id, "req", 3, 41)
    assert other.parent_id != first.parent_id and re.fullmatch("[0-9a-f]{16}", first.parent_id)


def test_dlq_copy_carries_the_requests_traceparent():
    settings = load_settings({})
    source = SourceInfo(topic="req", partition=0, offset=7, timestamp_ms=1, key=b"r-1", value=b"{}",
                        headers=tracecontext.with_traceparent([]))
    record = dlq_copy(settings, source, ProcessingError(ErrorCode.INVALID_REQUEST, "bad"), "r-1", attempts=1)
    assert tracecontext.of_headers(record.headers) == tracecontext.of_headers(source.headers)


def test_log_lines_inside_the_scope_carry_the_trace_id():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("test.tracecontext")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        with tracecontext.trace_scope([("traceparent", VALID.encode())]):
            logger.info("inside")
        logger.info("outside")
    finally:
        logger.removeHandler(handler)
    inside, outside = (json.loads(line) for line in stream.getvalue().splitlines())
    assert inside["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert "trace_id" not in outside
