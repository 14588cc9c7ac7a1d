"""Spans over OTLP/HTTP: with OTEL_EXPORTER_OTLP_ENDPOINT set, a text request (real broker, real local Ollama)
and a photo request (real OCR, cached) export consume, ocr, parse, model call and produce spans in the
request's own trace; without it, nothing from opentelemetry is imported."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from confluent_kafka import Producer
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from models_processor.llm.factory import build_models
from models_processor.metrics import Metrics
from models_processor.pipeline.photo import PhotoPipeline
from testkit.fakes.models import ScriptedTextModel
from testkit.harness import InProcessService, ResponseReader, create_output_topics, make_settings, text_request
from tests.unit.photo_support import CachingOcr, sample_b64, shared_rapid_engine

pytestmark = [pytest.mark.broker, pytest.mark.ocr]

TEXT_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PHOTO_TRACE = "0af7651916cd43dd8448eb211c80319c"


class _Collector(ThreadingHTTPServer):
    """An OTLP/HTTP trace receiver: POST /v1/traces with a protobuf ExportTraceServiceRequest."""

    def __init__(self) -> None:
        self.spans: list[tuple[str, str, dict]] = []  # (name, trace id, attributes)
        self.span_ids: dict[tuple[str, str], list[str]] = {}  # (name, trace id) -> span ids
        self.paths: list[str] = []
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                collector.paths.append(self.path)
                export = ExportTraceServiceRequest.FromString(body)
                for resource in export.resource_spans:
                    for scope in resource.scope_spans:
                        for span in scope.spans:
                            attributes = {a.key: a.value for a in span.attributes}
                            collector.spans.append((span.name, span.trace_id.hex(), attributes))
                            collector.span_ids.setdefault((span.name, span.trace_id.hex()), []).append(
                                span.span_id.hex())
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


def test_spans_are_exported_in_the_requests_trace(kafka_bootstrap, kafka_topic_factory, ollama_real):
    collector = _Collector()
    topic = kafka_topic_factory(prefix="otel-req")
    settings = make_settings(kafka_bootstrap, topic, OLLAMA_HOST=ollama_real.base_url, OLLAMA_MODEL=ollama_real.model,
                             LLM_NUM_PREDICT="16", RESULT_CACHE_SIZE="0")
    create_output_topics(kafka_bootstrap, settings)
    metrics = Metrics()
    models = build_models(settings, metrics)
    photo = PhotoPipeline(settings, CachingOcr(shared_rapid_engine()), models.vision, metrics)
    try:
        with InProcessService(settings, models.text, photo=photo,
                              kafka_env={"OTEL_EXPORTER_OTLP_ENDPOINT": collector.url}) as service:
            service.wait_joined()
            producer = Producer({"bootstrap.servers": kafka_bootstrap, "message.max.bytes": 16 * 1024 * 1024})
            producer.produce(topic, key=b"text-1", value=text_request("A recipe with lentils:"),
                             headers=[("traceparent", f"00-{TEXT_TRACE}-00f067aa0ba902b7-01".encode())])
            photo_value = json.dumps({"user_email": "user@example.com", "prompt": "", "kind": "nutrition_label",
                                      "photo": sample_b64("nutrition_snack_label.jpg")}).encode()
            producer.produce(topic, key=b"photo-1", value=photo_value,
                             headers=[("traceparent", f"00-{PHOTO_TRACE}-b7ad6b7169203331-01".encode())])
            assert producer.flush(30) == 0
            reader = ResponseReader(kafka_bootstrap, [settings.text_response_topic, settings.photo_response_topic])
            reader.read_until(lambda ms: len(ms) >= 2, timeout=120)
            reader.close()
            assert {m.key() for m in reader.messages} == {b"text-1", b"photo-1"}
            answers = {m.key(): dict(m.headers()) for m in reader.messages}
        # The service stopped: its spans were flushed on the way out.
    finally:
        collector.shutdown()
    assert collector.paths and set(collector.paths) == {"/v1/traces"}
    text = {name for name, trace, _ in collector.spans if trace == TEXT_TRACE}
    assert {"consume", "model call", "produce"} <= text, collector.spans
    photo_spans = {name for name, trace, _ in collector.spans if trace == PHOTO_TRACE}
    assert {"consume", "ocr", "parse", "produce"} <= photo_spans, collector.spans
    [model_call] = [a for name, trace, a in collector.spans if trace == TEXT_TRACE and name == "model call"]
    assert model_call["server"].string_value == ollama_real.base_url
    # The answer names the exported consume span as its parent: the link from answer to trace holds.
    for key, trace_id in ((b"text-1", TEXT_TRACE), (b"photo-1", PHOTO_TRACE)):
        answer_parent = answers[key]["traceparent"].decode().split("-")[2]
        assert collector.span_ids[("consume", trace_id)] == [answer_parent]
    [consume] = [a for name, trace, a in collector.spans if trace == TEXT_TRACE and name == "consume"]
    assert consume["messaging.destination.name"].string_value == topic


def test_exactly_once_answers_get_a_produce_span(kafka_bootstrap, kafka_topic_factory):
    collector = _Collector()
    topic = kafka_topic_factory(prefix="otel-eos")
    settings = make_settings(kafka_bootstrap, topic, PROCESSING_GUARANTEE="exactly_once")
    create_output_topics(kafka_bootstrap, settings)
    try:
        with InProcessService(settings, ScriptedTextModel(),
                              kafka_env={"OTEL_EXPORTER_OTLP_ENDPOINT": collector.url}) as service:
            service.wait_joined()
            producer = Producer({"bootstrap.servers": kafka_bootstrap})
            producer.produce(topic, key=b"eos-1", value=text_request("beans"),
                             headers=[("traceparent", f"00-{TEXT_TRACE}-00f067aa0ba902b7-01".encode())])
            assert producer.flush(30) == 0
            reader = ResponseReader(kafka_bootstrap, [settings.text_response_topic])
            reader.read_until(lambda ms: len(ms) >= 1, timeout=60)
            reader.close()
            assert [m.key() for m in reader.messages] == [b"eos-1"]
    finally:
        collector.shutdown()
    names = {name for name, trace, _ in collector.spans if trace == TEXT_TRACE}
    assert {"consume", "produce"} <= names, collector.spans


def test_without_an_endpoint_nothing_of_opentelemetry_is_imported():
    code = ("import sys\n"
            "from models_processor.tracing import Tracing, span\n"
            "from models_processor.tracecontext import trace_scope, with_traceparent\n"
            "import models_processor.service, models_processor.kafka.delivery, models_processor.llm.client\n"
            "assert Tracing.start({}) is False\n"
            "with trace_scope(with_traceparent([]), ('t', 0), 1), span('ocr'):\n"
            "    pass\n"
            "print(sorted(m for m in sys.modules if m.startswith('opentelemetry')))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={"PATH": "/usr/bin:/bin", "ORT_DISABLE_TELEMETRY": "1"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
